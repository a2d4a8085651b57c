//! Hostile IMAP streams fed straight to the dissector (no capture file): an endless literal
//! (`{4294967295}`), a 10 GB APPEND in chunks, and a million tags outstanding. Each stays
//! within its bounds and the bound is counted. One binary, so the process's peak resident
//! set (VmHWM) measures exactly these streams.

use pcapmail::model::{Counters, Protocol, Side};
use pcapmail::proto::imap::{ImapConfig, ImapDissector};
use pcapmail::proto::{ChunkMeta, Dissector, EndReason, StreamConsumer};
use sha2::{Digest, Sha256};

fn meta(frame: u64) -> ChunkMeta {
    ChunkMeta {
        frame,
        ..Default::default()
    }
}

/// Peak resident set of this process in KiB (Linux), if known.
fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn logged_in(cfg: &ImapConfig) -> ImapDissector {
    let mut d = ImapDissector::new(cfg);
    d.data(Side::Server, b"* OK IMAP4rev1 ready\r\n", meta(1));
    d.data(Side::Client, b"a1 LOGIN ana pw\r\n", meta(2));
    d.data(Side::Server, b"a1 OK done\r\n", meta(3));
    d
}

#[test]
fn hostile_imap_streams_stay_bounded_and_counted() {
    let keep = 1 << 20;
    let mut cfg = ImapConfig::default();
    cfg.message.keep_bytes = keep;
    cfg.skip_dialogue = true;

    // 1. A 10 GB APPEND in 1 MB chunks (2 GB in debug builds, where it would take minutes;
    //    `cargo test --release` runs the 10 GB, PCAPMAIL_ADV_IMAP_MB sets any size): the
    //    message streams through the hash, its bytes are kept only up to `keep`, and the
    //    literal octets never reach the line parser (they hold "a9 OK" lines).
    let total: u64 = std::env::var("PCAPMAIL_ADV_IMAP_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(debug_assertions) {
            2_000
        } else {
            10_000
        })
        * 1_000_000;
    let mut d = logged_in(&cfg);
    d.data(
        Side::Client,
        format!("a2 APPEND Sent {{{total}+}}\r\n").as_bytes(),
        meta(4),
    );
    let line = b"a9 OK this line is message content, not a reply\r\n";
    let chunk: Vec<u8> = line.iter().copied().cycle().take(1_000_000).collect();
    let mut hasher = Sha256::new();
    let (mut sent, mut frame) = (0u64, 5);
    while sent < total {
        let n = (total - sent).min(chunk.len() as u64) as usize;
        d.data(Side::Client, &chunk[..n], meta(frame));
        hasher.update(&chunk[..n]);
        sent += n as u64;
        frame += 1;
    }
    d.data(Side::Client, b"\r\n", meta(frame));
    d.data(
        Side::Server,
        b"a2 OK [APPENDUID 1 7] done\r\n",
        meta(frame + 1),
    );
    d.end(EndReason::Fin, meta(frame + 2));
    let out = d.finish();
    assert_eq!(out.messages.len(), 1);
    let m = &out.messages[0];
    assert!(m.complete);
    assert_eq!((m.size, m.imap_uid), (total, Some(7)));
    assert_eq!(m.sha256, hex::encode(hasher.finalize()));
    assert!(m.data.is_none());
    assert!(m.truncated.contains(&"data".to_string()));
    assert_eq!(out.commands[1].reply.as_ref().unwrap().code, "OK");
    let mut c = Counters::new();
    out.add_counters(Protocol::Imap, &mut c);
    let huge = total > cfg.limits.huge_literal;
    assert_eq!(c.get("imap.literal_huge"), huge.then_some(&1));
    assert_eq!(c.get("message.limit.data"), Some(&1));

    // 2. An endless server literal {4294967295}: 64 MiB of it, then the capture ends. No
    //    byte is buffered (it is no FETCH body), the literal is counted unfinished.
    let mut d = logged_in(&cfg);
    d.data(Side::Client, b"a2 LIST \"\" *\r\n", meta(4));
    d.data(Side::Server, b"* LIST () \"/\" {4294967295}\r\n", meta(5));
    for i in 0..64 {
        d.data(Side::Server, &chunk, meta(6 + i));
    }
    d.end(EndReason::EndOfCapture, meta(100));
    let out = d.finish();
    let mut c = Counters::new();
    out.add_counters(Protocol::Imap, &mut c);
    assert_eq!(c.get("imap.literal_huge"), Some(&1));
    assert_eq!(c.get("imap.literal_unterminated"), Some(&1));
    // The "a9 OK" lines inside the literal answered nothing.
    assert!(out.commands[1].reply.is_none());

    // 3. A million tags outstanding, sent in 64 KiB batches: the pending queue stays at its
    //    bound (the oldest are given up and counted), the command list at its own.
    let cfg = ImapConfig::default();
    let mut d = logged_in(&cfg);
    let n = 1_000_000u64;
    let mut batch = Vec::with_capacity(1 << 16);
    let mut frame = 4;
    for i in 0..n {
        batch.extend_from_slice(format!("t{i} NOOP\r\n").as_bytes());
        if batch.len() > 60_000 {
            d.data(Side::Client, &batch, meta(frame));
            batch.clear();
            frame += 1;
        }
    }
    d.data(Side::Client, &batch, meta(frame));
    // The newest tag is still pending and gets its reply.
    d.data(
        Side::Server,
        format!("t{} OK noop\r\n", n - 1).as_bytes(),
        meta(frame + 1),
    );
    d.end(EndReason::Fin, meta(frame + 2));
    let out = d.finish();
    let limits = cfg.limits;
    assert_eq!(out.commands.len(), limits.max_commands);
    assert!(out.truncated.contains(&"commands".to_string()));
    let mut c = Counters::new();
    out.add_counters(Protocol::Imap, &mut c);
    assert_eq!(
        c.get("imap.pending_overflow"),
        Some(&(n - limits.max_pending as u64))
    );
    assert_eq!(c.get("imap.limit.commands"), Some(&1));

    if let Some(kib) = peak_rss_kib() {
        // The 10 GB literal kept at most `keep` bytes; everything else is bounded by the
        // limits. Generous: debug builds and the test harness add their own.
        assert!(kib < 400 * 1024, "peak RSS {kib} KiB");
    }
}
