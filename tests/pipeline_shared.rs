//! The whole pipeline over every capture in ../shared/captures: each is read without
//! failure, and its mail connections are found — at least as many SMTP and POP3 sessions as
//! the README's tshark columns (a lower bound: tshark looks at default ports only), with
//! client and server the right way round.

mod common;

use pcapmail::analysis::{analyze, Config};
use pcapmail::model::Protocol;

/// (relative path, SMTP sessions, POP3 sessions) from the README table.
fn expected(readme: &str) -> Vec<(String, usize, usize)> {
    readme
        .lines()
        .filter_map(|l| {
            let c: Vec<&str> = l.split('|').map(str::trim).collect();
            if c.len() < 8 || !c[3].contains('/') {
                return None;
            }
            Some((c[1].to_string(), c[5].parse().ok()?, c[6].parse().ok()?))
        })
        .collect()
}

#[test]
fn every_shared_capture_yields_its_mail_sessions() {
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let dir = shared.join("captures");
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    let rows = expected(&readme);
    assert!(
        rows.len() >= 30,
        "README table not parsed: {} rows",
        rows.len()
    );
    let mut problems = Vec::new();
    for (rel, smtp, pop3) in rows {
        let path = dir.join(&rel);
        let (report, failures) = analyze(&[path.as_path()], &Config::default());
        if !failures.is_empty() {
            problems.push(format!("{rel}: {:?}", failures[0].error));
            continue;
        }
        let n = |p| report.sessions.iter().filter(|s| s.protocol == p).count();
        let (our_smtp, our_pop3) = (n(Protocol::Smtp), n(Protocol::Pop3));
        if our_smtp < smtp || our_pop3 < pop3 {
            problems.push(format!(
                "{rel}: SMTP {our_smtp} (tshark {smtp}), POP3 {our_pop3} (tshark {pop3})"
            ));
        }
        for s in &report.sessions {
            // Servers listen on the well-known port, clients on an ephemeral one.
            if s.server.port > s.client.port && s.client.port < 1024 {
                problems.push(format!("{rel} {}: client/server swapped", s.id));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn redis_on_pop3_port_is_not_pop3() {
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let path = shared.join("captures/zeek/pop3/redis-50-pings.pcap");
    let (report, _) = analyze(&[path.as_path()], &Config::default());
    assert!(report.sessions.is_empty(), "{:#?}", report.sessions);
}
