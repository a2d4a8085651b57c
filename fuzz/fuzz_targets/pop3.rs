//! POP3 dissector: random byte streams and gap events in both directions.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pcapmail::proto::pop3::{Pop3Config, Pop3Dissector};
use pcapmail::proto::{ChunkMeta, Dissector, EndReason, StreamConsumer};

fuzz_target!(|data: &[u8]| {
    let mut cfg = Pop3Config::default();
    cfg.limits.max_line = 256;
    cfg.limits.max_pending = 16;
    cfg.limits.max_commands = 64;
    cfg.limits.max_dialogue = 128;
    cfg.limits.max_listing = 16;
    cfg.limits.max_listing_lines = 64;
    cfg.limits.max_credentials = 8;
    cfg.limits.max_messages = 8;
    cfg.limits.max_anomalies = 16;
    cfg.message.keep_bytes = 4096;
    cfg.tls_from_start = data.first() == Some(&0xff);
    let mut d = Pop3Dissector::new(&cfg);
    let frames = pcapmail_fuzz::feed(&mut d, data);
    d.end(
        EndReason::EndOfCapture,
        ChunkMeta {
            frame: frames + 1,
            ..Default::default()
        },
    );
    let out = d.finish();
    let _ = d.is_pop3();
    assert!(out.commands.len() <= 64);
    assert!(out.messages.len() <= 8);
});
