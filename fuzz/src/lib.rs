//! Shared helpers of the fuzz targets: the byte format of a two-sided stream with gaps,
//! used by the SMTP, POP3 and flow targets and by the seed builder.
//!
//! A stream is a sequence of records `[h][len lo][len hi][payload]`:
//! - `h & 1`: side (0 client, 1 server);
//! - `h & 2`: a gap of `len` bytes (no payload follows);
//! - otherwise `len` payload bytes follow (fewer when the input ends).

use pcapmail::model::{Side, Ts};
use pcapmail::proto::{ChunkMeta, StreamConsumer};

/// One event of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op<'a> {
    Data(Side, &'a [u8]),
    Gap(Side, u64),
}

/// Parses the records of `input`.
pub fn ops(mut input: &[u8]) -> impl Iterator<Item = Op<'_>> {
    std::iter::from_fn(move || {
        if input.len() < 3 {
            return None;
        }
        let h = input[0];
        let len = u16::from_le_bytes([input[1], input[2]]) as usize;
        input = &input[3..];
        let side = if h & 1 == 0 {
            Side::Client
        } else {
            Side::Server
        };
        if h & 2 != 0 {
            return Some(Op::Gap(side, len as u64));
        }
        let n = len.min(input.len());
        let (d, rest) = input.split_at(n);
        input = rest;
        Some(Op::Data(side, d))
    })
}

/// Appends one data record (split into records of at most 65535 bytes).
pub fn push_data(out: &mut Vec<u8>, side: Side, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        let n = bytes.len().min(u16::MAX as usize);
        out.push(if side == Side::Client { 0 } else { 1 });
        out.extend_from_slice(&(n as u16).to_le_bytes());
        out.extend_from_slice(&bytes[..n]);
        bytes = &bytes[n..];
    }
}

/// Appends one gap record.
pub fn push_gap(out: &mut Vec<u8>, side: Side, len: u64) {
    out.push(if side == Side::Client { 2 } else { 3 });
    out.extend_from_slice(&(len.min(u16::MAX as u64) as u16).to_le_bytes());
}

/// Feeds every record of `input` to `consumer`, one frame per record.
pub fn feed<C: StreamConsumer>(consumer: &mut C, input: &[u8]) -> u64 {
    let mut frame = 0;
    for op in ops(input) {
        frame += 1;
        let meta = ChunkMeta {
            frame,
            ts: Ts(frame as i64 * 1_000_000),
        };
        match op {
            Op::Data(side, d) => consumer.data(side, d, meta),
            Op::Gap(side, n) => consumer.gap(side, n, meta),
        }
    }
    frame
}
