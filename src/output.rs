//! Files the command line writes besides standard output (`creds --hashcat`), and the
//! messages about failing to write them or `extract`'s folder: each names the path and
//! says what to do, never only the operating system's "File exists (os error 17)".

use pcapmail::model::Report;
use pcapmail::report::extract::ExtractError;
use pcapmail::report::hashcat;
use pcapmail::text::escape;
use std::io::{self, Write};
use std::path::Path;

/// Writes the `--hashcat` files next to `base` (see `pcapmail::report::hashcat`), each
/// readable only by its owner. An existing file is replaced, as before the per-mode split.
/// Returns the message to print when a file cannot be written.
pub(crate) fn write_hashcat(base: &Path, report: &Report) -> Result<(), String> {
    let files = hashcat::hashcat_files(report);
    for (mode, lines) in &files.modes {
        write_private(&hashcat::mode_path(base, *mode), lines.as_bytes())?;
    }
    write_private(&hashcat::index_path(base), files.index.as_bytes())
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let written = opts.open(path).and_then(|mut f| {
        // The mode above applies only to a new file: tighten a replaced one too.
        #[cfg(unix)]
        f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
        f.write_all(bytes)
    });
    written.map_err(|e| {
        format!(
            "cannot write the hashcat file {}: {} ({})",
            escape(&path.display().to_string()),
            reason(&e),
            advice(&e, "give another --hashcat path")
        )
    })
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
