//! Line framing shared by the SMTP and POP3 dissectors.
//!
//! Pull-style, in the manner of Suricata's parsers: the dissector hands in the input of one
//! chunk and takes lines off it one at a time, so it can switch to raw byte counting (BDAT,
//! TLS) between two lines of the same chunk. A line split across packets is buffered, up to
//! a bound; a longer line is handed out in pieces (`partial`) so that message content stays
//! byte-exact while command parsing can ignore the tail.

use super::ChunkMeta;

/// Default bound of one buffered line (RFC 5321 allows 512 for commands and 1000 for text
/// lines; real traffic exceeds both, so we keep far more before cutting).
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;

/// One line (or one piece of an overlong line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    /// The line without its ending.
    pub bytes: &'a [u8],
    /// The ending as on the wire: `b"\r\n"`, `b"\n"`, or empty for a piece of an overlong
    /// line (`partial`) or an unterminated line flushed at the end of the stream.
    pub ending: &'a [u8],
    /// The packet where the line began.
    pub meta: ChunkMeta,
    /// This piece is not the end of the line: the line was longer than the bound.
    pub partial: bool,
    /// This piece continues a line whose earlier piece was already handed out.
    pub continuation: bool,
    /// The beginning of this line was lost in a gap: its first bytes are not a line start.
    pub after_gap: bool,
}

impl Line<'_> {
    /// Bytes on the wire including the ending.
    pub fn wire_len(&self) -> usize {
        self.bytes.len() + self.ending.len()
    }

    /// A whole, normal line: not a piece, not cut by a gap.
    pub fn is_whole(&self) -> bool {
        !self.partial && !self.continuation && !self.after_gap
    }
}

/// Splits one direction of a stream into lines.
#[derive(Debug)]
pub struct LineReader {
    partial: Vec<u8>,
    partial_meta: ChunkMeta,
    max: usize,
    /// `partial` holds a line already handed out by reference; clear it on the next call.
    stale: bool,
    /// The next line handed out continues an earlier piece.
    continuing: bool,
    /// The next line handed out starts after a gap.
    after_gap: bool,
}

impl Default for LineReader {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_LINE)
    }
}

impl LineReader {
    /// A reader that buffers at most `max` bytes of one line.
    pub fn new(max: usize) -> Self {
        LineReader {
            partial: Vec::new(),
            partial_meta: ChunkMeta::default(),
            max: max.max(1),
            stale: false,
            continuing: false,
            after_gap: false,
        }
    }

    /// Takes the next line off `input` (advancing it). Returns None when `input` holds no
    /// complete line; its rest is then buffered and `input` is left empty.
    pub fn next_line<'s, 'i: 's>(
        &'s mut self,
        input: &mut &'i [u8],
        meta: ChunkMeta,
    ) -> Option<Line<'s>> {
        self.clear_stale();
        let data: &'i [u8] = input;
        if data.is_empty() {
            return None;
        }
        // `partial` may hold up to `max + 1` bytes (a full line and its `\r`), so both
        // bounds saturate; counting the window from `max + 2` keeps the buffer within it
        // even when bytes arrive one at a time.
        let room = self.max.saturating_sub(self.partial.len());
        // The ending may lie just beyond the bound: the line itself still fits.
        let window = self
            .max
            .saturating_add(2)
            .saturating_sub(self.partial.len());
        let newline = memchr::memchr(b'\n', &data[..data.len().min(window)]);
        match newline {
            Some(pos) => {
                let (line_part, rest) = data.split_at(pos + 1);
                *input = rest;
                let continuation = std::mem::take(&mut self.continuing);
                let after_gap = std::mem::take(&mut self.after_gap);
                if self.partial.is_empty() {
                    let (bytes, ending) = split_ending(line_part);
                    return Some(Line {
                        bytes,
                        ending,
                        meta,
                        partial: false,
                        continuation,
                        after_gap,
                    });
                }
                self.partial.extend_from_slice(line_part);
                self.stale = true;
                let (bytes, ending) = split_ending(&self.partial);
                Some(Line {
                    bytes,
                    ending,
                    meta: self.partial_meta,
                    partial: false,
                    continuation,
                    after_gap,
                })
            }
            None if data.len() >= window => {
                // No line end within the bound: hand out a piece of `max` bytes.
                let continuation = std::mem::replace(&mut self.continuing, true);
                let after_gap = std::mem::take(&mut self.after_gap);
                if self.partial.is_empty() {
                    let (piece, rest) = data.split_at(room);
                    *input = rest;
                    return Some(Line {
                        bytes: piece,
                        ending: b"",
                        meta,
                        partial: true,
                        continuation,
                        after_gap,
                    });
                }
                self.partial.extend_from_slice(&data[..room]);
                *input = &data[room..];
                self.stale = true;
                Some(Line {
                    bytes: &self.partial,
                    ending: b"",
                    meta: self.partial_meta,
                    partial: true,
                    continuation,
                    after_gap,
                })
            }
            None => {
                if self.partial.is_empty() {
                    self.partial_meta = meta;
                }
                self.partial.extend_from_slice(data);
                *input = &[];
                None
            }
        }
    }

    /// Marks lost bytes: a buffered partial line is dropped (its length is returned) and the
    /// next line is flagged `after_gap`.
    pub fn gap(&mut self) -> usize {
        self.clear_stale();
        let dropped = self.partial.len();
        self.partial.clear();
        self.continuing = false;
        self.after_gap = true;
        dropped
    }

    /// At the end of the stream: the unterminated rest, if any, as a line with no ending.
    pub fn flush(&mut self) -> Option<Line<'_>> {
        self.clear_stale();
        if self.partial.is_empty() {
            return None;
        }
        let continuation = std::mem::take(&mut self.continuing);
        let after_gap = std::mem::take(&mut self.after_gap);
        self.stale = true;
        Some(Line {
            bytes: &self.partial,
            ending: b"",
            meta: self.partial_meta,
            partial: false,
            continuation,
            after_gap,
        })
    }

    /// The incomplete line currently buffered (empty when none).
    pub fn pending(&self) -> &[u8] {
        if self.stale {
            &[]
        } else {
            &self.partial
        }
    }

    /// Bytes of an incomplete line currently buffered.
    pub fn buffered(&self) -> usize {
        if self.stale {
            0
        } else {
            self.partial.len()
        }
    }

    fn clear_stale(&mut self) {
        if self.stale {
            self.partial.clear();
            self.stale = false;
        }
    }
}

fn split_ending(line: &[u8]) -> (&[u8], &[u8]) {
    let n = line.len();
    if n >= 2 && line[n - 2] == b'\r' && line[n - 1] == b'\n' {
        line.split_at(n - 2)
    } else if n >= 1 && line[n - 1] == b'\n' {
        line.split_at(n - 1)
    } else {
        (line, b"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(frame: u64) -> ChunkMeta {
        ChunkMeta {
            frame,
            ts: crate::model::Ts(frame as i64),
        }
    }

    /// Feeds chunks and renders each line as `frame:bytes|ending|flags`.
    fn run(max: usize, chunks: &[&[u8]]) -> Vec<String> {
        let mut r = LineReader::new(max);
        let mut out = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            let mut input: &[u8] = c;
            while let Some(l) = r.next_line(&mut input, m(i as u64 + 1)) {
                out.push(render(&l));
            }
            assert!(input.is_empty());
        }
        if let Some(l) = r.flush() {
            out.push(render(&l));
        }
        out
    }

    fn render(l: &Line) -> String {
        format!(
            "{}:{}|{}|{}{}{}",
            l.meta.frame,
            String::from_utf8_lossy(l.bytes),
            String::from_utf8_lossy(l.ending)
                .replace('\r', "R")
                .replace('\n', "N"),
            if l.partial { "p" } else { "" },
            if l.continuation { "c" } else { "" },
            if l.after_gap { "g" } else { "" },
        )
    }

    #[test]
    fn lines_in_one_chunk_crlf_and_bare_lf() {
        assert_eq!(
            run(100, &[b"EHLO a\r\nMAIL FROM:<x>\nRCPT"]),
            ["1:EHLO a|RN|", "1:MAIL FROM:<x>|N|", "1:RCPT||"]
        );
    }

    #[test]
    fn line_split_across_packets_keeps_first_frame() {
        assert_eq!(
            run(100, &[b"EH", b"LO a\r", b"\nQUIT\r\n"]),
            ["1:EHLO a|RN|", "3:QUIT|RN|"]
        );
    }

    #[test]
    fn overlong_line_is_handed_out_in_pieces_byte_exact() {
        let out = run(4, &[b"abcdefghij\r\nok\r\n"]);
        assert_eq!(out, ["1:abcd||p", "1:efgh||pc", "1:ij|RN|c", "1:ok|RN|"]);
        let out = run(4, &[b"ab", b"cdefg", b"h\n"]);
        assert_eq!(out, ["1:abcd||p", "2:efgh|N|c"]);
    }

    #[test]
    fn gap_drops_partial_line_and_flags_next() {
        let mut r = LineReader::new(100);
        let mut input: &[u8] = b"MAIL FR";
        assert!(r.next_line(&mut input, m(1)).is_none());
        assert_eq!(r.buffered(), 7);
        assert_eq!(r.gap(), 7);
        let mut input: &[u8] = b"OM:<x>\r\nRCPT TO:<y>\r\n";
        let l = r.next_line(&mut input, m(3)).unwrap();
        assert_eq!((l.bytes, l.after_gap), (&b"OM:<x>"[..], true));
        let l = r.next_line(&mut input, m(3)).unwrap();
        assert_eq!((l.bytes, l.after_gap), (&b"RCPT TO:<y>"[..], false));
    }

    #[test]
    fn full_line_and_cr_buffered_then_byte_at_a_time_stays_bounded() {
        // 4 bytes + `\r` fill the buffer to max + 1; what follows must neither underflow
        // nor grow it further.
        assert_eq!(run(4, &[b"abcd\r", b"\n"]), ["1:abcd|RN|"]);
        assert_eq!(
            run(4, &[b"abcd\r", b"x", b"y", b"\n"]),
            ["1:abcd\r||p", "2:xy|N|c"]
        );
        let mut r = LineReader::new(4);
        for (i, b) in b"abcdefghijklmnop".iter().enumerate() {
            let mut input = std::slice::from_ref(b);
            while r.next_line(&mut input, m(i as u64)).is_some() {}
            assert!(r.buffered() <= 5);
        }
    }

    #[test]
    fn reader_can_stop_between_lines_for_raw_bytes() {
        // BDAT: the dissector takes a line, then counts raw bytes from the same chunk.
        let mut r = LineReader::default();
        let mut input: &[u8] = b"BDAT 3 LAST\r\nxyzQUIT\r\n";
        let l = r.next_line(&mut input, m(1)).unwrap();
        assert_eq!(l.bytes, b"BDAT 3 LAST");
        let (raw, rest) = input.split_at(3);
        assert_eq!(raw, b"xyz");
        input = rest;
        assert_eq!(r.next_line(&mut input, m(1)).unwrap().bytes, b"QUIT");
    }
}
