//! The out-of-order segment store of one direction: non-overlapping pieces keyed by their
//! 64-bit stream offset, each remembering the packet (frame, time) that carried it.
//!
//! Overlaps are resolved on insertion with **first arrival wins**: only the positions not
//! yet covered are stored; positions already covered are compared and a difference is
//! reported as a conflict. A piece is either captured bytes or a run that the capture is
//! known to lack (snaplen truncation); both keep their place in sequence space.
//!
//! `Display` draws the state, e.g. `[ 0..100 (gap 20) 120..180 180..200(missing) ]`, so a
//! failing test reads like a diagram.

use crate::proto::ChunkMeta;
use std::collections::BTreeMap;
use std::fmt;

/// Memory charged per stored piece on top of its bytes (tree node share, vector header), so
/// that many tiny segments cannot exceed a buffer limit by their bookkeeping.
pub const PIECE_OVERHEAD: usize = 64;

/// What a stored piece holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PieceData {
    /// Captured bytes.
    Bytes(Vec<u8>),
    /// This many bytes were sent but are not in the capture (snaplen truncation).
    Missing(u64),
}

/// A run of stream positions from one packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// Stream offset of the first position.
    pub start: u64,
    /// The bytes, or the length of a known-missing run.
    pub data: PieceData,
    /// The packet that carried this run.
    pub meta: ChunkMeta,
}

impl Piece {
    /// Number of stream positions covered.
    pub fn len(&self) -> u64 {
        match &self.data {
            PieceData::Bytes(b) => b.len() as u64,
            PieceData::Missing(n) => *n,
        }
    }

    /// Always false for stored pieces (empty runs are never stored).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One past the last position.
    pub fn end(&self) -> u64 {
        self.start + self.len()
    }

    /// Memory charged for this piece.
    pub fn mem(&self) -> usize {
        PIECE_OVERHEAD
            + match &self.data {
                PieceData::Bytes(b) => b.len(),
                PieceData::Missing(_) => 0,
            }
    }
}

/// What an insertion did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InsertOutcome {
    /// Positions newly stored.
    pub new: u64,
    /// Positions that were already stored (retransmitted or overlapping).
    pub duplicate: u64,
    /// Some already-stored position had a different byte (the stored one was kept).
    pub conflict: bool,
    /// Memory added (see [`Piece::mem`]).
    pub mem: usize,
}

/// Sorted, non-overlapping pieces of one direction beyond the delivered point.
#[derive(Debug, Default)]
pub struct SegmentStore {
    pieces: BTreeMap<u64, Piece>,
    mem: usize,
}

impl SegmentStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// True when nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// Memory charged for the buffered pieces.
    pub fn mem(&self) -> usize {
        self.mem
    }

    /// Number of stored pieces.
    pub fn pieces(&self) -> usize {
        self.pieces.len()
    }

    /// Offset of the first buffered position.
    pub fn first_start(&self) -> Option<u64> {
        self.pieces.first_key_value().map(|(&s, _)| s)
    }

    /// The first piece, if any.
    pub fn first(&self) -> Option<&Piece> {
        self.pieces.first_key_value().map(|(_, p)| p)
    }

    /// Removes and returns the first piece.
    pub fn pop_first(&mut self) -> Option<Piece> {
        let (_, p) = self.pieces.pop_first()?;
        self.mem -= p.mem();
        Some(p)
    }

    /// Iterates over the pieces in stream order.
    pub fn iter(&self) -> impl Iterator<Item = &Piece> {
        self.pieces.values()
    }

    /// Stores the run `[start, start + bytes.len() + missing)`: `bytes` captured, followed by
    /// `missing` positions the capture lacks. Positions already stored keep their first
    /// arrival; differing captured bytes there set `conflict`.
    pub fn insert(
        &mut self,
        start: u64,
        bytes: &[u8],
        missing: u64,
        meta: ChunkMeta,
    ) -> InsertOutcome {
        let end = start + bytes.len() as u64 + missing;
        let mut out = InsertOutcome::default();
        let mut pos = start;
        // A piece starting before `start` may cover its beginning.
        if let Some((_, p)) = self.pieces.range(..start).next_back() {
            if p.end() > start {
                let upto = p.end().min(end);
                compare(p, start, bytes, pos, upto, &mut out);
                pos = upto;
            }
        }
        while pos < end {
            let next = self
                .pieces
                .range(pos..end)
                .next()
                .map(|(&s, p)| (s, p.end()));
            match next {
                Some((s, pend)) => {
                    if s > pos {
                        self.add_new(pos, s, start, bytes, meta, &mut out);
                    }
                    let upto = pend.min(end);
                    let p = &self.pieces[&s];
                    compare(p, start, bytes, s, upto, &mut out);
                    pos = upto;
                }
                None => {
                    self.add_new(pos, end, start, bytes, meta, &mut out);
                    pos = end;
                }
            }
        }
        out
    }

    /// Stores positions `[a, b)` of the run starting at `start`, split into a captured part
    /// and a missing part.
    fn add_new(
        &mut self,
        a: u64,
        b: u64,
        start: u64,
        bytes: &[u8],
        meta: ChunkMeta,
        out: &mut InsertOutcome,
    ) {
        let bytes_end = start + bytes.len() as u64;
        if a < bytes_end {
            let e = b.min(bytes_end);
            let data = bytes[(a - start) as usize..(e - start) as usize].to_vec();
            self.put(
                Piece {
                    start: a,
                    data: PieceData::Bytes(data),
                    meta,
                },
                out,
            );
        }
        if b > bytes_end {
            let s = a.max(bytes_end);
            self.put(
                Piece {
                    start: s,
                    data: PieceData::Missing(b - s),
                    meta,
                },
                out,
            );
        }
    }

    fn put(&mut self, p: Piece, out: &mut InsertOutcome) {
        out.new += p.len();
        out.mem += p.mem();
        self.mem += p.mem();
        self.pieces.insert(p.start, p);
    }

    /// A view drawing the store relative to the delivered point `next` (a leading hole is
    /// shown as a gap).
    pub fn display_from(&self, next: u64) -> impl fmt::Display + '_ {
        Drawing {
            store: self,
            origin: Some(next),
        }
    }
}

/// Compares positions `[x, y)` (inside stored piece `p`) with the new run's captured bytes.
fn compare(p: &Piece, start: u64, bytes: &[u8], x: u64, y: u64, out: &mut InsertOutcome) {
    out.duplicate += y - x;
    let PieceData::Bytes(old) = &p.data else {
        return;
    };
    let bytes_end = start + bytes.len() as u64;
    let (cx, cy) = (x.max(start), y.min(bytes_end));
    if cx >= cy {
        return;
    }
    let new = &bytes[(cx - start) as usize..(cy - start) as usize];
    let old = &old[(cx - p.start) as usize..(cy - p.start) as usize];
    if new != old {
        out.conflict = true;
    }
}

struct Drawing<'a> {
    store: &'a SegmentStore,
    origin: Option<u64>,
}

impl fmt::Display for Drawing<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        let mut prev = self.origin;
        for p in self.store.pieces.values() {
            if let Some(e) = prev {
                if p.start > e {
                    write!(f, " (gap {})", p.start - e)?;
                }
            }
            write!(f, " {}..{}", p.start, p.end())?;
            if let PieceData::Missing(_) = p.data {
                f.write_str("(missing)")?;
            }
            prev = Some(p.end());
        }
        f.write_str(" ]")
    }
}

impl fmt::Display for SegmentStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Drawing {
            store: self,
            origin: None,
        }
        .fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Ts;

    fn m(frame: u64) -> ChunkMeta {
        ChunkMeta {
            frame,
            ts: Ts(frame as i64),
        }
    }

    /// Bytes whose value encodes their position, so overlaps with the same content agree.
    fn b(start: u64, end: u64) -> Vec<u8> {
        (start..end).map(|i| (i % 251) as u8).collect()
    }

    fn add(s: &mut SegmentStore, start: u64, end: u64, frame: u64) -> InsertOutcome {
        s.insert(start, &b(start, end), 0, m(frame))
    }

    fn frames(s: &SegmentStore) -> Vec<(u64, u64, u64)> {
        s.iter().map(|p| (p.start, p.end(), p.meta.frame)).collect()
    }

    #[test]
    fn empty() {
        let s = SegmentStore::new();
        assert_eq!(s.to_string(), "[ ]");
        assert_eq!(s.display_from(0).to_string(), "[ ]");
        assert!(s.is_empty());
    }

    #[test]
    fn disjoint_and_leading_gap() {
        let mut s = SegmentStore::new();
        add(&mut s, 120, 180, 2);
        add(&mut s, 0, 100, 1);
        assert_eq!(s.to_string(), "[ 0..100 (gap 20) 120..180 ]");
        assert_eq!(
            s.display_from(0).to_string(),
            "[ 0..100 (gap 20) 120..180 ]"
        );
        let mut t = SegmentStore::new();
        add(&mut t, 120, 180, 2);
        assert_eq!(t.display_from(100).to_string(), "[ (gap 20) 120..180 ]");
    }

    #[test]
    fn adjacent() {
        let mut s = SegmentStore::new();
        add(&mut s, 10, 20, 1);
        let o = add(&mut s, 20, 30, 2);
        assert_eq!(s.to_string(), "[ 10..20 20..30 ]");
        assert_eq!(o.new, 10);
        assert_eq!(o.duplicate, 0);
        let o = add(&mut s, 0, 10, 3);
        assert_eq!(s.to_string(), "[ 0..10 10..20 20..30 ]");
        assert_eq!((o.new, o.duplicate, o.conflict), (10, 0, false));
    }

    #[test]
    fn exact_duplicate() {
        let mut s = SegmentStore::new();
        add(&mut s, 10, 20, 1);
        let o = add(&mut s, 10, 20, 2);
        assert_eq!(s.to_string(), "[ 10..20 ]");
        assert_eq!((o.new, o.duplicate, o.conflict, o.mem), (0, 10, false, 0));
        assert_eq!(frames(&s), vec![(10, 20, 1)], "first arrival kept");
    }

    #[test]
    fn front_overlap() {
        // New run starts before the stored one and ends inside it.
        let mut s = SegmentStore::new();
        add(&mut s, 10, 20, 1);
        let o = add(&mut s, 5, 15, 2);
        assert_eq!(s.to_string(), "[ 5..10 10..20 ]");
        assert_eq!((o.new, o.duplicate), (5, 5));
        assert_eq!(frames(&s), vec![(5, 10, 2), (10, 20, 1)]);
    }

    #[test]
    fn back_overlap() {
        // New run starts inside the stored one and ends after it.
        let mut s = SegmentStore::new();
        add(&mut s, 10, 20, 1);
        let o = add(&mut s, 15, 25, 2);
        assert_eq!(s.to_string(), "[ 10..20 20..25 ]");
        assert_eq!((o.new, o.duplicate), (5, 5));
        assert_eq!(frames(&s), vec![(10, 20, 1), (20, 25, 2)]);
    }

    #[test]
    fn covering() {
        // New run covers several stored ones and the holes between them.
        let mut s = SegmentStore::new();
        add(&mut s, 10, 20, 1);
        add(&mut s, 30, 40, 2);
        assert_eq!(s.to_string(), "[ 10..20 (gap 10) 30..40 ]");
        let o = add(&mut s, 0, 50, 3);
        assert_eq!(s.to_string(), "[ 0..10 10..20 20..30 30..40 40..50 ]");
        assert_eq!((o.new, o.duplicate, o.conflict), (30, 20, false));
        assert_eq!(
            frames(&s),
            vec![
                (0, 10, 3),
                (10, 20, 1),
                (20, 30, 3),
                (30, 40, 2),
                (40, 50, 3)
            ]
        );
    }

    #[test]
    fn inside() {
        // New run lies strictly inside a stored one: nothing new.
        let mut s = SegmentStore::new();
        add(&mut s, 10, 30, 1);
        let o = add(&mut s, 15, 25, 2);
        assert_eq!(s.to_string(), "[ 10..30 ]");
        assert_eq!((o.new, o.duplicate, o.conflict), (0, 10, false));
    }

    #[test]
    fn conflict_keeps_first_arrival() {
        let mut s = SegmentStore::new();
        s.insert(10, b"hello", 0, m(1));
        let o = s.insert(8, b"xxHELLOyy", 0, m(2));
        assert!(o.conflict);
        assert_eq!((o.new, o.duplicate), (4, 5));
        let all: Vec<u8> = s
            .iter()
            .flat_map(|p| match &p.data {
                PieceData::Bytes(b) => b.clone(),
                PieceData::Missing(_) => vec![],
            })
            .collect();
        assert_eq!(all, b"xxhelloyy");
        // Same bytes again: no conflict.
        let o = s.insert(10, b"hello", 0, m(3));
        assert!(!o.conflict);
    }

    #[test]
    fn missing_run_is_stored_and_not_compared() {
        let mut s = SegmentStore::new();
        let o = s.insert(100, b"abc", 7, m(1));
        assert_eq!(s.to_string(), "[ 100..103 103..110(missing) ]");
        assert_eq!(o.new, 10);
        assert_eq!(o.mem, 2 * PIECE_OVERHEAD + 3);
        // Captured bytes arriving later for the missing run: first arrival (missing) wins.
        let o = s.insert(103, b"defg", 0, m(2));
        assert_eq!((o.new, o.duplicate, o.conflict), (0, 4, false));
        assert_eq!(s.to_string(), "[ 100..103 103..110(missing) ]");
    }

    #[test]
    fn pop_and_mem() {
        let mut s = SegmentStore::new();
        add(&mut s, 0, 10, 1);
        add(&mut s, 20, 25, 2);
        assert_eq!(s.mem(), 2 * PIECE_OVERHEAD + 15);
        assert_eq!(s.first_start(), Some(0));
        let p = s.pop_first().unwrap();
        assert_eq!((p.start, p.end(), p.meta.frame), (0, 10, 1));
        assert_eq!(s.mem(), PIECE_OVERHEAD + 5);
        assert_eq!(s.first_start(), Some(20));
        s.pop_first();
        assert_eq!(s.mem(), 0);
        assert!(s.pop_first().is_none());
    }
}
