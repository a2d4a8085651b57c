//! A capture split by connection across worker threads gives the single-threaded result:
//! same sessions, ids, credentials, messages and counters (except the `flow.worker_peak_*`
//! counters, sums of per-worker peaks).
//! Also the CI smoke test of the benchmark generator: a small generated capture with loss,
//! reordering, duplicates, IP fragments and IPv6 through the whole pipeline.

mod common;

use common::mailgen::{generate, GenConfig};
use pcapmail::analysis::{analyze, Config};
use std::path::{Path, PathBuf};

fn capture(name: &str, cfg: &GenConfig) -> PathBuf {
    let p = std::env::temp_dir().join(format!(
        "pcapmail-threads-{}-{name}.pcap",
        std::process::id()
    ));
    let f = std::fs::File::create(&p).unwrap();
    generate(cfg, std::io::BufWriter::new(f)).unwrap();
    p
}

/// The report as JSON without the counters that depend on the split.
fn doc(paths: &[&Path], threads: usize) -> serde_json::Value {
    doc_with(paths, threads, Config::default())
}

fn doc_with(paths: &[&Path], threads: usize, base: Config) -> serde_json::Value {
    let cfg = Config { threads, ..base };
    let (report, failures) = analyze(paths, &cfg);
    assert!(failures.is_empty());
    let mut v = serde_json::to_value(&report).unwrap();
    for c in v["captures"].as_array_mut().unwrap() {
        let counters = c["counters"].as_object_mut().unwrap();
        counters.remove("flow.worker_peak_entries");
        counters.remove("flow.worker_peak_buffered");
    }
    v
}

#[test]
fn split_by_connection_matches_single_thread() {
    let gen = GenConfig {
        size_bytes: 6 << 20,
        mail_percent: 60,
        concurrent: 300,
        loss: 0.002,
        reorder: 0.02,
        duplicate: 0.01,
        fragment: 0.02,
        ipv6_every: 5,
        max_attachment: 20_000,
        seed: 7,
        ..GenConfig::default()
    };
    let p = capture("mixed", &gen);
    let one = doc(&[&p], 1);
    let sessions = one["sessions"].as_array().unwrap();
    let creds = one["credentials"].as_array().unwrap();
    let counters = &one["captures"][0]["counters"];
    // The generator's variety reached the dissectors.
    assert!(sessions.len() > 50, "{} sessions", sessions.len());
    assert!(creds.len() > 40, "{} credentials", creds.len());
    assert!(one["messages"].as_array().unwrap().len() > 40);
    for mech in ["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2", "USER", "APOP"] {
        assert!(
            creds.iter().any(|c| c["mechanism"] == mech),
            "no {mech} credential"
        );
    }
    assert!(counters["decode.reassembled"].as_u64().unwrap() > 0);
    assert!(sessions.iter().any(|s| s["client"]["ip"]
        .as_str()
        .is_some_and(|ip| ip.contains(':'))));
    for threads in [2, 3, 8] {
        assert!(doc(&[&p], threads) == one, "{threads} threads differ");
    }
    // Idle timeouts in the middle of the capture (it spans about a second): every worker
    // runs on the capture's clock, so connections time out as in one table.
    let mut base = Config::default();
    base.flow.idle_timeout_ns = 3_000_000;
    let one = doc_with(&[&p], 1, base.clone());
    assert!(
        one["captures"][0]["counters"]["flow.timed_out"]
            .as_u64()
            .unwrap()
            > 10
    );
    assert!(
        doc_with(&[&p], 2, base) == one,
        "with timeouts, 2 threads differ"
    );
    let _ = std::fs::remove_file(&p);
}

#[test]
fn files_in_parallel_keep_their_order() {
    let a = capture(
        "a",
        &GenConfig {
            size_bytes: 2 << 20,
            mail_percent: 100,
            max_attachment: 10_000,
            seed: 3,
            ..GenConfig::default()
        },
    );
    let b = capture(
        "b",
        &GenConfig {
            size_bytes: 1 << 20,
            mail_percent: 30,
            max_attachment: 10_000,
            seed: 4,
            ..GenConfig::default()
        },
    );
    let one = doc(&[&a, &b], 1);
    assert_eq!(one["captures"].as_array().unwrap().len(), 2);
    assert!(doc(&[&a, &b], 2) == one);
    let _ = std::fs::remove_file(&a);
    let _ = std::fs::remove_file(&b);
}

/// Issue 12, item 16: `--threads` promises identical output. The peaks are sums of the
/// workers' own peaks and cannot be identical; they are the only counters that differ, and
/// their names say so (`flow.worker_peak_*`, documented in `FlowStats`).
#[test]
fn only_worker_peak_counters_depend_on_threads() {
    let gen = GenConfig {
        size_bytes: 1 << 20,
        mail_percent: 60,
        concurrent: 200,
        loss: 0.002,
        reorder: 0.05,
        duplicate: 0.01,
        fragment: 0.0,
        ipv6_every: 0,
        max_attachment: 20_000,
        seed: 12,
        ..GenConfig::default()
    };
    let p = capture("peaks", &gen);
    let counters = |threads: usize| {
        let cfg = Config {
            threads,
            ..Config::default()
        };
        let (report, failures) = analyze(&[&p], &cfg);
        assert!(failures.is_empty());
        report.captures[0].counters.clone()
    };
    let one = counters(1);
    let mut differing = std::collections::BTreeSet::new();
    for threads in [2, 4] {
        let many = counters(threads);
        let keys: std::collections::BTreeSet<&String> = one.keys().chain(many.keys()).collect();
        for k in keys {
            if one.get(k) != many.get(k) {
                differing.insert(k.clone());
            }
        }
    }
    let _ = std::fs::remove_file(&p);
    // The split really changes the peaks (the test would catch another name for them).
    assert!(!differing.is_empty());
    for k in &differing {
        assert!(
            k.starts_with("flow.worker_peak_"),
            "{k} depends on --threads"
        );
    }
}

/// A capture's run through a streaming JSON sink, the worker peaks taken out.
fn rendered(p: &Path, threads: usize, jsonl: bool, redact: bool) -> Vec<String> {
    use pcapmail::report::json::{DocumentSink, JsonlSink};
    use pcapmail::sink::Sink;
    let cfg = Config {
        threads,
        ..Config::default()
    };
    let mut out = Vec::new();
    let run = |sink: &mut dyn Sink| {
        pcapmail::analysis::run(&[p], &cfg, false, sink, &|_, _| {}).unwrap();
    };
    if jsonl {
        let mut sink = JsonlSink::new(&mut out);
        if redact {
            run(&mut pcapmail::redact::RedactSink(&mut sink));
        } else {
            run(&mut sink);
        }
    } else {
        let mut sink = DocumentSink::new().unwrap();
        if redact {
            run(&mut pcapmail::redact::RedactSink(&mut sink));
        } else {
            run(&mut sink);
        }
        sink.finish(&mut out).unwrap();
    }
    let text = String::from_utf8(out).unwrap();
    text.lines()
        .filter(|l| !l.contains("\"flow.worker_peak_"))
        .map(|l| {
            if l.starts_with("{\"type\":\"capture\"") {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                let c = v["counters"].as_object_mut().unwrap();
                c.remove("flow.worker_peak_entries");
                c.remove("flow.worker_peak_buffered");
                v.to_string()
            } else {
                l.to_string()
            }
        })
        .collect()
}

/// With several threads the JSON sinks' records are rendered on the workers before their
/// ids are known, the ids filled in as they are written: the bytes are those of one thread
/// (session, credential and message ids, SMTP transactions' message ids, redaction).
#[test]
fn records_rendered_on_workers_are_byte_identical() {
    let gen = GenConfig {
        size_bytes: 3 << 20,
        mail_percent: 70,
        concurrent: 200,
        reorder: 0.01,
        max_attachment: 8_000,
        seed: 11,
        ..GenConfig::default()
    };
    let p = capture("rendered", &gen);
    for jsonl in [false, true] {
        for redact in [false, true] {
            let one = rendered(&p, 1, jsonl, redact);
            let joined = one.join("\n");
            assert!(joined.contains("\"s1\""), "no s1");
            assert!(joined.contains("-m1\""), "no message id");
            assert!(!joined.contains('\u{e000}'), "placeholder left");
            for threads in [2, 3] {
                let many = rendered(&p, threads, jsonl, redact);
                assert_eq!(many.len(), one.len(), "jsonl {jsonl} redact {redact}");
                for (a, b) in one.iter().zip(&many) {
                    assert_eq!(a, b, "jsonl {jsonl} redact {redact} threads {threads}");
                }
            }
        }
    }
    let _ = std::fs::remove_file(&p);
}

/// The table report, the credential audit and `transcript --session`, whose sinks read
/// records that the workers built (ids filled in on the reading thread, records freed by
/// their builder).
fn summarised(p: &Path, threads: usize) -> (String, String, String, String, String) {
    use pcapmail::report::creds::{CredsFormat, CredsSink};
    use pcapmail::report::table::{TableOptions, TableSink};
    use pcapmail::report::transcript::{TranscriptFormat, TranscriptOptions, TranscriptSink};
    let cfg = Config {
        threads,
        ..Config::default()
    };
    let opts = TableOptions {
        width: Some(200),
        color: false,
    };
    let mut table = TableSink::with_limit(Some(40));
    pcapmail::analysis::run(&[p], &cfg, false, &mut table, &|_, _| {}).unwrap();
    let creds = |format: CredsFormat, all: bool| {
        let mut sink = CredsSink::new(Vec::new(), format, all, opts).unwrap();
        pcapmail::analysis::run(&[p], &cfg, false, &mut sink, &|_, _| {}).unwrap();
        String::from_utf8(sink.finish().unwrap()).unwrap()
    };
    let transcript = |format: TranscriptFormat, ids: &[&str]| {
        let mut out = Vec::new();
        let ids = ids.iter().map(|s| s.to_string()).collect();
        let mut sink = TranscriptSink::new(&mut out, format, TranscriptOptions { full: true }, ids);
        pcapmail::analysis::run(&[p], &cfg, false, &mut sink, &|_, _| {}).unwrap();
        let (unknown, _) = sink.finish().unwrap();
        format!("{unknown:?}\n{}", String::from_utf8(out).unwrap())
    };
    (
        table.render(&opts),
        creds(CredsFormat::Table, false),
        creds(CredsFormat::Jsonl, true),
        transcript(TranscriptFormat::Text, &["s3", "s12", "s99999"])
            + &transcript(TranscriptFormat::Json, &["s3", "s12", "s99999"]),
        // Whole-capture transcripts are rendered on the workers.
        transcript(TranscriptFormat::Text, &[]) + &transcript(TranscriptFormat::Json, &[]),
    )
}

#[test]
fn records_lent_to_summarising_sinks_are_the_same_for_any_thread_count() {
    let gen = GenConfig {
        size_bytes: 3 << 20,
        mail_percent: 70,
        concurrent: 200,
        max_attachment: 8_000,
        seed: 12,
        ..GenConfig::default()
    };
    let p = capture("lent", &gen);
    let one = summarised(&p, 1);
    assert!(one.0.contains("│ s1 "), "{}", one.0);
    assert!(one.2.contains("\"session\":\"s"), "{}", one.2);
    assert!(one.3.starts_with("[\"s99999\"]\n"), "{}", one.3);
    assert!(one.3.contains("s12"), "{}", one.3);
    assert!(one.4.contains("Session s40 "), "{}", one.4);
    assert!(one.4.contains("\"id\": \"s40\""), "{}", one.4);
    assert!(!format!("{one:?}").contains('\u{e000}'));
    assert!(!format!("{one:?}").contains("\\u{e000}"));
    for threads in [2, 3] {
        let many = summarised(&p, threads);
        assert_eq!(many.0, one.0, "table, {threads} threads");
        assert_eq!(many.1, one.1, "creds table, {threads} threads");
        assert_eq!(many.2, one.2, "creds jsonl, {threads} threads");
        assert_eq!(many.3, one.3, "transcript --session, {threads} threads");
        assert_eq!(many.4, one.4, "transcript, {threads} threads");
    }
    let _ = std::fs::remove_file(&p);
}
