//! Byte sources for the capture parsers: a memory map (the whole decompressed file is one
//! slice) or a stream read into a growing, bounded window (gzip, stdin, pipes).
//!
//! Both expose the same two calls, `fill` and `bytes`, addressed by absolute offsets in the
//! (decompressed) stream, so the format parsers do not care where the bytes come from.

use std::io::{self, Read};

/// Initial size of the streaming window. Most records are far smaller; one read per
/// refill keeps the system-call count low.
const STREAM_INITIAL: usize = 1 << 20;

/// The largest single record or block the streaming window grows to hold. Anything larger
/// is reported as damage by the format parser before it asks for it, so this is a backstop.
pub(crate) const MAX_BLOCK: usize = 256 << 20;

/// Where the bytes of a capture come from.
pub(crate) enum Source {
    /// A memory-mapped regular file: zero-copy, no buffer management.
    Mapped(memmap2::Mmap),
    /// An owned buffer (input already in memory: tests, fuzzing).
    Owned(Vec<u8>),
    /// A stream read through a sliding window.
    Stream(StreamBuf),
}

/// A sliding window over a `Read`.
pub(crate) struct StreamBuf {
    reader: Box<dyn Read + Send>,
    buf: Vec<u8>,
    /// Absolute offset of `buf[0]` in the stream.
    base: u64,
    /// Valid bytes in `buf`.
    len: usize,
    eof: bool,
    /// The error that ended the stream early, if any (reported as a warning by the reader).
    pub(crate) error: Option<io::Error>,
}

impl StreamBuf {
    /// A window over `reader` whose first bytes were already read into `prefix`.
    pub(crate) fn new(reader: Box<dyn Read + Send>, prefix: Vec<u8>) -> StreamBuf {
        let len = prefix.len();
        let mut buf = prefix;
        if buf.len() < STREAM_INITIAL {
            buf.resize(STREAM_INITIAL, 0);
        }
        StreamBuf {
            reader,
            buf,
            base: 0,
            len,
            eof: false,
            error: None,
        }
    }

    /// Makes at least `need` bytes from `pos` available if the stream has them; returns how
    /// many bytes from `pos` are in the window (fewer than `need` only at the end or on error).
    #[inline]
    fn fill(&mut self, pos: u64, need: usize) -> usize {
        debug_assert!(pos >= self.base);
        let start = (pos - self.base) as usize;
        if start + need <= self.len || self.eof {
            return self.len.saturating_sub(start);
        }
        self.refill(start, pos, need)
    }

    /// `fill` when the window lacks the bytes: once per window, kept out of the per-record
    /// path.
    #[inline(never)]
    fn refill(&mut self, start: usize, pos: u64, need: usize) -> usize {
        // Slide the unread tail to the front: only a partial record is ever copied.
        if start > 0 {
            self.buf.copy_within(start..self.len, 0);
            self.len -= start;
            self.base = pos;
        }
        while self.len < need && !self.eof {
            if self.len == self.buf.len() {
                // Grow geometrically, capped, and only as bytes actually arrive: a lying
                // block length in a short stream costs at most twice what the stream holds.
                // The format parsers never ask for more than MAX_BLOCK plus a header.
                let want = (self.buf.len() * 2)
                    .min(MAX_BLOCK.max(need))
                    .max(self.len + 1);
                self.buf.resize(want, 0);
            }
            match self.reader.read(&mut self.buf[self.len..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.len += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.error = Some(e);
                    self.eof = true;
                }
            }
        }
        self.len
    }
}

impl Source {
    /// Ensures up to `need` bytes from `pos` are addressable; returns how many are
    /// (from `pos` to the end of what is available, possibly more than `need`).
    #[inline]
    pub(crate) fn fill(&mut self, pos: u64, need: usize) -> usize {
        match self {
            Source::Mapped(m) => (m.len() as u64).saturating_sub(pos) as usize,
            Source::Owned(v) => (v.len() as u64).saturating_sub(pos) as usize,
            Source::Stream(s) => s.fill(pos, need),
        }
    }

    /// The bytes `pos..pos+len`; the caller made them available with `fill`.
    #[inline]
    pub(crate) fn bytes(&self, pos: u64, len: usize) -> &[u8] {
        match self {
            Source::Mapped(m) => &m[pos as usize..pos as usize + len],
            Source::Owned(v) => &v[pos as usize..pos as usize + len],
            Source::Stream(s) => {
                let start = (pos - s.base) as usize;
                &s.buf[start..start + len]
            }
        }
    }

    /// The read error that cut the stream short, if any.
    pub(crate) fn error(&self) -> Option<&io::Error> {
        match self {
            Source::Stream(s) => s.error.as_ref(),
            _ => None,
        }
    }
}
