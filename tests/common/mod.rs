//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The read-only `shared/` folder beside the repository (present in CI), or
/// `$PCAPMAIL_SHARED`. None, with a printed notice, when absent.
pub fn shared_dir() -> Option<PathBuf> {
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    let candidates = [
        Some(beside),
        std::env::var_os("PCAPMAIL_SHARED").map(PathBuf::from),
    ];
    for c in candidates.into_iter().flatten() {
        if c.join("captures").is_dir() {
            return Some(c);
        }
    }
    eprintln!("notice: ../shared/captures not found; skipping tests on shared captures");
    None
}

/// A file in the repository's `samples/` folder.
pub fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("samples")
        .join(name)
}

/// Every capture file below `dir`, sorted.
pub fn captures_below(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let name = p.file_name().unwrap().to_string_lossy().to_string();
                if !name.contains(".zeek.expected.")
                    && (name.ends_with(".pcap")
                        || name.ends_with(".pcapng")
                        || name.ends_with(".pcap.gz"))
                {
                    out.push(p);
                }
            }
        }
    }
    out.sort();
    out
}

/// A Zeek TSV log: rows as maps from field name to value.
pub fn zeek_log(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut fields: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("#fields\t") {
            fields = f.split('\t').map(str::to_string).collect();
        } else if !line.starts_with('#') && !line.is_empty() {
            let vals: Vec<&str> = line.split('\t').collect();
            rows.push(
                fields
                    .iter()
                    .cloned()
                    .zip(vals.iter().map(|v| v.to_string()))
                    .collect(),
            );
        }
    }
    rows
}

pub mod mailgen;
pub mod pcapgen;
