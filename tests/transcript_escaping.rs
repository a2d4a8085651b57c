//! Strings from a capture never reach the terminal raw: a subject, user name, EHLO name,
//! file name, mechanism, finding, warning or dialogue line carrying ANSI escape sequences and
//! other control characters is shown escaped in every table and in the transcript.

use pcapmail::analysis::{analyze, Config};
use pcapmail::model::{DialogueEntry, DialogueEvent, Finding, ProtocolDetail, Report, Side};
use pcapmail::report::creds::{CredsFormat, CredsSink};
use pcapmail::report::table::{self, TableOptions};
use pcapmail::report::transcript::{self, TranscriptOptions};
use std::path::Path;

const EVIL: &str = "\x1b[31mred\x1b[0m\x07bell\r\nnext\u{9b}2J\u{202e}rtl\x00nul";
const SHOWN: &str = "\\x1b[31mred\\x1b[0m\\x07bell\\r\\nnext\\x9b2J\\u{202e}rtl\\x00nul";

fn hostile_report() -> Report {
    let paths = [
        Path::new("samples/smtp-auth-login.pcap"),
        Path::new("samples/smtp-gbk-attachment.pcap"),
    ];
    let (mut r, _) = analyze(&paths, &Config::default());
    r.captures[0].path = format!("cap{EVIL}.pcap");
    r.captures[0].warnings.push(pcapmail::model::Warning {
        offset: Some(1),
        frame: None,
        message: EVIL.into(),
    });
    for s in &mut r.sessions {
        s.banner = Some(EVIL.into());
        s.close = EVIL.into();
        s.capture = EVIL.into();
        if let ProtocolDetail::Smtp(d) = &mut s.detail {
            d.helo = Some(EVIL.into());
        }
        s.findings.push(Finding {
            code: EVIL.into(),
            detail: EVIL.into(),
        });
        let first = s.dialogue[0].clone();
        s.dialogue.push(DialogueEntry {
            event: DialogueEvent::Line { line: EVIL.into() },
            from: Side::Server,
            ..first
        });
    }
    for c in &mut r.credentials {
        c.username = Some(EVIL.into());
        c.password = Some(EVIL.into());
        c.mechanism = EVIL.into();
    }
    for m in &mut r.messages {
        m.headers.subject = Some(EVIL.into());
        m.headers.from = Some(EVIL.into());
        m.mail_from = Some(EVIL.into());
        m.rcpt_to = Some(vec![EVIL.into()]);
        for a in &mut m.attachments {
            a.filename = Some(EVIL.into());
        }
        m.data = Some(std::sync::Arc::new(
            format!("Subject: {EVIL}\r\n\r\nbody\r\n").into(),
        ));
    }
    assert!(r.messages.iter().any(|m| !m.attachments.is_empty()));
    r
}

/// No control character but the line feed, and no bidi override.
fn assert_clean(text: &str, what: &str) {
    for (i, line) in text.lines().enumerate() {
        assert!(
            !line
                .chars()
                .any(|c| c.is_control() || ('\u{202a}'..='\u{202e}').contains(&c)),
            "{what}, line {}: {line:?}",
            i + 1
        );
    }
}

/// The `creds` table of a report.
fn creds_table(r: &Report, opts: TableOptions) -> String {
    let mut sink = CredsSink::new(Vec::new(), CredsFormat::Table, false, opts).unwrap();
    table::feed(&mut sink, r);
    String::from_utf8(sink.finish().unwrap()).unwrap()
}

#[test]
fn tables_escape_every_capture_string() {
    let r = hostile_report();
    for width in [None, Some(80), Some(120), Some(200)] {
        let opts = TableOptions {
            width,
            color: false,
        };
        let text = table::render(&r, &opts);
        assert_clean(&text, "table");
        // Wide enough cells show the escaped form in full (the narrow ones cut it with …).
        if width == Some(200) {
            assert!(text.contains("\\x1b[31mred"), "{text}");
        }
        // User names and passwords are whole at every width (in a table or in cards).
        assert!(text.lines().any(|l| l.contains(SHOWN)), "{text}");
        let creds = creds_table(&r, opts);
        assert_clean(&creds, "creds");
        assert!(creds.lines().any(|l| l.contains(SHOWN)), "{creds}");
        let coloured = creds_table(&r, TableOptions { width, color: true });
        assert!(!coloured.contains("\x1b[31mred") && !coloured.contains('\x07'));
    }
    // Colour adds the report's own escape sequences, and only those: the capture's are
    // still escaped.
    let text = table::render(
        &r,
        &TableOptions {
            width: Some(200),
            color: true,
        },
    );
    assert!(text.contains("\x1b["), "colour was asked for");
    assert!(!text.contains("\x1b[31mred"));
    assert!(!text.contains('\x07') && !text.contains('\u{9b}') && !text.contains('\0'));
}

#[test]
fn transcript_escapes_every_capture_string() {
    let r = hostile_report();
    let sessions: Vec<_> = r.sessions.iter().collect();
    for full in [false, true] {
        let text = transcript::render_text(&r, &sessions, &TranscriptOptions { full });
        assert_clean(&text, "transcript");
        assert!(text.contains(SHOWN), "{text}");
        if full {
            // Message content is split into lines at its line feeds.
            assert!(
                text.contains("│ Subject: \\x1b[31mred\\x1b[0m\\x07bell\n"),
                "{text}"
            );
        }
    }
}

#[test]
fn sasl_payload_decoding_escapes_the_decoded_text() {
    let mut r = hostile_report();
    let s = &mut r.sessions[0];
    let first = s.dialogue[0].clone();
    let b64 = "G1szMW1ldmlsAA=="; // "\x1b[31mevil\0"
    s.dialogue = vec![
        DialogueEntry {
            event: DialogueEvent::Line {
                line: "AUTH LOGIN".into(),
            },
            from: Side::Client,
            ..first.clone()
        },
        DialogueEntry {
            event: DialogueEvent::Line { line: b64.into() },
            from: Side::Client,
            ..first
        },
    ];
    let sessions = vec![&r.sessions[0]];
    let text = transcript::render_text(&r, &sessions, &TranscriptOptions::default());
    assert_clean(&text, "transcript");
    assert!(
        text.contains(&format!("C: {b64}   [base64: \"\\x1b[31mevil\\x00\"]")),
        "{text}"
    );
}
