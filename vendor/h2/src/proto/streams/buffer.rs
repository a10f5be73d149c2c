use slab::Slab;

/// Buffers frames for multiple streams.
#[derive(Debug)]
pub struct Buffer<T> {
    slab: Slab<Slot<T>>,
}

/// A sequence of frames in a `Buffer`
#[derive(Debug)]
pub struct Deque {
    indices: Option<Indices>,
}

/// Tracks the head & tail for a sequence of frames in a `Buffer`.
#[derive(Debug, Default, Copy, Clone)]
struct Indices {
    head: usize,
    tail: usize,
}

#[derive(Debug)]
struct Slot<T> {
    value: T,
    next: Option<usize>,
}

impl<T> Buffer<T> {
    pub fn new() -> Self {
        Buffer { slab: Slab::new() }
    }

    pub fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    /// baton patch: gives back the slab's allocation when it holds no frame (the connection
    /// has gone quiet). The slab keeps its capacity otherwise: 4 slots (~1 KiB) per
    /// connection for as long as it lives, for a stream that queued one frame once.
    pub fn release_if_empty(&mut self) {
        if self.slab.is_empty() && self.slab.capacity() > 0 {
            self.slab = Slab::new();
        }
    }

    /// baton patch: what the slab holds allocated, in slots (tests).
    #[cfg(test)]
    pub fn capacity(&self) -> usize {
        self.slab.capacity()
    }
}

impl Deque {
    pub fn new() -> Self {
        Deque { indices: None }
    }

    pub fn is_empty(&self) -> bool {
        self.indices.is_none()
    }

    pub fn push_back<T>(&mut self, buf: &mut Buffer<T>, value: T) {
        let key = buf.slab.insert(Slot { value, next: None });

        match self.indices {
            Some(ref mut idxs) => {
                buf.slab[idxs.tail].next = Some(key);
                idxs.tail = key;
            }
            None => {
                self.indices = Some(Indices {
                    head: key,
                    tail: key,
                });
            }
        }
    }

    pub fn push_front<T>(&mut self, buf: &mut Buffer<T>, value: T) {
        let key = buf.slab.insert(Slot { value, next: None });

        match self.indices {
            Some(ref mut idxs) => {
                buf.slab[key].next = Some(idxs.head);
                idxs.head = key;
            }
            None => {
                self.indices = Some(Indices {
                    head: key,
                    tail: key,
                });
            }
        }
    }

    pub fn pop_front<T>(&mut self, buf: &mut Buffer<T>) -> Option<T> {
        match self.indices {
            Some(mut idxs) => {
                let mut slot = buf.slab.remove(idxs.head);

                if idxs.head == idxs.tail {
                    assert!(slot.next.is_none());
                    self.indices = None;
                } else {
                    idxs.head = slot.next.take().unwrap();
                    self.indices = Some(idxs);
                }

                Some(slot.value)
            }
            None => None,
        }
    }
}

/// baton patch: tests for releasing an empty buffer (vendor/h2/BATON_PATCH.md).
#[cfg(test)]
mod baton_patch_tests {
    use super::*;

    #[test]
    fn an_empty_buffer_gives_its_slots_back_and_a_used_one_keeps_them() {
        let mut buf = Buffer::new();
        let mut queue = Deque::new();
        queue.push_back(&mut buf, 1u64);
        queue.push_back(&mut buf, 2u64);
        assert!(buf.capacity() >= 2);
        buf.release_if_empty();
        assert!(buf.capacity() >= 2, "frames still queued: kept");
        assert_eq!(queue.pop_front(&mut buf), Some(1));
        assert_eq!(queue.pop_front(&mut buf), Some(2));
        assert!(buf.capacity() > 0, "popping alone keeps the slots");
        buf.release_if_empty();
        assert_eq!(buf.capacity(), 0);
        // And it is usable again.
        queue.push_back(&mut buf, 3u64);
        assert_eq!(queue.pop_front(&mut buf), Some(3));
        assert!(queue.is_empty() && buf.is_empty());
    }
}
