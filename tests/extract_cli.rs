//! `pcapmail extract`: the written files carry exactly the message bytes of docs/JSON.md (SHA-256
//! checked against index.json and samples/truth.json), names stay inside DIR and are safe,
//! a second run does not clobber, a planted symlink is never followed, and messages whose
//! bytes were not kept are reported instead of written.

mod common;

use pcapmail::model::{Attachment, Report};
use pcapmail::report::extract::{self, ExtractError, ExtractOptions};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

fn pcapmail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pcapmail"))
        .args(args)
        .output()
        .unwrap()
}

/// A fresh, empty directory for one test.
fn fresh(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("extract-{name}"));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn sha(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn sample(name: &str) -> String {
    common::sample(name).display().to_string()
}

fn truth() -> Value {
    serde_json::from_str(&fs::read_to_string(common::sample("truth.json")).unwrap()).unwrap()
}

fn run_extract(dir: &Path, extra: &[&str], files: &[&str]) -> Output {
    let d = dir.display().to_string();
    let mut args = vec!["extract", "-o", d.as_str()];
    args.extend(extra);
    let paths: Vec<String> = files.iter().map(|f| sample(f)).collect();
    args.extend(paths.iter().map(|s| s.as_str()));
    pcapmail(&args)
}

fn index(dir: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(dir.join("index.json")).unwrap()).unwrap()
}

/// Every entry below `dir` (relative paths), with a check that none is a symlink.
fn tree(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let meta = fs::symlink_metadata(e.path()).unwrap();
            assert!(!meta.file_type().is_symlink(), "{:?}", e.path());
            let rel = e.path().strip_prefix(dir).unwrap().display().to_string();
            out.insert(rel);
            if meta.is_dir() {
                stack.push(e.path());
            }
        }
    }
    out
}

const FILES: &[&str] = &[
    "smtp-gbk-attachment.pcap",
    "pop3-large.pcap.gz",
    "smtp-two-messages.pcap",
    "smtp-bdat.pcap",
    "smtp-dot-stuffing.pcap",
    "pop3-user-pass.pcap",
    "pop3-top.pcap",
];

#[test]
fn written_files_hash_to_the_index_and_the_truth() {
    let dir = fresh("hashes").join("out");
    let out = run_extract(&dir, &[], FILES);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stderr.is_empty());
    let idx = index(&dir);
    assert_eq!(idx["schema"], "pcapmail-extract/1");
    let msgs = idx["messages"].as_array().unwrap();
    let truth = truth();
    let mut attachments_seen = 0;
    for file in FILES {
        let mut want: Vec<String> = Vec::new();
        let mut want_att: Vec<(String, String)> = Vec::new();
        for s in truth[*file]["sessions"].as_array().unwrap() {
            for m in s["messages"].as_array().unwrap() {
                want.push(m["sha256"].as_str().unwrap().to_string());
                for a in m["attachments"].as_array().into_iter().flatten() {
                    want_att.push((
                        a["filename"].as_str().unwrap().to_string(),
                        a["sha256"].as_str().unwrap().to_string(),
                    ));
                }
            }
        }
        let mine: Vec<&Value> = msgs
            .iter()
            .filter(|m| {
                m["capture"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("/{file}"))
            })
            .collect();
        let mut got = Vec::new();
        let mut got_att = Vec::new();
        for m in &mine {
            let eml = m["eml"].as_str().expect("eml written");
            assert!(eml.ends_with(".eml") && !eml.contains('/'), "{eml}");
            let bytes = fs::read(dir.join(eml)).unwrap();
            assert_eq!(sha(&bytes), m["sha256"].as_str().unwrap(), "{file} {eml}");
            assert_eq!(bytes.len() as u64, m["size"].as_u64().unwrap());
            let proto = m["protocol"].as_str().unwrap();
            assert!(eml.contains(&format!("_{proto}_{}", m["id"].as_str().unwrap())));
            got.push(sha(&bytes));
            for a in m["attachments"].as_array().unwrap() {
                let p = a["path"].as_str().expect("attachment written");
                let data = fs::read(dir.join(p)).unwrap();
                assert_eq!(sha(&data), a["sha256"].as_str().unwrap());
                assert_eq!(data.len() as u64, a["size"].as_u64().unwrap());
                got_att.push((a["filename"].as_str().unwrap().to_string(), sha(&data)));
                attachments_seen += 1;
            }
        }
        assert_eq!(got, want, "{file}");
        assert_eq!(got_att, want_att, "{file}");
    }
    assert!(attachments_seen >= 4, "{attachments_seen}");
    // The GBK message is named from its decoded subject; attachments keep their names.
    let gbk = msgs
        .iter()
        .find(|m| {
            m["capture"]
                .as_str()
                .unwrap()
                .ends_with("smtp-gbk-attachment.pcap")
        })
        .unwrap();
    let eml = gbk["eml"].as_str().unwrap();
    assert!(eml.ends_with("_smtp_s1-m1_测试邮件主题.eml"), "{eml}");
    let stem = eml.strip_suffix(".eml").unwrap();
    assert!(dir.join(stem).join("报告-2025.txt").is_file());
    assert!(dir.join(stem).join("数据表.csv").is_file());
    assert!(dir.join(stem).join("report.bin").is_file());
    // Session context in the index.
    assert_eq!(gbk["session"], "s1");
    assert_eq!(gbk["server"]["port"], 25);
    assert_eq!(gbk["message_id"], "<gbk-attach-1@sample.test>");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("attachments written to"), "{stdout}");
}

#[test]
fn a_second_run_refuses_without_force_and_rewrites_with_it() {
    let dir = fresh("second-run");
    let files = ["smtp-gbk-attachment.pcap", "smtp-two-messages.pcap"];
    assert_eq!(run_extract(&dir, &[], &files).status.code(), Some(0));
    let before = tree(&dir);
    let eml = index(&dir)["messages"][0]["eml"]
        .as_str()
        .unwrap()
        .to_string();
    // Mark a file to see whether it is touched.
    fs::write(dir.join(&eml), b"edited by the user").unwrap();
    let out = run_extract(&dir, &[], &files);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("already exists") && err.contains("--force"),
        "{err}"
    );
    assert_eq!(tree(&dir), before);
    assert_eq!(fs::read(dir.join(&eml)).unwrap(), b"edited by the user");
    // A different capture into the same directory still conflicts on index.json.
    let out = run_extract(&dir, &[], &["pop3-user-pass.pcap"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(tree(&dir), before);
    // --force rewrites the same names with the right bytes.
    let out = run_extract(&dir, &["--force"], &files);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(tree(&dir), before);
    let m = &index(&dir)["messages"][0];
    assert_eq!(
        sha(&fs::read(dir.join(&eml)).unwrap()),
        m["sha256"].as_str().unwrap()
    );
}

#[cfg(unix)]
#[test]
fn planted_symlinks_are_never_followed() {
    use std::os::unix::fs::symlink;
    let base = fresh("symlink");
    let files = ["smtp-gbk-attachment.pcap"];
    // Learn the names from a clean run.
    let clean = base.join("clean");
    assert_eq!(run_extract(&clean, &[], &files).status.code(), Some(0));
    let eml = index(&clean)["messages"][0]["eml"]
        .as_str()
        .unwrap()
        .to_string();
    let stem = eml.strip_suffix(".eml").unwrap().to_string();

    let victim = base.join("victim.txt");
    fs::write(&victim, b"precious").unwrap();
    let victim_dir = base.join("victim-dir");
    fs::create_dir(&victim_dir).unwrap();
    let dir = base.join("out");
    fs::create_dir(&dir).unwrap();
    symlink(&victim, dir.join(&eml)).unwrap();
    symlink(&victim, dir.join("index.json")).unwrap();
    symlink(&victim_dir, dir.join(&stem)).unwrap();

    let out = run_extract(&dir, &[], &files);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(fs::read(&victim).unwrap(), b"precious");
    assert_eq!(fs::read_dir(&victim_dir).unwrap().count(), 0);

    // Even with --force the links are replaced, not written through.
    let out = run_extract(&dir, &["--force"], &files);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::read(&victim).unwrap(), b"precious");
    assert_eq!(fs::read_dir(&victim_dir).unwrap().count(), 0);
    assert_eq!(tree(&dir), tree(&clean));
    assert_eq!(
        fs::read(dir.join(&eml)).unwrap(),
        fs::read(clean.join(&eml)).unwrap()
    );
}

#[test]
fn usage_and_unreadable_captures() {
    let dir = fresh("exit-codes");
    assert_eq!(
        pcapmail(&["extract", &sample("smtp-bdat.pcap")])
            .status
            .code(),
        Some(2)
    );
    let out_dir = dir.join("never");
    let out = pcapmail(&[
        "extract",
        "-o",
        out_dir.to_str().unwrap(),
        "/nonexistent/x.pcap",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!out_dir.exists());
}

fn gbk_report() -> Report {
    let path = common::sample("smtp-gbk-attachment.pcap");
    let (report, failures) = pcapmail::analysis::analyze(&[&path], &Default::default());
    assert!(failures.is_empty());
    report
}

fn attachment(name: Option<&str>, data: &[u8]) -> Attachment {
    Attachment {
        filename: name.map(String::from),
        content_type: "application/octet-stream".into(),
        size: data.len() as u64,
        sha256: sha(data),
        data: Some(Arc::new(data.to_vec())),
        container: None,
    }
}

#[test]
fn hostile_names_stay_inside_dir_with_safe_names() {
    let base = fresh("hostile");
    let dir = base.join("out");
    let mut report = gbk_report();
    let long = "n".repeat(5000);
    let names: Vec<Option<&str>> = vec![
        Some("../../x"),
        Some("/etc/passwd"),
        Some("CON"),
        Some("con"),
        Some(&long),
        Some("a\x1b[31m\r\nb\u{202e}txt.exe"),
        None,
        Some(""),
        Some(".."),
        Some("report.bin"),
        Some("report.bin"),
        Some("..\\..\\boot.ini"),
        Some(".hidden. "),
    ];
    let m = &mut report.messages[0];
    m.headers.subject = Some("../../../etc/evil\x07 Subject/with\\slashes".into());
    m.attachments = names
        .iter()
        .enumerate()
        .map(|(i, n)| attachment(*n, format!("content {i}").as_bytes()))
        .collect();
    let outcome = extract::extract(&report, &dir, &ExtractOptions::default()).unwrap();
    assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);
    assert_eq!(outcome.attachments_written, names.len());
    // Nothing was created beside DIR.
    let beside: Vec<_> = fs::read_dir(&base).unwrap().map(|e| e.unwrap()).collect();
    assert_eq!(beside.len(), 1);
    let entry = &outcome.index.messages[0];
    let eml = entry.eml.clone().unwrap();
    assert!(
        eml.ends_with("_smtp_s1-m1_etc-evil-Subject-with-slashes.eml"),
        "{eml}"
    );
    let paths: Vec<String> = entry
        .attachments
        .iter()
        .map(|a| a.path.clone().unwrap())
        .collect();
    let stem = eml.strip_suffix(".eml").unwrap();
    let files: Vec<&str> = paths
        .iter()
        .map(|p| p.strip_prefix(&format!("{stem}/")).unwrap())
        .collect();
    assert_eq!(files[0], "x");
    assert_eq!(files[1], "etc_passwd");
    assert_eq!(files[2], "_CON");
    assert_eq!(files[3], "_con-2");
    assert_eq!(files[4], "n".repeat(100));
    assert_eq!(files[5], "a_[31m__b_txt.exe");
    assert_eq!(files[6], "attachment-7");
    assert_eq!(files[7], "attachment-8");
    assert_eq!(files[8], "attachment-9");
    assert_eq!(files[9], "report.bin");
    assert_eq!(files[10], "report-2.bin");
    assert_eq!(files[11], "boot.ini");
    assert_eq!(files[12], "hidden");
    let all = tree(&dir);
    for (i, p) in paths.iter().enumerate() {
        assert!(all.contains(p), "{p}");
        assert_eq!(
            sha(&fs::read(dir.join(p)).unwrap()),
            entry.attachments[i].sha256
        );
    }
    for name in &all {
        for part in name.split('/') {
            assert!(part.len() <= 100, "{part}");
            assert!(!part.starts_with('.'), "{part}");
            assert!(!part.chars().any(|c| c.is_control()), "{part:?}");
        }
    }
    // The index records the original names.
    let idx = index(&dir);
    assert_eq!(idx["messages"][0]["attachments"][0]["filename"], "../../x");
}

#[test]
fn messages_whose_bytes_were_not_kept_are_reported_not_written() {
    // Keep at most 1000 bytes of a message in memory and no temporary file (as when none
    // can be written): the 3.6 MB POP3 message is hashed but its bytes are not kept.
    let mut cfg = pcapmail::analysis::Config::default();
    cfg.pop3.message.keep_bytes = 1000;
    cfg.pop3.message.spill = false;
    let path = common::sample("pop3-large.pcap.gz");
    let (report, failures) = pcapmail::analysis::analyze(&[&path], &cfg);
    assert!(failures.is_empty());
    assert_eq!(report.messages.len(), 1);
    assert!(report.messages[0].data.is_none());
    let dir = fresh("not-kept").join("out");
    let outcome = extract::extract(&report, &dir, &ExtractOptions::default()).unwrap();
    assert_eq!(outcome.messages_written, 0);
    assert_eq!(outcome.warnings.len(), 1);
    assert!(
        outcome.warnings[0].contains("not kept"),
        "{:?}",
        outcome.warnings
    );
    let idx = index(&dir);
    let m = &idx["messages"][0];
    assert!(m["eml"].is_null());
    assert!(m["note"].as_str().unwrap().contains("in-memory bound"));
    assert_eq!(m["sha256"], report.messages[0].sha256.as_str());
    // MIME decoding is streamed over the whole message, not over the kept copy, so its
    // attachment is still found and written.
    assert_eq!(
        tree(&dir),
        BTreeSet::from([
            "20261125T131002Z_pop3_s1-m1_Large-message-for-POP3-RETR".to_string(),
            "20261125T131002Z_pop3_s1-m1_Large-message-for-POP3-RETR/pattern.bin".to_string(),
            "index.json".to_string()
        ])
    );

    // A message not kept whose attachments were: they still get a folder.
    let mut report = gbk_report();
    report.messages[0].data = None;
    let dir = fresh("not-kept-attachments").join("out");
    let outcome = extract::extract(&report, &dir, &ExtractOptions::default()).unwrap();
    assert_eq!(outcome.messages_written, 0);
    assert_eq!(outcome.attachments_written, 3);
    // The folder is named like the message would have been.
    let folder = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .expect("an attachment folder");
    assert!(folder
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .contains("_smtp_s1-m1"));
    assert!(folder.join("report.bin").is_file());
}

#[test]
fn library_refuses_existing_names_without_force() {
    let report = gbk_report();
    let dir = fresh("lib-exists").join("out");
    extract::extract(&report, &dir, &ExtractOptions::default()).unwrap();
    match extract::extract(&report, &dir, &ExtractOptions::default()) {
        Err(ExtractError::Exists(p)) => assert!(p.starts_with(&dir)),
        other => panic!("{other:?}"),
    }
    extract::extract(&report, &dir, &ExtractOptions { force: true }).unwrap();
}

/// A message larger than `--max-message-memory` is not held in memory, yet extracted whole
/// (spilled to a temporary file as it arrives): same bytes, same SHA-256 as the wire.
#[test]
fn a_message_over_the_memory_bound_is_still_extracted_whole() {
    let dir = fresh("over-memory-bound");
    let name = "smtp-gbk-attachment.pcap";
    let out = run_extract(&dir, &["--max-message-memory", "1000"], &[name]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let idx = index(&dir);
    let m = &idx["messages"][0];
    assert!(
        m["size"].as_u64().unwrap() > 1000,
        "the sample must be over the bound"
    );
    assert!(m["note"].is_null(), "{m}");
    let eml = fs::read(dir.join(m["eml"].as_str().unwrap())).unwrap();
    assert_eq!(eml.len() as u64, m["size"].as_u64().unwrap());
    assert_eq!(sha(&eml), m["sha256"].as_str().unwrap());
    // The same as with the default bound, byte for byte.
    let dflt = fresh("over-memory-bound-default");
    assert!(run_extract(&dflt, &[], &[name]).status.success());
    let m2 = &index(&dflt)["messages"][0];
    assert_eq!(
        fs::read(dflt.join(m2["eml"].as_str().unwrap())).unwrap(),
        eml
    );
}
