//! POP3 captures in ../shared/captures against Zeek's expected outputs beside them:
//! conn.log rows whose service includes pop3 are POP3 sessions for us too (same endpoints),
//! Zeek's POP3 event output (credentials) is matched, and its analyzer violations show up
//! as anomalies; where Zeek gave up (crafted LIST/RETR) we resynchronise and say so.

mod common;

use pcapmail::analysis::{analyze, Config};
use pcapmail::model::{Protocol, ProtocolDetail, Report, Tls};
use std::path::Path;

fn run(shared: &Path, rel: &str) -> Report {
    let path = shared.join("captures").join(rel);
    let (report, failures) = analyze(&[path.as_path()], &Config::default());
    assert!(failures.is_empty(), "{rel}: {failures:?}");
    report
}

fn zeek_pop3_conns(shared: &Path, rel: &str) -> Vec<(String, String, String)> {
    common::zeek_log(&shared.join("captures").join(rel))
        .into_iter()
        .filter(|r| r["service"].split(',').any(|s| s == "pop3"))
        .map(|r| {
            (
                r["id.orig_h"].clone(),
                r["id.orig_p"].clone(),
                r["id.resp_p"].clone(),
            )
        })
        .collect()
}

fn our_pop3_conns(report: &Report) -> Vec<(String, String, String)> {
    report
        .sessions
        .iter()
        .filter(|s| s.protocol == Protocol::Pop3)
        .map(|s| {
            (
                s.client.ip.to_string(),
                s.client.port.to_string(),
                s.server.port.to_string(),
            )
        })
        .collect()
}

#[test]
fn pop3_pcap_sessions_credentials_and_messages() {
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let report = run(&shared, "zeek/pop3/pop3.pcap");
    let zeek = zeek_pop3_conns(&shared, "zeek/pop3/pop3.pcap.zeek.expected.basic.conn.log");
    assert_eq!(our_pop3_conns(&report), zeek);
    let creds: Vec<_> = report
        .credentials
        .iter()
        .map(|c| {
            (
                c.mechanism.as_str(),
                c.password.as_deref(),
                c.success,
                c.frame,
            )
        })
        .collect();
    assert_eq!(
        creds,
        [
            ("PLAIN", Some("napier"), Some(false), 37),
            ("PLAIN", Some("napier123"), Some(true), 66),
            ("PLAIN", Some("napier123"), Some(true), 85),
        ]
    );
    assert!(report
        .credentials
        .iter()
        .all(|c| c.username.as_deref() == Some("digitalinvestigator@networksims.com")));
    // Three RETRs, each exactly the size the server announced in its LIST reply.
    let last = report.sessions.last().unwrap();
    let ProtocolDetail::Pop3(d) = &last.detail else {
        panic!()
    };
    assert_eq!(d.retrieved, [1, 2, 3]);
    let sizes: Vec<(u64, u64)> = report
        .messages
        .iter()
        .map(|m| (m.pop3_number.unwrap(), m.size))
        .collect();
    assert_eq!(sizes, d.list);
    assert!(report.messages.iter().all(|m| m.complete));
    let subjects: Vec<_> = report
        .messages
        .iter()
        .map(|m| m.headers.subject.clone().unwrap())
        .collect();
    assert_eq!(
        subjects,
        ["A message from 1&1 Internet", "Testing", "RE: Testing"]
    );
}

#[test]
fn crafted_list_retr_resynchronises_where_zeek_gives_up() {
    // Zeek's conn.log shows no pop3 service: its analyzer was disabled by the crafted
    // replies. We flag the lie and keep the session in sync: RETR 1 and QUIT are read.
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let report = run(&shared, "zeek/pop3/bad-list-retr-crafted.pcap");
    assert_eq!(report.sessions.len(), 1);
    let s = &report.sessions[0];
    assert!(
        s.anomalies.iter().any(|a| a.contains("not terminated")),
        "{:?}",
        s.anomalies
    );
    assert_eq!(report.messages.len(), 1);
    assert_eq!(
        report.messages[0].headers.subject.as_deref(),
        Some("Crafted email")
    );
    assert!(report.messages[0].complete);
    assert!(s.complete);
}

#[test]
fn unknown_commands_credential_and_violations() {
    // Zeek: USER zeek@zeek.org / PASS zeek, +OK; then three "unknown server command"
    // violations, which are anomalies here.
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let report = run(&shared, "zeek/pop3-unknown-commands.pcap");
    let c = &report.credentials[0];
    assert_eq!(
        (
            c.mechanism.as_str(),
            c.username.as_deref(),
            c.password.as_deref(),
            c.success
        ),
        ("USER", Some("zeek@zeek.org"), Some("zeek"), Some(true))
    );
    assert_eq!(
        report.sessions[0].banner.as_deref(),
        Some("example.com POP3-Server")
    );
    assert_eq!(
        report.sessions[0].anomalies.len(),
        3,
        "{:?}",
        report.sessions[0].anomalies
    );
}

#[test]
fn pop3_starttls_is_marked_and_not_parsed() {
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let report = run(&shared, "zeek/tls/pop3-starttls.pcap");
    let zeek = zeek_pop3_conns(
        &shared,
        "zeek/tls/pop3-starttls.pcap.zeek.expected.starttls.conn.log",
    );
    assert_eq!(our_pop3_conns(&report), zeek);
    assert_eq!(report.sessions[0].tls, Tls::Starttls);
    assert!(report.credentials.is_empty() && report.messages.is_empty());
}
