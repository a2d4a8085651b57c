//! TLS as a transport layer between reassembly and the mail dissectors.
//!
//! [`TlsSession`] is sans-IO: it is fed one connection's TLS bytes per direction (from the
//! first byte of TLS: the ClientHello for implicit TLS, the bytes after a STARTTLS/STLS
//! answer otherwise), frames records ([`record`]), reads the handshake ([`handshake`]) into
//! a [`TlsInfo`], and, when a key log ([`keylog`]) has the session's secrets, decrypts the
//! records ([`keys`], [`decrypt`]) and hands the plaintext with the [`ChunkMeta`] of the
//! record that completed it to a [`StreamConsumer`] (the dissector), with gaps where records
//! were lost. Without keys it only collects facts.
//!
//! Key material never leaves this module: every type holding it redacts its `Debug`, and
//! warnings and counters carry no bytes of it.

pub mod decrypt;
pub mod handshake;
pub mod keylog;
pub mod keys;
pub mod record;
#[cfg(test)]
mod testdata;

use crate::model::{Side, TlsInfo};
use crate::proto::{ChunkMeta, Recognition, StreamConsumer};
use decrypt::{Decryptor, OpenError, Protection, SuiteSpec};
use handshake::{msg, ClientHello, HandshakeReader, ServerHello};
use keylog::{KeyStore, SessionSecrets};
use record::{Frame, Record, RecordFramer};

/// Smallest protected record (TLS 1.3: one byte of inner type and a 16-byte tag, plus the
/// header): bounds how many records a gap of n bytes can have swallowed.
const MIN_RECORD: u64 = 22;
/// Most sequence numbers tried after lost records.
const MAX_SEQ_SEARCH: u64 = 256;
/// Consecutive authentication failures after which a direction stops trying (a wrong key,
/// or 0-RTT data whose keys are not logged).
const MAX_AUTH_FAILURES: u32 = 4;
/// Warnings kept per session.
const MAX_WARNINGS: usize = 8;

/// Is this the start of a TLS connection (a handshake record holding a ClientHello)?
/// Ports are never trusted: this decides implicit TLS.
pub fn looks_like_tls_client_hello(b: &[u8]) -> Recognition {
    if b.is_empty() {
        return Recognition::NeedMore;
    }
    let want = [record::HANDSHAKE, 3];
    for (i, w) in want.iter().enumerate() {
        match b.get(i) {
            Some(x) if x == w => {}
            Some(_) => return Recognition::No,
            None => return Recognition::NeedMore,
        }
    }
    let Some(&minor) = b.get(2) else {
        return Recognition::NeedMore;
    };
    if minor > 4 {
        return Recognition::No;
    }
    if b.len() < 6 {
        return Recognition::NeedMore;
    }
    let len = u16::from_be_bytes([b[3], b[4]]) as usize;
    if !(4..=record::MAX_RECORD).contains(&len) || b[5] != msg::CLIENT_HELLO {
        return Recognition::No;
    }
    Recognition::Yes {
        skip_client: 0,
        skip_server: 0,
    }
}

/// Counters of one TLS session (names as in the capture counters, `tls.<name>`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TlsStats {
    /// Records framed, both directions.
    pub records: u64,
    /// Records decrypted and authenticated.
    pub decrypted: u64,
    /// Records whose tag or MAC failed (wrong key, or damage).
    pub auth_failures: u64,
    /// Protected records lost (found by the sequence-number search after a gap).
    pub records_lost: u64,
    /// Protected records left unread (no key, unsupported suite, or given up).
    pub opaque: u64,
    /// Record headers refused (length over the limit, unknown type).
    pub bad_headers: u64,
    /// Handshake messages over the size bound, skipped.
    pub handshake_oversized: u64,
    /// Bytes of plaintext delivered.
    pub plaintext_bytes: u64,
}

/// Per-direction state.
#[derive(Debug, Default)]
struct Dir {
    framer: RecordFramer,
    hs: HandshakeReader,
    /// This side's records are protected from here on.
    encrypted: bool,
    dec: Option<Decryptor>,
    /// TLS 1.2: keys to use after this side's ChangeCipherSpec.
    pending: Option<Decryptor>,
    /// Sequence numbers to try beyond the expected one (after lost records).
    search: u64,
    failures: u32,
    /// TLS 1.3: the handshake of this side is over (application keys in use).
    app_keys: bool,
}

/// One connection's TLS layer. See the module documentation.
#[derive(Debug)]
pub struct TlsSession {
    keys: Option<KeyStore>,
    dirs: [Dir; 2],
    client_hello: Option<ClientHello>,
    server_hello: Option<ServerHello>,
    spec: Option<SuiteSpec>,
    secrets: SessionSecrets,
    info: TlsInfo,
    stats: TlsStats,
    warnings: Vec<String>,
}

fn ix(s: Side) -> usize {
    match s {
        Side::Client => 0,
        Side::Server => 1,
    }
}

impl TlsSession {
    /// A session starting at the first TLS byte of each direction; `keys` is the key log
    /// to look the session's secrets up in, if any.
    pub fn new(keys: Option<KeyStore>) -> TlsSession {
        TlsSession {
            keys,
            dirs: Default::default(),
            client_hello: None,
            server_hello: None,
            spec: None,
            secrets: SessionSecrets::default(),
            info: TlsInfo::default(),
            stats: TlsStats::default(),
            warnings: Vec::new(),
        }
    }

    /// The handshake facts so far.
    pub fn info(&self) -> &TlsInfo {
        &self.info
    }

    /// Counters so far.
    pub fn stats(&self) -> TlsStats {
        let mut s = self.stats;
        for d in &self.dirs {
            s.bad_headers += d.framer.stats().bad_headers;
            s.handshake_oversized += d.hs.oversized;
        }
        s
    }

    /// Warnings (no key found, authentication failures...), at most a few per session.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Both directions can be decrypted (keys found, suite supported, no failure so far).
    pub fn decrypts(&self) -> bool {
        self.dirs
            .iter()
            .all(|d| d.dec.is_some() || d.pending.is_some())
    }

    fn warn(&mut self, w: impl Into<String>) {
        let w = w.into();
        if self.warnings.len() < MAX_WARNINGS && !self.warnings.contains(&w) {
            self.warnings.push(w);
        }
    }

    /// TLS bytes sent by `from`; plaintext found in them goes to `sink`.
    pub fn data<S: StreamConsumer + ?Sized>(
        &mut self,
        from: Side,
        bytes: &[u8],
        meta: ChunkMeta,
        sink: &mut S,
    ) {
        // The framer borrows its direction; records are handled after taking it out.
        let mut framer = std::mem::take(&mut self.dirs[ix(from)].framer);
        framer.data(bytes, meta, &mut |f| self.frame(from, f, sink));
        self.dirs[ix(from)].framer = framer;
    }

    /// `len` bytes sent by `from` were lost.
    pub fn gap<S: StreamConsumer + ?Sized>(
        &mut self,
        from: Side,
        len: u64,
        meta: ChunkMeta,
        sink: &mut S,
    ) {
        let mut framer = std::mem::take(&mut self.dirs[ix(from)].framer);
        framer.gap(len, meta, &mut |f| self.frame(from, f, sink));
        self.dirs[ix(from)].framer = framer;
    }

    fn frame<S: StreamConsumer + ?Sized>(&mut self, from: Side, f: Frame<'_>, sink: &mut S) {
        match f {
            Frame::Record(r) => self.record(from, r, sink),
            Frame::Lost { bytes, meta } => {
                let d = &mut self.dirs[ix(from)];
                d.hs.reset();
                if d.encrypted {
                    d.search = (d.search + bytes / MIN_RECORD + 1).min(MAX_SEQ_SEARCH);
                }
                if d.dec.is_some() {
                    sink.gap(from, bytes, meta);
                }
            }
        }
    }

    fn record<S: StreamConsumer + ?Sized>(&mut self, from: Side, r: Record<'_>, sink: &mut S) {
        self.stats.records += 1;
        let tls13 = self
            .server_hello
            .as_ref()
            .is_some_and(|s| s.version >= 0x0304);
        let i = ix(from);
        if !self.dirs[i].encrypted {
            match r.content_type {
                record::HANDSHAKE => self.handshake_bytes(from, r.body),
                record::CHANGE_CIPHER_SPEC if !tls13 => {
                    let d = &mut self.dirs[i];
                    d.encrypted = true;
                    d.dec = d.pending.take();
                }
                record::APPLICATION_DATA => self.stats.opaque += 1,
                _ => {}
            }
            return;
        }
        // TLS 1.3 middlebox-compatibility ChangeCipherSpec records are never protected.
        if r.content_type == record::CHANGE_CIPHER_SPEC {
            return;
        }
        let d = &mut self.dirs[i];
        let Some(dec) = d.dec.as_mut() else {
            self.stats.opaque += 1;
            return;
        };
        let search = d.search;
        match dec.open(&r.header, r.body, search) {
            Ok(o) => {
                d.failures = 0;
                d.search = 0;
                self.stats.decrypted += 1;
                self.stats.records_lost += o.skipped;
                self.info.decrypted = true;
                match o.content_type {
                    record::APPLICATION_DATA => {
                        // Straight from the decryptor's scratch: no copy per record.
                        self.stats.plaintext_bytes += o.plaintext.len() as u64;
                        if !o.plaintext.is_empty() {
                            sink.data(from, o.plaintext, r.meta);
                        }
                    }
                    record::HANDSHAKE => {
                        // Copied out: handling a handshake message may replace the decryptor.
                        let pt = o.plaintext.to_vec();
                        self.handshake_bytes(from, &pt);
                    }
                    _ => {}
                }
            }
            Err(e) => {
                self.stats.auth_failures += 1;
                d.failures += 1;
                if d.failures >= MAX_AUTH_FAILURES {
                    d.dec = None;
                }
                self.warn(match e {
                    OpenError::Auth => {
                        "TLS record authentication failed: wrong key, or damaged record"
                    }
                    OpenError::Malformed => "TLS record too short or badly padded for its cipher",
                });
            }
        }
    }

    fn handshake_bytes(&mut self, from: Side, bytes: &[u8]) {
        let mut hs = std::mem::take(&mut self.dirs[ix(from)].hs);
        let mut msgs: Vec<(u8, Vec<u8>)> = Vec::new();
        hs.push(bytes, &mut |t, b| {
            // Only the messages this layer reads are copied out.
            if matches!(
                t,
                msg::CLIENT_HELLO
                    | msg::SERVER_HELLO
                    | msg::ENCRYPTED_EXTENSIONS
                    | msg::CERTIFICATE
                    | msg::FINISHED
                    | msg::KEY_UPDATE
            ) {
                msgs.push((t, b.to_vec()));
            }
        });
        self.dirs[ix(from)].hs = hs;
        for (t, b) in msgs {
            self.handshake_message(from, t, &b);
        }
    }

    fn handshake_message(&mut self, from: Side, t: u8, body: &[u8]) {
        let tls13 = self
            .server_hello
            .as_ref()
            .is_some_and(|s| s.version >= 0x0304);
        match (from, t) {
            (Side::Client, msg::CLIENT_HELLO) => {
                if let Some(ch) = handshake::client_hello(body) {
                    self.info.sni = ch.sni.clone();
                    self.info.alpn_offered = ch.alpn.clone();
                    self.client_hello = Some(ch);
                }
            }
            (Side::Server, msg::SERVER_HELLO) => {
                let Some(sh) = handshake::server_hello(body) else {
                    return;
                };
                if sh.retry {
                    // A HelloRetryRequest: the real ServerHello follows the second
                    // ClientHello (same client random).
                    return;
                }
                self.info.version = Some(handshake::version_name(sh.version));
                self.info.cipher = Some(handshake::cipher_name(sh.cipher));
                if sh.alpn.is_some() {
                    self.info.alpn = sh.alpn.clone();
                }
                self.server_hello = Some(sh);
                self.start_protection();
            }
            (Side::Server, msg::ENCRYPTED_EXTENSIONS) => {
                if let Some(a) = handshake::encrypted_extensions_alpn(body) {
                    self.info.alpn = Some(a);
                }
            }
            (Side::Server, msg::CERTIFICATE) if self.info.server_certificate.is_none() => {
                self.info.server_certificate =
                    handshake::leaf_certificate(body, tls13).and_then(handshake::certificate_info);
            }
            (_, msg::FINISHED) if tls13 => {
                // The sender's handshake is over: its next records use application keys.
                let secret = match from {
                    Side::Client => self.secrets.client_traffic0.clone(),
                    Side::Server => self.secrets.server_traffic0.clone(),
                };
                let spec = self.spec;
                let d = &mut self.dirs[ix(from)];
                if d.app_keys {
                    return;
                }
                d.app_keys = true;
                if d.dec.is_some() {
                    d.dec = match (spec, secret) {
                        (
                            Some(SuiteSpec {
                                protection: Protection::Aead(a),
                                hash,
                            }),
                            Some(s),
                        ) => Decryptor::tls13(a, hash, &s),
                        _ => None,
                    };
                    if d.dec.is_none() {
                        self.warn("no TLS 1.3 application traffic secret in the key log");
                    }
                }
            }
            (_, msg::KEY_UPDATE) if tls13 => {
                if let Some(d) = self.dirs[ix(from)].dec.as_mut() {
                    if !d.key_update() {
                        self.dirs[ix(from)].dec = None;
                    }
                }
            }
            _ => {}
        }
    }

    /// After the ServerHello: look the keys up and set up both directions.
    fn start_protection(&mut self) {
        let (Some(ch), Some(sh)) = (&self.client_hello, &self.server_hello) else {
            return;
        };
        let tls13 = sh.version >= 0x0304;
        if tls13 {
            // Everything after the ServerHello is protected in both directions.
            for d in &mut self.dirs {
                d.encrypted = true;
            }
        }
        let Some(keys) = self.keys.as_ref().filter(|k| !k.is_empty()) else {
            return;
        };
        self.spec = decrypt::suite_spec(sh.cipher);
        let Some(spec) = self.spec else {
            let name = handshake::cipher_name(sh.cipher);
            self.warn(format!("cipher suite {name} cannot be decrypted"));
            return;
        };
        self.secrets = keys.lookup(&ch.random);
        if self.secrets.is_empty() {
            self.warn("no key for this TLS session in the key log");
            return;
        }
        let (cr, sr, version, etm) = (
            ch.random,
            sh.random,
            sh.version,
            ch.encrypt_then_mac && sh.encrypt_then_mac,
        );
        if tls13 {
            let Protection::Aead(alg) = spec.protection else {
                return;
            };
            let c = self.secrets.client_handshake.clone();
            let s = self.secrets.server_handshake.clone();
            self.dirs[0].dec = c.and_then(|c| Decryptor::tls13(alg, spec.hash, &c));
            self.dirs[1].dec = s.and_then(|s| Decryptor::tls13(alg, spec.hash, &s));
            if self.dirs.iter().any(|d| d.dec.is_none()) {
                self.warn("no TLS 1.3 handshake traffic secret in the key log");
            }
            return;
        }
        if version != 0x0303 {
            self.warn(format!(
                "decryption of {} is not supported",
                handshake::version_name(version)
            ));
            return;
        }
        let Some(master) = self.secrets.master.clone() else {
            self.warn("no CLIENT_RANDOM master secret in the key log");
            return;
        };
        let (ml, kl, il) = Decryptor::tls12_lengths(spec.protection);
        let kb = keys::key_block12(spec.hash, &master, &cr, &sr, ml, kl, il);
        let etm = etm && matches!(spec.protection, Protection::Cbc { .. });
        self.dirs[0].pending = Decryptor::tls12(
            spec.protection,
            &kb.client_key,
            &kb.client_iv,
            &kb.client_mac,
            etm,
        );
        self.dirs[1].pending = Decryptor::tls12(
            spec.protection,
            &kb.server_key,
            &kb.server_iv,
            &kb.server_mac,
            etm,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::EndReason;
    use keylog::KeyLog;
    use testdata::*;

    /// Collects what the TLS layer delivers.
    #[derive(Default)]
    struct Sink {
        data: [Vec<u8>; 2],
        frames: Vec<u64>,
        gaps: Vec<(Side, u64)>,
    }

    impl StreamConsumer for Sink {
        fn data(&mut self, from: Side, bytes: &[u8], meta: ChunkMeta) {
            self.data[ix(from)].extend_from_slice(bytes);
            self.frames.push(meta.frame);
        }
        fn gap(&mut self, from: Side, len: u64, _: ChunkMeta) {
            self.gaps.push((from, len));
        }
        fn end(&mut self, _: EndReason, _: ChunkMeta) {}
    }

    fn meta(frame: u64) -> ChunkMeta {
        ChunkMeta {
            frame,
            ..Default::default()
        }
    }

    fn keylog() -> KeyStore {
        let mut k = KeyLog::new();
        k.add_bytes(keylog_text().into_bytes());
        KeyStore::new(k)
    }

    /// Feeds the RFC 8448 trace; `client_app` lets a test cut or damage the client's
    /// application record.
    fn run_8448(keys: Option<KeyStore>, client_app: &[&[u8]]) -> (TlsSession, Sink) {
        let mut t = TlsSession::new(keys);
        let mut s = Sink::default();
        t.data(Side::Client, &ch_record(), meta(1), &mut s);
        t.data(Side::Server, &h(SH_REC), meta(2), &mut s);
        t.data(Side::Server, &h(FLIGHT_REC), meta(3), &mut s);
        t.data(Side::Client, &h(CFIN_REC), meta(4), &mut s);
        t.data(Side::Server, &h(NST_REC), meta(5), &mut s);
        for (k, part) in client_app.iter().enumerate() {
            t.data(Side::Client, part, meta(6 + k as u64), &mut s);
        }
        t.data(Side::Server, &h(S_APP_REC), meta(20), &mut s);
        t.data(Side::Client, &h(C_ALERT_REC), meta(21), &mut s);
        t.data(Side::Server, &h(S_ALERT_REC), meta(22), &mut s);
        (t, s)
    }

    #[test]
    fn rfc8448_trace_decrypts_with_its_key_log() {
        let app = h(C_APP_REC);
        let (t, s) = run_8448(Some(keylog()), &[&app]);
        let payload: Vec<u8> = (0u8..50).collect();
        assert_eq!(s.data[0], payload);
        assert_eq!(s.data[1], payload);
        assert_eq!(s.frames, [6, 20]);
        let i = t.info();
        assert_eq!(i.version.as_deref(), Some("TLS 1.3"));
        assert_eq!(i.cipher.as_deref(), Some("TLS_AES_128_GCM_SHA256"));
        assert_eq!(i.sni.as_deref(), Some("server"));
        assert!(i.decrypted);
        // The certificate crossed encrypted: read only because it was decrypted.
        let c = i.server_certificate.as_ref().expect("certificate");
        assert_eq!(c.subject, "CN=rsa");
        let st = t.stats();
        assert_eq!(st.auth_failures, 0);
        assert_eq!(st.records_lost, 0);
        // The server flight, client Finished, NewSessionTicket, 2 application records and
        // 2 alerts.
        assert_eq!(st.decrypted, 7);
        assert!(t.warnings().is_empty(), "{:?}", t.warnings());
    }

    #[test]
    fn rfc8448_without_keys_gives_facts_only() {
        let app = h(C_APP_REC);
        let (t, s) = run_8448(None, &[&app]);
        assert!(s.data.iter().all(|d| d.is_empty()));
        let i = t.info();
        assert_eq!(i.version.as_deref(), Some("TLS 1.3"));
        assert!(!i.decrypted);
        assert!(i.server_certificate.is_none());
        assert_eq!(t.stats().decrypted, 0);
        assert!(t.stats().opaque >= 6);
    }

    #[test]
    fn a_wrong_key_is_a_warning_never_plaintext() {
        let mut text = keylog_text();
        // Corrupt the client's application secret (first hex digit after "_0 <random> ").
        let at = text.find("CLIENT_TRAFFIC_SECRET_0").unwrap() + 24 + 65;
        let c = if &text[at..at + 1] == "9" { "8" } else { "9" };
        text.replace_range(at..at + 1, c);
        let mut k = KeyLog::new();
        k.add_bytes(text.into_bytes());
        let app = h(C_APP_REC);
        let (t, s) = run_8448(Some(KeyStore::new(k)), &[&app]);
        assert!(s.data[0].is_empty());
        assert_eq!(s.data[1].len(), 50);
        assert!(t.stats().auth_failures >= 1);
        assert!(t.warnings()[0].contains("authentication failed"));
    }

    #[test]
    fn a_record_split_across_segments_is_decrypted_once_complete() {
        let app = h(C_APP_REC);
        let (_, s) = run_8448(Some(keylog()), &[&app[..3], &app[3..40], &app[40..]]);
        assert_eq!(s.data[0], (0u8..50).collect::<Vec<_>>());
        // Delivered with the frame of the segment that completed the record.
        assert_eq!(s.frames[0], 8);
    }

    #[test]
    fn a_lost_record_is_a_gap_and_decryption_resumes_at_the_next() {
        let mut t = TlsSession::new(Some(keylog()));
        let mut s = Sink::default();
        t.data(Side::Client, &ch_record(), meta(1), &mut s);
        t.data(Side::Server, &h(SH_REC), meta(2), &mut s);
        t.data(Side::Server, &h(FLIGHT_REC), meta(3), &mut s);
        t.data(Side::Client, &h(CFIN_REC), meta(4), &mut s);
        // The server's NewSessionTicket (sequence 0) is lost.
        t.gap(Side::Server, h(NST_REC).len() as u64, meta(5), &mut s);
        t.data(Side::Server, &h(S_APP_REC), meta(6), &mut s);
        assert_eq!(s.gaps, [(Side::Server, 227)]);
        assert_eq!(s.data[1], (0u8..50).collect::<Vec<_>>());
        assert_eq!(t.stats().records_lost, 1);
        assert_eq!(t.stats().auth_failures, 0);
    }

    #[test]
    fn client_hello_recognition() {
        assert_eq!(
            looks_like_tls_client_hello(&ch_record()),
            Recognition::Yes {
                skip_client: 0,
                skip_server: 0
            }
        );
        assert_eq!(
            looks_like_tls_client_hello(b"\x16\x03"),
            Recognition::NeedMore
        );
        assert_eq!(looks_like_tls_client_hello(b"EHLO x\r\n"), Recognition::No);
        assert_eq!(
            looks_like_tls_client_hello(b"\x16\x03\x03\x00\x10\x02"),
            Recognition::No
        );
    }
}
