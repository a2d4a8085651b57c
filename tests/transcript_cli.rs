//! `pcapmail transcript`: text and JSON, session selection, stream order.

mod common;

use serde_json::Value;
use std::process::{Command, Output};

fn pcapmail(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pcapmail"))
        .args(args)
        .output()
        .unwrap()
}

fn sample(name: &str) -> String {
    common::sample(name).display().to_string()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn text_transcript_marks_sides_decodes_auth_and_elides_bodies() {
    let out = pcapmail(&["transcript", &sample("smtp-auth-login.pcap")]);
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    assert!(text.contains("S: 220 "), "{text}");
    assert!(text.contains("C: ehlo "), "{text}");
    assert!(text.contains("[base64: \"Username:\"]"), "{text}");
    assert!(text.contains("[base64: \"ana@sample.test\"]"), "{text}");
    assert!(text.contains("[base64: \"Ana-pw-1!\"]"), "{text}");
    assert!(text.contains("--full shows it]"), "{text}");
    let full = stdout(&pcapmail(&[
        "transcript",
        "--full",
        &sample("smtp-auth-login.pcap"),
    ]));
    assert!(full.contains("│ Subject: "), "{full}");
    assert!(full.lines().count() > text.lines().count());
}

#[test]
fn starttls_and_session_selection() {
    let f = sample("smtp-starttls.pcap");
    let text = stdout(&pcapmail(&["transcript", &f]));
    assert!(text.contains("C: STARTTLS"), "{text}");
    assert!(text.contains("[TLS from here on: "), "{text}");
    let two = [
        sample("smtp-auth-login.pcap"),
        sample("pop3-user-pass.pcap"),
    ];
    let out = pcapmail(&["transcript", "--session", "s2", &two[0], &two[1]]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(text.starts_with("Session s2 · POP3"), "{text}");
    assert!(!text.contains("Session s1"), "{text}");
}

#[test]
fn unknown_session_is_a_usage_error() {
    let out = pcapmail(&[
        "transcript",
        "--session",
        "s9",
        &sample("smtp-auth-login.pcap"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no session s9") && err.contains("s1"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn json_transcript_parses_and_is_in_stream_order() {
    for name in [
        "smtp-pipelining.pcap",
        "smtp-starttls.pcap",
        "pop3-user-pass.pcap",
        "smtp-auth-plain.pcap",
    ] {
        let f = sample(name);
        let out = pcapmail(&["transcript", "--format", "json", &f]);
        assert_eq!(out.status.code(), Some(0));
        let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(doc["schema"], "pcapmail-transcript/1");
        // The same dialogue as the library's model, entry by entry, in the same order.
        let (report, _) = pcapmail::analysis::analyze(
            &[common::sample(name).as_path()],
            &pcapmail::analysis::Config::default(),
        );
        let sessions = doc["sessions"].as_array().unwrap();
        assert_eq!(sessions.len(), report.sessions.len());
        for (js, s) in sessions.iter().zip(&report.sessions) {
            assert_eq!(js["id"], s.id.as_str());
            let entries = js["dialogue"].as_array().unwrap();
            assert_eq!(entries.len(), s.dialogue.len());
            let mut last_frame = 0;
            for (j, e) in entries.iter().zip(&s.dialogue) {
                assert_eq!(j["frame"], e.frame);
                assert!(matches!(j["from"].as_str(), Some("client" | "server")));
                assert!(j["time"].as_str().unwrap().ends_with('Z'));
                match &e.event {
                    pcapmail::model::DialogueEvent::Line { line } => {
                        assert_eq!(
                            (j["kind"].as_str(), j["line"].as_str()),
                            (Some("line"), Some(line.as_str()))
                        )
                    }
                    pcapmail::model::DialogueEvent::Body { .. } => assert_eq!(j["kind"], "body"),
                    pcapmail::model::DialogueEvent::Gap { .. } => assert_eq!(j["kind"], "gap"),
                    pcapmail::model::DialogueEvent::Tls { .. } => assert_eq!(j["kind"], "tls"),
                    pcapmail::model::DialogueEvent::Literal { .. } => {
                        assert_eq!(j["kind"], "literal")
                    }
                }
                // Frames never go backwards in these clean captures.
                let f = j["frame"].as_u64().unwrap();
                assert!(f >= last_frame, "{name}: frame {f} after {last_frame}");
                last_frame = f;
            }
        }
        if name == "smtp-starttls.pcap" {
            let kinds: Vec<&str> = sessions[0]["dialogue"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["kind"].as_str().unwrap())
                .collect();
            assert!(kinds.contains(&"tls"), "{kinds:?}");
        }
        if name == "smtp-auth-plain.pcap" {
            let decoded: Vec<&str> = sessions
                .iter()
                .flat_map(|s| s["dialogue"].as_array().unwrap())
                .filter_map(|e| e["decoded"].as_str())
                .collect();
            assert!(
                !decoded.is_empty() && decoded[0].starts_with('\0'),
                "{decoded:?}"
            );
        }
    }
}

#[test]
fn json_full_carries_the_message_text() {
    let out = pcapmail(&[
        "transcript",
        "--format",
        "json",
        "--full",
        &sample("smtp-two-messages.pcap"),
    ]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let bodies: Vec<&Value> = doc["sessions"][0]["dialogue"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "body")
        .collect();
    assert_eq!(bodies.len(), 2);
    for b in bodies {
        assert!(b["text"].as_str().unwrap().contains("Subject:"), "{b}");
        assert_eq!(
            b["text"].as_str().unwrap().len() as u64,
            b["bytes"].as_u64().unwrap()
        );
    }
}
