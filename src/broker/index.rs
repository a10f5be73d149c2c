//! The subscriber table's index: subscription ids by cluster (agents) or by source name
//! (sources), so that delivering an event addressed to one party looks at that party's
//! subscriptions only, not at all of them. The broker keeps an entry per connected agent, so
//! it is compact: the name is the subscriber's own (`Arc<str>`, shared, not copied), and the
//! usual single id (an agent serving one data type) is kept inline, not in a `Vec`.

use std::collections::HashMap;
use std::sync::Arc;

/// The subscriptions of one party.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ids {
    One(u64),
    Many(Vec<u64>),
}

impl Ids {
    fn as_slice(&self) -> &[u64] {
        match self {
            Self::One(id) => std::slice::from_ref(id),
            Self::Many(ids) => ids,
        }
    }
}

#[derive(Debug, Default)]
pub struct Index {
    by_name: HashMap<Arc<str>, Ids>,
}

impl Index {
    pub fn add(&mut self, name: &Arc<str>, id: u64) {
        match self.by_name.get_mut(&**name) {
            None => {
                self.by_name.insert(name.clone(), Ids::One(id));
            }
            Some(Ids::Many(all)) => all.push(id),
            Some(ids @ Ids::One(_)) => {
                let first = ids.as_slice()[0];
                *ids = Ids::Many(vec![first, id]);
            }
        }
    }

    pub fn remove(&mut self, name: &str, id: u64) {
        let Some(ids) = self.by_name.get_mut(name) else {
            return;
        };
        match ids {
            Ids::One(only) if *only == id => {
                self.by_name.remove(name);
            }
            Ids::One(_) => {}
            Ids::Many(all) => {
                all.retain(|i| *i != id);
                if let [one] = all.as_slice() {
                    *ids = Ids::One(*one);
                } else if all.is_empty() {
                    self.by_name.remove(name);
                }
            }
        }
    }

    /// The subscriptions of `name`.
    pub fn of(&self, name: &str) -> &[u64] {
        self.by_name.get(name).map_or(&[], Ids::as_slice)
    }

    /// Every subscription of this kind.
    pub fn all(&self) -> impl Iterator<Item = u64> + '_ {
        self.by_name
            .values()
            .flat_map(|ids| ids.as_slice().iter().copied())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(|name| &**name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_added_and_removed_per_name() {
        let mut index = Index::default();
        let c1: Arc<str> = "c1".into();
        let c2: Arc<str> = "c2".into();
        index.add(&c1, 1);
        index.add(&c2, 2);
        index.add(&c1, 3);
        assert_eq!(index.of("c1"), [1, 3]);
        assert_eq!(index.of("c2"), [2]);
        assert!(index.of("c3").is_empty());
        let mut all: Vec<u64> = index.all().collect();
        all.sort_unstable();
        assert_eq!(all, [1, 2, 3]);
        index.remove("c1", 1);
        assert_eq!(index.of("c1"), [3]);
        index.remove("c1", 3);
        assert!(!index.contains("c1"));
        index.remove("c1", 3);
        index.remove("c2", 9);
        assert_eq!(index.of("c2"), [2]);
        assert_eq!(index.names().collect::<Vec<_>>(), ["c2"]);
    }
}
