//! Generated IMAP traffic (the IMAP profile of tests/common/mailgen.rs) against the
//! generator's own truth: every credential (LOGIN quoted, with escapes, as a synchronizing
//! literal and as LITERAL+; AUTHENTICATE PLAIN with and without SASL-IR; failed attempts)
//! and every whole message fetched (`BODY[]` at once or in 64 KiB ranges) or appended,
//! byte-exact, over reordering, duplicates, IP fragments and IPv6, with 1 and 2 threads.

mod common;

use common::mailgen::{client_port, generate_with_truth, GenConfig, Protocols, Truth};
use pcapmail::analysis::{analyze, Config};
use pcapmail::model::{MessageDirection, Protocol};
use pcapmail::proto::mime::sha256_hex;
use std::collections::{BTreeMap, BTreeSet};

#[test]
fn generated_imap_is_read_exactly() {
    let gen = GenConfig {
        size_bytes: 8 << 20,
        mail_percent: 100,
        concurrent: 4,
        reorder: 0.01,
        duplicate: 0.01,
        fragment: 0.01,
        ipv6_every: 5,
        max_attachment: 100_000,
        seed: 11,
        protocols: Protocols {
            smtp: false,
            pop3: false,
            imap: true,
        },
        ..GenConfig::default()
    };
    let path = std::env::temp_dir().join(format!(
        "pcapmail-imap-generated-{}.pcap",
        std::process::id()
    ));
    let mut truth = Truth::default();
    let file = std::fs::File::create(&path).unwrap();
    let stats = generate_with_truth(&gen, std::io::BufWriter::new(file), Some(&mut truth)).unwrap();
    assert_eq!(stats.smtp_sessions + stats.pop3_sessions, 0);
    // Whole IMAP sessions (the last ones are cut by the size, a few are not mail).
    let finished: BTreeSet<u64> = truth
        .finished
        .iter()
        .copied()
        .filter(|n| truth.sessions.contains(n))
        .collect();
    // The generator's variety: enough whole sessions, every way of logging in, messages
    // long enough to be fetched in several ranges.
    assert!(finished.len() >= 20, "{} finished sessions", finished.len());
    let mut kinds = BTreeSet::new();
    for c in truth
        .credentials
        .iter()
        .filter(|c| finished.contains(&c.conn))
    {
        kinds.insert((c.mechanism.as_str(), c.conn % 6, c.success));
    }
    for k in 0..6 {
        let mech = if k < 4 { "IMAP-LOGIN" } else { "PLAIN" };
        assert!(kinds.contains(&(mech, k, true)), "no {mech} variant {k}");
    }
    assert!(kinds.iter().any(|k| !k.2), "no failed login");
    assert!(truth
        .messages
        .iter()
        .any(|m| finished.contains(&m.conn) && m.conn % 4 == 1 && m.data.len() > 65_536));

    let n_msgs = truth
        .messages
        .iter()
        .filter(|m| finished.contains(&m.conn))
        .count();
    eprintln!(
        "{} whole IMAP sessions of {}, {} credentials, {n_msgs} messages",
        finished.len(),
        truth.sessions.len(),
        truth
            .credentials
            .iter()
            .filter(|c| finished.contains(&c.conn))
            .count()
    );
    for threads in [1, 2] {
        let cfg = Config {
            threads,
            ..Config::default()
        };
        let (report, failures) = analyze(&[path.as_path()], &cfg);
        assert!(failures.is_empty(), "{failures:?}");
        // Sessions by client port (one connection number each).
        let mut by_port = BTreeMap::new();
        for s in &report.sessions {
            assert_eq!(s.protocol, Protocol::Imap, "session {}", s.id);
            assert_eq!(s.server.port, 143);
            by_port.insert(s.client.port, s);
        }
        for &conn in &finished {
            let ctx = format!("threads {threads}, connection {conn}");
            let s = by_port
                .get(&client_port(conn))
                .unwrap_or_else(|| panic!("{ctx}: no session"));
            assert!(s.complete, "{ctx}: session not complete");
            assert_eq!(s.gaps, 0, "{ctx}");
            assert!(s.anomalies.is_empty(), "{ctx}: {:?}", s.anomalies);
            assert!(s.truncated.is_empty(), "{ctx}: {:?}", s.truncated);

            let want: Vec<_> = truth
                .credentials
                .iter()
                .filter(|c| c.conn == conn)
                .map(|c| {
                    (
                        c.mechanism.clone(),
                        Some(c.username.clone()),
                        Some(c.password.clone()),
                        Some(c.success),
                    )
                })
                .collect();
            let got: Vec<_> = report
                .credentials
                .iter()
                .filter(|c| c.session == s.id)
                .map(|c| {
                    assert!(c.undecodable.is_empty(), "{ctx}: {:?}", c.undecodable);
                    (
                        c.mechanism.clone(),
                        c.username.clone(),
                        c.password.clone(),
                        c.success,
                    )
                })
                .collect();
            assert_eq!(got, want, "{ctx}: credentials");

            let mut want: Vec<_> = truth.messages.iter().filter(|m| m.conn == conn).collect();
            want.sort_by_key(|m| (m.appended, m.uid));
            let mut got: Vec<_> = report
                .messages
                .iter()
                .filter(|m| m.session == s.id)
                .collect();
            got.sort_by_key(|m| (m.direction == MessageDirection::Appended, m.imap_uid));
            assert_eq!(got.len(), want.len(), "{ctx}: messages");
            for (g, w) in got.iter().zip(&want) {
                let ctx = format!("{ctx}, message uid {}", w.uid);
                let dir = if w.appended {
                    MessageDirection::Appended
                } else {
                    MessageDirection::Retrieved
                };
                assert_eq!(g.direction, dir, "{ctx}");
                assert!(g.complete && !g.partial, "{ctx}: {:?}", g.missing);
                assert_eq!(g.imap_uid, Some(w.uid), "{ctx}");
                assert_eq!(g.imap_mailbox.as_deref(), Some(w.mailbox.as_str()), "{ctx}");
                assert_eq!(g.size, w.data.len() as u64, "{ctx}");
                assert_eq!(g.sha256, sha256_hex(&w.data), "{ctx}");
                let data = g.data.as_ref().expect("message bytes kept");
                assert!(data.as_slice() == w.data.as_slice(), "{ctx}: bytes differ");
                assert_eq!(g.attachments.len(), 1, "{ctx}");
            }
        }
    }
    std::fs::remove_file(&path).ok();
}
