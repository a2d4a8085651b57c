//! Message bytes as docs/JSON.md defines them, built incrementally: dot-unstuffing for
//! DATA and RETR bodies, raw chunks for BDAT, streaming SHA-256, streaming MIME decoding
//! ([`MimeStream`]) and, only when the caller keeps message bytes, a bounded in-memory copy
//! for extraction.

use super::lines::Line;
use super::mime::{MimeInfo, MimeLimits, MimeStream};
use super::ChunkMeta;
use crate::model::{Headers, Message, MessageDirection, Spilled};
use sha2::{Digest, Sha256};
use std::io::{BufWriter, Write};
use std::sync::Arc;

/// Limits of message handling.
#[derive(Debug, Clone, Copy)]
pub struct MessageLimits {
    /// Message bytes kept in memory for extraction (with `keep_data`); a larger message
    /// has no `data` and `truncated: ["data"]` (and, with `spill`, its bytes in a temporary
    /// file instead). The hash and MIME decoding always cover all.
    pub keep_bytes: usize,
    /// With `keep_data`, a message larger than `keep_bytes` goes on to an anonymous
    /// temporary file (`Message::spilled`) so that it can still be extracted whole.
    pub spill: bool,
    /// Keep message and attachment bytes (`Message::data`, `Attachment::data`). Without
    /// them a message in flight holds only MIME parser state (header buffers, a batch).
    pub keep_data: bool,
    pub mime: MimeLimits,
}

impl Default for MessageLimits {
    fn default() -> Self {
        MessageLimits {
            keep_bytes: 64 * 1024 * 1024,
            keep_data: true,
            spill: true,
            mime: MimeLimits::default(),
        }
    }
}

/// Small pushes (a line, a line end) are gathered up to this many bytes before they are
/// hashed and MIME-decoded: per-call costs dominate otherwise.
const BATCH: usize = 2 * 1024;

/// True for the line that ends a DATA or multi-line POP3 response: a lone `.`.
pub fn is_terminator(line: &Line<'_>) -> bool {
    line.is_whole() && line.bytes == b"." && !line.ending.is_empty()
}

/// Accumulates one message.
#[derive(Debug)]
pub struct MessageBuilder {
    hasher: Sha256,
    size: u64,
    /// The copy for extraction: only with `keep_data`, dropped once beyond `keep`.
    data: Option<Vec<u8>>,
    /// Beyond `keep`, with `spill`: the copy goes on in a temporary file.
    spill: Option<BufWriter<std::fs::File>>,
    may_spill: bool,
    keep: usize,
    cut: bool,
    gaps: u64,
    lines: u64,
    meta: ChunkMeta,
    mime: MimeStream,
    /// Bytes not yet hashed and decoded, at most [`BATCH`].
    batch: Vec<u8>,
}

impl MessageBuilder {
    /// A message whose first byte travels in (or after) the packet `meta`.
    pub fn new(meta: ChunkMeta, limits: &MessageLimits) -> Self {
        MessageBuilder {
            hasher: Sha256::new(),
            size: 0,
            data: limits.keep_data.then(Vec::new),
            spill: None,
            may_spill: limits.keep_data && limits.spill,
            keep: limits.keep_bytes,
            cut: false,
            gaps: 0,
            lines: 0,
            meta,
            mime: MimeStream::new(&limits.mime, limits.keep_data),
            batch: Vec::new(),
        }
    }

    /// Appends content bytes as they are.
    pub fn push(&mut self, bytes: &[u8]) {
        self.push_parts(&[bytes]);
    }

    /// Appends `parts` one after the other, with the bookkeeping done once.
    fn push_parts(&mut self, parts: &[&[u8]]) {
        let n: usize = parts.iter().map(|p| p.len()).sum();
        self.size += n as u64;
        if self.size > self.keep as u64 && !self.cut {
            self.cut = true;
            let kept = self.data.take();
            if let (Some(kept), true) = (kept, self.may_spill) {
                self.spill = spill_file(&kept);
            }
        }
        for bytes in parts {
            if let Some(d) = &mut self.data {
                d.extend_from_slice(bytes);
            } else if let Some(f) = &mut self.spill {
                if f.write_all(bytes).is_err() {
                    // Disk full or similar: the message stays hashed and decoded, not kept.
                    self.spill = None;
                }
            }
        }
        if self.batch.len() + n > BATCH {
            self.flush();
        }
        if n >= BATCH {
            for bytes in parts {
                self.hasher.update(bytes);
                self.mime.push(bytes);
            }
        } else {
            self.batch_append(parts);
        }
    }

    /// Appends to the batch (the caller made room), sized once at its bound: growing it
    /// line by line reallocated it ~10 times.
    fn batch_append(&mut self, parts: &[&[u8]]) {
        if self.batch.capacity() == 0 {
            self.batch.reserve_exact(BATCH);
        }
        for p in parts {
            self.batch.extend_from_slice(p);
        }
    }

    fn flush(&mut self) {
        if !self.batch.is_empty() {
            self.hasher.update(&self.batch);
            self.mime.push(&self.batch);
            self.batch.clear();
        }
    }

    /// Appends a dot-stuffed body line (not the terminator): a leading `.` at a line start
    /// is removed (RFC 5321 §4.5.2, RFC 1939 §3).
    pub fn push_dotted_line(&mut self, line: &Line<'_>) {
        let mut bytes = line.bytes;
        if !line.continuation && !line.after_gap && bytes.first() == Some(&b'.') {
            bytes = &bytes[1..];
        }
        self.push_parts(&[bytes, line.ending]);
        if !line.partial {
            self.lines += 1;
        }
    }

    /// Bytes of the message were lost.
    pub fn gap(&mut self) {
        self.gaps += 1;
    }

    /// Size so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Lines so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// The finished message. `complete` says whether its proper end was seen; a message with
    /// a gap is never complete. `id` and `session` are filled in by the analysis layer.
    pub fn finish(
        mut self,
        complete: bool,
        direction: MessageDirection,
        _limits: &MessageLimits,
    ) -> Message {
        self.flush();
        let info = if self.size == 0 {
            MimeInfo::default()
        } else {
            self.mime.finish()
        };
        let mut truncated = Vec::new();
        if self.cut {
            truncated.push("data".to_string());
        }
        if info.attachments_dropped > 0 {
            truncated.push("attachments".to_string());
        }
        if info.headers_cut {
            truncated.push("headers".to_string());
        }
        if let Some(reason) = info.skipped {
            truncated.push(reason.to_string());
        }
        Message {
            id: String::new(),
            session: String::new(),
            direction,
            partial: false,
            size: self.size,
            sha256: super::mime::hex_lower(&self.hasher.finalize()),
            complete: complete && self.gaps == 0,
            encrypted: false,
            mail_from: None,
            rcpt_to: None,
            pop3_number: None,
            uidl: None,
            imap_mailbox: None,
            imap_uid: None,
            imap_seq: None,
            imap_section: None,
            missing: None,
            headers: if info.unparsable {
                Headers::default()
            } else {
                info.headers
            },
            attachments: info.attachments,
            frame: self.meta.frame,
            capture: None,
            time: self.meta.ts,
            truncated,
            data: self.data.map(Arc::new),
            spilled: self.spill.and_then(|f| {
                let file = f.into_inner().ok()?;
                Some(Arc::new(Spilled::new(file, self.size)))
            }),
        }
    }
}

/// An anonymous temporary file holding `first` (the bytes kept in memory so far); None when
/// it cannot be made.
fn spill_file(first: &[u8]) -> Option<BufWriter<std::fs::File>> {
    let mut f = BufWriter::with_capacity(64 * 1024, tempfile::tempfile().ok()?);
    f.write_all(first).ok()?;
    Some(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::lines::LineReader;
    use crate::proto::mime;

    #[test]
    fn dot_unstuffing_and_terminator() {
        let wire: &[u8] = b"Subject: x\r\n\r\n..leading dot\r\n..\r\n.\r\nQUIT\r\n";
        let mut r = LineReader::default();
        let mut input = wire;
        let limits = MessageLimits::default();
        let mut b = MessageBuilder::new(ChunkMeta::default(), &limits);
        while let Some(l) = r.next_line(&mut input, ChunkMeta::default()) {
            if is_terminator(&l) {
                break;
            }
            b.push_dotted_line(&l);
        }
        assert_eq!(input, b"QUIT\r\n");
        let m = b.finish(true, MessageDirection::Sent, &limits);
        let expect: &[u8] = b"Subject: x\r\n\r\n.leading dot\r\n.\r\n";
        assert_eq!(m.data.as_deref().unwrap().as_slice(), expect);
        assert_eq!(m.sha256, mime::sha256_hex(expect));
        assert_eq!((m.size, m.complete), (expect.len() as u64, true));
        assert_eq!(m.headers.subject.as_deref(), Some("x"));
    }

    #[test]
    fn keep_bound_cuts_copy_not_hash() {
        let limits = MessageLimits {
            keep_bytes: 4,
            ..Default::default()
        };
        let mut b = MessageBuilder::new(ChunkMeta::default(), &limits);
        b.push(b"abcdefgh");
        let m = b.finish(true, MessageDirection::Retrieved, &limits);
        assert_eq!(m.sha256, mime::sha256_hex(b"abcdefgh"));
        assert_eq!(m.truncated, ["data"]);
        assert!(m.data.is_none());
    }

    #[test]
    fn gap_makes_message_incomplete() {
        let limits = MessageLimits::default();
        let mut b = MessageBuilder::new(ChunkMeta::default(), &limits);
        b.push(b"abc");
        b.gap();
        assert!(!b.finish(true, MessageDirection::Sent, &limits).complete);
    }
}
