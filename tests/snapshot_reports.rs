//! Snapshots of the analyze table report and of transcripts on sample captures, at a fixed
//! width and without colour (review changes with `cargo insta review`, or delete the `.snap`
//! file and re-run with `INSTA_UPDATE=always`).

use pcapmail::analysis::{analyze, Config};
use pcapmail::model::Report;
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
