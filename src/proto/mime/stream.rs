//! Streaming MIME: the same result as [`super::parse`] without holding the message.
//!
//! Bytes are fed as they arrive. Header blocks (the message's, each part's) are buffered,
//! bounded, and decoded with mail-parser (`parse_headers`), so header semantics (RFC 2047
//! words, RFC 2231 parameters, addresses) stay the library's. Bodies are walked line by
//! line as a multipart state machine: boundary lines are recognised at line starts against
//! a bounded stack of open multiparts (the depth guard), the line ending before a boundary
//! belongs to the boundary (RFC 2046 §5.1.1) and is withheld until the next line is known,
//! and attachment bodies are transfer-decoded on the fly into a SHA-256, a size and, when
//! the caller keeps data, a bounded copy. `message/*` parts that are not attachments are
//! fed to a nested parser (bounded by the same depth guard).
//!
//! Where this differs from the whole-message path, it follows the RFCs; the differences
//! are listed and tested in `tests/mime_stream_diff.rs`.

use super::{content_type, headers, MimeInfo, MimeLimits, MAX_NESTED_MESSAGES};
use crate::model::Attachment;
use mail_parser::{Message, MessageParser, MimeHeaders};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Bound of the message's own header block; beyond it the block is counted
/// (`MimeInfo::headers_cut`) and decoded from its first bytes.
pub const MAX_TOP_HEADER_BYTES: usize = 256 * 1024;
/// Bound of a part's header block, same treatment.
pub const MAX_PART_HEADER_BYTES: usize = 64 * 1024;
/// Decoded bytes staged before they go to the hash (bounds a decoder's output buffer).
const STAGE: usize = 8 * 1024;
/// Levels of base64/quoted-printable encoded `message/*` parts that are parsed, as in
/// mail-parser (`MAX_NESTED_ENCODED`).
const MAX_NESTED_ENCODED: usize = 3;

/// Parses `bytes` with the streaming parser, fed in pieces of `chunk` bytes (a test and
/// benchmark convenience; `chunk` 0 feeds all at once).
pub fn parse_streaming(
    bytes: &[u8],
    limits: &MimeLimits,
    keep_data: bool,
    chunk: usize,
) -> MimeInfo {
    let mut s = MimeStream::new(limits, keep_data);
    if chunk == 0 {
        s.push(bytes);
    } else {
        for c in bytes.chunks(chunk) {
            s.push(c);
        }
    }
    s.finish()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Reading a header block.
    Header,
    /// Reading body lines (content of the current part, a preamble or an epilogue).
    Body,
    /// At a line start that begins with `-`: collecting its first bytes to tell a
    /// boundary line from content.
    Head,
    /// Discarding the rest of a boundary line, then reading a part's header block.
    SkipLine,
    /// A guard was hit, or the message has nothing more to decode.
    Done,
}

#[derive(Debug)]
struct Frame {
    boundary: Vec<u8>,
    digest: bool,
    /// Body parts of this multipart begun so far (the last one's number).
    count: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Enc {
    None,
    Base64,
    Qp,
}

/// What a part's header block says.
struct PartHead {
    boundary: Option<Vec<u8>>,
    digest: bool,
    is_message: bool,
    is_text: bool,
    enc: Enc,
    name: Option<String>,
    disposition_attachment: bool,
    content_type: String,
}

fn describe(msg: Option<&Message<'_>>, parent_digest: bool) -> PartHead {
    let part = msg.and_then(|m| m.parts.first());
    let ct = part.and_then(|p| p.content_type());
    let enc = match part.and_then(|p| p.content_transfer_encoding()) {
        Some(e) if e.eq_ignore_ascii_case("base64") => Enc::Base64,
        Some(e) if e.eq_ignore_ascii_case("quoted-printable") => Enc::Qp,
        _ => Enc::None,
    };
    // Classification as in mail-parser's `mime_type`.
    let (mut boundary, mut digest, mut is_message, mut is_text) = (None, false, false, false);
    match ct {
        Some(ct) => match ct.ctype() {
            "multipart" => {
                boundary = ct.attribute("boundary").map(|b| b.as_bytes().to_vec());
                digest = ct.subtype() == Some("digest");
            }
            "text" => is_text = true,
            "message" => is_message = matches!(ct.subtype(), Some("rfc822") | Some("global")),
            _ => {}
        },
        None if parent_digest => is_message = true,
        None => is_text = true,
    }
    if boundary.as_ref().is_some_and(|b| b.is_empty()) {
        boundary = None;
    }
    let name = part.and_then(|p| p.attachment_name()).map(str::to_string);
    let disposition_attachment = part
        .and_then(|p| p.content_disposition())
        .is_some_and(|d| d.is_attachment());
    // Only an attachment reports its type, and only a named or disposed part can be one
    // (`start_part`).
    let content_type = if name.is_some() || disposition_attachment {
        part.map_or_else(|| "text/plain".into(), content_type)
    } else {
        String::new()
    };
    PartHead {
        boundary,
        digest,
        is_message,
        is_text,
        enc,
        name,
        disposition_attachment,
        content_type,
    }
}

/// Incremental base64: whitespace and characters outside the alphabet are skipped
/// (RFC 2045 §6.8); `=` ends a group (what is pending is flushed, as mail-parser does).
#[derive(Debug, Default)]
struct B64 {
    acc: u32,
    n: u8,
}

const INVALID: u32 = 0xffff_ffff;
/// Shortest run of base64 the SIMD decoder is given (shorter ones cost more to set up
/// than to decode in the scalar loop).
const SIMD_MIN: usize = 32;
/// Characters joined from whole lines for one SIMD decode.
const SIMD_JOIN: usize = 4096;

/// Copies the characters of `input` but CR and LF into `buf`, whole lines only (a first
/// line longer than `buf` is cut at a multiple of four). Returns the characters copied and
/// the input bytes they came from, line breaks after them included.
fn join_lines(input: &[u8], buf: &mut [u8; SIMD_JOIN]) -> (usize, usize) {
    let (mut len, mut pos) = (0, 0);
    while pos < input.len() {
        let end = memchr::memchr2(b'\r', b'\n', &input[pos..]).map_or(input.len(), |i| pos + i);
        let seg = &input[pos..end];
        if len + seg.len() > SIMD_JOIN {
            if len == 0 {
                let cut = SIMD_JOIN;
                buf.copy_from_slice(&seg[..cut]);
                return (cut, pos + cut);
            }
            break;
        }
        buf[len..len + seg.len()].copy_from_slice(seg);
        len += seg.len();
        pos = end;
        while pos < input.len() && matches!(input[pos], b'\r' | b'\n') {
            pos += 1;
        }
    }
    (len, pos)
}
/// Groups of four characters the fast path decodes per block (more than a 76-column line).
const B64_BLOCK: usize = 64;
static B64_TABLES: [[u32; 256]; 4] = b64_tables();

const fn b64_tables() -> [[u32; 256]; 4] {
    let mut t = [[INVALID; 256]; 4];
    let mut v = 0u32;
    while v < 64 {
        let ch = match v {
            0..=25 => b'A' + v as u8,
            26..=51 => b'a' + (v - 26) as u8,
            52..=61 => b'0' + (v - 52) as u8,
            62 => b'+',
            _ => b'/',
        } as usize;
        t[0][ch] = v << 18;
        t[1][ch] = v << 12;
        t[2][ch] = v << 6;
        t[3][ch] = v;
        v += 1;
    }
    t
}

impl B64 {
    fn feed(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        // SIMD path: line breaks are skipped by the scalar loop (any character outside the
        // alphabet but `=` is), so whole lines are joined without them and their whole
        // groups decoded at once. A group with `=` is left to the scalar loop (its `=`
        // handling is mail-parser's); any other character fails the decode, and the
        // scalar loop takes the rest of the call from the same place: the output is the
        // same. One failed attempt per call at most, so hostile input costs at most twice.
        if self.n == 0 && input.len() >= SIMD_MIN {
            let mut joined = [0u8; SIMD_JOIN];
            while self.n == 0 && input.len() >= SIMD_MIN {
                let (len, used) = join_lines(input, &mut joined);
                let mut whole = len - len % 4;
                if whole >= 4 && joined[whole - 1] == b'=' {
                    whole -= 4;
                }
                if whole < SIMD_MIN
                    || base64_simd::STANDARD
                        .decode_append(&joined[..whole], out)
                        .is_err()
                {
                    break;
                }
                // Less than a group, or a padded one.
                self.feed_scalar(&joined[whole..len], out);
                input = &input[used..];
            }
        }
        self.feed_scalar(input, out);
    }

    /// The reference decoder, a character at a time (with a table-driven fast path for
    /// whole groups).
    fn feed_scalar(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        loop {
            if self.n == 0 {
                // Fast path: whole groups of four alphabet characters, a block at a time
                // into a stack buffer: the output grows by one copy per block (a line),
                // not by a capacity check and a copy call per group.
                let mut buf = [0u8; 3 * B64_BLOCK];
                loop {
                    let mut groups = 0;
                    for (src, dst) in input.chunks_exact(4).zip(buf.chunks_exact_mut(3)) {
                        let w = B64_TABLES[0][src[0] as usize]
                            | B64_TABLES[1][src[1] as usize]
                            | B64_TABLES[2][src[2] as usize]
                            | B64_TABLES[3][src[3] as usize];
                        if w >> 24 != 0 {
                            break;
                        }
                        dst.copy_from_slice(&w.to_be_bytes()[1..]);
                        groups += 1;
                    }
                    out.extend_from_slice(&buf[..groups * 3]);
                    input = &input[groups * 4..];
                    if groups < B64_BLOCK {
                        // A group with another character, or the end of the input.
                        break;
                    }
                }
            }
            let Some((&ch, rest)) = input.split_first() else {
                return;
            };
            input = rest;
            let v = B64_TABLES[3][ch as usize];
            if v != INVALID {
                self.acc = (self.acc << 6) | v;
                self.n += 1;
                if self.n == 4 {
                    out.extend_from_slice(&self.acc.to_be_bytes()[1..]);
                    self.n = 0;
                    self.acc = 0;
                }
            } else if ch == b'=' {
                self.flush(out);
            }
        }
    }

    /// Emits the bytes of a partial group: `=` does this; so does the end of a text part
    /// (the reference decodes text parts leniently, unpadded tails included), not the end
    /// of other parts (mail-parser drops an unpadded tail).
    fn flush(&mut self, out: &mut Vec<u8>) {
        match self.n {
            1 => out.push((self.acc << 2) as u8),
            2 => out.push((self.acc >> 4) as u8),
            3 => out.extend_from_slice(&[(self.acc >> 10) as u8, (self.acc >> 2) as u8]),
            _ => {}
        }
        self.n = 0;
        self.acc = 0;
    }
}

/// Incremental quoted-printable with mail-parser's rules: `=XX` decoded, `=` + line end a
/// soft break, white space before a hard line end dropped, invalid `=` sequences kept
/// literally, `\r` dropped and line ends written as CRLF once a CR was seen (else LF).
#[derive(Debug, Default)]
struct Qp {
    /// 0: plain, 1: after `=`, 2: after `=` and one hex digit.
    state: u8,
    hex1: u8,
    /// Trailing white space not yet written (dropped if a hard line end follows); bounded
    /// by flushing it as content once it passes [`STAGE`] bytes.
    ws: Vec<u8>,
    crlf: bool,
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

impl Qp {
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        for &ch in input {
            match ch {
                b'=' if self.state == 0 => self.state = 1,
                b'=' => {
                    // `==`: the first is kept literally (mail-parser's text decoder fails
                    // here and falls back to the same lenient result).
                    self.lit(out, b"=");
                    if self.state == 2 {
                        let h = self.hex1;
                        self.lit(out, &[h]);
                    }
                    self.state = 1;
                }
                b'\n' => {
                    if self.state == 0 {
                        self.ws.clear();
                        out.extend_from_slice(if self.crlf { b"\r\n" } else { b"\n" });
                    } else {
                        // Soft break: white space before the `=` is content.
                        out.append(&mut self.ws);
                    }
                    self.state = 0;
                }
                b'\r' => self.crlf = true,
                _ => match self.state {
                    0 => {
                        if ch.is_ascii_whitespace() {
                            if self.ws.len() >= STAGE {
                                out.append(&mut self.ws);
                            }
                            self.ws.push(ch);
                        } else {
                            self.lit(out, &[ch]);
                        }
                    }
                    1 => {
                        if hex(ch).is_some() {
                            self.hex1 = ch;
                            self.state = 2;
                        } else if !ch.is_ascii_whitespace() {
                            self.state = 0;
                            self.lit(out, &[b'=', ch]);
                        }
                    }
                    _ => {
                        self.state = 0;
                        match (hex(self.hex1), hex(ch)) {
                            (Some(a), Some(b)) => self.lit(out, &[(a << 4) | b]),
                            _ => {
                                let h = self.hex1;
                                self.lit(out, &[b'=', h, ch]);
                            }
                        }
                    }
                },
            }
        }
    }

    fn lit(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        out.append(&mut self.ws);
        out.extend_from_slice(bytes);
    }

    /// End of the part: pending white space is content unless the part ended at a
    /// boundary (mail-parser decodes the line end before it, which drops the white space).
    fn finish(&mut self, out: &mut Vec<u8>, at_boundary: bool) {
        if !at_boundary {
            out.append(&mut self.ws);
        }
    }
}

#[derive(Debug)]
enum Decoder {
    Raw,
    B64(B64),
    Qp(Qp),
}

impl Decoder {
    fn new(enc: Enc) -> Self {
        match enc {
            Enc::None => Decoder::Raw,
            Enc::Base64 => Decoder::B64(B64::default()),
            Enc::Qp => Decoder::Qp(Qp::default()),
        }
    }
}

/// Where decoded part bytes go.
#[derive(Debug)]
enum Target {
    /// An attachment: hash, size, copy bounded by `keep_attachment_bytes`.
    Attachment {
        hasher: Sha256,
        size: u64,
        data: Option<Vec<u8>>,
        keep: usize,
        filename: Option<String>,
        content_type: String,
        /// An attached message (`message/rfc822` with a name or marked attachment): its
        /// own attachments are listed too, with `container` naming it.
        nested: Option<Box<MimeStream>>,
    },
    /// An embedded message that is not an attachment: its attachments are listed too.
    Nested(Box<MimeStream>),
}

/// The body of one part being decoded.
#[derive(Debug)]
struct PartSink {
    decoder: Decoder,
    target: Target,
    /// Base64 text parts decode an unpadded tail (the reference's lenient decoder).
    flush_tail: bool,
    stage: Vec<u8>,
}

impl PartSink {
    fn new(ph: &PartHead, target: Target) -> Self {
        PartSink {
            decoder: Decoder::new(ph.enc),
            target,
            flush_tail: ph.is_text,
            stage: Vec::new(),
        }
    }

    /// Content bytes of the part. RFC 2046 §5.1.1: only the line end right before a
    /// boundary belongs to the boundary (the caller withholds it); every other byte is
    /// content, a text file's own final line end included, so the hash is that of the
    /// file the sender attached (and of Suricata's file logging). mail-parser strips one
    /// more line end from text parts; see `tests/mime_stream_diff.rs`.
    fn content(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.decode(bytes);
        }
    }

    fn decode(&mut self, bytes: &[u8]) {
        match &mut self.decoder {
            Decoder::Raw => Self::deliver(&mut self.target, bytes),
            Decoder::B64(d) => {
                for piece in bytes.chunks(STAGE) {
                    // Decoded bytes are fewer than `piece`: one allocation, not a doubling
                    // series.
                    self.stage.reserve(piece.len());
                    d.feed(piece, &mut self.stage);
                    Self::deliver(&mut self.target, &self.stage);
                    self.stage.clear();
                }
            }
            Decoder::Qp(d) => {
                for piece in bytes.chunks(STAGE) {
                    self.stage.reserve(piece.len());
                    d.feed(piece, &mut self.stage);
                    Self::deliver(&mut self.target, &self.stage);
                    self.stage.clear();
                }
            }
        }
        // Not kept between calls: with thousands of messages open at once, a few KiB of
        // idle stage each was a tenth of the memory; one allocation per batch is cheap.
        self.stage = Vec::new();
    }

    fn deliver(target: &mut Target, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        match target {
            Target::Attachment {
                hasher,
                size,
                data,
                keep,
                nested,
                ..
            } => {
                if let Some(n) = nested {
                    n.push(bytes);
                }
                hasher.update(bytes);
                *size += bytes.len() as u64;
                if let Some(d) = data {
                    if d.len() + bytes.len() > *keep {
                        *data = None;
                    } else {
                        d.extend_from_slice(bytes);
                    }
                }
            }
            Target::Nested(s) => s.push(bytes),
        }
    }

    /// The part ended (at a boundary, or at the end of the message).
    fn finish(mut self, at_boundary: bool) -> Target {
        match &mut self.decoder {
            Decoder::Raw => {}
            Decoder::B64(d) => {
                if self.flush_tail {
                    d.flush(&mut self.stage);
                }
            }
            Decoder::Qp(d) => d.finish(&mut self.stage, at_boundary),
        }
        let stage = std::mem::take(&mut self.stage);
        Self::deliver(&mut self.target, &stage);
        self.target
    }

    fn nested_skipped(&self) -> Option<&'static str> {
        match &self.target {
            Target::Nested(s)
            | Target::Attachment {
                nested: Some(s), ..
            } => s.info.skipped,
            Target::Attachment { .. } => None,
        }
    }
}

/// The streaming MIME parser of one message (or of an embedded message).
#[derive(Debug)]
pub struct MimeStream {
    limits: MimeLimits,
    keep_data: bool,
    /// Embedded-message level: 0 for the message itself.
    level: usize,
    /// Containers (multiparts, embedded messages) open around this message.
    base_depth: usize,
    /// Encoded embedded-message levels still parsed.
    enc_budget: usize,
    /// Attachments at this level are listed (the reference lists them down to
    /// [`MAX_NESTED_MESSAGES`] levels; deeper ones are still parsed, for the guards).
    collect: bool,
    mode: Mode,
    /// The header block being read: bounded by `hdr_limit`, counted when cut.
    hdr: Vec<u8>,
    hdr_limit: usize,
    /// The header block reached its bound: the rest of it is dropped, so the kept part
    /// ends at a line end and every header before the cut still decodes.
    hdr_full: bool,
    /// Header-block line state: 0 line start, 1 line start + CR, 2 inside a line.
    hline: u8,
    /// The message's own headers have been read.
    root_done: bool,
    /// Open multiparts, innermost last; their number is bounded by `max_depth`.
    frames: Vec<Frame>,
    /// First bytes of a line that starts with `-`: at most 4 + the longest boundary,
    /// itself bounded by the header block bound.
    head: Vec<u8>,
    head_need: usize,
    line_start: bool,
    /// Line end withheld because a boundary may follow: 0, 1 (`\n`) or 2 (`\r\n`) bytes.
    pend: u8,
    /// A `\r` withheld at the end of a push: it may start a line end.
    cr: bool,
    sink: Option<PartSink>,
    /// Part delimiters seen (this message and embedded ones), bounded by `max_parts`.
    parts: usize,
    /// The MIME part number (IMAP section, RFC 9051 §6.4.5) of this embedded message in
    /// the top message; empty for the top message. Attachments found inside carry it as
    /// `container`.
    section: String,
    info: MimeInfo,
}

impl MimeStream {
    /// A parser for a whole message. `keep_data`: keep decoded attachment bytes (bounded by
    /// `limits.keep_attachment_bytes` each).
    pub fn new(limits: &MimeLimits, keep_data: bool) -> Self {
        Self::at_level(*limits, keep_data, 0, 0, MAX_NESTED_ENCODED, true)
    }

    fn at_level(
        limits: MimeLimits,
        keep_data: bool,
        level: usize,
        base_depth: usize,
        enc_budget: usize,
        collect: bool,
    ) -> Self {
        MimeStream {
            limits,
            keep_data,
            level,
            base_depth,
            enc_budget,
            collect,
            mode: Mode::Header,
            hdr: Vec::new(),
            hdr_limit: MAX_TOP_HEADER_BYTES,
            hdr_full: false,
            hline: 0,
            root_done: false,
            frames: Vec::new(),
            head: Vec::new(),
            head_need: 0,
            line_start: true,
            pend: 0,
            cr: false,
            sink: None,
            parts: 0,
            section: String::new(),
            info: MimeInfo::default(),
        }
    }

    /// Feeds the next bytes of the message.
    pub fn push(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let used = match self.mode {
                Mode::Header => self.header_bytes(data),
                Mode::Body => self.body_bytes(data),
                Mode::Head => self.head_bytes(data),
                Mode::SkipLine => match memchr::memchr(b'\n', data) {
                    Some(i) => {
                        self.begin_header(MAX_PART_HEADER_BYTES);
                        i + 1
                    }
                    None => data.len(),
                },
                Mode::Done => data.len(),
            };
            data = &data[used..];
        }
    }

    fn begin_header(&mut self, limit: usize) {
        self.mode = Mode::Header;
        self.hdr.clear();
        self.hdr_limit = limit;
        self.hdr_full = false;
        self.hline = 0;
    }

    fn header_bytes(&mut self, data: &[u8]) -> usize {
        let mut i = 0;
        while i < data.len() {
            let b = data[i];
            i += 1;
            match b {
                b'\n' if self.hline < 2 => {
                    self.keep_header(&data[..i]);
                    self.header_block(true);
                    return i;
                }
                b'\n' => self.hline = 0,
                b'\r' if self.hline == 0 => self.hline = 1,
                _ => {
                    self.hline = 2;
                    // Inside a line: jump to its end.
                    match memchr::memchr(b'\n', &data[i..]) {
                        Some(j) => {
                            i += j + 1;
                            self.hline = 0;
                        }
                        None => i = data.len(),
                    }
                }
            }
        }
        self.keep_header(data);
        data.len()
    }

    fn keep_header(&mut self, bytes: &[u8]) {
        if self.hdr_full {
            return;
        }
        let room = self.hdr_limit.saturating_sub(self.hdr.len());
        if bytes.len() <= room {
            self.hdr.extend_from_slice(bytes);
            return;
        }
        self.info.headers_cut = true;
        self.hdr_full = true;
        // Keep whole lines only; a header cut in the middle would be decoded wrongly.
        self.hdr.extend_from_slice(&bytes[..room]);
        let end = memchr::memrchr(b'\n', &self.hdr).map_or(0, |i| i + 1);
        self.hdr.truncate(end);
    }

    /// A header block is complete (`terminated`: by an empty line).
    fn header_block(&mut self, terminated: bool) {
        let block = std::mem::take(&mut self.hdr);
        let parsed = MessageParser::default().parse_headers(&block[..]);
        let root = !self.root_done;
        if root {
            self.root_done = true;
            if self.level == 0 {
                match &parsed {
                    Some(m) => self.info.headers = headers(m),
                    // The reference (a whole-message parse) fails only when no header and
                    // no header end were found.
                    None => self.info.unparsable = !terminated,
                }
            }
        }
        let parent_digest = self.frames.last().is_some_and(|f| f.digest);
        let ph = describe(parsed.as_ref(), parent_digest);
        drop(parsed);
        self.hdr = block;
        self.hdr.clear();
        if self.hdr.capacity() > 4096 {
            self.hdr = Vec::new();
        }
        if terminated {
            self.start_part(ph, root);
        }
    }

    fn depth(&self) -> usize {
        self.base_depth + self.frames.len()
    }

    fn start_part(&mut self, mut ph: PartHead, root: bool) {
        self.mode = Mode::Body;
        self.line_start = true;
        self.pend = 0;
        self.cr = false;
        if let Some(b) = ph.boundary {
            if self.depth() + 1 > self.limits.max_depth {
                return self.guard("mime-depth");
            }
            self.head_need = self.head_need.max(b.len() + 4);
            self.frames.push(Frame {
                boundary: b,
                digest: ph.digest,
                count: 0,
            });
            return;
        }
        let attachable = if root && self.level == 0 && !ph.is_message {
            // The message's own body counts only when disposed as an attachment.
            ph.disposition_attachment
        } else {
            ph.name.is_some() || ph.disposition_attachment
        };
        if attachable {
            if !self.collect {
                return;
            }
            if self.info.attachments.len() >= self.limits.max_attachments {
                self.info.attachments_dropped += 1;
                return;
            }
            let keep = self.limits.keep_attachment_bytes;
            // An attached message is listed as a file and read for its own attachments.
            let nested = if ph.is_message {
                match self.nested_stream(&ph) {
                    Ok(n) => n,
                    Err(reason) => return self.guard(reason),
                }
            } else {
                None
            };
            let target = Target::Attachment {
                hasher: Sha256::new(),
                size: 0,
                data: self.keep_data.then(Vec::new),
                keep,
                filename: ph.name.take(),
                content_type: std::mem::take(&mut ph.content_type),
                nested,
            };
            self.sink = Some(PartSink::new(&ph, target));
        } else if ph.is_message {
            match self.nested_stream(&ph) {
                Ok(Some(nested)) => {
                    self.sink = Some(PartSink::new(&ph, Target::Nested(nested)));
                }
                Ok(None) => {}
                Err(reason) => self.guard(reason),
            }
        }
    }

    /// The part number of the part being started (IMAP numbering: the body of a
    /// non-multipart message is part 1 of it).
    fn part_number(&self) -> String {
        let mut n = self.section.clone();
        let mut push = |k: u32| {
            if !n.is_empty() {
                n.push('.');
            }
            n.push_str(&k.to_string());
        };
        if self.frames.is_empty() {
            push(1);
        }
        for f in &self.frames {
            push(f.count);
        }
        n
    }

    /// A parser for an embedded message part; `Ok(None)` when encoded levels are used up,
    /// `Err` when the depth guard is hit.
    fn nested_stream(&self, ph: &PartHead) -> Result<Option<Box<MimeStream>>, &'static str> {
        let encoded = ph.enc != Enc::None;
        if encoded && self.enc_budget == 0 {
            return Ok(None);
        }
        if self.depth() + 1 > self.limits.max_depth {
            return Err("mime-depth");
        }
        let mut limits = self.limits;
        limits.max_attachments = limits
            .max_attachments
            .saturating_sub(self.info.attachments.len());
        limits.max_parts = limits.max_parts.saturating_sub(self.parts);
        let mut nested = MimeStream::at_level(
            limits,
            self.keep_data,
            self.level + 1,
            self.depth() + 1,
            self.enc_budget - usize::from(encoded),
            self.collect && self.level < MAX_NESTED_MESSAGES,
        );
        nested.section = self.part_number();
        Ok(Some(Box::new(nested)))
    }

    /// A guard was hit: like the reference, no MIME decoding at all (top-level headers
    /// are kept), and nothing more is read.
    fn guard(&mut self, reason: &'static str) {
        self.info.skipped = Some(reason);
        self.info.attachments.clear();
        self.info.attachments_dropped = 0;
        self.frames.clear();
        self.sink = None;
        self.head = Vec::new();
        self.mode = Mode::Done;
    }

    /// Content bytes that contain no boundary candidate; the line end at their end is
    /// withheld (it belongs to a boundary if one follows).
    fn emit_run(&mut self, mut run: &[u8]) {
        if run.is_empty() {
            return;
        }
        if self.cr {
            self.cr = false;
            if run[0] == b'\n' {
                self.pend = 2;
                run = &run[1..];
                if run.is_empty() {
                    return;
                }
            } else {
                self.out(b"\r");
            }
        }
        self.release();
        let n = run.len();
        if run.ends_with(b"\r\n") {
            self.out(&run[..n - 2]);
            self.pend = 2;
        } else if run.ends_with(b"\n") {
            self.out(&run[..n - 1]);
            self.pend = 1;
        } else if run.ends_with(b"\r") {
            self.out(&run[..n - 1]);
            self.cr = true;
        } else {
            self.out(run);
        }
    }

    /// The withheld line end turned out to be content.
    fn release(&mut self) {
        let p = std::mem::take(&mut self.pend);
        match p {
            1 => self.out(b"\n"),
            2 => self.out(b"\r\n"),
            _ => {}
        }
    }

    fn out(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let Some(s) = &mut self.sink else {
            return;
        };
        s.content(bytes);
        if let Some(reason) = s.nested_skipped() {
            self.guard(reason);
        }
    }

    fn body_bytes(&mut self, data: &[u8]) -> usize {
        if self.frames.is_empty() {
            // No boundary can end this body: all of it is content.
            self.emit_run(data);
            return data.len();
        }
        let mut p = 0;
        loop {
            if self.line_start {
                if p == data.len() {
                    return p;
                }
                if data[p] == b'-' {
                    self.mode = Mode::Head;
                    self.head.clear();
                    return p;
                }
                self.line_start = false;
            }
            match memchr::memmem::find(&data[p..], b"\n-") {
                Some(q) => {
                    self.emit_run(&data[p..=p + q]);
                    if self.mode == Mode::Done {
                        return data.len();
                    }
                    p += q + 1;
                    self.line_start = true;
                }
                None => {
                    self.emit_run(&data[p..]);
                    self.line_start = data.ends_with(b"\n");
                    return data.len();
                }
            }
        }
    }

    fn head_bytes(&mut self, data: &[u8]) -> usize {
        let want = self.head_need - self.head.len().min(self.head_need);
        let take = data.len().min(want.max(1));
        let (used, line_end) = match memchr::memchr(b'\n', &data[..take]) {
            Some(i) => (i + 1, true),
            None => (take, false),
        };
        self.head.extend_from_slice(&data[..used]);
        if line_end || self.head.len() >= self.head_need {
            self.decide_head(line_end);
        }
        used
    }

    /// The first bytes of a line starting with `-` are known (the whole line if
    /// `line_end`): a boundary of an open multipart, or content.
    fn decide_head(&mut self, line_end: bool) {
        let head = std::mem::take(&mut self.head);
        let hit = self.frames.iter().rposition(|f| {
            head.len() >= 2 + f.boundary.len()
                && head.starts_with(b"--")
                && head[2..].starts_with(&f.boundary)
        });
        match hit {
            Some(i) => {
                let after = &head[2 + self.frames[i].boundary.len()..];
                let close = after.starts_with(b"--");
                // The line end before the boundary belongs to it.
                self.pend = 0;
                self.cr = false;
                self.end_part(true);
                if self.mode == Mode::Done {
                    return;
                }
                // An outer boundary also ends the multiparts inside it (RFC 2046 §5.1.2).
                self.frames.truncate(i + 1);
                if close {
                    self.frames.pop();
                    // Epilogue: skipped up to an outer boundary, or to the end.
                    self.mode = if self.frames.is_empty() {
                        Mode::Done
                    } else {
                        Mode::Body
                    };
                    self.line_start = line_end;
                } else {
                    self.frames[i].count += 1;
                    self.parts += 1;
                    if self.parts > self.limits.max_parts {
                        return self.guard("mime-parts");
                    }
                    if line_end {
                        self.begin_header(MAX_PART_HEADER_BYTES);
                    } else {
                        self.mode = Mode::SkipLine;
                    }
                }
            }
            None => {
                self.mode = Mode::Body;
                self.emit_run(&head);
                self.line_start = line_end;
            }
        }
        if self.head.capacity() == 0 {
            self.head = head;
            self.head.clear();
        }
    }

    /// The current part's body ended.
    fn end_part(&mut self, at_boundary: bool) {
        let Some(sink) = self.sink.take() else {
            return;
        };
        match sink.finish(at_boundary) {
            Target::Attachment {
                hasher,
                size,
                data,
                filename,
                content_type,
                nested,
                ..
            } => {
                self.info.attachments.push(Attachment {
                    filename,
                    content_type,
                    size,
                    sha256: super::hex_lower(&hasher.finalize()),
                    data: data.map(Arc::new),
                    container: None,
                });
                if let Some(s) = nested {
                    self.merge_nested(*s);
                }
            }
            Target::Nested(s) => self.merge_nested(*s),
        }
    }

    /// The attachments of an embedded message join this message's list, each with the
    /// part number of the innermost attached message that holds it as `container`.
    fn merge_nested(&mut self, s: MimeStream) {
        let parts = s.parts;
        let section = s.section.clone();
        let nested = s.finish();
        self.parts += parts;
        if let Some(reason) = nested.skipped {
            return self.guard(reason);
        }
        self.info.headers_cut |= nested.headers_cut;
        self.info.attachments_dropped += nested.attachments_dropped;
        for mut a in nested.attachments {
            if self.info.attachments.len() < self.limits.max_attachments {
                a.container.get_or_insert_with(|| section.clone());
                self.info.attachments.push(a);
            } else {
                self.info.attachments_dropped += 1;
            }
        }
    }

    /// The message ended: what is pending is decoded, open parts are closed.
    pub fn finish(mut self) -> MimeInfo {
        match self.mode {
            // No empty line after the message's header block: headers only.
            Mode::Header if !self.root_done => self.header_block(false),
            Mode::Head => {
                // A last line without a line end may still be a boundary.
                self.decide_head(true);
            }
            _ => {}
        }
        if self.mode != Mode::Done {
            // The end of the message ends the part (also when a final boundary is
            // missing): withheld bytes are content.
            if self.cr {
                self.cr = false;
                self.out(b"\r");
            }
            self.release();
            self.end_part(false);
        }
        self.info
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Decodes `input` cut at `cuts` with the SIMD path and with the scalar reference.
    fn both(input: &[u8], cuts: &[usize]) -> (Vec<u8>, Vec<u8>) {
        let (mut fast, mut slow) = (B64::default(), B64::default());
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let mut at = 0;
        for &c in cuts.iter().chain(std::iter::once(&input.len())) {
            let c = c.clamp(at, input.len());
            fast.feed(&input[at..c], &mut a);
            slow.feed_scalar(&input[at..c], &mut b);
            at = c;
        }
        fast.flush(&mut a);
        slow.flush(&mut b);
        (a, b)
    }

    fn wrapped(data: &[u8], width: usize, eol: &str) -> Vec<u8> {
        use base64::Engine;
        let text = base64::engine::general_purpose::STANDARD.encode(data);
        let mut out = Vec::new();
        for line in text.as_bytes().chunks(width.max(1)) {
            out.extend_from_slice(line);
            out.extend_from_slice(eol.as_bytes());
        }
        out
    }

    #[test]
    fn simd_base64_matches_the_scalar_decoder_on_mail_shaped_input() {
        let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + i / 13) as u8).collect();
        for (width, eol) in [
            (76, "\r\n"),
            (76, "\n"),
            (64, "\r\n"),
            (5000, "\r\n"),
            (3, "\n"),
        ] {
            let text = wrapped(&data, width, eol);
            let (a, b) = both(&text, &[1000, 1001, 4099, 9000]);
            assert_eq!(a, data, "width {width}");
            assert_eq!(a, b, "width {width}");
        }
    }

    #[test]
    fn simd_base64_falls_back_on_padding_inside_spaces_and_strangers() {
        let cases: [&[u8]; 6] = [
            b"QUJD\r\nQQ==QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\r\nQUJDREVGR0hJSktMTU5PUFFSU1RV\r\n",
            b"QUJDREVG R0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5eg==\r\n",
            b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlq*2xtbm9wcXJzdHV2d3h5eg\r\n",
            b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5eg\r\n",
            b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5e=\r\n",
            b"\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n",
        ];
        for c in cases {
            for cut in [0, 7, 33, c.len()] {
                let (a, b) = both(c, &[cut]);
                assert_eq!(a, b, "{:?} cut at {cut}", String::from_utf8_lossy(c));
            }
        }
    }

    proptest! {
        #[test]
        fn simd_base64_matches_the_scalar_decoder_on_any_input(
            text in proptest::collection::vec(
                prop_oneof![
                    40 => proptest::sample::select(
                        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".to_vec()),
                    1 => proptest::sample::select(b"=\r\n \t-*".to_vec()),
                ],
                0..6000),
            cuts in proptest::collection::vec(0usize..6000, 0..4),
        ) {
            let mut cuts = cuts;
            cuts.sort_unstable();
            let (a, b) = both(&text, &cuts);
            prop_assert_eq!(a, b);
        }
    }
}
