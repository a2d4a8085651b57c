//! Streams far larger than memory fed straight to the SMTP dissector (no capture file):
//! a 2 GiB DATA that never ends and a 256 MiB line without CRLF. One test in its own
//! binary, so the process's peak resident set (VmHWM) measures exactly these streams.

use pcapmail::model::Side;
use pcapmail::proto::smtp::{SmtpConfig, SmtpDissector};
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

fn open_session(d: &mut SmtpDissector) {
    let script: [(Side, &[u8]); 8] = [
        (Side::Server, b"220 mx.example ESMTP\r\n"),
        (Side::Client, b"EHLO c\r\n"),
        (Side::Server, b"250 mx.example\r\n"),
        (Side::Client, b"MAIL FROM:<a@example.org>\r\n"),
        (Side::Server, b"250 ok\r\n"),
        (Side::Client, b"RCPT TO:<b@example.org>\r\n"),
        (Side::Server, b"250 ok\r\n"),
        (Side::Client, b"DATA\r\n"),
    ];
    for (i, (side, bytes)) in script.iter().enumerate() {
        d.data(*side, bytes, meta(i as u64 + 1));
    }
    d.data(Side::Server, b"354 go\r\n", meta(9));
}

#[test]
fn streams_larger_than_memory_stay_bounded() {
    let keep = 1 << 20;
    let mut cfg = SmtpConfig::default();
    cfg.message.keep_bytes = keep;

    // 1. A DATA of 2 GiB that never ends: hashed as it goes, kept up to `keep`, reported
    //    incomplete. PCAPMAIL_ADV_DATA_MB overrides the size.
    let total: u64 = std::env::var("PCAPMAIL_ADV_DATA_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2048)
        << 20;
    let mut d = SmtpDissector::new(&cfg);
    open_session(&mut d);
    let mut line = vec![b'x'; 998];
    line.extend_from_slice(b"\r\n");
    let chunk: Vec<u8> = line.iter().copied().cycle().take(1000 * 1000).collect();
    let mut hasher = Sha256::new();
    let mut sent = 0u64;
    let mut frame = 10;
    while sent < total {
        let n = (total - sent).min(chunk.len() as u64) as usize;
        d.data(Side::Client, &chunk[..n], meta(frame));
        hasher.update(&chunk[..n]);
        sent += n as u64;
        frame += 1;
    }
    d.end(EndReason::EndOfCapture, meta(frame));
    let out = d.finish();
    assert_eq!(out.messages.len(), 1);
    let m = &out.messages[0];
    assert!(!m.complete);
    assert_eq!(m.size, total);
    assert_eq!(m.sha256, hex::encode(hasher.finalize()));
    assert!(m.data.is_none());
    // No empty line ever ends the header block: the streaming MIME parser keeps its first
    // 256 KiB (mime::stream::MAX_TOP_HEADER_BYTES) and counts the cut.
    assert_eq!(m.truncated, ["data", "headers"]);

    // 2. A 256 MiB line without CRLF after EHLO: handed out in pieces of max_line.
    let mut d = SmtpDissector::new(&cfg);
    d.data(Side::Server, b"220 mx.example ESMTP\r\n", meta(1));
    d.data(Side::Client, b"EHLO c\r\n", meta(2));
    let a = vec![b'A'; 1 << 20];
    for i in 0..256 {
        d.data(Side::Client, &a, meta(3 + i));
    }
    d.end(EndReason::EndOfCapture, meta(300));
    let out = d.finish();
    assert!(
        out.truncated.iter().any(|t| t == "line"),
        "{:?}",
        out.truncated
    );
    assert!(out.commands.iter().all(|c| c.arg.len() <= 64 << 10));

    // Everything above went through a 1 MB chunk buffer and the 1 MiB message copy.
    if let Some(kib) = peak_rss_kib() {
        assert!(kib < 128 << 10, "peak RSS {kib} KiB");
        eprintln!("peak RSS {kib} KiB after {total} bytes of DATA and 256 MiB of one line");
    }
}
