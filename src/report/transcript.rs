//! The reassembled dialogue of sessions ("Follow TCP Stream", made readable).
//!
//! Text: one line per protocol line, `frame  time  C: line` / `S: line`, SASL payloads
//! with their decoded form beside them, message bodies summarised (or shown with
//! `full`), gaps and the switch to TLS as bracketed markers.
//!
//! JSON: `{"schema": "pcapmail-transcript/1", "tool", "sessions": [{..., "dialogue": [...]}]}`
//! where each dialogue entry is `{"frame", "time", "from", "kind", ...}`: `kind` "line" with
//! `line` (and `decoded` for SASL payloads), "body" with `lines`, `bytes`, `message` (and
//! `text`, the message content, with `full`), "gap" with `bytes` (lost), "tls" with `bytes`
//! (encrypted, unreadable), in stream order.

use crate::model::{
    DialogueEntry, DialogueEvent, Endpoint, Message, Protocol, Report, Session, Side, Tls, Tool, Ts,
};
use crate::proto::sasl::decode_b64;
use crate::text::escape;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Write};

/// Schema identifier of the transcript JSON document.
pub const TRANSCRIPT_SCHEMA: &str = "pcapmail-transcript/1";

/// Rendering options.
#[derive(Debug, Clone, Copy, Default)]
pub struct TranscriptOptions {
    /// Show message contents (from the message bytes kept in memory) instead of a summary.
    pub full: bool,
}

/// Follows a SASL exchange through the dialogue so that its base64 payloads can be
/// decoded: from the client's `AUTH <mechanism> [initial-response]` until the server's
/// final reply (anything but an SMTP `334` / a POP3 `+ ` continuation).
#[derive(Default)]
struct SaslTracker {
    active: bool,
}

impl SaslTracker {
    /// Returns the base64 text to decode in this line, if it is a SASL payload.
    fn payload<'a>(&mut self, protocol: Protocol, from: Side, line: &'a str) -> Option<&'a str> {
        match from {
            Side::Client => {
                let mut words = line.split_ascii_whitespace();
                let mut verb = words.next().unwrap_or("");
                if protocol == Protocol::Imap && !self.active {
                    verb = words.next().unwrap_or(""); // after the tag
                }
                if verb.eq_ignore_ascii_case("AUTH") || verb.eq_ignore_ascii_case("AUTHENTICATE") {
                    let mech = words.next();
                    self.active = mech.is_some();
                    // An initial response ("=" is the empty one).
                    return words.next().filter(|ir| *ir != "=");
                }
                if self.active {
                    let t = line.trim();
                    return (t != "*" && !t.is_empty()).then_some(t);
                }
                None
            }
            Side::Server => {
                if !self.active {
                    return None;
                }
                let cont = match protocol {
                    Protocol::Smtp => line
                        .strip_prefix("334")
                        .filter(|r| r.is_empty() || r.starts_with(' ')),
                    Protocol::Pop3 | Protocol::Imap => {
                        line.strip_prefix('+').filter(|r| !r.starts_with("OK"))
                    }
                };
                match cont {
                    Some(rest) => {
                        let t = rest.trim();
                        (!t.is_empty()).then_some(t)
                    }
                    None => {
                        self.active = false;
                        None
                    }
                }
            }
        }
    }
}

/// The decoded form of a SASL payload: the text when it is UTF-8, else its size.
fn decode_payload(b64: &str) -> Option<String> {
    let bytes = decode_b64(b64.as_bytes())?;
    Some(match std::str::from_utf8(&bytes) {
        Ok(s) => format!("\"{}\"", escape(s)),
        Err(_) => format!("{} bytes, not text", bytes.len()),
    })
}

/// The sessions to show: all, or those named by `ids` (in document order).
/// Returns the unknown ids as the error.
pub fn select<'r>(report: &'r Report, ids: &[String]) -> Result<Vec<&'r Session>, Vec<String>> {
    if ids.is_empty() {
        return Ok(report.sessions.iter().collect());
    }
    let unknown: Vec<String> = ids
        .iter()
        .filter(|id| !report.sessions.iter().any(|s| &s.id == *id))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(unknown);
    }
    Ok(report
        .sessions
        .iter()
        .filter(|s| ids.contains(&s.id))
        .collect())
}

fn messages_by_id(report: &Report) -> HashMap<&str, &Message> {
    report.messages.iter().map(|m| (m.id.as_str(), m)).collect()
}

/// "12:57:35.123456" (UTC time of day, as precise as the capture).
fn clock(t: Ts) -> String {
    let s = t.rfc3339();
    s.get(11..s.len() - 1).unwrap_or(&s).to_string()
}

fn marker(from: Side) -> &'static str {
    match from {
        Side::Client => "C:",
        Side::Server => "S:",
    }
}

fn direction(from: Side) -> &'static str {
    match from {
        Side::Client => "client → server",
        Side::Server => "server → client",
    }
}

/// `4213` → `4,213`.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Lines of a message's bytes, without their line endings.
fn message_lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let data = data.strip_suffix(b"\n").unwrap_or(data);
    data.split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

/// Tabs of message content to spaces (tab stops every 8 columns), so that folded headers
/// read as they do in a mail client instead of as `\t`.
fn expand_tabs(line: &str) -> std::borrow::Cow<'_, str> {
    if !line.contains('\t') {
        return line.into();
    }
    let mut out = String::with_capacity(line.len() + 8);
    let mut col = 0;
    for c in line.chars() {
        if c == '\t' {
            let n = 8 - col % 8;
            out.extend(std::iter::repeat_n(' ', n));
            col += n;
        } else {
            out.push(c);
            col += 1;
        }
    }
    out.into()
}

/// "TLS 1.3 TLS_AES_256_GCM_SHA384" (escaped: the names come from the capture).
fn tls_summary(t: &crate::model::TlsInfo) -> Option<String> {
    let v = t.version.as_deref()?;
    Some(match t.cipher.as_deref() {
        Some(c) => format!("{} {}", escape(v), escape(c)),
        None => escape(v).into_owned(),
    })
}

fn session_header(s: &Session) -> String {
    let start = s.start.rfc3339();
    let mut tls = match s.tls {
        Tls::None => "no TLS",
        Tls::Starttls => "switched to TLS (STARTTLS)",
        Tls::Implicit => "TLS from the start",
    }
    .to_string();
    if let Some(t) = s.tls_info.as_ref().and_then(tls_summary) {
        tls = format!("{tls}, {t}");
    }
    let state = if s.complete {
        "complete".to_string()
    } else {
        format!("incomplete, ended by {}", escape(&s.close))
    };
    let gaps = if s.gaps > 0 {
        format!(", {}", plural(s.gaps, "gap", "gaps"))
    } else {
        String::new()
    };
    format!(
        "Session {} · {} · client {} → server {} · {} {} UTC\n  {}; {}{}; frames {}–{} of {}\n",
        s.id,
        s.protocol.name().to_uppercase(),
        s.client,
        s.server,
        start.get(..10).unwrap_or(&start),
        clock(s.start),
        tls,
        state,
        gaps,
        s.first_frame,
        s.last_frame,
        escape(&s.capture),
    )
}

/// Renders the transcript of the given sessions as text.
pub fn render_text(report: &Report, sessions: &[&Session], opts: &TranscriptOptions) -> String {
    let messages = messages_by_id(report);
    let mut out = String::new();
    for (i, s) in sessions.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&session_header(s));
        if s.truncated.iter().any(|f| f == "dialogue") {
            out.push_str("  (the dialogue hit its size limit: later lines are not listed)\n");
        }
        out.push('\n');
        let fw = s
            .dialogue
            .iter()
            .map(|e| e.frame.to_string().len())
            .max()
            .unwrap_or(1)
            .max(5);
        let tw = s
            .dialogue
            .iter()
            .map(|e| clock(e.time).len())
            .max()
            .unwrap_or(15);
        let _ = writeln!(out, "{:>fw$}  {:<tw$}  text", "frame", "time");
        let blank = " ".repeat(fw + 2 + tw + 2);
        let mut sasl = SaslTracker::default();
        for e in &s.dialogue {
            let lead = format!(
                "{:>fw$}  {:<tw$}  {}",
                e.frame,
                clock(e.time),
                marker(e.from)
            );
            match &e.event {
                DialogueEvent::Line { line } => {
                    let decoded = sasl
                        .payload(s.protocol, e.from, line)
                        .and_then(decode_payload);
                    match decoded {
                        Some(d) => {
                            let _ = writeln!(out, "{lead} {}   [base64: {d}]", escape(line));
                        }
                        None => {
                            let _ = writeln!(out, "{lead} {}", escape(line));
                        }
                    }
                }
                DialogueEvent::Body {
                    lines,
                    bytes,
                    message,
                } => {
                    let name = message
                        .as_deref()
                        .map(|m| format!("message {m}"))
                        .unwrap_or_else(|| "message content".to_string());
                    // BDAT chunks are not counted in lines.
                    let size = if *lines == 0 && *bytes > 0 {
                        plural(*bytes, "byte", "bytes")
                    } else {
                        format!(
                            "{}, {}",
                            plural(*lines, "line", "lines"),
                            plural(*bytes, "byte", "bytes")
                        )
                    };
                    let data = message
                        .as_deref()
                        .and_then(|m| messages.get(m))
                        .and_then(|m| m.data.as_ref());
                    if !opts.full {
                        let _ = writeln!(out, "{lead} [{name}: {size}; --full shows it]");
                        continue;
                    }
                    match data {
                        Some(data) => {
                            let _ = writeln!(out, "{lead} [{name}: {size}]");
                            for l in message_lines(data) {
                                let _ = writeln!(
                                    out,
                                    "{blank}{} │ {}",
                                    marker(e.from),
                                    escape(&expand_tabs(&String::from_utf8_lossy(l)))
                                );
                            }
                            let _ = writeln!(out, "{blank}{} [end of {name}]", marker(e.from));
                        }
                        None => {
                            let _ = writeln!(
                                out,
                                "{lead} [{name}: {size}; its content was not kept (too large or not a message)]"
                            );
                        }
                    }
                }
                DialogueEvent::Gap { bytes } => {
                    let _ = writeln!(
                        out,
                        "{lead} [gap: {} lost {}]",
                        plural(*bytes, "byte", "bytes"),
                        direction(e.from)
                    );
                }
                DialogueEvent::Tls { bytes } => match &s.tls_info {
                    Some(t) if t.decrypted => {
                        let _ = writeln!(
                            out,
                            "{lead} [{}, decrypted with key log: {} of handshake {}]",
                            tls_summary(t).unwrap_or_else(|| "TLS".into()),
                            plural(*bytes, "byte", "bytes"),
                            direction(e.from)
                        );
                    }
                    _ => {
                        let _ = writeln!(
                            out,
                            "{lead} [TLS from here on: {} encrypted {}]",
                            plural(*bytes, "byte", "bytes"),
                            direction(e.from)
                        );
                    }
                },
                DialogueEvent::Literal { bytes, text, .. } => match text {
                    Some(t) if opts.full => {
                        let _ =
                            writeln!(out, "{lead} [literal: {}] {}", thousands(*bytes), escape(t));
                    }
                    _ => {
                        let _ = writeln!(out, "{lead} [literal: {} bytes]", thousands(*bytes));
                    }
                },
            }
        }
        if s.dialogue.is_empty() {
            out.push_str("  (no dialogue was seen)\n");
        }
    }
    out
}

#[derive(Serialize)]
struct Document<'a> {
    schema: &'static str,
    tool: Tool,
    sessions: Vec<SessionTranscript<'a>>,
}

#[derive(Serialize)]
struct SessionTranscript<'a> {
    id: &'a str,
    protocol: Protocol,
    client: Endpoint,
    server: Endpoint,
    start: Ts,
    end: Ts,
    tls: Tls,
    complete: bool,
    capture: &'a str,
    dialogue: Vec<JsonEntry<'a>>,
}

#[derive(Serialize)]
struct JsonEntry<'a> {
    #[serde(flatten)]
    entry: &'a DialogueEntry,
    /// The decoded SASL payload of a line (lossy UTF-8).
    #[serde(skip_serializing_if = "Option::is_none")]
    decoded: Option<String>,
    /// The message content of a body entry (lossy UTF-8), with `full`.
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<String>,
}

/// Writes the transcript of the given sessions as one JSON document.
pub fn write_json<W: Write>(
    out: &mut W,
    report: &Report,
    sessions: &[&Session],
    opts: &TranscriptOptions,
) -> io::Result<()> {
    write_json_inner(out, report, sessions, opts, false)
}

/// The document, or (`per_session`) only the sessions as array elements, each preceded by
/// a newline and indented for the `sessions` member (comma-separated).
fn write_json_inner<W: Write>(
    out: &mut W,
    report: &Report,
    sessions: &[&Session],
    opts: &TranscriptOptions,
    per_session: bool,
) -> io::Result<()> {
    let messages = messages_by_id(report);
    let doc = Document {
        schema: TRANSCRIPT_SCHEMA,
        tool: Tool::default(),
        sessions: sessions
            .iter()
            .map(|s| {
                let mut sasl = SaslTracker::default();
                let dialogue = s
                    .dialogue
                    .iter()
                    .map(|e| {
                        let mut j = JsonEntry {
                            entry: e,
                            decoded: None,
                            text: None,
                        };
                        match &e.event {
                            DialogueEvent::Line { line } => {
                                j.decoded = sasl
                                    .payload(s.protocol, e.from, line)
                                    .and_then(|b| decode_b64(b.as_bytes()))
                                    .map(|b| String::from_utf8_lossy(&b).into_owned());
                            }
                            DialogueEvent::Body {
                                message: Some(m), ..
                            } if opts.full => {
                                j.text = messages
                                    .get(m.as_str())
                                    .and_then(|m| m.data.as_ref())
                                    .map(|d| String::from_utf8_lossy(d).into_owned());
                            }
                            _ => {}
                        }
                        j
                    })
                    .collect();
                SessionTranscript {
                    id: &s.id,
                    protocol: s.protocol,
                    client: s.client,
                    server: s.server,
                    start: s.start,
                    end: s.end,
                    tls: s.tls,
                    complete: s.complete,
                    capture: &s.capture,
                    dialogue,
                }
            })
            .collect(),
    };
    if per_session {
        for (i, one) in doc.sessions.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            let text = serde_json::to_string_pretty(one)?;
            out.write_all(b"\n    ")?;
            out.write_all(text.replace('\n', "\n    ").as_bytes())?;
        }
        return Ok(());
    }
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    out.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_payloads_are_found_in_smtp_and_pop3() {
        let mut t = SaslTracker::default();
        let p = Protocol::Smtp;
        assert_eq!(t.payload(p, Side::Client, "EHLO x"), None);
        assert_eq!(t.payload(p, Side::Client, "AUTH LOGIN"), None);
        assert_eq!(
            t.payload(p, Side::Server, "334 VXNlcm5hbWU6"),
            Some("VXNlcm5hbWU6")
        );
        assert_eq!(t.payload(p, Side::Client, "dXNlcg=="), Some("dXNlcg=="));
        assert_eq!(t.payload(p, Side::Server, "235 ok"), None);
        assert_eq!(t.payload(p, Side::Client, "MAIL FROM:<a@b>"), None);
        assert_eq!(
            t.payload(p, Side::Client, "AUTH PLAIN AGEAYg=="),
            Some("AGEAYg==")
        );
        let mut t = SaslTracker::default();
        let p = Protocol::Pop3;
        assert_eq!(t.payload(p, Side::Client, "AUTH CRAM-MD5"), None);
        assert_eq!(t.payload(p, Side::Server, "+ PDEyMz4="), Some("PDEyMz4="));
        assert_eq!(t.payload(p, Side::Client, "dSBoZXg="), Some("dSBoZXg="));
        assert_eq!(t.payload(p, Side::Server, "+OK logged in"), None);
        assert_eq!(t.payload(p, Side::Client, "STAT"), None);
        assert_eq!(decode_payload("AGEAYg==").unwrap(), "\"\\x00a\\x00b\"");
    }
}

/// The output of a [`TranscriptSink`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TranscriptFormat {
    Text,
    Json,
}

/// Transcripts as a sink: each selected session's dialogue is written when the session
/// ends (text: flushed at once; JSON: one document whose `sessions` array grows).
pub struct TranscriptSink<W: Write> {
    out: W,
    format: TranscriptFormat,
    opts: TranscriptOptions,
    /// Only these ids (all when empty).
    ids: Vec<String>,
    seen: Vec<bool>,
    written: u64,
    /// Every session id seen, for the message about unknown ids (bounded).
    known: Vec<String>,
}

/// Session ids remembered to tell the user which exist.
const MAX_KNOWN: usize = 50;

impl<W: Write> TranscriptSink<W> {
    pub fn new(
        out: W,
        format: TranscriptFormat,
        opts: TranscriptOptions,
        ids: Vec<String>,
    ) -> Self {
        let seen = vec![false; ids.len()];
        TranscriptSink {
            out,
            format,
            opts,
            ids,
            seen,
            written: 0,
            known: Vec::new(),
        }
    }

    /// Ends the output; returns the ids asked for that no session had, and some ids that
    /// exist (at most 50).
    pub fn finish(mut self) -> io::Result<(Vec<String>, Vec<String>)> {
        if self.format == TranscriptFormat::Json {
            if self.written == 0 {
                self.write_json_head()?;
                self.out.write_all(b"[]")?;
            } else {
                self.out.write_all(b"\n  ]")?;
            }
            self.out.write_all(b"\n}\n")?;
        }
        self.out.flush()?;
        let unknown = self
            .ids
            .iter()
            .zip(&self.seen)
            .filter(|(_, s)| !**s)
            .map(|(id, _)| id.clone())
            .collect();
        Ok((unknown, self.known))
    }

    fn write_json_head(&mut self) -> io::Result<()> {
        #[derive(Serialize)]
        struct Head {
            schema: &'static str,
            tool: Tool,
        }
        let head = serde_json::to_string_pretty(&Head {
            schema: TRANSCRIPT_SCHEMA,
            tool: Tool::default(),
        })?;
        self.out.write_all(&head.as_bytes()[..head.len() - 2])?;
        self.out.write_all(b",\n  \"sessions\": ")
    }
}

impl<W: Write> TranscriptSink<W> {
    /// Notes the session's id and whether it is one of those asked for (all are when none
    /// was named).
    fn wanted(&mut self, id: &str) -> bool {
        if self.known.len() < MAX_KNOWN {
            self.known.push(id.to_string());
        }
        if self.ids.is_empty() {
            return true;
        }
        match self.ids.iter().position(|i| i == id) {
            Some(i) => {
                self.seen[i] = true;
                true
            }
            None => false,
        }
    }

    fn write_session(&mut self, session: Session, messages: Vec<Message>) -> io::Result<()> {
        self.separate()?;
        let mut buf = Vec::new();
        render_session(&mut buf, self.format, &self.opts, session, messages)?;
        self.out.write_all(&buf)?;
        self.written += 1;
        self.out.flush()
    }

    /// What goes before a session's transcript: nothing, a blank line, or the JSON
    /// document's head or a comma.
    fn separate(&mut self) -> io::Result<()> {
        match self.format {
            TranscriptFormat::Text if self.written > 0 => self.out.write_all(b"\n"),
            TranscriptFormat::Text => Ok(()),
            TranscriptFormat::Json if self.written == 0 => {
                self.write_json_head()?;
                self.out.write_all(b"[")
            }
            TranscriptFormat::Json => self.out.write_all(b","),
        }
    }
}

/// One session's transcript, as text or as an element of the JSON document's array.
fn render_session(
    out: &mut Vec<u8>,
    format: TranscriptFormat,
    opts: &TranscriptOptions,
    session: Session,
    messages: Vec<Message>,
) -> io::Result<()> {
    let report = Report {
        schema: crate::model::SCHEMA,
        tool: Tool::default(),
        captures: Vec::new(),
        sessions: vec![session],
        credentials: Vec::new(),
        messages,
    };
    let sessions: Vec<&Session> = report.sessions.iter().collect();
    match format {
        TranscriptFormat::Text => {
            out.extend_from_slice(render_text(&report, &sessions, opts).as_bytes())
        }
        TranscriptFormat::Json => write_json_inner(out, &report, &sessions, opts, true)?,
    }
    Ok(())
}

/// Renders whole-capture transcripts on the threads that finished the sessions.
struct TranscriptRender {
    format: TranscriptFormat,
    opts: TranscriptOptions,
}

impl crate::sink::Render for TranscriptRender {
    fn render(&self, r: crate::sink::SessionRecord) -> io::Result<crate::sink::Rendered> {
        let mut out = crate::sink::Rendered::default();
        render_session(out.buf(), self.format, &self.opts, r.session, r.messages)?;
        out.end_part(0);
        Ok(out)
    }
}

impl<W: Write> crate::sink::Sink for TranscriptSink<W> {
    fn session(&mut self, r: crate::sink::SessionRecord) -> io::Result<()> {
        if !self.wanted(&r.session.id) {
            return Ok(());
        }
        self.write_session(r.session, r.messages)
    }
    /// With `--session`, most records are only looked at: they can stay with the
    /// threads that built them.
    fn reads_records(&self) -> bool {
        !self.ids.is_empty()
    }
    fn session_ref(&mut self, r: &crate::sink::SessionRecord) -> io::Result<()> {
        if !self.wanted(&r.session.id) {
            return Ok(());
        }
        self.write_session(r.session.clone(), r.messages.clone())
    }
    /// Without `--session`, every transcript is rendered where its session ended.
    fn renderer(&self) -> Option<std::sync::Arc<dyn crate::sink::Render>> {
        self.ids.is_empty().then(|| {
            std::sync::Arc::new(TranscriptRender {
                format: self.format,
                opts: self.opts,
            }) as std::sync::Arc<dyn crate::sink::Render>
        })
    }
    fn rendered(&mut self, r: crate::sink::Rendered, id: &str) -> io::Result<()> {
        self.wanted(id);
        self.separate()?;
        r.write_range(0..r.len(), id, &mut self.out)?;
        self.written += 1;
        self.out.flush()
    }
    fn capture(&mut self, _info: &crate::model::CaptureInfo) -> io::Result<()> {
        Ok(())
    }
}
