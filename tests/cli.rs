//! The command line as users and scripts see it: exit codes of docs/CLI.md, error
//! messages, standard input, JSON output, damaged captures, port options.

mod common;

use serde_json::Value;
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn pcapmail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pcapmail"))
        .args(args)
        .output()
        .unwrap()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stdout));
    })
}

fn sample(name: &str) -> String {
    common::sample(name).display().to_string()
}

#[test]
fn json_document_has_the_contract_shape() {
    let out = pcapmail(&[
        "analyze",
        "--format",
        "json",
        &sample("smtp-auth-login.pcap"),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc = json(&out);
    assert_eq!(doc["schema"], "pcapmail/1");
    assert_eq!(doc["tool"]["name"], "pcapmail");
    assert_eq!(doc["captures"][0]["format"], "pcap");
    assert_eq!(doc["captures"][0]["link_types"][0], "EN10MB");
    let s = &doc["sessions"][0];
    assert_eq!(s["protocol"], "smtp");
    assert_eq!(s["server"]["port"], 587);
    assert_eq!(s["tls"], "none");
    assert_eq!(s["transactions"][0]["mail_from"], "ana@sample.test");
    assert_eq!(s["transactions"][0]["message"], doc["messages"][0]["id"]);
    let c = &doc["credentials"][0];
    assert_eq!(
        (c["mechanism"].as_str(), c["username"].as_str()),
        (Some("LOGIN"), Some("ana@sample.test"))
    );
    assert_eq!(
        (c["password"].as_str(), c["success"].as_bool()),
        (Some("Ana-pw-1!"), Some(true))
    );
    assert!(c["time"].as_str().unwrap().ends_with('Z'));
    let codes: Vec<&str> = s["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert!(
        codes.contains(&"cleartext-auth") && codes.contains(&"cleartext-mail"),
        "{codes:?}"
    );
}

#[test]
fn jsonl_records_parse_one_by_one() {
    let out = pcapmail(&[
        "analyze",
        "--format",
        "jsonl",
        &sample("pop3-user-pass.pcap"),
    ]);
    assert_eq!(out.status.code(), Some(0));
    let types: Vec<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["type"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        types,
        // Records leave as the session ends; the capture's summary once it is read.
        ["session", "credential", "message", "message", "capture"]
    );
}

#[test]
fn standard_input_is_read_with_dash() {
    let bytes = std::fs::read(common::sample("smtp-auth-plain.pcap.gz")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pcapmail"))
        .args(["analyze", "--format", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let doc = json(&out);
    assert_eq!(doc["captures"][0]["path"], "-");
    assert_eq!(doc["captures"][0]["gzip"], true);
    assert_eq!(doc["credentials"].as_array().unwrap().len(), 2);
}

#[test]
fn missing_file_and_not_a_capture_exit_1_with_a_clear_message() {
    let out = pcapmail(&["analyze", "/nonexistent/x.pcap"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/x.pcap"), "{err}");
    let dir = std::env::temp_dir().join(format!("pcapmail-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let txt = dir.join("notes.txt");
    std::fs::write(&txt, "hello, this is not a capture\n").unwrap();
    let out = pcapmail(&["analyze", txt.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("notes.txt") && err.contains("hello"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn usage_error_exits_2() {
    assert_eq!(pcapmail(&["analyze"]).status.code(), Some(2));
    assert_eq!(
        pcapmail(&["analyze", "--format", "xml", "x"]).status.code(),
        Some(2)
    );
    assert_eq!(pcapmail(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn truncated_capture_keeps_what_was_decoded_and_warns_with_offset() {
    // Cut smtp-auth-login.pcap in the middle of a record: the session before the cut is
    // still reported (its banner, EHLO and credential), with a warning naming the offset.
    let bytes = std::fs::read(common::sample("smtp-auth-login.pcap")).unwrap();
    let dir = std::env::temp_dir().join(format!("pcapmail-trunc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cut = dir.join("cut.pcap");
    std::fs::write(&cut, &bytes[..2000]).unwrap();
    let out = pcapmail(&["analyze", "--format", "json", cut.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cut.pcap") && err.contains("offset"), "{err}");
    let doc = json(&out);
    let w = &doc["captures"][0]["warnings"][0];
    assert!(w["offset"].as_u64().unwrap() <= 2000, "{w}");
    assert_eq!(doc["sessions"][0]["complete"], false);
    assert_eq!(doc["credentials"][0]["username"], "ana@sample.test");
    // -q silences the warning on standard error, not in the document.
    let out = pcapmail(&["analyze", "-q", "--format", "json", cut.to_str().unwrap()]);
    assert!(out.stderr.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn smtp_on_an_unlisted_port_is_recognised_by_content() {
    let f = sample("smtp-port-2525.pcap");
    let out = pcapmail(&["analyze", "--format", "json", "--smtp-ports", "25", &f]);
    let doc = json(&out);
    assert_eq!(doc["sessions"][0]["protocol"], "smtp");
    assert_eq!(doc["sessions"][0]["server"]["port"], 2525);
    assert_eq!(doc["credentials"][0]["password"], "cyd#pop-3");
    let out = pcapmail(&[
        "analyze",
        "--format",
        "json",
        "--smtp-ports",
        "25",
        "--no-detect",
        &f,
    ]);
    assert_eq!(json(&out)["sessions"].as_array().unwrap().len(), 0);
}

#[test]
fn table_report_lists_sessions_credentials_and_messages() {
    let out = pcapmail(&["analyze", &sample("smtp-auth-fail-then-ok.pcap")]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in [
        "Sessions",
        "Credentials",
        "Messages",
        "LOGIN",
        "PLAIN",
        "rejected",
        "accepted",
        "ana@sample.test",
    ] {
        assert!(text.contains(needle), "{needle} missing in\n{text}");
    }
}

#[test]
fn completions_and_man_page_come_from_the_clap_definition() {
    let out = pcapmail(&["completions", "bash"]);
    assert_eq!(out.status.code(), Some(0));
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(
        script.contains("analyze") && script.contains("--hashcat"),
        "{script}"
    );
    let out = pcapmail(&["man"]);
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.contains(".TH"), "{page}");
    assert!(page.contains("transcript"), "{page}");
    assert_eq!(pcapmail(&["completions", "cmd.exe"]).status.code(), Some(2));
}

#[test]
fn color_and_width_options_shape_the_piped_table() {
    let f = sample("smtp-auth-fail-then-ok.pcap");
    // The widest line of a table or of a card's title rule (the overview's free text is not
    // fitted to the width).
    let widest = |out: &Output| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with(['┌', '│', '╞', '└', '─']))
            .map(|l| l.chars().count())
            .max()
            .unwrap()
    };
    let run = |args: &[&str], columns: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_pcapmail"));
        cmd.args(args).env_remove("NO_COLOR").env_remove("COLUMNS");
        if let Some(c) = columns {
            cmd.env("COLUMNS", c);
        }
        cmd.output().unwrap()
    };
    let plain = run(&["analyze", &f], None);
    assert!(!plain.stdout.contains(&0x1b));
    assert!(widest(&plain) > 100, "unbounded when piped");
    let coloured = run(&["analyze", "--color", "always", &f], None);
    assert!(coloured.stdout.contains(&0x1b), "--color always is ignored");
    // creds is coloured like analyze, in its table and in its cards.
    assert!(!run(&["creds", &f], None).stdout.contains(&0x1b));
    for width in ["200", "80"] {
        let creds = run(&["creds", "--color", "always", "--width", width, &f], None);
        assert!(creds.stdout.contains(&0x1b), "creds --width {width}");
    }
    let narrow = run(&["analyze", "--width", "80", &f], None);
    assert!(
        widest(&narrow) <= 80,
        "{}",
        String::from_utf8_lossy(&narrow.stdout)
    );
    let columns = run(&["creds", &f], Some("90"));
    assert!(
        widest(&columns) <= 90,
        "{}",
        String::from_utf8_lossy(&columns.stdout)
    );
    // The option wins over COLUMNS, and `--color never` over a forced colour elsewhere.
    let both = run(
        &["creds", "--width", "200", "--color", "never", &f],
        Some("90"),
    );
    assert!(widest(&both) > 90 && !both.stdout.contains(&0x1b));
}
