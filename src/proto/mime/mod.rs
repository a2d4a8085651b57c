//! MIME: decoded headers and attachments of a message, through the mail-parser crate
//! (RFC 2047 encoded words in any charset, RFC 2231 parameters, base64/quoted-printable).

use crate::model::{Attachment, Headers, MAX_RECEIVED};
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{
    Encoding, HeaderName, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};
use sha2::{Digest, Sha256};
use std::sync::Arc;

mod stream;
pub use stream::{parse_streaming, MimeStream};

/// Limits of MIME decoding.
#[derive(Debug, Clone, Copy)]
pub struct MimeLimits {
    /// Attachments listed per message (further ones are counted, not listed).
    pub max_attachments: usize,
    /// Keep decoded attachment bytes (for extraction) up to this size each.
    pub keep_attachment_bytes: usize,
    /// MIME containers (multipart bodies and embedded `message/*` parts) in one message.
    /// Their count bounds the nesting depth; it is checked by a linear scan before
    /// mail-parser runs, and a message with more is not MIME-decoded (only its top-level
    /// headers are), reason `mime-depth`.
    pub max_depth: usize,
    /// Boundary delimiter lines (`--...`) in one message: a bound on the part count,
    /// checked the same way; a message with more is not MIME-decoded, reason `mime-parts`.
    pub max_parts: usize,
}

impl Default for MimeLimits {
    fn default() -> Self {
        MimeLimits {
            max_attachments: 1000,
            keep_attachment_bytes: 64 * 1024 * 1024,
            max_depth: 64,
            max_parts: 10_000,
        }
    }
}

/// What MIME decoding found in a message.
#[derive(Debug, Clone, Default)]
pub struct MimeInfo {
    pub headers: Headers,
    pub attachments: Vec<Attachment>,
    /// Attachments beyond `max_attachments`, not listed.
    pub attachments_dropped: u64,
    /// mail-parser could not make a message of the bytes.
    pub unparsable: bool,
    /// MIME decoding was skipped because a guard was hit: `mime-depth` or `mime-parts`
    /// (see [`MimeLimits`]); the headers are still decoded.
    pub skipped: Option<&'static str>,
    /// A header block (the message's or a part's) was longer than its buffer (streaming
    /// path only, see [`MimeStream`]); it was decoded from its first bytes.
    pub headers_cut: bool,
}

/// What the pre-scan counts: MIME containers and delimiter lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MimeShape {
    /// `Content-Type: multipart/...` and `Content-Type: message/...` header lines.
    pub containers: usize,
    /// Lines starting with `--` (boundary delimiters, and some body lines).
    pub delimiters: usize,
}

/// Counts containers and delimiter lines in one pass, without parsing. Both counts are
/// upper bounds of what mail-parser would build (nesting depth, parts).
pub fn shape(bytes: &[u8]) -> MimeShape {
    let mut s = MimeShape::default();
    for line in bytes.split(|&b| b == b'\n') {
        if line.starts_with(b"--") {
            s.delimiters += 1;
        } else if line.len() > 13 && line[..13].eq_ignore_ascii_case(b"content-type:") {
            let v = line[13..].trim_ascii_start();
            let starts = |p: &[u8]| v.len() >= p.len() && v[..p.len()].eq_ignore_ascii_case(p);
            if starts(b"multipart/") || starts(b"message/") {
                s.containers += 1;
            }
        }
    }
    s
}

/// Lower-case hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex_lower(&Sha256::digest(bytes))
}

/// Lower-case hex of a digest. `hex::encode` collects the string a `char` at a time (about
/// 1,700 instructions for a SHA-256, once per message and attachment); this fills the bytes
/// through the crate's slice encoder.
pub fn hex_lower(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len() * 2];
    // Cannot fail: `out` has exactly twice the length of `bytes`.
    let _ = hex::encode_to_slice(bytes, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

/// Parses message bytes (RFC 5322 + MIME) into decoded headers and attachments, with the
/// whole message in memory: the reference for the streaming path ([`MimeStream`]), kept
/// for the differential test.
pub fn parse(bytes: &[u8], limits: &MimeLimits) -> MimeInfo {
    let mut info = MimeInfo::default();
    let sh = shape(bytes);
    let skip = if sh.containers > limits.max_depth {
        Some("mime-depth")
    } else if sh.delimiters > limits.max_parts {
        Some("mime-parts")
    } else {
        None
    };
    if let Some(reason) = skip {
        info.skipped = Some(reason);
        match MessageParser::default().parse_headers(bytes) {
            Some(msg) => info.headers = headers(&msg),
            None => info.unparsable = true,
        }
        return info;
    }
    let Some(msg) = MessageParser::default().parse(bytes) else {
        info.unparsable = true;
        return info;
    };
    info.headers = headers(&msg);
    collect_attachments(&msg, limits, &mut info, 0);
    info
}

pub(crate) fn headers(msg: &Message<'_>) -> Headers {
    // Names as mail-parser's `From<&str>` makes them, without parsing a string (into a
    // lower-case copy) at each lookup.
    let raw = |name: HeaderName<'static>| msg.header_raw(name).map(unfold);
    let text = |name: &'static str| {
        msg.header_raw(HeaderName::Other(name.into()))
            .and_then(decoded_text)
    };
    let other = |name: &'static str| HeaderName::Other(name.into());
    Headers {
        message_id: raw(HeaderName::MessageId),
        subject: msg.subject().map(str::to_string),
        from: msg.from().and_then(|a| a.first()).map(render_addr),
        to: msg
            .all_to()
            .flat_map(|a| a.iter())
            .map(render_addr)
            .collect(),
        date: raw(HeaderName::Date),
        cc: msg
            .all_cc()
            .flat_map(|a| a.iter())
            .map(render_addr)
            .collect(),
        reply_to: msg
            .reply_to()
            .map(|a| a.iter().map(render_addr).collect::<Vec<_>>().join(", "))
            .filter(|s| !s.is_empty()),
        in_reply_to: raw(HeaderName::InReplyTo).filter(|s| !s.is_empty()),
        user_agent: text("User-Agent").or_else(|| text("X-Mailer")),
        x_originating_ip: raw(other("X-Originating-IP")).filter(|s| !s.is_empty()),
        received: msg
            .headers_raw()
            .filter(|(name, _)| name.eq_ignore_ascii_case("Received"))
            .filter_map(|(_, v)| decoded_text(v))
            .take(MAX_RECEIVED)
            .collect(),
    }
}

/// An unstructured header value as a reader sees it: unfolded, RFC 2047 encoded words
/// decoded (mail-parser leaves headers it does not know, like X-Mailer, raw); None when
/// empty.
fn decoded_text(raw: &str) -> Option<String> {
    let mut value = raw.to_string();
    if !value.ends_with('\n') {
        value.push_str("\r\n"); // the parser reads up to the end of the header line
    }
    match mail_parser::parsers::MessageStream::new(value.as_bytes()).parse_unstructured() {
        mail_parser::HeaderValue::Text(t) => Some(t.trim().to_string()),
        mail_parser::HeaderValue::TextList(l) => Some(l.join(" ").trim().to_string()),
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

/// A raw header value with folding undone and surrounding white space trimmed: every `\n`
/// goes, with the `\r` right before it (what `replace("\r\n", "")` then `replace('\n', "")`
/// did, in one copy instead of three).
fn unfold(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut pieces = v.split('\n').peekable();
    while let Some(p) = pieces.next() {
        match pieces.peek() {
            Some(_) => out.push_str(p.strip_suffix('\r').unwrap_or(p)),
            None => out.push_str(p),
        }
    }
    match out.trim() {
        t if t.len() == out.len() => out,
        t => t.to_string(),
    }
}

fn render_addr(a: &mail_parser::Addr<'_>) -> String {
    match (a.name(), a.address()) {
        (Some(n), Some(addr)) => {
            // As `format!("{} <{addr}>")`, without the formatting machinery.
            let n = display_name(n);
            let mut s = String::with_capacity(n.len() + addr.len() + 3);
            s.push_str(&n);
            s.push_str(" <");
            s.push_str(addr);
            s.push('>');
            s
        }
        (None, Some(addr)) => addr.to_string(),
        (Some(n), None) => n.to_string(),
        (None, None) => String::new(),
    }
}

/// A decoded display name as it must be written to stay one address: quoted (RFC 5322
/// §3.2.4 quoted-string, `"` and `\` escaped) when it holds a special character such as the
/// comma of `"Buchanan, Bill"`, else as it is.
fn display_name(n: &str) -> std::borrow::Cow<'_, str> {
    const SPECIALS: &[char] = &[
        '(', ')', '<', '>', '[', ']', ':', ';', '@', '\\', ',', '.', '"',
    ];
    if !n.contains(SPECIALS) {
        return n.into();
    }
    let mut q = String::with_capacity(n.len() + 2);
    q.push('"');
    for c in n.chars() {
        if c == '"' || c == '\\' {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q.into()
}

/// Nested `message/*` levels whose attachments are listed.
pub(crate) const MAX_NESTED_MESSAGES: usize = 8;

fn collect_attachments(msg: &Message<'_>, limits: &MimeLimits, info: &mut MimeInfo, depth: usize) {
    for (i, part) in msg.parts.iter().enumerate() {
        if i == 0 && depth == 0 && !part.is_message() {
            // The root part is the message itself unless it is a single attachment.
            if part
                .content_disposition()
                .is_none_or(|d| !d.is_attachment())
            {
                continue;
            }
        }
        if part.is_multipart() {
            continue;
        }
        let name = part.attachment_name().map(str::to_string);
        let disposition_attachment = part
            .content_disposition()
            .is_some_and(|d| d.is_attachment());
        if name.is_some() || disposition_attachment {
            if info.attachments.len() >= limits.max_attachments {
                info.attachments_dropped += 1;
                continue;
            }
            let content = transfer_decoded(msg, part);
            let size = content.len() as u64;
            let sha256 = sha256_hex(&content);
            let data = (content.len() <= limits.keep_attachment_bytes).then(|| Arc::new(content));
            info.attachments.push(Attachment {
                filename: name,
                content_type: content_type(part),
                size,
                sha256,
                data,
                container: None,
            });
        } else if let PartType::Message(nested) = &part.body {
            if depth < MAX_NESTED_MESSAGES {
                collect_attachments(nested, limits, info, depth + 1);
            }
        }
    }
}

pub(crate) fn content_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(st) => {
                let mut s = String::with_capacity(ct.ctype().len() + 1 + st.len());
                s.push_str(ct.ctype());
                s.push('/');
                s.push_str(st);
                s.make_ascii_lowercase();
                s
            }
            None => ct.ctype().to_ascii_lowercase(),
        },
        None => "text/plain".into(),
    }
}

/// The part's body after transfer decoding only. mail-parser converts text parts to UTF-8
/// from their charset, so for text parts we decode the raw body ourselves.
fn transfer_decoded(msg: &Message<'_>, part: &MessagePart<'_>) -> Vec<u8> {
    match &part.body {
        PartType::Binary(b) | PartType::InlineBinary(b) => b.to_vec(),
        PartType::Message(m) => m.raw_message().to_vec(),
        PartType::Text(_) | PartType::Html(_) => {
            let raw = msg
                .raw_message()
                .get(part.offset_body as usize..part.offset_end as usize)
                .unwrap_or_default();
            match part.encoding {
                Encoding::Base64 => {
                    let clean: Vec<u8> = raw
                        .iter()
                        .copied()
                        .filter(|b| !b.is_ascii_whitespace())
                        .collect();
                    super::sasl::decode_b64(&clean).unwrap_or_else(|| part.contents().to_vec())
                }
                Encoding::QuotedPrintable => quoted_printable_decode(strip_boundary_crlf(raw))
                    .unwrap_or_else(|| part.contents().to_vec()),
                Encoding::None => strip_boundary_crlf(raw).to_vec(),
            }
        }
        PartType::Multipart(_) => Vec::new(),
    }
}

/// The CRLF before a multipart boundary belongs to the boundary (RFC 2046 §5.1.1).
fn strip_boundary_crlf(raw: &[u8]) -> &[u8] {
    raw.strip_suffix(b"\r\n")
        .or_else(|| raw.strip_suffix(b"\n"))
        .unwrap_or(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfold_is_the_two_replaces_and_trim() {
        for v in [
            " <a@b>\r\n",
            "a\r\n b\r\n",
            "a\n\tb",
            "a\r\r\n\nb",
            "\r\n",
            "x\ry\r",
            " \r\n x \r",
            "ü\r\n ü",
            "",
        ] {
            let old = v.replace("\r\n", "").replace('\n', "").trim().to_string();
            assert_eq!(unfold(v), old, "{v:?}");
        }
    }

    const GBK_MSG: &[u8] = b"From: =?big5?B?pNGozw==?= <a@x.test>\r\n\
To: b@x.test, \"C D\" <c@x.test>\r\n\
Subject: =?gbk?B?suLK1NPKvP7W98zi?=\r\n\
Message-ID: <id-1@x.test>\r\n\
Date: Tue, 24 Nov 2026 10:00:00 +0000\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"BB\"\r\n\
\r\n\
--BB\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
\r\n\
hello\r\n\
--BB\r\n\
Content-Type: application/octet-stream; name=\"a.bin\"\r\n\
Content-Disposition: attachment; filename=\"a.bin\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
AAECAwQ=\r\n\
--BB\r\n\
Content-Type: text/plain; charset=gbk\r\n\
Content-Disposition: attachment; filename*=utf-8''%E6%8A%A5%E5%91%8A.txt\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
suLK1A==\r\n\
--BB--\r\n";

    #[test]
    fn gbk_subject_big5_from_and_attachments() {
        let info = parse(GBK_MSG, &MimeLimits::default());
        let h = &info.headers;
        assert_eq!(h.subject.as_deref(), Some("测试邮件主题"));
        assert_eq!(h.from.as_deref(), Some("天使 <a@x.test>"));
        assert_eq!(h.to, ["b@x.test", "C D <c@x.test>"]);
        assert_eq!(h.message_id.as_deref(), Some("<id-1@x.test>"));
        assert_eq!(h.date.as_deref(), Some("Tue, 24 Nov 2026 10:00:00 +0000"));
        assert_eq!(info.attachments.len(), 2);
        let a = &info.attachments[0];
        assert_eq!(a.filename.as_deref(), Some("a.bin"));
        assert_eq!(a.content_type, "application/octet-stream");
        assert_eq!(a.size, 5);
        assert_eq!(a.sha256, sha256_hex(&[0, 1, 2, 3, 4]));
        // A GBK text attachment keeps its GBK bytes (transfer-decoded, not re-encoded).
        let b = &info.attachments[1];
        assert_eq!(b.filename.as_deref(), Some("报告.txt"));
        assert_eq!(b.sha256, sha256_hex(&[0xb2, 0xe2, 0xca, 0xd4]));
    }

    #[test]
    fn zeek_smtp_log_headers_decoded() {
        let msg = b"Received: from a.test (a.test [192.0.2.1])\r\n\tby b.test with ESMTP; Tue, 24 Nov 2026 10:00:00 +0000\r\n\
Received: from c.test by a.test; Tue, 24 Nov 2026 09:59:00 +0000\r\n\
From: a@x.test\r\n\
Cc: =?utf-8?B?w4lsaXNl?= <e@x.test>, f@x.test\r\n\
Reply-To: \"Help Desk\" <help@x.test>\r\n\
In-Reply-To: <prev-1@x.test>\r\n\
X-Mailer: =?utf-8?Q?M=C3=A4iler?= 2.0\r\n\
X-Originating-IP: [198.51.100.7]\r\n\
Subject: hi\r\n\r\nbody\r\n";
        let h = parse(msg, &MimeLimits::default()).headers;
        assert_eq!(h.cc, ["\u{c9}lise <e@x.test>", "f@x.test"]);
        assert_eq!(h.reply_to.as_deref(), Some("Help Desk <help@x.test>"));
        assert_eq!(h.in_reply_to.as_deref(), Some("<prev-1@x.test>"));
        assert_eq!(h.user_agent.as_deref(), Some("M\u{e4}iler 2.0"));
        assert_eq!(h.x_originating_ip.as_deref(), Some("[198.51.100.7]"));
        assert_eq!(h.received.len(), 2);
        assert!(
            h.received[0].starts_with("from a.test (a.test [192.0.2.1])")
                && h.received[0].ends_with("by b.test with ESMTP; Tue, 24 Nov 2026 10:00:00 +0000")
                && !h.received[0].contains('\n'),
            "{:?}",
            h.received
        );
        assert!(h.received[1].starts_with("from c.test"));
        // Absent headers stay out of the JSON.
        let plain = parse(b"Subject: x\r\n\r\n", &MimeLimits::default()).headers;
        let json = serde_json::to_value(&plain).unwrap();
        assert!(
            json.get("cc").is_none() && json.get("user_agent").is_none(),
            "{json}"
        );
    }

    #[test]
    fn plain_message_has_no_attachments() {
        let info = parse(b"Subject: hi\r\n\r\nbody\r\n", &MimeLimits::default());
        assert_eq!(info.headers.subject.as_deref(), Some("hi"));
        assert!(info.attachments.is_empty());
    }
}
