//! `pcapmail extract`: every message as an `.eml` file (exactly the message bytes of
//! CONTRACT.md), attachments decoded into a folder per message, and `index.json` tying the
//! files to sessions.
//!
//! Layout of the output directory:
//! ```text
//! DIR/index.json
//! DIR/20261125T130917Z_smtp_s1-m1_Subject-words.eml
//! DIR/20261125T130917Z_smtp_s1-m1_Subject-words/report.pdf
//! ```
//! Safety: every name written is a single path component made by [`safe_name`] (no
//! separators, no `..`, no control characters, no reserved Windows names, bounded length),
//! so nothing is created outside DIR; files are created with `create_new` (O_EXCL), so a
//! file or symlink planted in DIR is never followed or overwritten. Files are written as
//! each session ends ([`ExtractSink`]), `index.json` at the end. Without `force` a folder
//! holding an earlier run's `index.json` is refused before anything is written, and any
//! other name in the way stops the run ([`ExtractError::Exists`]); with `force` the files
//! the earlier index lists are removed first (so the folder and its new index agree) and
//! names in the way are replaced (a symlink is removed, never followed). A message cut by
//! loss or the capture's end has `_partial` in its name and `complete: false` in the index.

use crate::model::{Endpoint, Message, MessageDirection, Protocol, Report, Session, Tool};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fs;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

/// Schema of `index.json`.
pub const INDEX_SCHEMA: &str = "pcapmail-extract/1";
/// Name of the index file in the output directory.
pub const INDEX_NAME: &str = "index.json";
/// Bound of a file name, in bytes.
pub const MAX_NAME_BYTES: usize = 100;
/// Bound of the subject part of a message file name, in bytes.
const MAX_SUBJECT_BYTES: usize = 60;

/// Options of [`extract`].
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Replace files (and reuse folders) that already exist in the directory.
    pub force: bool,
}

/// Why extraction stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// A planned file or folder already exists and `force` was not given; nothing was
    /// written.
    #[error(
        "{0} already exists (use --force to overwrite, or another directory); nothing was written"
    )]
    Exists(PathBuf),
    /// A file system operation failed.
    #[error("{0}: {1}")]
    Io(PathBuf, #[source] io::Error),
}

/// An attachment in the index.
#[derive(Debug, Clone, Serialize)]
pub struct IndexAttachment {
    /// The file name as given in the message (decoded), null when it had none.
    pub filename: Option<String>,
    pub content_type: String,
    pub size: u64,
    /// SHA-256 of the decoded content (= of the written file).
    pub sha256: String,
    /// Path of the written file relative to the directory ("/"-separated); null when not
    /// written.
    pub path: Option<String>,
    /// Why the file was not written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A message in the index.
#[derive(Debug, Clone, Serialize)]
pub struct IndexMessage {
    pub id: String,
    pub session: String,
    pub protocol: Option<Protocol>,
    pub direction: MessageDirection,
    pub partial: bool,
    pub complete: bool,
    pub client: Option<Endpoint>,
    pub server: Option<Endpoint>,
    pub capture: Option<String>,
    pub time: String,
    pub subject: Option<String>,
    pub message_id: Option<String>,
    /// SMTP envelope sender and accepted recipients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcpt_to: Option<Vec<String>>,
    /// The From: and To: headers (decoded).
    pub from: Option<String>,
    pub to: Vec<String>,
    pub size: u64,
    /// SHA-256 of the message bytes (= of the `.eml` file when written).
    pub sha256: String,
    /// Path of the `.eml` file relative to the directory; null when not written.
    pub eml: Option<String>,
    /// Why the `.eml` was not written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    pub attachments: Vec<IndexAttachment>,
}

/// The content of `index.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Index {
    pub schema: &'static str,
    pub tool: Tool,
    pub messages: Vec<IndexMessage>,
}

/// What [`extract`] did.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub index: Index,
    pub messages_written: usize,
    pub attachments_written: usize,
    /// One line per message or attachment that could not be written.
    pub warnings: Vec<String>,
}

fn is_reserved_windows(stem: &str) -> bool {
    let s = stem.trim_end_matches([' ', '.']).to_ascii_uppercase();
    matches!(
        s.as_str(),
        "CON" | "PRN" | "AUX" | "NUL" | "CONIN$" | "CONOUT$"
    ) || ((s.starts_with("COM") || s.starts_with("LPT"))
        && s.len() == 4
        && matches!(s.as_bytes()[3], b'1'..=b'9'))
}

fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*')
        || matches!(c as u32, 0x200b..=0x200f | 0x202a..=0x202e | 0x2066..=0x2069 | 0xfeff)
}

/// Cuts `s` to at most `max` bytes at a UTF-8 boundary.
fn cut_bytes(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn trim_name(s: &str) -> &str {
    s.trim_start_matches(['.', ' '])
        .trim_end_matches(['.', ' '])
}

/// Makes a safe single file name from a name found in a capture, or "" when nothing is
/// left (the caller then picks a default such as `attachment-N`):
/// path components `.`/`..`/empty are dropped and the others joined with `_`
/// (`../../x` → `x`, `/etc/passwd` → `etc_passwd`); control and bidi characters and
/// `<>:"|?*` become `_`; leading dots and spaces and trailing dots and spaces are removed;
/// a reserved Windows device name (CON, PRN, AUX, NUL, COM1-9, LPT1-9, also with an
/// extension) gets a `_` prefix; the result is cut to `max` bytes at a UTF-8 boundary,
/// keeping a short extension.
pub fn safe_name(raw: &str, max: usize) -> String {
    let joined: Vec<&str> = raw
        .split(['/', '\\'])
        .filter(|p| !p.is_empty() && *p != "." && *p != "..")
        .collect();
    let mapped: String = joined
        .join("_")
        .chars()
        .map(|c| if is_unsafe_char(c) { '_' } else { c })
        .collect();
    let mut name = trim_name(&mapped).to_string();
    if name.is_empty() {
        return name;
    }
    let stem = name.split('.').next().unwrap_or("");
    if is_reserved_windows(stem) {
        name.insert(0, '_');
    }
    if name.len() > max {
        // Keep an extension of up to 16 bytes (".pdf"), cut the stem.
        let ext = match name.rfind('.') {
            Some(i) if i > 0 && name.len() - i <= 16 && !name[i..].contains(' ') => &name[i..],
            _ => "",
        };
        let stem_end = name.len() - ext.len();
        let stem = cut_bytes(&name[..stem_end], max.saturating_sub(ext.len()));
        let stem = stem.trim_end_matches(['.', ' ']);
        name = format!("{stem}{ext}");
        name = trim_name(cut_bytes(&name, max)).to_string();
    }
    name
}

/// Turns a subject into words joined by `-` (letters and digits of any script are kept).
fn subject_slug(subject: &str) -> String {
    let mut out = String::new();
    for c in subject.chars() {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = cut_bytes(&out, MAX_SUBJECT_BYTES);
    out.trim_end_matches('-').to_string()
}

/// `2026-11-25T13:09:17.184696Z` → `20261125T130917Z`.
fn compact_time(rfc3339: &str) -> String {
    let head = rfc3339.get(..19).unwrap_or(rfc3339);
    let mut s: String = head.chars().filter(|c| *c != '-' && *c != ':').collect();
    s.push('Z');
    s
}

/// Names already taken in one directory (compared case-insensitively, for file systems
/// that ignore case).
#[derive(Default)]
struct Names(HashSet<String>);

impl Names {
    fn take(&mut self, name: &str) -> bool {
        self.0.insert(name.to_lowercase())
    }

    /// `stem+ext`, else `stem-2+ext`, `stem-3+ext`, ... (every `extra` suffix must be free
    /// too: a message needs both `X.eml` and the folder `X`).
    fn unique(&mut self, stem: &str, ext: &str, extra: &[&str]) -> String {
        for n in 1u64.. {
            let candidate = if n == 1 {
                stem.to_string()
            } else {
                format!("{stem}-{n}")
            };
            let all: Vec<String> = std::iter::once(format!("{candidate}{ext}"))
                .chain(extra.iter().map(|e| format!("{candidate}{e}")))
                .collect();
            if all.iter().all(|a| !self.0.contains(&a.to_lowercase())) {
                for a in &all {
                    self.take(a);
                }
                return candidate;
            }
        }
        unreachable!()
    }
}

fn split_ext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 => (&name[..i], &name[i..]),
        _ => (name, ""),
    }
}

fn io_err(p: &Path) -> impl FnOnce(io::Error) -> ExtractError + '_ {
    move |e| ExtractError::Io(p.to_path_buf(), e)
}

/// Joins a single safe component to `dir`; refuses anything else (defence in depth: the
/// planner only produces such names).
fn child(dir: &Path, name: &str) -> Result<PathBuf, ExtractError> {
    let mut comps = Path::new(name).components();
    match (comps.next(), comps.next()) {
        (Some(Component::Normal(_)), None) if !name.contains(['/', '\\']) => Ok(dir.join(name)),
        _ => Err(ExtractError::Io(
            dir.join(name),
            io::Error::new(io::ErrorKind::InvalidInput, "unsafe file name"),
        )),
    }
}

fn exists(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok()
}

/// Removes what is at `p` for `--force` (a symlink itself, never its target; a real
/// folder is kept when `keep_dir`).
fn clear(p: &Path, keep_dir: bool) -> Result<(), ExtractError> {
    match fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => {
            if keep_dir {
                Ok(())
            } else {
                Err(ExtractError::Io(
                    p.to_path_buf(),
                    io::Error::new(io::ErrorKind::AlreadyExists, "a folder is in the way"),
                ))
            }
        }
        Ok(_) => fs::remove_file(p).map_err(io_err(p)),
        Err(_) => Ok(()),
    }
}

/// Writes `data` to a new file (O_EXCL: never through an existing file or symlink).
fn write_new(p: &Path, data: &[u8], force: bool) -> Result<(), ExtractError> {
    if force {
        clear(p, false)?;
    }
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(p)
        .map_err(io_err(p))?;
    f.write_all(data).map_err(io_err(p))?;
    f.flush().map_err(io_err(p))
}

/// Like `write_new`, the content written by `fill`.
fn write_new_from(
    p: &Path,
    force: bool,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<u64>,
) -> Result<(), ExtractError> {
    if force {
        clear(p, false)?;
    }
    let f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(p)
        .map_err(io_err(p))?;
    let mut w = io::BufWriter::with_capacity(256 * 1024, f);
    fill(&mut w).map_err(io_err(p))?;
    w.flush().map_err(io_err(p))
}

fn make_dir(p: &Path, force: bool) -> Result<(), ExtractError> {
    if force {
        clear(p, true)?;
        if fs::symlink_metadata(p).map(|m| m.is_dir()).unwrap_or(false) {
            return Ok(());
        }
    }
    fs::create_dir(p).map_err(io_err(p))
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Writes every message and attachment of `report` into `dir` (created when missing) and
/// `index.json`: the convenience over [`ExtractSink`] for a report collected in memory.
/// Messages whose bytes were not kept (larger than the in-memory bound) are listed in the
/// index with `eml: null` and a `note`, and in [`Outcome::warnings`].
pub fn extract(
    report: &Report,
    dir: &Path,
    opts: &ExtractOptions,
) -> Result<Outcome, ExtractError> {
    let mut sink = ExtractSink::new(dir, opts)?;
    sink.keep_index = true;
    crate::report::table::feed(&mut sink, report);
    sink.finish()
}

/// Warnings kept for the outcome; the rest are counted.
const MAX_WARNINGS: usize = 1000;

/// Extraction as a sink: each message (and its attachments) is written when its session
/// ends, its index entry spooled; `finish` writes `index.json`. Memory does not grow with
/// the number of messages.
pub struct ExtractSink {
    dir: PathBuf,
    force: bool,
    index: crate::report::json::Spool,
    messages_written: usize,
    attachments_written: usize,
    warnings: Vec<String>,
    warnings_dropped: usize,
    /// Why writing stopped (the sink then refuses further records).
    error: Option<ExtractError>,
    /// Keep the index entries in memory too (for [`extract`]).
    keep_index: bool,
    kept: Vec<IndexMessage>,
    /// The output folder exists (created on first use).
    created: bool,
    captures: u64,
}

impl ExtractSink {
    /// Prepares `dir` (created when missing). Without `force`, a folder that holds an
    /// earlier run's `index.json` is refused before anything is written; with it, the
    /// files that index lists are removed first, so the folder and its index agree.
    pub fn new(dir: &Path, opts: &ExtractOptions) -> Result<ExtractSink, ExtractError> {
        // The folder itself is created with the first file (a run that reads nothing
        // leaves nothing behind).
        let index_path = child(dir, INDEX_NAME)?;
        if exists(&index_path) {
            if !opts.force {
                return Err(ExtractError::Exists(index_path));
            }
            remove_earlier_run(dir, &index_path)?;
        }
        Ok(ExtractSink {
            dir: dir.to_path_buf(),
            force: opts.force,
            index: crate::report::json::Spool::new("    ").map_err(io_err(dir))?,
            messages_written: 0,
            attachments_written: 0,
            warnings: Vec::new(),
            warnings_dropped: 0,
            error: None,
            keep_index: false,
            kept: Vec::new(),
            created: false,
            captures: 0,
        })
    }

    /// Captures read so far (a run that read none has nothing to index).
    pub fn captures_read(&self) -> u64 {
        self.captures
    }

    fn make_top(&mut self) -> Result<(), ExtractError> {
        if !self.created {
            fs::create_dir_all(&self.dir).map_err(io_err(&self.dir))?;
            self.created = true;
        }
        Ok(())
    }

    fn warn(&mut self, w: String) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(w);
        } else {
            self.warnings_dropped += 1;
        }
    }

    /// Writes one message and its attachments; returns its index entry.
    fn write_message(&mut self, m: &Message, session: &Session) -> Result<(), ExtractError> {
        self.make_top()?;
        let dir = self.dir.clone();
        let proto = session.protocol.name();
        let mut stem = format!("{}_{}_{}", compact_time(&m.time.rfc3339()), proto, m.id);
        if let Some(slug) = m.headers.subject.as_deref().map(subject_slug) {
            if !slug.is_empty() {
                stem.push('_');
                stem.push_str(&slug);
            }
        }
        // A message cut by loss or the end of the capture says so in its name.
        let suffix = if m.complete { "" } else { "_partial" };
        let mut stem = safe_name(&stem, MAX_NAME_BYTES - 12 - suffix.len());
        if stem.is_empty() {
            stem = safe_name(&m.id, MAX_NAME_BYTES - 12);
        }
        stem.push_str(suffix);
        let has_files = m.attachments.iter().any(|a| a.data.is_some());
        let mut entry = IndexMessage {
            id: m.id.clone(),
            session: m.session.clone(),
            protocol: Some(session.protocol),
            direction: m.direction,
            partial: m.partial,
            complete: m.complete,
            client: Some(session.client),
            server: Some(session.server),
            capture: Some(m.capture.clone().unwrap_or_else(|| session.capture.clone())),
            time: m.time.rfc3339(),
            subject: m.headers.subject.clone(),
            message_id: m.headers.message_id.clone(),
            mail_from: m.mail_from.clone(),
            rcpt_to: m.rcpt_to.clone(),
            from: m.headers.from.clone(),
            to: m.headers.to.clone(),
            size: m.size,
            sha256: m.sha256.clone(),
            eml: None,
            note: None,
            attachments: Vec::new(),
        };
        match &m.data {
            Some(data) => {
                let name = format!("{stem}.eml");
                write_new(&child(&dir, &name)?, data, self.force)?;
                // The kept bytes are the ones the message hash was computed over as they
                // streamed in; only kept bytes of another length (a bug) are hashed again.
                if data.len() as u64 != m.size {
                    let sum = sha256_hex(data);
                    let note = format!(
                        "the kept bytes ({} bytes) differ from the message on the wire ({} bytes)",
                        data.len(),
                        m.size
                    );
                    self.warn(format!("message {}: {note}", m.id));
                    entry.note = Some(note);
                    entry.sha256 = sum;
                }
                entry.eml = Some(name);
                self.messages_written += 1;
            }
            None => match &m.spilled {
                Some(sp) => {
                    // Larger than the in-memory bound: copied from its temporary file.
                    let name = format!("{stem}.eml");
                    let p = child(&dir, &name)?;
                    let mut hasher = Sha256::new();
                    write_new_from(&p, self.force, |f| sp.copy_to(f, &mut |b| hasher.update(b)))?;
                    let sum = hex::encode(hasher.finalize());
                    if sum != m.sha256 || sp.len() != m.size {
                        let note = format!(
                            "the kept bytes ({} bytes) differ from the message on the wire ({} bytes)",
                            sp.len(),
                            m.size
                        );
                        self.warn(format!("message {}: {note}", m.id));
                        entry.note = Some(note);
                    }
                    entry.sha256 = sum;
                    entry.eml = Some(name);
                    self.messages_written += 1;
                }
                None => {
                    let note = format!(
                        "message bytes not kept ({} bytes, larger than the in-memory bound, and no temporary file could be written); no .eml written",
                        m.size
                    );
                    self.warn(format!("message {}: {note}", m.id));
                    entry.note = Some(note);
                }
            },
        }
        let folder = if has_files {
            let d = child(&dir, &stem)?;
            make_dir(&d, self.force)?;
            Some(d)
        } else {
            None
        };
        let mut inner = Names::default();
        for (i, a) in m.attachments.iter().enumerate() {
            let mut ia = IndexAttachment {
                filename: a.filename.clone(),
                content_type: a.content_type.clone(),
                size: a.size,
                sha256: a.sha256.clone(),
                path: None,
                note: None,
            };
            match (&a.data, &folder) {
                (Some(data), Some(d)) => {
                    let mut n = safe_name(a.filename.as_deref().unwrap_or(""), MAX_NAME_BYTES);
                    if n.is_empty() {
                        n = format!("attachment-{}", i + 1);
                    }
                    let (s, e) = split_ext(&n);
                    let s = inner.unique(s, e, &[]);
                    let name = format!("{s}{e}");
                    write_new(&child(d, &name)?, data, self.force)?;
                    // `a.sha256` was computed over these decoded bytes as they were decoded.
                    if data.len() as u64 != a.size {
                        ia.sha256 = sha256_hex(data);
                    }
                    ia.path = Some(format!("{stem}/{name}"));
                    self.attachments_written += 1;
                }
                _ => {
                    let note = "attachment content not kept; not written".to_string();
                    self.warn(format!(
                        "message {}: attachment {}: {note}",
                        m.id,
                        crate::text::escape(a.filename.as_deref().unwrap_or("(no name)"))
                    ));
                    ia.note = Some(note);
                }
            }
            entry.attachments.push(ia);
        }
        self.index
            .push(&entry)
            .map_err(io_err(&dir.join(INDEX_NAME)))?;
        if self.keep_index {
            self.kept.push(entry);
        }
        Ok(())
    }

    /// Writes `index.json`; returns what was done, or the error that stopped writing.
    pub fn finish(mut self) -> Result<Outcome, ExtractError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.make_top()?;
        let path = child(&self.dir, INDEX_NAME)?;
        let mut out = Vec::new();
        let head = serde_json::to_string_pretty(&IndexHead {
            schema: INDEX_SCHEMA,
            tool: Tool::default(),
        })
        .map_err(|e| ExtractError::Io(path.clone(), e.into()))?;
        out.extend_from_slice(&head.as_bytes()[..head.len() - 2]);
        out.extend_from_slice(b",\n  \"messages\": ");
        let mut f = {
            if self.force {
                clear(&path, false)?;
            }
            fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(io_err(&path))?
        };
        let mut w = io::BufWriter::new(&mut f);
        w.write_all(&out).map_err(io_err(&path))?;
        self.index
            .write_array(&mut w, "  ")
            .and_then(|_| w.write_all(b"\n}\n"))
            .and_then(|_| w.flush())
            .map_err(io_err(&path))?;
        let mut warnings = self.warnings;
        if self.warnings_dropped > 0 {
            warnings.push(format!("… and {} more warnings", self.warnings_dropped));
        }
        Ok(Outcome {
            index: Index {
                schema: INDEX_SCHEMA,
                tool: Tool::default(),
                messages: self.kept,
            },
            messages_written: self.messages_written,
            attachments_written: self.attachments_written,
            warnings,
        })
    }
}

#[derive(Serialize)]
struct IndexHead {
    schema: &'static str,
    tool: Tool,
}

impl crate::sink::Sink for ExtractSink {
    fn session(&mut self, r: crate::sink::SessionRecord) -> io::Result<()> {
        if self.error.is_some() {
            return Err(io::Error::other("extraction stopped"));
        }
        for m in &r.messages {
            if let Err(e) = self.write_message(m, &r.session) {
                let msg = e.to_string();
                self.error = Some(e);
                return Err(io::Error::other(msg));
            }
        }
        Ok(())
    }
    fn capture(&mut self, _info: &crate::model::CaptureInfo) -> io::Result<()> {
        self.captures += 1;
        Ok(())
    }
}

/// `--force` over an earlier run: removes the files its `index.json` lists (only plain
/// names inside `dir`), then the index itself.
fn remove_earlier_run(dir: &Path, index_path: &Path) -> Result<(), ExtractError> {
    let text = fs::read(index_path).map_err(io_err(index_path))?;
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&text) {
        for m in v["messages"].as_array().into_iter().flatten() {
            if let Some(eml) = m["eml"].as_str() {
                if let Ok(p) = child(dir, eml) {
                    clear(&p, false)?;
                }
            }
            for a in m["attachments"].as_array().into_iter().flatten() {
                let Some(rel) = a["path"].as_str() else {
                    continue;
                };
                let Some((folder, name)) = rel.split_once('/') else {
                    continue;
                };
                if let (Ok(d), true) = (child(dir, folder), !name.contains(['/', '\\'])) {
                    if let Ok(p) = child(&d, name) {
                        clear(&p, false)?;
                    }
                    // Empty folders of the earlier run go too; others stay.
                    let _ = fs::remove_dir(&d);
                }
            }
        }
    }
    clear(index_path, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_names() {
        assert_eq!(safe_name("report.pdf", 100), "report.pdf");
        assert_eq!(safe_name("../../x", 100), "x");
        assert_eq!(safe_name("/etc/passwd", 100), "etc_passwd");
        assert_eq!(safe_name("..\\..\\win.ini", 100), "win.ini");
        assert_eq!(safe_name("..", 100), "");
        assert_eq!(safe_name("...", 100), "");
        assert_eq!(safe_name("", 100), "");
        assert_eq!(safe_name(" . ", 100), "");
        assert_eq!(safe_name(".bashrc", 100), "bashrc");
        assert_eq!(safe_name("name. . ", 100), "name");
        assert_eq!(safe_name("CON", 100), "_CON");
        assert_eq!(safe_name("con.txt", 100), "_con.txt");
        assert_eq!(safe_name("LPT9.log", 100), "_LPT9.log");
        assert_eq!(safe_name("COM10", 100), "COM10");
        assert_eq!(safe_name("Nul ", 100), "_Nul");
        assert_eq!(safe_name("a\x1b[31mb\r\n.txt", 100), "a_[31mb__.txt");
        assert_eq!(safe_name("invoice\u{202e}fdp.exe", 100), "invoice_fdp.exe");
        assert_eq!(safe_name("a:b*c?.txt", 100), "a_b_c_.txt");
        assert_eq!(safe_name("报告-2025.txt", 100), "报告-2025.txt");
    }

    #[test]
    fn long_names_are_cut_at_a_char_boundary_keeping_the_extension() {
        let long = format!("{}.pdf", "x".repeat(5000));
        let n = safe_name(&long, 100);
        assert_eq!(n.len(), 100);
        assert!(n.ends_with("x.pdf"));
        let cjk = "数".repeat(100); // 3 bytes each
        let n = safe_name(&cjk, 100);
        assert_eq!(n.len(), 99);
        assert!(n.chars().all(|c| c == '数'));
        let no_ext = "y".repeat(300);
        assert_eq!(safe_name(&no_ext, 100).len(), 100);
    }

    #[test]
    fn unique_names_are_numbered_case_insensitively() {
        let mut n = Names::default();
        assert_eq!(n.unique("a", ".txt", &[]), "a");
        assert_eq!(n.unique("A", ".TXT", &[]), "A-2");
        assert_eq!(n.unique("a", ".txt", &[]), "a-3");
        let mut n = Names::default();
        n.take("m");
        assert_eq!(n.unique("m", ".eml", &[""]), "m-2");
    }

    #[test]
    fn slugs_and_times() {
        assert_eq!(subject_slug("Re: hello, world!"), "Re-hello-world");
        assert_eq!(subject_slug("测试邮件主题"), "测试邮件主题");
        assert_eq!(subject_slug("  ../../etc  "), "etc");
        assert_eq!(
            compact_time("2026-11-25T13:09:17.184696Z"),
            "20261125T130917Z"
        );
    }
}
