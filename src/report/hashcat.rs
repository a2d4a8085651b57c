//! The `creds --hashcat FILE` output: one file per hashcat mode with `user:hash` lines (for
//! `hashcat --username`), and an index tying every crackable attempt to its account, server,
//! outcome, capture and frame.
//!
//! Naming: `FILE.10200` (CRAM-MD5), `FILE.20` (APOP), one per mode present, and always
//! `FILE.index.tsv`. Only attempts the server accepted, or whose reply was not seen, go into
//! the mode files: a rejected attempt's hash is of a wrong password, and cracking it would
//! hand back that wrong password as if it were the account's. Rejected attempts stay in the
//! index (`written` = `no`), so nothing crackable is hidden from the audit.

use crate::model::{Credential, Report};
use crate::report::creds::hashcat_mode;
use crate::text::escape;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The contents of the files of one `--hashcat` run.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HashcatFiles {
    /// Per hashcat mode, its `user:hash` lines (each ending in `\n`), in credential order.
    pub modes: BTreeMap<u32, String>,
    /// The index, tab-separated with a header line.
    pub index: String,
}

/// The header of the index file.
pub const INDEX_HEADER: &str = "mode\tuser\tserver\toutcome\tcapture\tframe\twritten";

/// The file holding the lines of `mode`: `FILE.<mode>`.
pub fn mode_path(base: &Path, mode: u32) -> PathBuf {
    suffixed(base, &mode.to_string())
}

/// The index file: `FILE.index.tsv`.
pub fn index_path(base: &Path) -> PathBuf {
    suffixed(base, "index.tsv")
}

fn suffixed(base: &Path, suffix: &str) -> PathBuf {
    let mut name = base.as_os_str().to_owned();
    name.push(".");
    name.push(suffix);
    PathBuf::from(name)
}

/// Builds the files from the credentials of `report` that carry a crackable hash.
pub fn hashcat_files(report: &Report) -> HashcatFiles {
    let capture_of: HashMap<&str, &str> = report
        .sessions
        .iter()
        .map(|s| (s.id.as_str(), s.capture.as_str()))
        .collect();
    let mut files = HashcatFiles {
        index: format!("{INDEX_HEADER}\n"),
        ..HashcatFiles::default()
    };
    let mut seen = HashSet::new();
    for c in &report.credentials {
        let Some(hash) = c.hash.as_deref() else {
            continue;
        };
        let Some(mode) = hashcat_mode(hash) else {
            continue;
        };
        let user = username_field(c);
        let written = c.success != Some(false);
        if written && seen.insert((mode, user.clone(), hash)) {
            let lines = files.modes.entry(mode).or_default();
            lines.push_str(&user);
            lines.push(':');
            lines.push_str(hash);
            lines.push('\n');
        }
        let outcome = match c.success {
            Some(true) => "accepted",
            Some(false) => "rejected",
            None => "unknown",
        };
        let capture = capture_of.get(c.session.as_str()).copied().unwrap_or("");
        files.index.push_str(&format!(
            "{mode}\t{user}\t{}\t{outcome}\t{}\t{}\t{}\n",
            c.server,
            escape(capture),
            c.frame,
            if written { "yes" } else { "no" }
        ));
    }
    files
}

/// The user name as the first field of a `--username` line: hashcat splits at the first
/// `:`, so a colon in the name is written `\x3a` (the same escape as control characters,
/// which are escaped so a line break in a hostile name cannot forge another line).
fn username_field(c: &Credential) -> String {
    escape(c.username.as_deref().unwrap_or("")).replace(':', "\\x3a")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_base_with_a_suffix() {
        let base = Path::new("out/hashes.txt");
        assert_eq!(mode_path(base, 10200), Path::new("out/hashes.txt.10200"));
        assert_eq!(index_path(base), Path::new("out/hashes.txt.index.tsv"));
    }
}
