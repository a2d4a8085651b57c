//! Builds seed corpora for the fuzz targets in `fuzz/` from capture files (see
//! `fuzz/seeds.sh`): per-frame records for `decode`, one two-sided stream per SMTP/POP3
//! connection for `smtp`/`pop3` (the record format of `fuzz/src/lib.rs`), message bytes for
//! `mime`, and SASL exchanges for `sasl`.
//!
//! `cargo run --release --example fuzz-seeds -- OUT_DIR CAPTURE...`

use pcapmail::analysis::{analyze, Config};
use pcapmail::capture::{CaptureReader, LinkType};
use pcapmail::decode::{Decoded, Decoder};
use pcapmail::flow::{ConnInfo, ConnStats, Decision, FlowConfig, FlowTable, Handler};
use pcapmail::model::Side;
use pcapmail::proto::{ChunkMeta, EndReason, StreamConsumer};
use std::path::{Path, PathBuf};

/// Records the events of one connection in the fuzz stream format.
struct Recorder {
    proto: &'static str,
    out: Vec<u8>,
}

fn side_bit(side: Side) -> u8 {
    match side {
        Side::Client => 0,
        Side::Server => 1,
    }
}

impl StreamConsumer for Recorder {
    fn data(&mut self, from: Side, mut bytes: &[u8], _: ChunkMeta) {
        while !bytes.is_empty() {
            let n = bytes.len().min(u16::MAX as usize);
            self.out.push(side_bit(from));
            self.out.extend_from_slice(&(n as u16).to_le_bytes());
            self.out.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
        }
    }
    fn gap(&mut self, from: Side, len: u64, _: ChunkMeta) {
        self.out.push(2 | side_bit(from));
        self.out
            .extend_from_slice(&(len.min(u16::MAX as u64) as u16).to_le_bytes());
    }
    fn end(&mut self, _: EndReason, _: ChunkMeta) {}
}

struct Rec {
    streams: Vec<(&'static str, Vec<u8>)>,
}

fn proto_of(port: u16) -> Option<&'static str> {
    match port {
        25 | 587 | 2525 => Some("smtp"),
        110 => Some("pop3"),
        143 => Some("imap"),
        // Implicit TLS: the stream is TLS from its first byte.
        465 | 993 | 995 => Some("tls_record"),
        _ => None,
    }
}

impl Handler for Rec {
    type Stream = Recorder;
    fn classify(&mut self, info: &ConnInfo, _: &[u8], _: &[u8]) -> Decision<Self::Stream> {
        let (p, swap) = match (proto_of(info.server.port), proto_of(info.client.port)) {
            (Some(p), _) => (p, false),
            (None, Some(p)) if !info.handshake => (p, true),
            _ => return Decision::Ignore,
        };
        Decision::Follow {
            stream: Recorder {
                proto: p,
                out: Vec::new(),
            },
            swap,
            skip_client: 0,
            skip_server: 0,
        }
    }
    fn finished(&mut self, _: &ConnInfo, _: &ConnStats, s: Self::Stream) {
        if !s.out.is_empty() {
            self.streams.push((s.proto, s.out));
        }
    }
}

/// Index of the link type in the decode target's table.
fn link_index(l: LinkType) -> u8 {
    match l {
        LinkType::NULL => 0,
        LinkType::ETHERNET => 1,
        LinkType::RAW => 2,
        LinkType::LOOP => 3,
        LinkType::LINUX_SLL => 4,
        LinkType::IPV4 => 5,
        LinkType::IPV6 => 6,
        LinkType::LINUX_SLL2 => 7,
        _ => 8,
    }
}

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).expect("corpus directory");
    std::fs::write(d.join(name), bytes).expect("seed file");
}

fn main() {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let Some((out, captures)) = args.split_first() else {
        eprintln!("usage: fuzz-seeds OUT_DIR CAPTURE...");
        std::process::exit(2);
    };
    for (ci, cap) in captures.iter().enumerate() {
        let Ok(mut reader) = CaptureReader::open(cap) else {
            continue;
        };
        let mut decoder = Decoder::new(Default::default());
        let mut table = FlowTable::new(
            FlowConfig::default(),
            Rec {
                streams: Vec::new(),
            },
        );
        let mut frames = Vec::new();
        while let Some(p) = reader.next_packet() {
            if p.frame <= 64 {
                frames.push(link_index(p.link_type));
                let n = p.data.len().min(u16::MAX as usize);
                frames.extend_from_slice(&(n as u16).to_le_bytes());
                frames.extend_from_slice(&p.data[..n]);
            }
            let meta = ChunkMeta {
                frame: p.frame,
                ts: p.ts,
            };
            if let Decoded::Tcp(seg) = decoder.decode(p.link_type, p.data, p.ts) {
                table.packet(&seg, meta);
            }
        }
        write(out, "decode", &format!("c{ci}"), &frames);
        let (rec, _) = table.finish();
        for (si, (p, s)) in rec.streams.iter().enumerate() {
            // Large streams make slow seeds: keep the first 64 KiB.
            let s = &s[..s.len().min(64 << 10)];
            if *p == "tls_record" {
                // The target's first byte picks whether a key log is given.
                for mode in [0u8, 1] {
                    let seed = [&[mode][..], s].concat();
                    write(out, p, &format!("c{ci}-s{si}-k{mode}"), &seed);
                }
            } else {
                write(out, p, &format!("c{ci}-s{si}"), s);
            }
        }
    }
    let paths: Vec<&Path> = captures.iter().map(|p| p.as_path()).collect();
    let (report, _) = analyze(&paths, &Config::default());
    for (mi, m) in report.messages.iter().enumerate() {
        if let Some(d) = &m.data {
            write(out, "mime", &format!("m{mi}"), &d[..d.len().min(64 << 10)]);
        }
    }
    let mechs = [
        "PLAIN",
        "LOGIN",
        "CRAM-MD5",
        "XOAUTH2",
        "OAUTHBEARER",
        "DIGEST-MD5",
    ];
    for (i, c) in report.credentials.iter().enumerate() {
        let sel = mechs.iter().position(|m| *m == c.mechanism).unwrap_or(6) as u8;
        let mut seed = vec![sel];
        for u in [&c.username, &c.password, &c.token].into_iter().flatten() {
            seed.extend_from_slice(b"\n");
            seed.extend_from_slice(u.as_bytes());
        }
        write(out, "sasl", &format!("k{i}"), &seed);
    }
}
