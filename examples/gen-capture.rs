//! Writes a synthetic but protocol-correct Ethernet pcap of a requested size for
//! benchmarks (the generator itself is `tests/common/mailgen.rs`, shared with the tests):
//! many concurrent TCP connections in a shuffled interleaving mixing SMTP sessions (every
//! AUTH kind the dissectors know, messages with base64 attachments), POP3 sessions
//! (USER/PASS, APOP, AUTH), IMAP sessions when asked (LOGIN, AUTHENTICATE PLAIN, UID FETCH
//! of whole messages, APPEND, IDLE) and non-mail traffic (HTTP, TLS-like bulk, DNS), over
//! IPv4 and IPv6, with optional loss, reordering, duplicates and IP fragments.
//!
//! `cargo run --release --example gen-capture -- --size-mb 1024 --mail-percent 10 -o /tmp/x.pcap`
//!
//! Options: `--size-mb N` (default 100), `--mail-percent P` (10; 100 = all mail),
//! `--concurrent N` (500), `--loss P`, `--reorder P`, `--duplicate P`, `--fragment P`
//! (probabilities per data segment, default 0), `--ipv6-every N` (7; 0 = no IPv6),
//! `--max-attachment BYTES` (150000), `--protocols LIST` (mail protocols, comma-separated
//! from `smtp,pop3,imap`; default `smtp,pop3`), `--seed N` (1), `-o PATH`,
//! `--profile short` (issue 16's short sessions: all mail, attachments of 500 bytes plus up
//! to `--max-attachment` (here 2000 unless given), every SMTP session authenticates and
//! sends one message, every POP3 session makes one RETR and one TOP; options after it
//! override what it sets).

#[path = "../tests/common/mailgen.rs"]
mod mailgen;

use std::io::BufWriter;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut cfg = mailgen::GenConfig::default();
    let mut out_path = String::from("/tmp/pcapmail-gen.pcap");
    let mut i = 1;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        let bad = |what: &str| -> ! {
            eprintln!("gen-capture: bad value {v:?} for {what}");
            std::process::exit(2)
        };
        match args[i].as_str() {
            "--size-mb" => {
                cfg.size_bytes = v.parse::<u64>().unwrap_or_else(|_| bad("--size-mb")) << 20
            }
            "--mail-percent" => {
                cfg.mail_percent = v.parse().unwrap_or_else(|_| bad("--mail-percent"))
            }
            "-o" | "--out" => out_path = v,
            "--concurrent" => cfg.concurrent = v.parse().unwrap_or_else(|_| bad("--concurrent")),
            "--loss" => cfg.loss = v.parse().unwrap_or_else(|_| bad("--loss")),
            "--reorder" => cfg.reorder = v.parse().unwrap_or_else(|_| bad("--reorder")),
            "--duplicate" => cfg.duplicate = v.parse().unwrap_or_else(|_| bad("--duplicate")),
            "--fragment" => cfg.fragment = v.parse().unwrap_or_else(|_| bad("--fragment")),
            "--ipv6-every" => cfg.ipv6_every = v.parse().unwrap_or_else(|_| bad("--ipv6-every")),
            "--max-attachment" => {
                cfg.max_attachment = v.parse().unwrap_or_else(|_| bad("--max-attachment"))
            }
            "--profile" => match v.as_str() {
                "short" => {
                    cfg.short = true;
                    cfg.mail_percent = 100;
                    cfg.max_attachment = 2_000;
                }
                "default" => {}
                _ => bad("--profile"),
            },
            "--seed" => cfg.seed = v.parse().unwrap_or_else(|_| bad("--seed")),
            "--protocols" => {
                cfg.protocols = mailgen::Protocols::parse(&v).unwrap_or_else(|| bad("--protocols"))
            }
            other => {
                eprintln!(
                    "unknown argument {other}; see the doc comment of examples/gen-capture.rs"
                );
                std::process::exit(2);
            }
        }
        i += 2;
    }
    let file = std::fs::File::create(&out_path).unwrap_or_else(|e| {
        eprintln!("gen-capture: {out_path}: {e}");
        std::process::exit(1)
    });
    let st = mailgen::generate(&cfg, BufWriter::with_capacity(1 << 20, file)).unwrap_or_else(|e| {
        eprintln!("gen-capture: {out_path}: {e}");
        std::process::exit(1)
    });
    eprintln!(
        "wrote {} ({} packets, {:.1} MiB, {} connections: {} SMTP, {} POP3, {} IMAP; mail {:.1}% of the file's bytes, {:.1}% of the payload planned)",
        out_path,
        st.packets,
        st.bytes as f64 / 1048576.0,
        st.connections,
        st.smtp_sessions,
        st.pop3_sessions,
        st.imap_sessions,
        100.0 * st.mail_written as f64 / st.bytes.max(1) as f64,
        100.0 * st.mail_bytes as f64 / (st.mail_bytes + st.other_bytes).max(1) as f64
    );
}
