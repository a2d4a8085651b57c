//! The IMAP literal framer alone: where lines end, where `{n}` literals start and how many
//! octets they take must not depend on how the stream is cut into packets. A two-sided
//! stream (records as in `pcapmail_fuzz::ops`) is fed once record by record and once with
//! every data record cut again into pieces of 1 to 64 bytes (sizes from the first input
//! byte); everything the dissector reports — commands and replies, credentials, messages
//! with their bytes, findings, anomalies — must be the same. All events carry the same
//! packet, so that only the framing is compared (which packet an overlong line's last piece
//! began in does depend on the cuts). Sessions whose transport changed (an accepted
//! STARTTLS, whose TLS check looks at a first piece that may be one byte; COMPRESS, whose
//! inflate output is parsed in buffer-sized pieces) are not compared.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pcapmail::model::Ts;
use pcapmail::model::{ProtocolDetail, Tls};
use pcapmail::proto::imap::parser;
use pcapmail::proto::imap::{ImapConfig, ImapDissector};
use pcapmail::proto::{ChunkMeta, Dissector, EndReason, SessionOutput, StreamConsumer};
use pcapmail_fuzz::Op;

fn config() -> ImapConfig {
    let mut cfg = ImapConfig::default();
    // Small bounds, so that overlong lines, cut literals and full lists are reached.
    cfg.limits.max_line = 64;
    cfg.limits.max_logical = 256;
    cfg.limits.max_kept_literal = 16;
    cfg.limits.max_literals = 4;
    cfg.limits.max_pending = 8;
    cfg.limits.max_commands = 64;
    cfg.limits.max_listing = 8;
    cfg.limits.max_messages = 16;
    cfg.limits.max_anomalies = 32;
    cfg.message.keep_bytes = 4096;
    cfg.skip_dialogue = true;
    cfg
}

/// Feeds `stream`; with `cut`, each data record in pieces of 1..=`cut` bytes.
fn run(stream: &[u8], cut: Option<(u8, usize)>) -> SessionOutput {
    let mut d = ImapDissector::new(&config());
    let meta = ChunkMeta {
        frame: 1,
        ts: Ts(1_000_000),
    };
    let mut state = cut.map_or(1, |(s, _)| u32::from(s) | 1);
    for op in pcapmail_fuzz::ops(stream) {
        match op {
            Op::Gap(side, n) => d.gap(side, n, meta),
            Op::Data(side, mut bytes) => match cut {
                None => d.data(side, bytes, meta),
                Some((_, max)) => {
                    while !bytes.is_empty() {
                        // xorshift32: piece sizes from the seed byte.
                        state ^= state << 13;
                        state ^= state >> 17;
                        state ^= state << 5;
                        let n = (1 + state as usize % max).min(bytes.len());
                        d.data(side, &bytes[..n], meta);
                        bytes = &bytes[n..];
                    }
                }
            },
        }
    }
    d.end(EndReason::Fin, meta);
    d.finish()
}

fn transport_changed(out: &SessionOutput) -> bool {
    let compressed = matches!(&out.detail, ProtocolDetail::Imap(d) if d.compressed);
    let starttls = out.commands.iter().any(|c| {
        c.verb.eq_ignore_ascii_case("STARTTLS") && c.reply.as_ref().is_some_and(|r| r.code == "OK")
    });
    compressed || starttls || out.tls != Tls::None
}

fuzz_target!(|data: &[u8]| {
    let Some((&seed, stream)) = data.split_first() else {
        return;
    };
    // The marker parser agrees with itself on every suffix it is given.
    if let Some(m) = parser::literal_marker(stream) {
        assert!(m.start < stream.len());
        assert_eq!(
            parser::literal_marker(&stream[m.start..]).map(|x| x.len),
            Some(m.len)
        );
    }
    let whole = run(stream, None);
    let max = 1 + usize::from(seed >> 2) % 64;
    let pieces = run(stream, Some((seed, max)));
    if transport_changed(&whole) || transport_changed(&pieces) {
        return;
    }
    let (a, b) = (format!("{whole:#?}"), format!("{pieces:#?}"));
    if a != b {
        let at = a
            .lines()
            .zip(b.lines())
            .position(|(x, y)| x != y)
            .unwrap_or(0);
        let show = |s: &str| {
            s.lines()
                .skip(at.saturating_sub(3))
                .take(8)
                .collect::<Vec<_>>()
                .join("\n")
        };
        panic!(
            "output depends on packet boundaries (pieces of at most {max} bytes):\nwhole:\n{}\npieces:\n{}",
            show(&a),
            show(&b)
        );
    }
});
