//! Snapshots of the analyze table report, of the `creds` table and of transcripts on sample
//! captures, at fixed widths and without colour (review changes with `cargo insta review`,
//! or delete the `.snap` file and re-run with `INSTA_UPDATE=always`).

use pcapmail::analysis::{analyze, Config};
use pcapmail::model::Report;
use pcapmail::report::creds::{CredsFormat, CredsSink};
use pcapmail::report::table::{self, TableOptions};
use pcapmail::report::transcript::{self, TranscriptOptions};
use std::path::Path;

/// Relative paths (the tests run in the package root) so that snapshots do not depend on
/// where the repository is checked out.
fn report(names: &[&str]) -> Report {
    let paths: Vec<String> = names.iter().map(|n| format!("samples/{n}")).collect();
    let paths: Vec<&Path> = paths.iter().map(Path::new).collect();
    let (report, failures) = analyze(&paths, &Config::default());
    assert!(failures.is_empty());
    report
}

fn table_of(names: &[&str], width: u16) -> String {
    table::render(
        &report(names),
        &TableOptions {
            width: Some(width),
            color: false,
        },
    )
}

/// The `creds` table (distinct credentials) of a report.
fn creds_of_report(report: &Report, width: Option<u16>) -> String {
    let opts = TableOptions {
        width,
        color: false,
    };
    let mut sink = CredsSink::new(Vec::new(), CredsFormat::Table, false, opts).unwrap();
    table::feed(&mut sink, report);
    String::from_utf8(sink.finish().unwrap()).unwrap()
}

fn creds_of(names: &[&str], width: u16) -> String {
    creds_of_report(&report(names), Some(width))
}

fn transcript_of(name: &str, full: bool) -> String {
    let r = report(&[name]);
    let sessions: Vec<_> = r.sessions.iter().collect();
    transcript::render_text(&r, &sessions, &TranscriptOptions { full })
}

#[test]
fn table_smtp_auth_login() {
    insta::assert_snapshot!(table_of(&["smtp-auth-login.pcap"], 120));
}

#[test]
fn table_pop3_user_pass() {
    insta::assert_snapshot!(table_of(&["pop3-user-pass.pcap"], 120));
}

#[test]
fn table_smtp_starttls() {
    insta::assert_snapshot!(table_of(&["smtp-starttls.pcap"], 120));
}

#[test]
fn table_smtp_pipelining() {
    insta::assert_snapshot!(table_of(&["smtp-pipelining.pcap"], 120));
}

#[test]
fn table_several_captures_narrow() {
    insta::assert_snapshot!(table_of(
        &[
            "smtp-auth-fail-then-ok.pcap",
            "pop3-cram-md5.pcap",
            "pop3-apop.pcap",
            "smtp-gbk-attachment.pcap"
        ],
        80
    ));
}

#[test]
fn table_no_mail() {
    let mut r = report(&["smtp-auth-login.pcap"]);
    r.sessions.clear();
    r.credentials.clear();
    r.messages.clear();
    let text = table::render(
        &r,
        &TableOptions {
            width: Some(100),
            color: false,
        },
    );
    insta::assert_snapshot!(text);
}

#[test]
fn transcript_smtp_auth_login() {
    insta::assert_snapshot!(transcript_of("smtp-auth-login.pcap", false));
}

#[test]
fn transcript_smtp_auth_login_full() {
    insta::assert_snapshot!(transcript_of("smtp-auth-login.pcap", true));
}

#[test]
fn transcript_pop3_user_pass() {
    insta::assert_snapshot!(transcript_of("pop3-user-pass.pcap", false));
}

#[test]
fn transcript_smtp_starttls() {
    insta::assert_snapshot!(transcript_of("smtp-starttls.pcap", false));
}

#[test]
fn transcript_smtp_pipelining() {
    insta::assert_snapshot!(transcript_of("smtp-pipelining.pcap", false));
}

#[test]
fn transcript_smtp_auth_plain_and_pop3_cram_md5() {
    insta::assert_snapshot!(format!(
        "{}\n{}",
        transcript_of("smtp-auth-plain.pcap", false),
        transcript_of("pop3-cram-md5.pcap", false)
    ));
}

/// Passwords, a CRAM-MD5 hash, an APOP digest, a credential seen twice, a rejected one and
/// a message whose envelope recipients are not its To header.
const MIXED: &[&str] = &[
    "smtp-auth-fail-then-ok.pcap",
    "pop3-cram-md5.pcap",
    "pop3-apop.pcap",
    "pop3-auth-plain.pcap",
    "smtp-pipelining.pcap",
];

#[test]
fn table_mixed_80() {
    insta::assert_snapshot!(table_of(MIXED, 80));
}

#[test]
fn table_mixed_120() {
    insta::assert_snapshot!(table_of(MIXED, 120));
}

#[test]
fn table_mixed_200() {
    insta::assert_snapshot!(table_of(MIXED, 200));
}

#[test]
fn creds_pop3_cram_md5_80() {
    insta::assert_snapshot!(creds_of(&["pop3-cram-md5.pcap"], 80));
}

#[test]
fn creds_mixed_80() {
    insta::assert_snapshot!(creds_of(MIXED, 80));
}

#[test]
fn creds_mixed_120() {
    insta::assert_snapshot!(creds_of(MIXED, 120));
}

#[test]
fn creds_mixed_200() {
    insta::assert_snapshot!(creds_of(MIXED, 200));
}

/// The table with plain passwords only, where it fits at 200 columns.
#[test]
fn creds_passwords_200() {
    insta::assert_snapshot!(creds_of(
        &["smtp-auth-fail-then-ok.pcap", "imap-raw-auth.pcap"],
        200
    ));
}

/// What an analyst copies off the screen: every user name and every secret (password,
/// token, hash), as the terminal shows it (escaped), is whole on one line of `analyze` and
/// of `creds` at every width, never cut nor split over lines. Also for a user name and a
/// password far wider than the terminal, and a password with spaces.
#[test]
fn every_secret_and_username_is_whole_on_one_line() {
    let mut names: Vec<String> = std::fs::read_dir("samples")
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".pcap") && !n.starts_with("tls-"))
        .collect();
    names.sort();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut r = report(&names);
    let mut long = r.credentials[0].clone();
    long.username = Some(format!(
        "{}@example.test",
        "very-long-user-name.".repeat(12)
    ));
    long.password = Some(format!("pass word {}", "0123456789".repeat(25)));
    r.credentials.push(long.clone());
    let values: Vec<String> = r
        .credentials
        .iter()
        .flat_map(|c| [&c.username, &c.password, &c.token, &c.hash])
        .flatten()
        .map(|v| pcapmail::text::escape(v).into_owned())
        .collect();
    assert!(values.iter().any(|v| v.starts_with("$cram_md5$")));
    for width in [80, 120, 200] {
        let opts = TableOptions {
            width: Some(width),
            color: false,
        };
        for (view, text) in [
            ("analyze", table::render(&r, &opts)),
            ("creds", creds_of_report(&r, Some(width))),
        ] {
            for v in &values {
                assert!(
                    text.lines().any(|l| l.contains(v.as_str())),
                    "{view} at {width} columns: {v:?} is not whole on one line:\n{text}"
                );
            }
        }
    }
}

/// The messages' `From:` and `To:` columns are the headers for every protocol; an SMTP
/// envelope that says something else is shown under them.
#[test]
fn messages_show_the_envelope_under_the_headers_when_it_differs() {
    let opts = TableOptions {
        width: Some(200),
        color: false,
    };
    let mut r = report(&["smtp-auth-login.pcap"]);
    let same = table::render(&r, &opts);
    assert!(same.contains("┆ Ana <ana@sample.test> ┆ Ben <ben@sample.test> ┆"));
    assert!(!same.contains("MAIL\u{a0}FROM") && !same.contains("RCPT\u{a0}TO"));
    let m = &mut r.messages[0];
    m.mail_from = Some(String::new());
    m.rcpt_to = Some(vec!["BEN@sample.test".into(), "hidden@sample.test".into()]);
    let text = table::render(&r, &opts);
    assert!(text.contains("MAIL\u{a0}FROM:<>"), "{text}");
    assert!(
        text.contains("RCPT\u{a0}TO:<BEN@sample.test>, <hidden@sample.test>"),
        "{text}"
    );
    // The same addresses in another case and form are the same envelope.
    let m = &mut r.messages[0];
    m.mail_from = Some("ANA@sample.test".into());
    m.rcpt_to = Some(vec!["Ben@Sample.Test".into()]);
    let text = table::render(&r, &opts);
    assert!(
        !text.contains("MAIL\u{a0}FROM") && !text.contains("RCPT\u{a0}TO"),
        "{text}"
    );
}

/// No credential: a line says so at every width (not an empty table, nor empty cards).
#[test]
fn creds_without_credentials_says_none() {
    let r = report(&["tls-pop3s-995-tls13.pcap"]);
    assert!(r.credentials.is_empty());
    for width in [None, Some(80), Some(200)] {
        let text = creds_of_report(&r, width);
        assert!(text.contains("\nCredentials (distinct): none\n"), "{text}");
    }
}
