//! baton patch: tests for the lazily allocated and released connection buffers
//! (vendor/h2/BATON_PATCH.md).

use super::framed_read::READ_BUFFER_CAPACITY;
use super::*;
use crate::frame::{self, StreamId};
use bytes::Bytes;
use std::future::poll_fn;
use std::task::Poll;
use tokio::io::{duplex, AsyncReadExt, DuplexStream};

fn data(len: usize) -> Frame<Bytes> {
    frame::Data::new(StreamId::from(1), Bytes::from(vec![7u8; len])).into()
}

/// Buffers `frame` the way the connection does (`poll_ready`, then `buffer`).
async fn buffer(codec: &mut Codec<DuplexStream, Bytes>, frame: Frame<Bytes>) {
    poll_fn(|cx| codec.poll_ready(cx)).await.unwrap();
    codec.buffer(frame).unwrap();
}

#[tokio::test]
async fn write_buffer_is_allocated_on_demand_and_released_when_quiet() {
    let (io, mut peer) = duplex(1 << 20);
    let mut codec: Codec<_, Bytes> = Codec::new(io);
    assert_eq!(codec.framed_write().buffer_capacity(), 0, "no buffer before a frame");

    // A small round allocates a small buffer, and gives it back once written.
    buffer(&mut codec, data(100)).await;
    let small = codec.framed_write().buffer_capacity();
    assert!(small > 0 && small <= 4096, "small round: {small}");
    poll_fn(|cx| codec.flush(cx)).await.unwrap();
    assert_eq!(codec.framed_write().buffer_capacity(), 0, "quiet: no buffer");

    // A burst of small frames (each copied into the buffer) may fill the same 16 KiB as
    // before the patch before the codec asks for a flush.
    let mut buffered = 0;
    while codec.has_send_capacity() {
        buffer(&mut codec, data(200)).await;
        buffered += 200 + frame::HEADER_LEN;
    }
    assert!(buffered >= 16 * 1024 - 1024, "budget shrank: {buffered}");
    assert!(codec.framed_write().buffer_capacity() > 4096);

    // Once everything is written, the grown buffer is given back ...
    poll_fn(|cx| codec.flush(cx)).await.unwrap();
    assert_eq!(codec.framed_write().buffer_capacity(), 0);
    // ... and every byte reached the peer.
    drop(codec);
    let mut wire = Vec::new();
    peer.read_to_end(&mut wire).await.unwrap();
    assert_eq!(wire.len(), 100 + frame::HEADER_LEN + buffered);
}

#[tokio::test]
async fn poll_ready_flush_in_a_burst_keeps_the_buffer() {
    let (io, _peer) = duplex(1 << 20);
    let mut codec: Codec<_, Bytes> = Codec::new(io);
    while codec.has_send_capacity() {
        buffer(&mut codec, data(200)).await;
    }
    // The buffer is full: `poll_ready` flushes it to make room, mid-burst, and must not
    // free it (the burst goes on).
    buffer(&mut codec, data(200)).await;
    assert!(codec.framed_write().buffer_capacity() > 4096);
}

#[tokio::test]
async fn read_buffer_starts_small_and_shrinks_after_a_large_frame() {
    let (io, peer) = duplex(1 << 20);
    let mut reader: Codec<_, Bytes> = Codec::new(io);
    let mut writer: Codec<_, Bytes> = Codec::new(peer);
    assert_eq!(reader.inner.read_buffer_capacity(), READ_BUFFER_CAPACITY);

    for len in [10, 12_000, 10] {
        buffer(&mut writer, data(len)).await;
        poll_fn(|cx| writer.flush(cx)).await.unwrap();
        match poll_fn(|cx| Pin::new(&mut reader).poll_next(cx)).await {
            Some(Ok(Frame::Data(frame))) => assert_eq!(frame.payload().len(), len),
            other => panic!("expected a data frame of {len} bytes, got {other:?}"),
        }
        // A 12,000-byte frame grew the buffer; afterwards the connection is back to a buffer
        // of the starting size (the large allocation belongs to the frame alone).
        let capacity = reader.inner.read_buffer_capacity();
        if len > 4096 {
            assert_eq!(capacity, READ_BUFFER_CAPACITY, "after a {len}-byte frame");
        } else {
            assert!(capacity <= READ_BUFFER_CAPACITY, "after a {len}-byte frame: {capacity}");
        }
    }
}

/// Polls `reader` once: `None` if it is waiting for the socket.
async fn poll_once(reader: &mut Codec<DuplexStream, Bytes>) -> Option<Frame> {
    poll_fn(|cx| match Pin::new(&mut *reader).poll_next(cx) {
        Poll::Pending => Poll::Ready(None),
        Poll::Ready(frame) => Poll::Ready(Some(frame.unwrap().unwrap())),
    })
    .await
}

#[tokio::test]
async fn an_idle_connection_holds_no_read_buffer_but_keeps_a_partial_frame() {
    let (io, mut peer) = duplex(1 << 20);
    let mut reader: Codec<_, Bytes> = Codec::new(io);
    assert!(poll_once(&mut reader).await.is_none());
    assert_eq!(reader.inner.read_buffer_capacity(), 0, "nothing to read: released");

    // Frames still arrive whole, read through a buffer of the starting size again.
    let mut wire = bytes::BytesMut::new();
    for len in [10, 3_000] {
        wire_frame(&mut wire, data(len));
    }
    use tokio::io::AsyncWriteExt;
    peer.write_all(&wire).await.unwrap();
    for len in [10, 3_000] {
        match poll_once(&mut reader).await {
            Some(Frame::Data(frame)) => assert_eq!(frame.payload().len(), len),
            other => panic!("expected a data frame of {len} bytes, got {other:?}"),
        }
    }
    assert!(poll_once(&mut reader).await.is_none());
    assert_eq!(reader.inner.read_buffer_capacity(), 0);

    // Half a frame: the buffer holding it is kept until the rest comes.
    let mut wire = bytes::BytesMut::new();
    wire_frame(&mut wire, data(500));
    peer.write_all(&wire[..200]).await.unwrap();
    assert!(poll_once(&mut reader).await.is_none());
    assert!(reader.inner.read_buffer_capacity() >= 200, "partial frame kept");
    peer.write_all(&wire[200..]).await.unwrap();
    match poll_once(&mut reader).await {
        Some(Frame::Data(frame)) => assert_eq!(frame.payload().len(), 500),
        other => panic!("expected the 500-byte frame, got {other:?}"),
    }
}

/// Encodes a data `frame` as it goes on the wire, appending it to `wire`.
fn wire_frame(wire: &mut bytes::BytesMut, frame: Frame<Bytes>) {
    match frame {
        Frame::Data(data) => {
            let payload = data.payload().clone();
            let head = frame::Head::new(frame::Kind::Data, 0, data.stream_id());
            head.encode(payload.len(), wire);
            wire.extend_from_slice(&payload);
        }
        other => panic!("only data frames here: {other:?}"),
    }
}

#[test]
fn a_grown_read_buffer_is_replaced_once_it_holds_no_partial_frame() {
    // tokio-util usually moves to a fresh buffer of the starting size by itself after a large
    // frame (the test above); this is the case it does not cover: a grown buffer with room
    // left, which would otherwise stay for the connection's life.
    let (io, _peer) = duplex(64);
    let mut codec: Codec<_, Bytes> = Codec::new(io);
    let read = &mut codec.inner;
    *read.read_buffer_mut() = bytes::BytesMut::with_capacity(16 * 1024);
    read.read_buffer_mut().extend_from_slice(b"part of the next frame");
    read.release_grown_buffer(100);
    assert!(read.read_buffer_capacity() >= 16 * 1024, "kept while a frame is partial");
    read.read_buffer_mut().clear();
    read.release_grown_buffer(100);
    assert_eq!(read.read_buffer_capacity(), READ_BUFFER_CAPACITY);
}

#[test]
fn hpack_decoder_buffer_is_lazy() {
    let mut decoder = crate::hpack::Decoder::new(4096);
    assert_eq!(decoder.buffer_capacity(), 0);
    // A Huffman-coded literal still decodes (RFC 7541 C.4.1: "www.example.com").
    let mut bytes = bytes::BytesMut::from(
        &[
            0x82, 0x86, 0x84, 0x41, 0x8c, 0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab,
            0x90, 0xf4, 0xff,
        ][..],
    );
    let mut block = std::io::Cursor::new(&mut bytes);
    let mut authority = None;
    decoder
        .decode(&mut block, |header| {
            if let crate::hpack::Header::Authority(value) = header {
                authority = Some(value.as_str().to_owned());
            }
            std::ops::ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(authority.as_deref(), Some("www.example.com"));
    assert!(decoder.buffer_capacity() < 4096);
}
