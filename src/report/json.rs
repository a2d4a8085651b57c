//! The JSON document and JSON lines of CONTRACT.md.

use crate::model::Report;
use serde::Serialize;
use std::io::{self, Write};

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
    serde_json::to_writer(&mut *out, &Typed { kind, record })?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Writes every record of the report as JSON lines: captures, sessions, credentials,
/// messages.
pub fn write_lines<W: Write>(out: &mut W, report: &Report) -> io::Result<()> {
    for c in &report.captures {
        write_record(out, "capture", c)?;
    }
    for s in &report.sessions {
        write_record(out, "session", s)?;
    }
    for c in &report.credentials {
        write_record(out, "credential", c)?;
    }
    for m in &report.messages {
        write_record(out, "message", m)?;
    }
    Ok(())
}
