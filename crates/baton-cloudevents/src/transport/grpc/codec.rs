//! The protobuf codec the generated client and server use (`build.rs` names it): prost's own
//! encoding (docs/protocol.md §8.1), with smaller buffers. tonic allocates an 8 KiB encode buffer for
//! every response stream and an 8 KiB decode buffer for every streaming request by default; a
//! broker holds one `Subscribe` stream per agent and data type for as long as the agent is
//! connected, so at 1,000 agents that is 16 MiB of mostly unused buffers. Buffers start at
//! [`ENCODE_BUFFER_SIZE`] / [`BUFFER_SIZE`] and grow to fit a large message (up to the 4 MiB
//! limit) as before.

use std::marker::PhantomData;

use tonic::codec::{BufferSettings, Codec};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// Initial decode buffer per RPC; grown on demand.
pub const BUFFER_SIZE: usize = 512;
/// Initial encode buffer per RPC. A response stream keeps its encode buffer for as long as
/// it is open, and after each message the buffer still holds the allocation that message was
/// encoded in (its spare room): a broker's idle `Subscribe` stream holds this much. Most
/// events are larger (a status is ~1–2 KB, a spec more), so each batch of them allocates for
/// itself at any size; only a heartbeat fits.
pub const ENCODE_BUFFER_SIZE: usize = 128;
/// How many bytes of ready messages a stream batches into one write (tonic's default).
const YIELD_THRESHOLD: usize = 32 * 1024;

fn settings(buffer_size: usize) -> BufferSettings {
    BufferSettings::new(buffer_size, YIELD_THRESHOLD)
}

/// [`ProstCodec`] with [`BUFFER_SIZE`] buffers.
#[derive(Debug, Clone, Copy)]
pub struct SmallBufferCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for SmallBufferCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> Codec for SmallBufferCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = ProstDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(settings(ENCODE_BUFFER_SIZE))
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstCodec::<T, U>::raw_decoder(settings(BUFFER_SIZE))
    }
}
