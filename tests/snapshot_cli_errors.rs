//! What a newcomer reads on standard error when something is wrong, and the exit codes of
//! docs/CLI.md: 0 ok (also when no mail was found), 1 a capture could not be read, 2 usage.
//! The messages are snapshots (temporary paths replaced by `<dir>`).

mod common;

use common::pcapgen;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn pcapmail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pcapmail"))
        .args(args)
        .env_remove("NO_COLOR")
        .output()
        .unwrap()
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let d = std::env::temp_dir().join(format!("pcapmail-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
    fn file(&self, name: &str, bytes: &[u8]) -> String {
        let p = self.0.join(name);
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Exit code and standard error with `dir` shown as `<dir>`.
fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let out = pcapmail(args);
    let err = String::from_utf8_lossy(&out.stderr).replace(&dir.display().to_string(), "<dir>");
    (out.status.code(), err)
}

#[test]
fn missing_file() {
    let d = TempDir::new("missing");
    let p = d.0.join("nope.pcap").display().to_string();
    let (code, err) = run(&d.0, &["analyze", &p]);
    assert_eq!(code, Some(1));
    insta::assert_snapshot!(err, @"pcapmail: <dir>/nope.pcap: no such file (check the path)");
}

#[test]
fn not_a_capture_says_what_the_first_bytes_look_like() {
    let d = TempDir::new("notcap");
    let html = d.file("page.pcap", b"<!DOCTYPE html><html>\n");
    let (code, err) = run(&d.0, &["analyze", &html]);
    assert_eq!(code, Some(1));
    insta::assert_snapshot!(err, @"pcapmail: <dir>/page.pcap: not a pcap or pcapng capture (it looks like HTML or XML text); it starts with 3c 21 44 4f 43 54 59 50 45 20 68 74 6d 6c 3e 3c |<!DOCTYPE html><|. pcapmail reads pcap and pcapng files, optionally gzip-compressed (e.g. from `tcpdump -w FILE` or Wireshark); convert other formats with `editcap -F pcapng IN OUT`");
    let zip = d.file("x.zip", b"PK\x03\x04\x14\x00\x00\x00");
    let (code, err) = run(&d.0, &["transcript", &zip]);
    assert_eq!(code, Some(1));
    assert!(err.contains("ZIP archive"), "{err}");
}

#[test]
fn permission_denied() {
    use std::os::unix::fs::PermissionsExt;
    let d = TempDir::new("perm");
    let p = d.file(
        "secret.pcap",
        &std::fs::read(common::sample("smtp-auth-login.pcap")).unwrap(),
    );
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::File::open(&p).is_ok() {
        eprintln!("notice: running as root: a mode 000 file is readable; skipping");
        return;
    }
    let (code, err) = run(&d.0, &["analyze", &p]);
    assert_eq!(code, Some(1));
    assert!(err.contains("secret.pcap: permission denied"), "{err}");
    assert!(err.contains("sudo"), "{err}");
}

#[test]
fn empty_file_and_capture_without_packets() {
    let d = TempDir::new("empty");
    let empty = d.file("empty.pcap", b"");
    let (code, err) = run(&d.0, &["analyze", &empty]);
    assert_eq!(code, Some(1));
    insta::assert_snapshot!(err, @"pcapmail: <dir>/empty.pcap: the file is empty (0 bytes): nothing was captured into it");
    let header_only = d.file("header.pcap", &pcapgen::pcap(1, false, false, &[]));
    let (code, err) = run(&d.0, &["analyze", "--format", "json", &header_only]);
    assert_eq!(code, Some(0));
    insta::assert_snapshot!(err, @"pcapmail: <dir>/header.pcap: the capture holds no packets (only its file header: the capture was stopped before the first packet, or its filter matched nothing)");
}

#[test]
fn unsupported_link_type() {
    let d = TempDir::new("link");
    let data = [0u8; 40];
    let recs = [pcapgen::Rec {
        sec: 1,
        frac: 0,
        data: &data,
        orig: None,
    }];
    let f = d.file("usb.pcap", &pcapgen::pcap(189, false, false, &recs));
    let (code, err) = run(&d.0, &["analyze", &f]);
    assert_eq!(code, Some(0));
    insta::assert_snapshot!(err, @r"
    pcapmail: warning: <dir>/usb.pcap: unsupported link type LINKTYPE_189 (189): its packets were skipped
    pcapmail: hint: supported link types are EN10MB (Ethernet), LINUX_SLL, LINUX_SLL2, RAW, IPV4, IPV6, NULL and LOOP; capture on an Ethernet or `any` interface (tcpdump -i any) to get one of them
    ");
}

/// Issue 12, item 17: a clean run that found no mail writes nothing on standard error when
/// it is not a terminal (the port hint is for a person at a terminal only; the tests' stderr
/// is a pipe). Exit status 0 either way.
#[test]
fn no_mail_found_piped_prints_nothing_on_stderr() {
    let d = TempDir::new("nomail");
    let f = common::sample("smtp-port-2525.pcap").display().to_string();
    for args in [
        &["analyze", "--smtp-ports", "25", "--no-detect", &f][..],
        &[
            "analyze",
            "--format",
            "json",
            "--smtp-ports",
            "25",
            "--no-detect",
            &f,
        ],
        &["creds", "--smtp-ports", "25", "--no-detect", &f],
        &["analyze", "-q", "--smtp-ports", "25", "--no-detect", &f],
    ] {
        let (code, err) = run(&d.0, args);
        assert_eq!((code, err.as_str()), (Some(0), ""), "{args:?}");
    }
}

#[test]
fn one_bad_capture_among_good_ones_exits_1_but_reports_the_rest() {
    let d = TempDir::new("mixed");
    let good = common::sample("smtp-auth-login.pcap").display().to_string();
    let bad = d.file("bad.pcap", b"hello");
    let out = pcapmail(&["analyze", "--format", "json", &good, &bad]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["sessions"].as_array().unwrap().len(), 1);
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["transcript"][..],
        &["transcript", "--format", "table", "x.pcap"],
        &["analyze", "--smtp-ports", "smtp", "x.pcap"],
    ] {
        let out = pcapmail(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn a_clean_piped_run_prints_nothing_on_stderr_and_no_colour() {
    let f = common::sample("smtp-auth-fail-then-ok.pcap")
        .display()
        .to_string();
    for cmd in ["analyze", "transcript"] {
        let out = pcapmail(&[cmd, &f]);
        assert_eq!(out.status.code(), Some(0));
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !out.stdout.contains(&0x1b),
            "escape sequence in piped output"
        );
    }
}

#[test]
fn output_errors_name_the_path_and_what_to_do() {
    let d = TempDir::new("outerr");
    let f = common::sample("smtp-cram-md5.pcap").display().to_string();
    // A file where the output folder should be.
    let blocker = d.file("taken", b"x");
    let (code, err) = run(&d.0, &["extract", "-o", &format!("{blocker}/out"), &f]);
    assert_eq!(code, Some(1));
    assert!(err.contains("<dir>/taken"), "{err}");
    assert!(!err.contains("os error"), "{err}");
    // An earlier run in the folder.
    let out = d.0.join("out").display().to_string();
    assert_eq!(run(&d.0, &["extract", "-o", &out, &f]).0, Some(0));
    let (code, err) = run(&d.0, &["extract", "-o", &out, &f]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("<dir>/out/") && err.contains("--force"),
        "{err}"
    );
    // The hashcat file in a folder that does not exist.
    let (code, err) = run(
        &d.0,
        &["creds", "--hashcat", &format!("{}/no/h", d.0.display()), &f],
    );
    assert_eq!(code, Some(1));
    insta::assert_snapshot!(err, @"pcapmail: cannot write the hashcat file <dir>/no/h.index.tsv: a folder on its path does not exist (create the folder first, or give another --hashcat path)");
}
