//! Hostile captures (built by `scripts/adversarial/captures.rs`, at CI sizes) through the
//! whole pipeline or the layer they attack: nothing crashes or hangs, memory stays within
//! the configured bounds, every limit hit is counted, and what could be decoded is kept.

#[path = "../scripts/adversarial/captures.rs"]
mod captures;

use pcapmail::analysis::{analyze, analyze_file, CaptureResult, Config};
use pcapmail::capture::CaptureReader;
use pcapmail::model::Report;
use std::path::PathBuf;

/// Writes a capture into the temp directory (unique per test process and name).
fn temp_capture(name: &str, build: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> PathBuf {
    let mut v = Vec::new();
    build(&mut v).unwrap();
    let p = std::env::temp_dir().join(format!("pcapmail-adv-{}-{name}", std::process::id()));
    std::fs::write(&p, v).unwrap();
    p
}

fn run(path: &PathBuf, cfg: &Config) -> CaptureResult {
    let r = analyze_file(path, cfg, 1).unwrap();
    let _ = std::fs::remove_file(path);
    r
}

fn counter(r: &CaptureResult, name: &str) -> u64 {
    r.capture.counters.get(name).copied().unwrap_or(0)
}

#[test]
fn syn_flood_is_bounded_by_max_connections() {
    let n = 20_000;
    let p = temp_capture("flood.pcap", |w| captures::syn_flood(w, n));
    let mut cfg = Config::default();
    cfg.flow.max_connections = 1000;
    let r = run(&p, &cfg);
    assert_eq!(counter(&r, "flow.connections"), n);
    assert_eq!(counter(&r, "flow.worker_peak_entries"), 1000);
    assert_eq!(counter(&r, "flow.evicted"), n - 1000);
    // SYNs alone are not mail: nothing reported, but all counted.
    assert!(r.sessions.is_empty());
    assert_eq!(counter(&r, "sessions.not_mail"), n);
}

#[test]
fn endless_line_is_cut_and_counted() {
    let p = temp_capture("line.pcap", |w| captures::endless_line(w, 4 << 20));
    let mut cfg = Config::default();
    cfg.smtp.limits.max_line = 4096;
    let r = run(&p, &cfg);
    assert_eq!(r.sessions.len(), 1);
    let s = &r.sessions[0];
    assert_eq!(s.banner.as_deref(), Some("mx.example ESMTP"));
    assert!(s.truncated.iter().any(|t| t == "line"), "{:?}", s.truncated);
    assert!(counter(&r, "smtp.limit.line") == 1);
    assert!(
        counter(&r, "smtp.line_too_long") >= 1,
        "{:?}",
        r.capture.counters
    );
    // The command list holds the one cut line, bounded.
    assert!(s.commands.iter().all(|c| c.arg.len() <= 4096));
}

#[test]
fn endless_data_is_hashed_without_keeping_and_reported_incomplete() {
    let len = 8 << 20;
    let p = temp_capture("data.pcap", |w| captures::endless_data(w, len));
    let mut cfg = Config::default();
    cfg.smtp.message.keep_bytes = 1 << 20;
    let r = run(&p, &cfg);
    assert_eq!(r.messages.len(), 1);
    let m = &r.messages[0];
    assert!(!m.complete);
    assert!(m.data.is_none());
    assert_eq!(m.truncated, ["data"]);
    let expect: Vec<u8> = captures::endless_data_content(len).collect();
    assert_eq!(m.size, expect.len() as u64);
    assert_eq!(m.sha256, pcapmail::proto::mime::sha256_hex(&expect));
    // The headers were decoded from the kept prefix.
    assert_eq!(m.headers.subject.as_deref(), Some("endless"));
    assert_eq!(counter(&r, "message.limit.data"), 1);
    assert_eq!(counter(&r, "message.incomplete"), 1);
}

#[test]
fn base64_credential_garbage_is_kept_raw() {
    let p = temp_capture("b64.pcap", captures::b64_garbage);
    let r = run(&p, &Config::default());
    assert_eq!(r.sessions.len(), 1);
    assert_eq!(r.credentials.len(), 4, "{:#?}", r.credentials);
    for c in &r.credentials {
        assert_eq!(c.success, Some(false));
    }
    assert_eq!(r.credentials[0].undecodable, ["!!!not*base64$$$"]);
    assert!(r.sessions[0].complete);
}

#[test]
fn nested_mime_ten_thousand_deep_is_skipped_with_headers_kept() {
    for (name, msg) in [
        ("multipart", captures::nested_mime(10_000)),
        ("rfc822", captures::nested_rfc822(10_000)),
    ] {
        let p = temp_capture(&format!("mime-{name}.pcap"), |w| {
            captures::smtp_with_message(w, &msg)
        });
        let t = std::time::Instant::now();
        let r = run(&p, &Config::default());
        assert!(t.elapsed().as_secs() < 30, "{name}: {:?}", t.elapsed());
        assert_eq!(r.messages.len(), 1);
        let m = &r.messages[0];
        assert!(m.complete, "{name}");
        assert_eq!(m.truncated, ["mime-depth"], "{name}");
        assert!(
            m.headers.subject.is_some(),
            "{name}: top-level headers kept"
        );
        assert_eq!(counter(&r, "mime.limit.depth"), 1, "{name}");
        // The message itself is intact.
        assert_eq!(m.data.as_deref().map(|d| d.len()), Some(msg.len()));
    }
}

#[test]
fn mime_part_count_guard() {
    let mut msg =
        b"Subject: many\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n".to_vec();
    for i in 0..200 {
        msg.extend_from_slice(
            format!("--B\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n").as_bytes(),
        );
    }
    msg.extend_from_slice(b"--B--\r\n");
    let mut limits = pcapmail::proto::mime::MimeLimits::default();
    assert_eq!(pcapmail::proto::mime::parse(&msg, &limits).skipped, None);
    limits.max_parts = 100;
    let info = pcapmail::proto::mime::parse(&msg, &limits);
    assert_eq!(info.skipped, Some("mime-parts"));
    assert_eq!(info.headers.subject.as_deref(), Some("many"));
}

#[test]
fn pcapng_block_length_that_lies_ends_the_file_with_a_warning() {
    let bytes = captures::pcapng_lying_block(200 << 20);
    // Streamed (as from stdin or gzip): the window must not grow to the announced length.
    let mut r =
        CaptureReader::from_read("lie".into(), Box::new(std::io::Cursor::new(bytes.clone())))
            .unwrap();
    let mut n = 0;
    while r.next_packet().is_some() {
        n += 1;
    }
    assert_eq!(n, 1);
    let w = &r.summary().warnings;
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].message.contains("truncated block"), "{w:?}");
    // Too long for the limit at all: refused before any read.
    let bytes = captures::pcapng_lying_block(u32::MAX - 3);
    let mut r = CaptureReader::from_bytes("lie".into(), bytes).unwrap();
    while r.next_packet().is_some() {}
    assert!(r.summary().warnings[0].message.contains("invalid length"));
}

#[test]
fn record_longer_than_snaplen_is_counted_and_decoded() {
    let p = temp_capture("snap.pcap", captures::record_over_snaplen);
    let r = run(&p, &Config::default());
    assert!(counter(&r, "capture.caplen_over_snaplen") > 0);
    assert_eq!(r.sessions.len(), 1);
    assert!(r.sessions[0]
        .banner
        .as_deref()
        .unwrap()
        .starts_with("mx.example"));
    assert!(r.sessions[0].complete);
}

#[test]
fn gzip_bomb_reads_with_bounded_memory_and_warns() {
    // 65 MiB of zeros (the warning threshold is 64 MiB at 100:1) compress to ~65 KB.
    let zeros = 65 << 20;
    let gz = captures::gzip_bomb(zeros);
    assert!(gz.len() < 200_000, "{}", gz.len());
    let t = std::time::Instant::now();
    let mut r =
        CaptureReader::from_read("bomb".into(), Box::new(std::io::Cursor::new(gz))).unwrap();
    let mut n = 0u64;
    while let Some(p) = r.next_packet() {
        assert!(p.data.is_empty());
        n += 1;
    }
    assert_eq!(n, zeros / 16);
    let s = r.summary();
    assert!(s.gzip);
    assert!(
        s.warnings
            .iter()
            .any(|w| w.message.contains("possible decompression bomb")),
        "{:?}",
        s.warnings
    );
    assert!(t.elapsed().as_secs() < 60);
}

#[test]
fn overlapping_segments_with_conflicting_data_are_reported() {
    let p = temp_capture("overlap.pcap", captures::overlap_conflict);
    let r = run(&p, &Config::default());
    assert_eq!(counter(&r, "flow.overlap_conflicts"), 1);
    let s = &r.sessions[0];
    assert!(
        s.anomalies.iter().any(|a| a == "tcp-overlap-conflict (1)"),
        "{:?}",
        s.anomalies
    );
    // First arrival wins.
    let pcapmail::model::ProtocolDetail::Smtp(d) = &s.detail else {
        panic!()
    };
    assert_eq!(
        d.transactions[0].mail_from.as_deref(),
        Some("alice@example.org")
    );
    assert!(s.complete);
}

#[test]
fn timestamps_going_backwards_keep_the_session() {
    let p = temp_capture("time.pcap", captures::time_backwards);
    let r = run(&p, &Config::default());
    assert!(counter(&r, "capture.ts_backwards") >= 3);
    assert_eq!(r.sessions.len(), 1);
    let s = &r.sessions[0];
    assert!(s.complete);
    assert!(s.start <= s.end);
    assert_eq!(r.credentials.len(), 1);
    assert_eq!(r.credentials[0].username.as_deref(), Some("alice"));
    assert_eq!(r.credentials[0].password.as_deref(), Some("secret"));
    assert_eq!(r.credentials[0].success, Some(true));
}

/// No control character from the capture reaches the terminal: table output has none
/// (besides newlines), JSON escapes them.
#[test]
fn capture_content_cannot_steer_the_terminal() {
    let p = temp_capture("esc.pcap", captures::terminal_escapes);
    let paths = [p.as_path()];
    let (report, failures) = analyze(&paths, &Config::default());
    let _ = std::fs::remove_file(&p);
    assert!(failures.is_empty());
    assert_eq!(report.sessions.len(), 1);
    let table = pcapmail::report::table::render(
        &report,
        &pcapmail::report::table::TableOptions {
            width: None,
            color: false,
        },
    );
    let bad: Vec<char> = table
        .chars()
        .filter(|&c| (c.is_control() && c != '\n') || c == '\u{9b}')
        .collect();
    assert!(
        bad.is_empty(),
        "control characters in the table: {bad:?}\n{table}"
    );
    let json = json_of(&report);
    assert!(
        !json.bytes().any(|b| b < 0x20 && b != b'\n'),
        "raw control bytes in JSON"
    );
    assert!(!json.contains('\u{9b}'));
}

fn json_of(report: &Report) -> String {
    let mut v = Vec::new();
    pcapmail::report::json::write_document(&mut v, report).unwrap();
    String::from_utf8(v).unwrap()
}

#[test]
fn fragment_flood_is_bounded_and_counted() {
    use pcapmail::capture::LinkType;
    use pcapmail::decode::{DecodeLimits, Decoder};
    let limits = DecodeLimits::default();
    let mut dec = Decoder::new(limits);
    let payload = vec![b'z'; 1024];
    for i in 0..5000u32 {
        let mut f = captures::tcp_frame(
            [10, 1, (i >> 8) as u8, i as u8],
            1,
            [10, 0, 0, 2],
            25,
            0,
            0,
            0x18,
            &payload,
        );
        // First fragment of a datagram that never completes: more-fragments set.
        f[18..20].copy_from_slice(&(i as u16).to_be_bytes());
        f[20] = 0x20;
        f[21] = 0;
        let _ = dec.decode(LinkType::ETHERNET, &f, pcapmail::model::Ts(i as i64));
    }
    let c = dec.counters();
    assert_eq!(c.fragments, 5000);
    assert_eq!(
        c.fragment_limit_drops,
        5000 - limits.max_fragment_datagrams as u64
    );
}

#[test]
fn tls_endless_handshake_and_oversized_record_are_bounded_and_counted() {
    let len = 8 << 20;
    let p = temp_capture("tls.pcap", |w| captures::tls_endless_handshake(w, len));
    let r = run(&p, &Config::default());
    assert_eq!(r.sessions.len(), 1);
    let s = &r.sessions[0];
    assert_eq!(s.tls, pcapmail::model::Tls::Implicit);
    let info = s.tls_info.as_ref().expect("tls_info");
    // The ClientHello never completed: nothing was taken from it.
    assert_eq!(info.version, None);
    assert_eq!(info.sni, None);
    assert!(
        counter(&r, "tls.handshake_oversized") >= 1,
        "{:?}",
        r.capture.counters
    );
    assert!(
        counter(&r, "tls.bad_headers") >= 1,
        "{:?}",
        r.capture.counters
    );
    assert!(counter(&r, "tls.records") >= (len / 0x4005));
    assert!(r.credentials.is_empty() && r.messages.is_empty());
}
