//! SMTP dissector: random byte streams and gap events in both directions.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pcapmail::proto::smtp::{SmtpConfig, SmtpDissector};
use pcapmail::proto::{ChunkMeta, Dissector, EndReason, StreamConsumer};

fuzz_target!(|data: &[u8]| {
    // Small limits so that every bound is reachable with short inputs.
    let mut cfg = SmtpConfig::default();
    cfg.limits.max_line = 256;
    cfg.limits.max_commands = 64;
    cfg.limits.max_recipients = 8;
    cfg.limits.max_transactions = 8;
    cfg.limits.max_dialogue = 128;
    cfg.limits.max_pending = 16;
    cfg.limits.max_reply_lines = 16;
    cfg.message.keep_bytes = 4096;
    cfg.tls_from_start = data.first() == Some(&0xff);
    let mut d = SmtpDissector::new(&cfg);
    let frames = pcapmail_fuzz::feed(&mut d, data);
    d.end(
        EndReason::EndOfCapture,
        ChunkMeta {
            frame: frames + 1,
            ..Default::default()
        },
    );
    let out = d.finish();
    let _ = d.is_smtp();
    assert!(out.commands.len() <= 64);
});
