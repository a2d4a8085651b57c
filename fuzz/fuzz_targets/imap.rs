//! IMAP dissector and its pure parsers: random two-sided byte streams with gap events
//! (literals, COMPRESS, STARTTLS and SASL reached through the seeds), and the literal
//! marker, astring tokenizer and modified UTF-7 decoder on the raw input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pcapmail::proto::imap::parser::{self, LitRef, Tokens};
use pcapmail::proto::imap::{ImapConfig, ImapDissector};
use pcapmail::proto::{ChunkMeta, Dissector, EndReason, StreamConsumer};

fuzz_target!(|data: &[u8]| {
    // The pure parsers never panic on any line.
    let _ = parser::literal_marker(data);
    let _ = parser::decode_mutf7(data);
    let _ = parser::fetch_number(data, b"UID");
    let _ = parser::requested_range(data);
    if let Some(m) = parser::literal_marker(data) {
        let _ = parser::fetch_item_before(data, m.start);
    }
    let lits = [LitRef {
        data: b"lit",
        cut: false,
    }];
    let mut t = Tokens::new(data, &lits);
    let mut n = 0;
    while t.next_token().is_some() {
        n += 1;
        assert!(n <= data.len() + 1, "tokenizer does not advance");
    }

    let mut cfg = ImapConfig::default();
    cfg.limits.max_line = 256;
    cfg.limits.max_logical = 1024;
    cfg.limits.max_kept_literal = 64;
    cfg.limits.max_literals = 4;
    cfg.limits.max_pending = 16;
    cfg.limits.max_commands = 64;
    cfg.limits.max_dialogue = 128;
    cfg.limits.max_listing = 16;
    cfg.limits.max_mailboxes = 8;
    cfg.limits.max_credentials = 8;
    cfg.limits.max_messages = 8;
    cfg.limits.max_anomalies = 16;
    cfg.message.keep_bytes = 4096;
    cfg.tls_from_start = data.first() == Some(&0xff);
    let mut d = ImapDissector::new(&cfg);
    let frames = pcapmail_fuzz::feed(&mut d, data);
    d.end(
        EndReason::EndOfCapture,
        ChunkMeta {
            frame: frames + 1,
            ..Default::default()
        },
    );
    let out = d.finish();
    let _ = d.is_imap();
    assert!(out.commands.len() <= 64);
    assert!(out.messages.len() <= 8);
    assert!(out.credentials.len() <= 8);
});
