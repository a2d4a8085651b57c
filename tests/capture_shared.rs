//! Every capture under the shared captures directory opens, reads without warnings, has the
//! packet count listed in its README, and decodes without malformed frames.

use pcapmail::capture::CaptureReader;
use pcapmail::decode::Decoder;
use std::path::{Path, PathBuf};

/// `$CARGO_MANIFEST_DIR/../shared/captures` (CI), else `$PCAPMAIL_SHARED/captures`, else
/// `/work/shared/captures` (development worktrees).
fn captures_dir() -> Option<PathBuf> {
    let mut candidates = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/captures")];
    if let Some(s) = std::env::var_os("PCAPMAIL_SHARED") {
        candidates.push(PathBuf::from(s).join("captures"));
    }
    candidates.push(PathBuf::from("/work/shared/captures"));
    candidates
        .into_iter()
        .find(|p| p.join("README.md").is_file())
}

/// (relative path, packets) from the README's table rows `| path | bytes | fmt/link | pkts | ...`.
fn expected_counts(readme: &str) -> Vec<(String, u64)> {
    readme
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('|').map(str::trim).collect();
            if cols.len() < 6 || !cols[3].contains('/') {
                return None;
            }
            Some((cols[1].to_string(), cols[4].parse().ok()?))
        })
        .collect()
}

fn find_captures(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            find_captures(&p, out);
        } else {
            let n = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_string();
            if n.ends_with(".pcap") || n.ends_with(".pcapng") || n.ends_with(".gz") {
                out.push(p);
            }
        }
    }
}

#[test]
fn shared_captures_read_cleanly() {
    let Some(dir) = captures_dir() else {
        println!("NOTICE: shared captures directory not found; skipping");
        return;
    };
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let expected = expected_counts(&readme);
    assert!(
        expected.len() >= 30,
        "README table parsed: {} rows",
        expected.len()
    );
    let mut files = Vec::new();
    find_captures(&dir, &mut files);
    files.sort();
    assert!(!files.is_empty());
    for f in &files {
        let rel = f.strip_prefix(&dir).unwrap().to_string_lossy().to_string();
        let mut r = CaptureReader::open(f).unwrap_or_else(|e| panic!("{e}"));
        let mut dec = Decoder::default();
        while let Some(p) = r.next_packet() {
            let _ = dec.decode(p.link_type, p.data, p.ts);
        }
        let s = r.summary();
        assert!(s.warnings.is_empty(), "{rel}: {:?}", s.warnings);
        let want = expected.iter().find(|(p, _)| *p == rel).map(|x| x.1);
        let want = want.unwrap_or_else(|| panic!("{rel} is not listed in the README"));
        assert_eq!(s.packets, want, "{rel}");
        assert_eq!(s.gzip, rel.ends_with(".gz"), "{rel}");
        let c = dec.counters();
        assert!(c.tcp > 0, "{rel}: {c:?}");
        assert_eq!(c.malformed + c.unsupported_link, 0, "{rel}: {c:?}");
        println!(
            "{rel}: {} packets, tcp {}, truncated {}",
            s.packets, c.tcp, c.truncated
        );
    }
    println!("{} shared captures read", files.len());
}
