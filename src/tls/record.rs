//! TLS record framing for one direction of a connection: bytes in, whole records out.
//!
//! Bounded: at most one record is buffered, and a record is never longer than
//! [`MAX_RECORD`] (RFC 5246 6.2.3: TLSCiphertext.length ≤ 2^14 + 2048). A header announcing
//! more is an anomaly: the framer drops out of sync instead of waiting for (or allocating)
//! what it announced. After a gap or an anomaly the framer resynchronises at the next
//! plausible record header.

use crate::proto::ChunkMeta;

/// Record header length: type (1), version (2), length (2).
pub const HEADER: usize = 5;
/// Largest record body accepted (RFC 5246 6.2.3; TLS 1.3 allows less, 2^14 + 256).
pub const MAX_RECORD: usize = (1 << 14) + 2048;

/// Content types (RFC 8446 B.1).
pub const CHANGE_CIPHER_SPEC: u8 = 20;
/// Alert records.
pub const ALERT: u8 = 21;
/// Handshake records.
pub const HANDSHAKE: u8 = 22;
/// Application data records.
pub const APPLICATION_DATA: u8 = 23;
/// Heartbeat records (RFC 6520).
pub const HEARTBEAT: u8 = 24;

/// One record as framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub content_type: u8,
    pub version: u16,
    /// The record header (additional data of TLS 1.3 AEAD).
    pub header: [u8; HEADER],
    pub body: &'a [u8],
    /// The packet that completed the record.
    pub meta: ChunkMeta,
}

/// What the framer yields.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    Record(Record<'a>),
    /// Bytes that could not be framed: lost ones (a capture gap, with the partial record
    /// dropped) and the ones skipped while resynchronising.
    Lost {
        bytes: u64,
        meta: ChunkMeta,
    },
}

/// Counters of one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FramerStats {
    pub records: u64,
    /// Record headers announcing more than [`MAX_RECORD`] bytes, or of an unknown type.
    pub bad_headers: u64,
    /// Times the framer searched for a record header after a gap or a bad header.
    pub resyncs: u64,
    /// Bytes skipped while searching.
    pub skipped: u64,
}

/// Per-direction framer.
#[derive(Debug, Default)]
pub struct RecordFramer {
    buf: Vec<u8>,
    /// Searching for a record header (after a gap or damage).
    resync: bool,
    stats: FramerStats,
}

/// A header that could start a record: a known content type, SSL 3.0 … TLS 1.3 record
/// version (TLS 1.3 uses 0x0303, a ClientHello may use 0x0301), and a bounded length.
pub fn plausible_header(h: &[u8]) -> bool {
    h.len() >= HEADER
        && (CHANGE_CIPHER_SPEC..=HEARTBEAT).contains(&h[0])
        && h[1] == 3
        && h[2] <= 4
        && (u16::from_be_bytes([h[3], h[4]]) as usize) <= MAX_RECORD
}

impl RecordFramer {
    /// A framer expecting a record header as the first byte.
    pub fn new() -> RecordFramer {
        RecordFramer::default()
    }

    /// Counters so far.
    pub fn stats(&self) -> FramerStats {
        self.stats
    }

    /// Bytes buffered (part of a record).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The stream lost `len` bytes: the partial record is dropped and the framer searches
    /// for the next header.
    pub fn gap(&mut self, len: u64, meta: ChunkMeta, out: &mut impl FnMut(Frame<'_>)) {
        let bytes = len.saturating_add(self.buf.len() as u64);
        self.buf.clear();
        if !self.resync {
            self.stats.resyncs += 1;
        }
        self.resync = true;
        out(Frame::Lost { bytes, meta });
    }

    /// Frames `bytes`; `out` is called for every complete record, in order.
    pub fn data(&mut self, mut bytes: &[u8], meta: ChunkMeta, out: &mut impl FnMut(Frame<'_>)) {
        while !bytes.is_empty() {
            if self.resync {
                // Look for a header in what is buffered plus the new bytes; keep at most
                // HEADER - 1 bytes between calls.
                let skipped = self.search(&mut bytes);
                if skipped > 0 {
                    self.stats.skipped += skipped;
                    out(Frame::Lost {
                        bytes: skipped,
                        meta,
                    });
                }
                if self.resync {
                    return;
                }
                continue;
            }
            // Header.
            if self.buf.len() < HEADER {
                let n = (HEADER - self.buf.len()).min(bytes.len());
                self.buf.extend_from_slice(&bytes[..n]);
                bytes = &bytes[n..];
                if self.buf.len() < HEADER {
                    return;
                }
                if !plausible_header(&self.buf) {
                    self.stats.bad_headers += 1;
                    self.stats.resyncs += 1;
                    self.resync = true;
                    // Search again from the second byte of the bad header.
                    let held: Vec<u8> = self.buf.drain(1..).collect();
                    self.buf.clear();
                    self.stats.skipped += 1;
                    out(Frame::Lost { bytes: 1, meta });
                    self.data(&held, meta, out);
                    continue;
                }
            }
            let need = HEADER + u16::from_be_bytes([self.buf[3], self.buf[4]]) as usize;
            // Whole record present in `bytes` with nothing buffered beyond the header: no copy.
            let n = (need - self.buf.len()).min(bytes.len());
            self.buf.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.buf.len() == need {
                self.stats.records += 1;
                let h = &self.buf;
                out(Frame::Record(Record {
                    content_type: h[0],
                    version: u16::from_be_bytes([h[1], h[2]]),
                    header: [h[0], h[1], h[2], h[3], h[4]],
                    body: &h[HEADER..],
                    meta,
                }));
                self.buf.clear();
            }
        }
    }

    /// Moves through `bytes` until a plausible header starts; returns bytes skipped.
    /// A header is accepted when the record after it also starts plausibly, or when not
    /// enough bytes are there to check.
    fn search(&mut self, bytes: &mut &[u8]) -> u64 {
        // Work on the held bytes (< HEADER) followed by the new ones.
        let held = std::mem::take(&mut self.buf);
        let mut joined;
        let hay: &[u8] = if held.is_empty() {
            bytes
        } else {
            joined = held.clone();
            joined.extend_from_slice(bytes);
            &joined
        };
        let mut i = 0;
        while i + HEADER <= hay.len() {
            let h = &hay[i..];
            if plausible_header(h) {
                let next = HEADER + u16::from_be_bytes([h[3], h[4]]) as usize;
                if h.len() < next + HEADER || plausible_header(&h[next..]) {
                    break;
                }
            }
            i += 1;
        }
        if i + HEADER > hay.len() {
            // No header yet: keep the last HEADER-1 bytes for the next call.
            let keep = (hay.len()).min(HEADER - 1);
            let skip = hay.len() - keep;
            self.buf = hay[skip..].to_vec();
            *bytes = &[];
            return skip as u64;
        }
        // Found at i of hay: the held bytes come first.
        self.resync = false;
        let skipped = i as u64;
        if i < held.len() {
            // The header begins inside the held bytes: put them back.
            self.buf = held[i..].to_vec();
        } else {
            *bytes = &bytes[i - held.len()..];
        }
        skipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(frame: u64) -> ChunkMeta {
        ChunkMeta {
            frame,
            ..Default::default()
        }
    }

    fn rec(ct: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![ct, 3, 3];
        v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    #[derive(Debug, PartialEq)]
    enum Ev {
        R(u8, Vec<u8>, u64),
        L(u64),
    }

    fn run(f: &mut RecordFramer, chunks: &[(&[u8], u64)]) -> Vec<Ev> {
        let mut ev = Vec::new();
        for (c, fr) in chunks {
            f.data(c, meta(*fr), &mut |x| match x {
                Frame::Record(r) => ev.push(Ev::R(r.content_type, r.body.to_vec(), r.meta.frame)),
                Frame::Lost { bytes, .. } => ev.push(Ev::L(bytes)),
            });
        }
        ev
    }

    #[test]
    fn a_record_split_across_segments_completes_on_the_last_one() {
        let r = rec(23, b"hello world");
        let mut f = RecordFramer::new();
        let ev = run(&mut f, &[(&r[..2], 1), (&r[2..7], 2), (&r[7..], 3)]);
        assert_eq!(ev, [Ev::R(23, b"hello world".to_vec(), 3)]);
    }

    #[test]
    fn two_records_in_one_segment() {
        let mut b = rec(22, b"a");
        b.extend(rec(23, b"bc"));
        let ev = run(&mut RecordFramer::new(), &[(&b, 7)]);
        assert_eq!(
            ev,
            [Ev::R(22, b"a".to_vec(), 7), Ev::R(23, b"bc".to_vec(), 7)]
        );
    }

    #[test]
    fn a_length_of_2_24_is_refused_without_allocating() {
        // 0x17 0x03 0x03 0xff 0xff: 65535 > MAX_RECORD.
        let mut b = vec![23, 3, 3, 0xff, 0xff];
        b.extend(vec![0u8; 100]);
        b.extend(rec(23, b"ok"));
        let mut f = RecordFramer::new();
        let ev = run(&mut f, &[(&b, 1)]);
        assert_eq!(ev.last(), Some(&Ev::R(23, b"ok".to_vec(), 1)));
        assert_eq!(f.stats().bad_headers, 1);
        assert!(f.buffered() == 0);
        let lost: u64 = ev
            .iter()
            .map(|e| if let Ev::L(n) = e { *n } else { 0 })
            .sum();
        assert_eq!(lost, 105);
    }

    #[test]
    fn after_a_gap_it_resyncs_at_the_next_record() {
        let r1 = rec(23, &[1u8; 40]);
        let r2 = rec(23, &[2u8; 30]);
        let r3 = rec(23, &[3u8; 20]);
        let mut f = RecordFramer::new();
        let mut ev = run(&mut f, &[(&r1[..10], 1)]);
        f.gap(50, meta(2), &mut |x| {
            if let Frame::Lost { bytes, .. } = x {
                ev.push(Ev::L(bytes))
            }
        });
        // The rest of r2 after some lost bytes, then r3.
        let mut tail = r2[12..].to_vec();
        tail.extend(&r3);
        ev.extend(run(&mut f, &[(&tail[..3], 3), (&tail[3..], 4)]));
        assert_eq!(ev[0], Ev::L(60));
        assert_eq!(ev.last(), Some(&Ev::R(23, vec![3u8; 20], 4)));
        assert_eq!(f.stats().resyncs, 1);
    }

    #[test]
    fn held_bytes_of_a_header_split_during_resync_are_not_lost() {
        let r = rec(21, b"xy");
        let mut f = RecordFramer::new();
        let mut ev = Vec::new();
        f.gap(3, meta(1), &mut |_| {});
        ev.extend(run(&mut f, &[(&[0xaa], 2), (&r[..2], 3), (&r[2..], 4)]));
        assert_eq!(ev.last(), Some(&Ev::R(21, b"xy".to_vec(), 4)));
    }
}
