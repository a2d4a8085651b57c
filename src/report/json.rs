//! The JSON document and JSON lines of the contract, as sinks that write while the run
//! goes on.

use crate::model::{CaptureInfo, Report, Tool};
use crate::sink::{CaptureFailure, Render, Rendered, SessionRecord, Sink};
use serde::Serialize;
use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};
use std::sync::Arc;

/// Writes the whole document, pretty-printed, followed by a newline.
pub fn write_document<W: Write>(out: &mut W, report: &Report) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    out.write_all(b"\n")
}

#[derive(Serialize)]
struct Typed<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'a str,
    #[serde(flatten)]
    record: &'a T,
}

/// Writes one JSON object per line, each with a `type`, and flushes it: a reader of a
/// pipe sees every record whole as soon as it is written, and a run that dies later has
/// lost none of the records already written.
pub fn write_record<W: Write, T: Serialize>(out: &mut W, kind: &str, record: &T) -> io::Result<()> {
    write_record_noflush(out, kind, record)?;
    out.flush()
}

fn write_record_noflush<W: Write, T: Serialize>(
    out: &mut W,
    kind: &str,
    record: &T,
) -> io::Result<()> {
    serde_json::to_writer(&mut *out, &Typed { kind, record })?;
    out.write_all(b"\n")
}

/// Writes every record of the report as JSON lines: sessions (each followed by its
/// credentials and messages), then the captures, as the streaming sink does.
pub fn write_lines<W: Write>(out: &mut W, report: &Report) -> io::Result<()> {
    let mut sink = JsonlSink::new(out);
    for s in &report.sessions {
        sink.session(SessionRecord {
            session: s.clone(),
            credentials: report
                .credentials
                .iter()
                .filter(|c| c.session == s.id)
                .cloned()
                .collect(),
            messages: report
                .messages
                .iter()
                .filter(|m| m.session == s.id)
                .cloned()
                .collect(),
        })?;
    }
    for c in &report.captures {
        sink.capture(c)?;
    }
    Ok(())
}

/// The record of a capture that could not be read.
#[derive(Serialize)]
pub struct FailureRecord<'a> {
    pub path: &'a str,
    pub error: &'a str,
}

/// `--format jsonl`: a session's record, then its credentials and messages, written and
/// flushed when the session ends; a capture's record when it has been read.
pub struct JsonlSink<W: Write> {
    out: W,
    /// A session's lines, serialised here then written at once.
    buf: Vec<u8>,
}

impl<W: Write> JsonlSink<W> {
    pub fn new(out: W) -> Self {
        JsonlSink {
            out,
            buf: Vec::new(),
        }
    }
    /// The writer back.
    pub fn into_inner(self) -> W {
        self.out
    }
}

/// A session's lines: the session, then its credentials and messages.
fn session_lines(buf: &mut Vec<u8>, r: &SessionRecord) -> io::Result<()> {
    fn line<T: Serialize>(buf: &mut Vec<u8>, kind: &str, record: &T) -> io::Result<()> {
        serde_json::to_writer(&mut *buf, &Typed { kind, record })?;
        buf.push(b'\n');
        Ok(())
    }
    line(buf, "session", &r.session)?;
    for c in &r.credentials {
        line(buf, "credential", c)?;
    }
    for m in &r.messages {
        line(buf, "message", m)?;
    }
    Ok(())
}

/// The room a rendered record starts with: a short session with a message and a
/// credential renders to 3–6 KB.
const RECORD_GUESS: usize = 8 << 10;

/// Renders a session's JSON lines on another thread (one part).
struct JsonlRender;

impl Render for JsonlRender {
    fn render(&self, r: SessionRecord) -> io::Result<Rendered> {
        let mut out = Rendered::with_capacity(RECORD_GUESS);
        session_lines(out.buf(), &r)?;
        out.end_part(0);
        Ok(out)
    }
}

impl<W: Write> Sink for JsonlSink<W> {
    fn session(&mut self, r: SessionRecord) -> io::Result<()> {
        self.buf.clear();
        session_lines(&mut self.buf, &r)?;
        self.out.write_all(&self.buf)?;
        if self.buf.capacity() > 4 << 20 {
            // One huge session does not keep its buffer for the rest of the run.
            self.buf = Vec::new();
        }
        self.out.flush()
    }
    fn renderer(&self) -> Option<Arc<dyn Render>> {
        Some(Arc::new(JsonlRender))
    }
    fn rendered(&mut self, r: Rendered, id: &str) -> io::Result<()> {
        r.write_range(0..r.len(), id, &mut self.out)?;
        self.out.flush()
    }
    fn capture(&mut self, info: &CaptureInfo) -> io::Result<()> {
        write_record(&mut self.out, "capture", info)
    }
    fn failure(&mut self, f: &CaptureFailure) -> io::Result<()> {
        write_record(
            &mut self.out,
            "capture",
            &FailureRecord {
                path: &f.path,
                error: &f.error,
            },
        )
    }
}

/// The elements of one JSON array, pretty-printed at a given depth, spooled to an
/// anonymous temporary file: a document can list a million sessions without holding them.
pub struct Spool {
    file: BufWriter<File>,
    count: u64,
    buf: Vec<u8>,
    /// Indentation of the elements ("    " inside a top-level member).
    indent: &'static str,
}

impl Spool {
    /// A spool whose elements sit at `indent`.
    pub fn new(indent: &'static str) -> io::Result<Spool> {
        Ok(Spool {
            file: BufWriter::with_capacity(64 << 10, tempfile::tempfile()?),
            count: 0,
            buf: Vec::new(),
            indent,
        })
    }

    /// Elements so far.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// No element yet.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Appends one element.
    pub fn push<T: Serialize>(&mut self, v: &T) -> io::Result<()> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        render_element(&mut buf, v, self.indent)?;
        let r = self.push_rendered(|w| w.write_all(&buf));
        self.buf = buf;
        r
    }

    /// Appends one element already rendered by [`render_element`] at this spool's
    /// indentation; `write` writes it.
    fn push_rendered(
        &mut self,
        write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
    ) -> io::Result<()> {
        self.file
            .write_all(if self.count == 0 { b"\n" } else { b",\n" })?;
        self.file.write_all(self.indent.as_bytes())?;
        write(&mut self.file)?;
        self.count += 1;
        Ok(())
    }

    /// Writes the array (`[]` when empty) to `out`, its closing bracket at `outer`.
    pub fn write_array<W: Write>(self, out: &mut W, outer: &str) -> io::Result<()> {
        if self.count == 0 {
            return out.write_all(b"[]");
        }
        let mut f = self.file.into_inner().map_err(|e| e.into_error())?;
        f.seek(io::SeekFrom::Start(0))?;
        out.write_all(b"[")?;
        // Standard output or a file: the kernel copies (copy_file_range, sendfile or
        // splice) without the bytes passing through this process.
        io::copy(&mut f, out)?;
        write!(out, "\n{outer}]")
    }
}

/// Appends `v` pretty-printed with every line after the first already at `indent` (not
/// re-indented line by line afterwards): one element of a [`Spool`].
fn render_element<T: Serialize>(buf: &mut Vec<u8>, v: &T, indent: &str) -> io::Result<()> {
    let fmt = Indented {
        base: indent.as_bytes(),
        level: 0,
        has_value: false,
    };
    v.serialize(&mut serde_json::Serializer::with_formatter(buf, fmt))?;
    Ok(())
}

/// serde_json's `PrettyFormatter` (two-space steps) with every line after the first starting
/// with `base` too: the output of `to_writer_pretty` with `base` inserted after each newline
/// (JSON strings never hold a raw newline, so every newline is structure).
struct Indented<'a> {
    base: &'a [u8],
    level: usize,
    has_value: bool,
}

impl Indented<'_> {
    fn newline<W: ?Sized + Write>(&self, w: &mut W, comma: bool) -> io::Result<()> {
        const SPACES: &[u8; 64] = &[b' '; 64];
        w.write_all(if comma { b",\n" } else { b"\n" })?;
        w.write_all(self.base)?;
        let mut n = 2 * self.level;
        while n > 0 {
            let k = n.min(SPACES.len());
            w.write_all(&SPACES[..k])?;
            n -= k;
        }
        Ok(())
    }

    /// `[` or `{`.
    fn open<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(bracket)
    }

    /// `]` or `}`, on its own line after a non-empty array or object.
    fn close<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.level -= 1;
        if self.has_value {
            self.newline(w, false)?;
        }
        w.write_all(bracket)
    }
}

impl serde_json::ser::Formatter for Indented<'_> {
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"[")
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"]")
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.newline(w, !first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"{")
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"}")
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.newline(w, !first)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// `--format json`: one document, the same as [`write_document`] of the whole report, with
/// sessions, credentials and messages spooled to temporary files until the end.
pub struct DocumentSink {
    captures: Vec<serde_json::Value>,
    sessions: Spool,
    credentials: Spool,
    messages: Spool,
}

#[derive(Serialize)]
struct Head<'a> {
    schema: &'static str,
    tool: &'a Tool,
    captures: &'a [serde_json::Value],
}

impl DocumentSink {
    pub fn new() -> io::Result<Self> {
        Ok(DocumentSink {
            captures: Vec::new(),
            sessions: Spool::new(ELEMENT_INDENT)?,
            credentials: Spool::new(ELEMENT_INDENT)?,
            messages: Spool::new(ELEMENT_INDENT)?,
        })
    }

    /// Writes the document to `out`.
    pub fn finish<W: Write>(self, out: &mut W) -> io::Result<()> {
        let tool = Tool::default();
        let head = serde_json::to_string_pretty(&Head {
            schema: crate::model::SCHEMA,
            tool: &tool,
            captures: &self.captures,
        })?;
        // Reopen the object: drop its closing "\n}".
        out.write_all(&head.as_bytes()[..head.len() - 2])?;
        out.write_all(b",\n  \"sessions\": ")?;
        self.sessions.write_array(out, "  ")?;
        out.write_all(b",\n  \"credentials\": ")?;
        self.credentials.write_array(out, "  ")?;
        out.write_all(b",\n  \"messages\": ")?;
        self.messages.write_array(out, "  ")?;
        out.write_all(b"\n}\n")
    }
}

/// The document's members, as tags of a [`Rendered`] record's parts.
const SESSION: u8 = 0;
const CREDENTIAL: u8 = 1;
const MESSAGE: u8 = 2;
/// The indentation of the elements of the document's arrays.
const ELEMENT_INDENT: &str = "    ";

/// Renders a record's session, credentials and messages as elements of the document's
/// arrays, on another thread.
struct DocumentRender;

impl Render for DocumentRender {
    fn render(&self, r: SessionRecord) -> io::Result<Rendered> {
        let mut out = Rendered::with_capacity(RECORD_GUESS);
        render_element(out.buf(), &r.session, ELEMENT_INDENT)?;
        out.end_part(SESSION);
        for c in &r.credentials {
            render_element(out.buf(), c, ELEMENT_INDENT)?;
            out.end_part(CREDENTIAL);
        }
        for m in &r.messages {
            render_element(out.buf(), m, ELEMENT_INDENT)?;
            out.end_part(MESSAGE);
        }
        Ok(out)
    }
}

impl Sink for DocumentSink {
    fn session(&mut self, r: SessionRecord) -> io::Result<()> {
        self.sessions.push(&r.session)?;
        for c in &r.credentials {
            self.credentials.push(c)?;
        }
        for m in &r.messages {
            self.messages.push(m)?;
        }
        Ok(())
    }
    fn renderer(&self) -> Option<Arc<dyn Render>> {
        Some(Arc::new(DocumentRender))
    }
    fn rendered(&mut self, r: Rendered, id: &str) -> io::Result<()> {
        for (tag, range) in r.parts() {
            let spool = match tag {
                SESSION => &mut self.sessions,
                CREDENTIAL => &mut self.credentials,
                _ => &mut self.messages,
            };
            spool.push_rendered(|w| r.write_range(range, id, w))?;
        }
        Ok(())
    }
    fn capture(&mut self, info: &CaptureInfo) -> io::Result<()> {
        self.captures.push(serde_json::to_value(info)?);
        Ok(())
    }
    fn failure(&mut self, f: &CaptureFailure) -> io::Result<()> {
        self.captures.push(serde_json::to_value(FailureRecord {
            path: &f.path,
            error: &f.error,
        })?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indented_is_pretty_reindented() {
        let mut deep = serde_json::json!(1);
        for _ in 0..40 {
            // Deeper than the 64 spaces written at once.
            deep = serde_json::json!([deep]);
        }
        let v = serde_json::json!({
            "a": [], "b": {}, "c": [1, [2, []], {"d": {"e": [{}]}}],
            "s": "x\ny", "n": null, "deep": deep,
        });
        let pretty = serde_json::to_string_pretty(&v).unwrap();
        let old = pretty.replace('\n', "\n    ");
        let mut new = Vec::new();
        let fmt = Indented {
            base: b"    ",
            level: 0,
            has_value: false,
        };
        v.serialize(&mut serde_json::Serializer::with_formatter(&mut new, fmt))
            .unwrap();
        assert_eq!(String::from_utf8(new).unwrap(), old);
    }
}
