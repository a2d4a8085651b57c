//! Ctrl-C during a run: the binary reads an endless capture from standard input, gets
//! SIGINT, and still writes a complete JSON document with what it had read, an
//! "interrupted" warning and exit status 130.

#[path = "../scripts/adversarial/captures.rs"]
mod captures;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

#[cfg(unix)]
#[test]
fn sigint_writes_the_partial_report() {
    let mut head = Vec::new();
    captures::time_backwards(&mut head).unwrap();
    let mut flood = Vec::new();
    captures::syn_flood(&mut flood, 10_000).unwrap();
    let flood = flood[24..].to_vec();

    let mut child = Command::new(env!("CARGO_BIN_EXE_pcapmail"))
        .args(["analyze", "--format", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        if stdin.write_all(&head).is_err() {
            return;
        }
        // Endless: stops when the reader goes away (broken pipe).
        while stdin.write_all(&flood).is_ok() {}
    });
    std::thread::sleep(Duration::from_millis(1500));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("a complete JSON document");
    let warnings = doc["captures"][0]["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w["message"].as_str().unwrap().starts_with("interrupted")),
        "{warnings:?}"
    );
    // The session read before the interruption is there, credentials included.
    assert_eq!(doc["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(doc["credentials"][0]["username"], "alice");
    assert!(
        doc["captures"][0]["counters"]["flow.connections"]
            .as_u64()
            .unwrap()
            > 1
    );
}
