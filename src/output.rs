//! Files the command line writes besides standard output (`creds --hashcat`), and the
//! messages about failing to write them or `extract`'s folder: each names the path and
//! says what to do, never only the operating system's "File exists (os error 17)".

use pcapmail::model::Report;
use pcapmail::report::extract::ExtractError;
use pcapmail::report::hashcat;
use pcapmail::text::escape;
use std::io::{self, Write};
use std::path::Path;

/// Creates (or truncates) a file readable only by its owner.
fn open_private(path: &Path) -> Result<std::fs::File, String> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let opened = opts.open(path).and_then(|f| {
        // The mode above applies only to a new file: tighten a replaced one too.
        #[cfg(unix)]
        f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        Ok(f)
    });
    opened.map_err(|e| hashcat_error(path, &e))
}

fn hashcat_error(path: &Path, e: &io::Error) -> String {
    format!(
        "cannot write the hashcat file {}: {} ({})",
        escape(&path.display().to_string()),
        reason(e),
        advice(e, "give another --hashcat path")
    )
}

/// `--hashcat FILE` as a sink: each session's crackable lines are appended to `FILE.<mode>`
/// and its index lines to `FILE.index.tsv` as the session ends (see
/// the layout of `pcapmail::report::hashcat`): each file readable only by its owner, an
/// existing one replaced; nothing is held until the end.
pub(crate) struct HashcatSink {
    base: std::path::PathBuf,
    modes: std::collections::BTreeMap<u32, io::BufWriter<std::fs::File>>,
    index: io::BufWriter<std::fs::File>,
    error: Option<String>,
}

impl HashcatSink {
    /// Creates the index file (with its header) at once, so a bad path fails early.
    pub(crate) fn new(base: &Path) -> Result<HashcatSink, String> {
        let path = hashcat::index_path(base);
        let mut index = io::BufWriter::new(open_private(&path)?);
        writeln!(index, "{}", hashcat::INDEX_HEADER).map_err(|e| hashcat_error(&path, &e))?;
        Ok(HashcatSink {
            base: base.to_path_buf(),
            modes: Default::default(),
            index,
            error: None,
        })
    }

    fn add(&mut self, r: &pcapmail::sink::SessionRecord) -> Result<(), String> {
        if !r.credentials.iter().any(|c| c.hash.is_some()) {
            return Ok(());
        }
        let report = Report {
            schema: pcapmail::model::SCHEMA,
            tool: Default::default(),
            captures: Vec::new(),
            sessions: vec![r.session.clone()],
            credentials: r.credentials.clone(),
            messages: Vec::new(),
        };
        let files = hashcat::hashcat_files(&report);
        for (mode, lines) in &files.modes {
            let path = hashcat::mode_path(&self.base, *mode);
            let f = match self.modes.entry(*mode) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(io::BufWriter::new(open_private(&path)?))
                }
            };
            f.write_all(lines.as_bytes())
                .map_err(|e| hashcat_error(&path, &e))?;
        }
        // Without the header line, written once at the start.
        let body = files.index.split_once('\n').map_or("", |(_, b)| b);
        self.index
            .write_all(body.as_bytes())
            .map_err(|e| hashcat_error(&hashcat::index_path(&self.base), &e))
    }

    /// Flushes the files; the first error of the run, if any.
    pub(crate) fn finish(mut self) -> Result<(), String> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        for (mode, f) in &mut self.modes {
            f.flush()
                .map_err(|e| hashcat_error(&hashcat::mode_path(&self.base, *mode), &e))?;
        }
        self.index
            .flush()
            .map_err(|e| hashcat_error(&hashcat::index_path(&self.base), &e))
    }
}

impl pcapmail::sink::Sink for HashcatSink {
    fn session(&mut self, r: pcapmail::sink::SessionRecord) -> io::Result<()> {
        if self.error.is_none() {
            if let Err(e) = self.add(&r) {
                self.error = Some(e.clone());
                return Err(io::Error::other(e));
            }
        }
        Ok(())
    }
    fn capture(&mut self, _info: &pcapmail::model::CaptureInfo) -> io::Result<()> {
        Ok(())
    }
}

/// The message for an `extract` failure.
pub(crate) fn describe_extract_error(e: &ExtractError) -> String {
    match e {
        // Already names the path and the way out (--force or another directory).
        ExtractError::Exists(_) => escape(&e.to_string()).into_owned(),
        ExtractError::Io(path, source) => format!(
            "cannot write {}: {} ({})",
            escape(&path.display().to_string()),
            reason(source),
            advice(source, "choose another directory with -o")
        ),
    }
}

/// The operating system's reason in words, without the "(os error N)" suffix.
fn reason(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => "a folder on its path does not exist".into(),
        io::ErrorKind::PermissionDenied => "permission denied".into(),
        io::ErrorKind::AlreadyExists => "it already exists".into(),
        io::ErrorKind::IsADirectory => "it is a directory".into(),
        io::ErrorKind::NotADirectory => "a file stands where a folder is needed".into(),
        io::ErrorKind::StorageFull => "the disk is full".into(),
        io::ErrorKind::ReadOnlyFilesystem => "the file system is read-only".into(),
        _ => {
            let text = e.to_string();
            match text.find(" (os error ") {
                Some(i) => text[..i].to_string(),
                None => text,
            }
        }
    }
}

/// What the user can do about `e`; `otherwise` is the way out specific to the command.
fn advice(e: &io::Error, otherwise: &str) -> String {
    match e.kind() {
        io::ErrorKind::NotFound => format!("create the folder first, or {otherwise}"),
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
            format!("{otherwise} in a folder you can write to")
        }
        io::ErrorKind::AlreadyExists => format!("remove it, or {otherwise}"),
        io::ErrorKind::StorageFull => format!("free some space, or {otherwise}"),
        _ => otherwise.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_words_not_os_codes() {
        let e = ExtractError::Io(
            "out/a.eml".into(),
            io::Error::from_raw_os_error(17), // EEXIST
        );
        let m = describe_extract_error(&e);
        assert!(m.contains("out/a.eml"), "{m}");
        assert!(!m.contains("os error"), "{m}");
        let odd = io::Error::from_raw_os_error(5); // EIO
        assert_eq!(reason(&odd), "Input/output error");
    }
}
