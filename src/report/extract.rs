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
//! file or symlink planted in DIR is never followed or overwritten. Without `force` the
//! whole plan is checked first and nothing is written when any planned name already exists
//! ([`ExtractError::Exists`]); with `force` existing entries are removed (a symlink is
//! removed, never followed) and written anew.

use crate::model::{Endpoint, MessageDirection, Protocol, Report, Session, Tool};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
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

/// A planned attachment.
struct PlanAttachment {
    name: Option<String>,
}

/// A planned message.
struct PlanMessage {
    stem: Option<String>,
    folder: bool,
    attachments: Vec<PlanAttachment>,
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
/// `index.json`. Messages whose bytes were not kept (larger than the in-memory bound) are
/// listed in the index with `eml: null` and a `note`, and in [`Outcome::warnings`].
pub fn extract(
    report: &Report,
    dir: &Path,
    opts: &ExtractOptions,
) -> Result<Outcome, ExtractError> {
    let sessions: HashMap<&str, &Session> =
        report.sessions.iter().map(|s| (s.id.as_str(), s)).collect();

    // 1. Plan every name.
    let mut top = Names::default();
    top.take(INDEX_NAME);
    let mut plan = Vec::with_capacity(report.messages.len());
    for m in &report.messages {
        let proto = sessions
            .get(m.session.as_str())
            .map(|s| s.protocol.name())
            .unwrap_or("mail");
        let mut stem = format!("{}_{}_{}", compact_time(&m.time.rfc3339()), proto, m.id);
        if let Some(slug) = m.headers.subject.as_deref().map(subject_slug) {
            if !slug.is_empty() {
                stem.push('_');
                stem.push_str(&slug);
            }
        }
        let mut stem = safe_name(&stem, MAX_NAME_BYTES - 12);
        if stem.is_empty() {
            stem = format!("message-{}", plan.len() + 1);
        }
        let has_files = m.attachments.iter().any(|a| a.data.is_some());
        let stem = m.data.as_ref().map(|_| {
            if has_files {
                top.unique(&stem, ".eml", &[""])
            } else {
                top.unique(&stem, ".eml", &[])
            }
        });
        // Attachments need a folder even when the message itself is not written.
        let stem = match (stem, has_files) {
            (None, true) => Some(top.unique(&format!("{}-attachments", m.id), "", &[])),
            (s, _) => s,
        };
        let mut inner = Names::default();
        let attachments = m
            .attachments
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let name = a.data.as_ref().map(|_| {
                    let mut n = safe_name(a.filename.as_deref().unwrap_or(""), MAX_NAME_BYTES);
                    if n.is_empty() {
                        n = format!("attachment-{}", i + 1);
                    }
                    let (s, e) = split_ext(&n);
                    let s = inner.unique(s, e, &[]);
                    format!("{s}{e}")
                });
                PlanAttachment { name }
            })
            .collect();
        plan.push(PlanMessage {
            stem,
            folder: has_files,
            attachments,
        });
    }

    // 2. Without --force, refuse before writing anything when a planned name exists.
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    if !opts.force {
        let mut planned = vec![child(dir, INDEX_NAME)?];
        for (m, p) in report.messages.iter().zip(&plan) {
            if let Some(stem) = &p.stem {
                if m.data.is_some() {
                    planned.push(child(dir, &format!("{stem}.eml"))?);
                }
                if p.folder {
                    planned.push(child(dir, stem)?);
                }
            }
        }
        if let Some(p) = planned.iter().find(|p| exists(p)) {
            return Err(ExtractError::Exists(p.clone()));
        }
    }

    // 3. Write.
    let mut out = Outcome {
        index: Index {
            schema: INDEX_SCHEMA,
            tool: Tool::default(),
            messages: Vec::new(),
        },
        messages_written: 0,
        attachments_written: 0,
        warnings: Vec::new(),
    };
    for (m, p) in report.messages.iter().zip(&plan) {
        let session = sessions.get(m.session.as_str());
        let mut entry = IndexMessage {
            id: m.id.clone(),
            session: m.session.clone(),
            protocol: session.map(|s| s.protocol),
            direction: m.direction,
            partial: m.partial,
            complete: m.complete,
            client: session.map(|s| s.client),
            server: session.map(|s| s.server),
            capture: session.map(|s| s.capture.clone()),
            time: m.time.rfc3339(),
            subject: m.headers.subject.clone(),
            message_id: m.headers.message_id.clone(),
            size: m.size,
            sha256: m.sha256.clone(),
            eml: None,
            note: None,
            attachments: Vec::new(),
        };
        match (&m.data, &p.stem) {
            (Some(data), Some(stem)) => {
                let name = format!("{stem}.eml");
                write_new(&child(dir, &name)?, data, opts.force)?;
                let sum = sha256_hex(data);
                if sum != m.sha256 || data.len() as u64 != m.size {
                    let note = format!(
                        "the kept bytes ({} bytes) differ from the message on the wire ({} bytes)",
                        data.len(),
                        m.size
                    );
                    out.warnings.push(format!("message {}: {note}", m.id));
                    entry.note = Some(note);
                }
                entry.sha256 = sum;
                entry.eml = Some(name);
                out.messages_written += 1;
            }
            _ => {
                let note = format!(
                    "message bytes not kept ({} bytes, larger than the in-memory bound); no .eml written",
                    m.size
                );
                out.warnings.push(format!("message {}: {note}", m.id));
                entry.note = Some(note);
            }
        }
        let folder = match (&p.stem, p.folder) {
            (Some(stem), true) => {
                let d = child(dir, stem)?;
                make_dir(&d, opts.force)?;
                Some((d, stem.clone()))
            }
            _ => None,
        };
        for (a, pa) in m.attachments.iter().zip(&p.attachments) {
            let mut ia = IndexAttachment {
                filename: a.filename.clone(),
                content_type: a.content_type.clone(),
                size: a.size,
                sha256: a.sha256.clone(),
                path: None,
                note: None,
            };
            match (&a.data, &pa.name, &folder) {
                (Some(data), Some(name), Some((d, stem))) => {
                    write_new(&child(d, name)?, data, opts.force)?;
                    ia.sha256 = sha256_hex(data);
                    ia.path = Some(format!("{stem}/{name}"));
                    out.attachments_written += 1;
                }
                _ => {
                    let note = "attachment content not kept; not written".to_string();
                    out.warnings.push(format!(
                        "message {}: attachment {}: {note}",
                        m.id,
                        crate::text::escape(a.filename.as_deref().unwrap_or("(no name)"))
                    ));
                    ia.note = Some(note);
                }
            }
            entry.attachments.push(ia);
        }
        out.index.messages.push(entry);
    }
    let mut json = serde_json::to_vec_pretty(&out.index)
        .map_err(|e| ExtractError::Io(dir.join(INDEX_NAME), e.into()))?;
    json.push(b'\n');
    write_new(&child(dir, INDEX_NAME)?, &json, opts.force)?;
    Ok(out)
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
