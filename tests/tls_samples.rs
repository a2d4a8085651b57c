//! The TLS samples (samples/tls-*.pcap, recorded with real Postfix/Dovecot and real clients
//! writing key logs; truth in samples/tls-truth.json) through the TLS layer alone:
//! with their key log the plaintext holds the credentials and message bytes the clients
//! sent; without it only `tls_info` is known. This test finds where TLS starts by the bytes
//! (the ClientHello); tests/tls_analysis.rs runs the same samples through the analysis.

use pcapmail::capture::CaptureReader;
use pcapmail::decode::{Decoded, Decoder};
use pcapmail::flow::{ConnInfo, ConnStats, Decision, FlowConfig, FlowTable, Handler};
use pcapmail::model::Side;
use pcapmail::proto::{ChunkMeta, EndReason, StreamConsumer};
use pcapmail::tls::keylog::{KeyLog, KeyStore};
use pcapmail::tls::TlsSession;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

/// One connection's bytes as captured, in order.
#[derive(Default)]
struct Recorder {
    chunks: Vec<(Side, Vec<u8>, ChunkMeta)>,
}

impl StreamConsumer for Recorder {
    fn data(&mut self, from: Side, bytes: &[u8], meta: ChunkMeta) {
        self.chunks.push((from, bytes.to_vec(), meta));
    }
    fn gap(&mut self, _: Side, len: u64, _: ChunkMeta) {
        panic!("a sample capture has a gap of {len} bytes");
    }
    fn end(&mut self, _: EndReason, _: ChunkMeta) {}
}

#[derive(Default)]
struct Collect {
    done: Vec<Recorder>,
}

impl Handler for Collect {
    type Stream = Recorder;
    fn classify(&mut self, _: &ConnInfo, _: &[u8], _: &[u8]) -> Decision<Recorder> {
        Decision::Follow {
            stream: Recorder::default(),
            swap: false,
            skip_client: 0,
            skip_server: 0,
        }
    }
    fn finished(&mut self, _: &ConnInfo, _: &ConnStats, s: Recorder) {
        self.done.push(s);
    }
}

/// Plaintext per direction from the TLS layer.
#[derive(Default)]
struct Plain {
    data: [Vec<u8>; 2],
}

impl StreamConsumer for Plain {
    fn data(&mut self, from: Side, bytes: &[u8], _: ChunkMeta) {
        self.data[(from == Side::Server) as usize].extend_from_slice(bytes);
    }
    fn gap(&mut self, _: Side, len: u64, _: ChunkMeta) {
        panic!("TLS layer reported a gap of {len} bytes");
    }
    fn end(&mut self, _: EndReason, _: ChunkMeta) {}
}

/// Reads the capture; returns the connection and the key log text found in pcapng
/// Decryption Secrets Blocks.
fn read(path: &Path) -> (Recorder, Vec<u8>) {
    let mut r = CaptureReader::open(path).unwrap();
    let mut dec = Decoder::new(Default::default());
    let mut t = FlowTable::new(FlowConfig::default(), Collect::default());
    let mut secrets = Vec::new();
    while let Some(p) = r.next_packet() {
        let meta = ChunkMeta {
            frame: p.frame,
            ts: p.ts,
        };
        let (link, data, ts) = (p.link_type, p.data.to_vec(), p.ts);
        if let Decoded::Tcp(seg) = dec.decode(link, &data, ts) {
            t.packet(&seg, meta);
        }
        if let Some(s) = r.take_tls_secrets() {
            secrets.extend(s);
        }
    }
    let (mut c, _) = t.finish();
    assert_eq!(c.done.len(), 1, "{}: one connection", path.display());
    (c.done.pop().unwrap(), secrets)
}

/// Feeds the TLS part of each direction (from the ClientHello / the first handshake record
/// after it) through a TLS session.
fn run_tls(conn: &Recorder, keys: Option<KeyStore>) -> (TlsSession, Plain) {
    let mut tls = TlsSession::new(keys);
    let mut plain = Plain::default();
    let mut started = [false; 2];
    let mut cleartext = [0usize; 2];
    for (side, bytes, meta) in &conn.chunks {
        let i = (*side == Side::Server) as usize;
        let b = &bytes[..];
        if !started[i] {
            // The first chunk that starts with a handshake record starts TLS (servers answer
            // STARTTLS in a segment of their own, clients send the ClientHello alone).
            let is_tls = match side {
                Side::Client => matches!(
                    pcapmail::tls::looks_like_tls_client_hello(b),
                    pcapmail::proto::Recognition::Yes { .. }
                ),
                Side::Server => b.len() > 5 && b[0] == 22 && b[1] == 3 && b[5] == 2,
            };
            if !is_tls {
                cleartext[i] += b.len();
                continue;
            }
            started[i] = true;
        }
        tls.data(*side, b, *meta, &mut plain);
    }
    assert!(started[0] && started[1], "TLS seen in both directions");
    (tls, plain)
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// IANA names of the OpenSSL TLS 1.2 suite names used by the recorder.
fn iana(openssl: &str) -> &str {
    match openssl {
        "ECDHE-RSA-AES128-GCM-SHA256" => "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-RSA-AES256-GCM-SHA384" => "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-RSA-CHACHA20-POLY1305" => "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE-RSA-AES256-SHA" => "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
        "ECDHE-RSA-AES128-SHA256" => "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
        x => x,
    }
}

/// The message bytes of the contract between `start` and the terminating ".\r\n" line.
fn message_at(p: &[u8], start: usize) -> &[u8] {
    let end = find(&p[start..], b"\r\n.\r\n").expect("end of message") + 2;
    &p[start..start + end]
}

#[test]
fn every_tls_sample_decrypts_with_its_keys_and_gives_tls_info_without() {
    let truth: Value =
        serde_json::from_slice(&std::fs::read(samples().join("tls-truth.json")).unwrap()).unwrap();
    let truth = truth.as_object().unwrap();
    assert!(truth.len() >= 10);
    for (name, t) in truth {
        let path = samples().join(name);
        let (conn, dsb) = read(&path);
        let mut k = KeyLog::new();
        match t["keys"].as_str() {
            Some(f) => k.add_file(&samples().join(f)).unwrap(),
            None => {
                assert!(!dsb.is_empty(), "{name}: key log embedded in the pcapng");
                k.add_bytes(dsb);
            }
        }
        assert!(k.stats().indexed >= 1 && k.stats().bad == 0, "{name}");
        let s = &t["sessions"][0];

        // Without keys: facts only.
        let (tls, plain) = run_tls(&conn, None);
        let info = tls.info();
        assert!(plain.data.iter().all(|d| d.is_empty()), "{name}");
        assert!(!info.decrypted);
        let tls13 = info.version.as_deref() == Some("TLS 1.3");
        if let Some(v) = s["tls_version"].as_str() {
            assert_eq!(
                info.version.as_deref().unwrap(),
                v.replace("TLSv", "TLS "),
                "{name}"
            );
        }
        if let Some(c) = s["openssl_cipher"].as_str() {
            assert_eq!(info.cipher.as_deref().unwrap(), iana(c), "{name}");
        }
        // The certificate crossed in clear only before TLS 1.3.
        assert_eq!(info.server_certificate.is_some(), !tls13, "{name}");

        // With keys: everything.
        let (tls, plain) = run_tls(&conn, Some(KeyStore::new(k)));
        let info = tls.info();
        assert!(info.decrypted, "{name}: {:?}", tls.warnings());
        assert_eq!(tls.stats().auth_failures, 0, "{name}");
        assert!(tls.warnings().is_empty(), "{name}: {:?}", tls.warnings());
        let cert = info.server_certificate.as_ref().expect("certificate");
        assert_eq!(cert.subject, "CN=mail.sample.test");
        assert!(cert.self_signed);
        let [client, server] = &plain.data;
        let cred = &s["credentials"][0];
        let user = cred["username"].as_str().unwrap();
        let pass = cred["password"].as_str().unwrap();
        match s["protocol"].as_str().unwrap() {
            "smtp" => {
                let mut plain = Vec::from(b"\0" as &[u8]);
                plain.extend(user.as_bytes());
                plain.push(0);
                plain.extend(pass.as_bytes());
                use base64::Engine;
                let b64 = base64::engine::general_purpose::STANDARD;
                let found = find(client, b64.encode(&plain).as_bytes()).is_some()
                    || find(client, b64.encode(pass).as_bytes()).is_some();
                assert!(found, "{name}: the password crossed inside TLS");
                assert!(find(server, b"235 ").is_some(), "{name}: auth succeeded");
                let d = find(client, b"DATA\r\n")
                    .or_else(|| find(client, b"data\r\n"))
                    .unwrap()
                    + 6;
                let m = message_at(client, d);
                let want = &s["messages"][0];
                assert_eq!(m.len() as u64, want["size"].as_u64().unwrap(), "{name}");
                assert_eq!(
                    hex::encode(Sha256::digest(m)),
                    want["sha256"].as_str().unwrap()
                );
            }
            "pop3" => {
                assert!(find(client, format!("PASS {pass}\r\n").as_bytes()).is_some());
                let want = &s["messages"][0];
                let size = want["size"].as_u64().unwrap();
                let ok = format!("+OK {size} octets\r\n");
                let at = find(server, ok.as_bytes()).expect("RETR reply") + ok.len();
                let m = message_at(server, at);
                assert_eq!(
                    hex::encode(Sha256::digest(m)),
                    want["sha256"].as_str().unwrap()
                );
            }
            "imap" => {
                assert!(find(client, format!("LOGIN {user}").as_bytes()).is_some());
                assert!(find(client, pass.as_bytes()).is_some());
                assert!(find(server, b" OK ").is_some());
            }
            p => panic!("{p}"),
        }
    }
}
