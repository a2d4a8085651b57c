//! One run: capture reader → decoder → flow table → dissectors → model.
//!
//! This is the only module that knows every layer; each layer below knows only the one
//! beneath it.

use crate::capture::CaptureError;
use crate::decode::DecodeLimits;
use crate::flow::{ConnInfo, ConnStats, Decision, FlowConfig, Handler};
use crate::model::{
    CaptureInfo, Credential, Message, Protocol, ProtocolDetail, Report, Session, Side, TlsInfo, Ts,
};
use crate::proto::imap::{self, ImapConfig, ImapDissector};
use crate::proto::pop3::{self, Pop3Config, Pop3Dissector};
use crate::proto::smtp::{self, SmtpConfig, SmtpDissector};
use crate::proto::{ChunkMeta, Dissector, EndReason, Recognition, SessionOutput, StreamConsumer};
use crate::sink::Collect;
use crate::tls::keylog::KeyStore;
use crate::tls::{TlsSession, TlsStats};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The interruption flag is checked once per this many packets.
const INTERRUPT_CHECK_EVERY: u64 = 1024;

/// Everything a run can be told.
#[derive(Debug, Clone)]
pub struct Config {
    /// Ports where SMTP in clear is expected.
    pub smtp_ports: Vec<u16>,
    /// Ports where POP3 in clear is expected.
    pub pop3_ports: Vec<u16>,
    /// Ports of SMTP over TLS from the first byte (SMTPS).
    pub smtps_ports: Vec<u16>,
    /// Ports of POP3 over TLS from the first byte (POP3S).
    pub pop3s_ports: Vec<u16>,
    /// Ports where IMAP in clear is expected.
    pub imap_ports: Vec<u16>,
    /// Ports of IMAP over TLS from the first byte (IMAPS).
    pub imaps_ports: Vec<u16>,
    /// Recognise SMTP and POP3 by content on other ports.
    pub detect: bool,
    /// IP fragment reassembly bounds.
    pub decode: DecodeLimits,
    pub flow: FlowConfig,
    pub smtp: SmtpConfig,
    pub pop3: Pop3Config,
    pub imap: ImapConfig,
    /// Worker threads. More than one splits each file's connections across workers (one
    /// thread reads and decodes, workers reassemble and dissect) and [`run()`] then
    /// builds the records on the workers (and renders them there for sinks with a
    /// renderer) or on the calling thread while another reads. The result is the same
    /// for any value (see [`analyze_file`] for the limits that are shared out). Default 1.
    pub threads: usize,
    /// Keep message and attachment bytes in the result (`Message::data`,
    /// `Attachment::data`, for extraction). Without them memory does not grow with the
    /// number of messages. Default true.
    pub keep_data: bool,
    /// Keep the transcript entries of each session (`Session::dialogue`, for `transcript`).
    /// Default true.
    pub keep_dialogue: bool,
    /// Keys to decrypt TLS sessions with (`--keylog` files); the Decryption Secrets Blocks
    /// of a pcapng capture are added to it as they are read. Empty by default: TLS
    /// sessions are then described (`tls_info`) but not decrypted.
    pub keylog: KeyStore,
    /// When set (e.g. by a SIGINT handler), reading stops at the next check: open
    /// connections are ended as at the end of the capture, the report is built from what
    /// was read, with an "interrupted" warning, and further captures are skipped.
    pub interrupt: Option<Arc<AtomicBool>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            smtp_ports: vec![25, 587, 2525],
            pop3_ports: vec![110],
            smtps_ports: vec![465],
            pop3s_ports: vec![995],
            imap_ports: vec![143],
            imaps_ports: vec![993],
            detect: true,
            decode: DecodeLimits::default(),
            flow: FlowConfig::default(),
            smtp: SmtpConfig::default(),
            pop3: Pop3Config::default(),
            imap: ImapConfig::default(),
            threads: 1,
            keep_data: true,
            keep_dialogue: true,
            keylog: KeyStore::default(),
            interrupt: None,
        }
    }
}

impl Config {
    /// The interruption flag is set.
    pub fn interrupted(&self) -> bool {
        self.interrupt
            .as_ref()
            .is_some_and(|f| f.load(Ordering::Relaxed))
    }
}

/// A followed connection's dissector. It is created on the connection's first byte (or
/// gap), not when the connection is followed: a dissector is about 2 KB, and a SYN flood to a
/// mail port must cost only the flow entry.
pub struct MailStream {
    protocol: Protocol,
    start: Start,
    live: Option<Box<dyn Dissector>>,
    /// The TLS part of the connection, once it began (see [`Transport`]).
    tls: Option<Box<Transport>>,
    keys: KeyStore,
}

/// The transport between reassembly and the dissector once a connection is in TLS:
/// every byte of both sides goes through the TLS layer, which reads the handshake and,
/// when the key log has the session's secrets, hands the plaintext to the dissector.
/// Until the first plaintext the dissector is also given the raw bytes, which it counts.
struct Transport {
    session: TlsSession,
    /// The dissector was told (`tls_decrypted`) and is fed plaintext.
    plaintext: bool,
}

/// What a finished connection's TLS showed.
pub(crate) struct TlsFacts {
    info: TlsInfo,
    stats: TlsStats,
    warnings: Vec<String>,
}

/// Feeds the TLS layer's plaintext to the dissector, switching it over on the first byte.
struct Plain<'a> {
    d: &'a mut dyn Dissector,
    plaintext: &'a mut bool,
}

impl StreamConsumer for Plain<'_> {
    fn data(&mut self, from: Side, bytes: &[u8], meta: ChunkMeta) {
        if !*self.plaintext {
            *self.plaintext = true;
            self.d.tls_decrypted();
        }
        self.d.data(from, bytes, meta)
    }
    fn gap(&mut self, from: Side, len: u64, meta: ChunkMeta) {
        if *self.plaintext {
            self.d.gap(from, len, meta)
        }
    }
    fn end(&mut self, _: EndReason, _: ChunkMeta) {}
}

/// How to create a stream's dissector.
enum Start {
    Smtp(SmtpConfig),
    Pop3(Pop3Config),
    Imap(ImapConfig),
    /// A mail port: its protocol and TLS are only a hint, the first bytes decide (see
    /// [`first_bytes_decide`]). Boxed: both configurations, until the first byte.
    Port(Box<PortStart>),
}

/// The configurations of both protocols and the port's hint.
struct PortStart {
    hint: Guess,
    smtp: SmtpConfig,
    pop3: Pop3Config,
    imap: ImapConfig,
}

impl MailStream {
    fn new(start: Start, keys: &KeyStore) -> MailStream {
        let protocol = match &start {
            Start::Smtp(_) => Protocol::Smtp,
            Start::Pop3(_) => Protocol::Pop3,
            Start::Imap(_) => Protocol::Imap,
            Start::Port(p) => p.hint.protocol(),
        };
        MailStream {
            protocol,
            start,
            live: None,
            tls: None,
            keys: keys.clone(),
        }
    }

    /// The connection is TLS from here on (both sides).
    fn start_tls(&mut self) {
        if self.tls.is_none() {
            self.tls = Some(Box::new(Transport {
                session: TlsSession::new(Some(self.keys.clone())),
                plaintext: false,
            }));
        }
    }

    /// Implicit TLS: the configuration says the stream is TLS from its first byte.
    fn tls_from_start(&self) -> bool {
        match &self.start {
            Start::Smtp(c) => c.tls_from_start,
            Start::Pop3(c) => c.tls_from_start,
            Start::Imap(c) => c.tls_from_start,
            Start::Port(_) => false,
        }
    }

    /// Settles a port's hint with the first bytes of the connection (`None`: a gap came
    /// first, the hint stands).
    fn settle(&mut self, first: Option<(Side, &[u8])>) {
        let Start::Port(p) = &self.start else { return };
        let guess = match first {
            Some((from, bytes)) => first_bytes_decide(p.hint, from, bytes),
            None => p.hint,
        };
        self.protocol = guess.protocol();
        self.start = match guess {
            Guess::Smtp { tls } => Start::Smtp(SmtpConfig {
                tls_from_start: tls,
                ..p.smtp
            }),
            Guess::Pop3 { tls } => Start::Pop3(Pop3Config {
                tls_from_start: tls,
                ..p.pop3
            }),
            Guess::Imap { tls } => Start::Imap(ImapConfig {
                tls_from_start: tls,
                ..p.imap
            }),
        };
    }

    fn dissector(&mut self) -> &mut dyn Dissector {
        self.settle(None);
        let start = &self.start;
        self.live
            .get_or_insert_with(|| match start {
                Start::Smtp(cfg) => Box::new(SmtpDissector::new(cfg)),
                Start::Pop3(cfg) => Box::new(Pop3Dissector::new(cfg)),
                Start::Imap(cfg) => Box::new(ImapDissector::new(cfg)),
                // `settle` replaced it just above.
                Start::Port(p) => Box::new(SmtpDissector::new(&p.smtp)),
            })
            .as_mut()
    }

    /// The peer really spoke the protocol (not a stranger on a mail port, nor a
    /// connection that carried no byte).
    fn is_mail(&self) -> bool {
        self.live.as_ref().is_some_and(|d| d.recognised())
    }

    fn finish(&mut self) -> (SessionOutput, Option<TlsFacts>) {
        let out = self.dissector().finish();
        let tls = self.tls.take().map(|t| TlsFacts {
            info: t.session.info().clone(),
            stats: t.session.stats(),
            warnings: t.session.warnings().to_vec(),
        });
        (out, tls)
    }

    /// Creates the dissector (and the TLS layer for implicit TLS) on the first event.
    fn begin(&mut self, first: Option<(Side, &[u8])>) {
        if self.live.is_none() {
            self.settle(first);
            self.dissector();
            if self.tls_from_start() {
                self.start_tls();
            }
        }
    }
}

impl StreamConsumer for MailStream {
    fn data(&mut self, from: Side, bytes: &[u8], meta: ChunkMeta) {
        self.begin(Some((from, bytes)));
        let Some(d) = self.live.as_deref_mut() else {
            return;
        };
        if let Some(t) = self.tls.as_deref_mut() {
            if !t.plaintext {
                d.data(from, bytes, meta);
            }
            let mut p = Plain {
                d,
                plaintext: &mut t.plaintext,
            };
            t.session.data(from, bytes, meta, &mut p);
            return;
        }
        d.data(from, bytes, meta);
        // The dissector saw STARTTLS/STLS accepted and TLS begin in these bytes.
        if let Some(n) = d.take_tls_start() {
            let tail = &bytes[bytes.len() - n.min(bytes.len())..];
            self.start_tls();
            if let (Some(t), Some(d)) = (self.tls.as_deref_mut(), self.live.as_deref_mut()) {
                let mut p = Plain {
                    d,
                    plaintext: &mut t.plaintext,
                };
                t.session.data(from, tail, meta, &mut p);
            }
        }
    }
    fn gap(&mut self, from: Side, len: u64, meta: ChunkMeta) {
        self.begin(None);
        let Some(d) = self.live.as_deref_mut() else {
            return;
        };
        if let Some(t) = self.tls.as_deref_mut() {
            if !t.plaintext {
                d.gap(from, len, meta);
            }
            let mut p = Plain {
                d,
                plaintext: &mut t.plaintext,
            };
            t.session.gap(from, len, meta, &mut p);
            return;
        }
        d.gap(from, len, meta)
    }
    fn end(&mut self, reason: EndReason, meta: ChunkMeta) {
        if let Some(d) = self.live.as_mut() {
            d.end(reason, meta)
        }
    }
}

/// A followed connection, finished.
struct Finished {
    info: ConnInfo,
    stats: ConnStats,
    protocol: Protocol,
    output: SessionOutput,
    tls: Option<TlsFacts>,
}

/// Decides which connections are mail and collects the finished sessions.
struct MailHandler<'c> {
    cfg: &'c Config,
    finished: Vec<Finished>,
    not_mail: u64,
    /// Split runs: where to report connections ignored by `classify`, and the frame
    /// being processed (see `split`).
    ignored: Option<split::IgnoredTx>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guess {
    Smtp { tls: bool },
    Pop3 { tls: bool },
    Imap { tls: bool },
}

impl Guess {
    fn protocol(self) -> Protocol {
        match self {
            Guess::Smtp { .. } => Protocol::Smtp,
            Guess::Pop3 { .. } => Protocol::Pop3,
            Guess::Imap { .. } => Protocol::Imap,
        }
    }
}

/// A port is a hint, never a verdict: the first bytes of a connection on a mail port say
/// whether it is TLS (a TLS record, e.g. the ClientHello) or clear text, and which protocol
/// a clear-text dialogue speaks (a `+OK`/`-ERR` greeting or a POP3-only verb is POP3; a
/// reply code greeting or an SMTP-only verb is SMTP). Cleartext SMTP on 465, POP3 on 25,
/// SMTP on 110 and cleartext POP3 on 995 are all seen; bytes that say nothing keep the hint.
fn first_bytes_decide(hint: Guess, from: Side, b: &[u8]) -> Guess {
    let hint_smtp = matches!(hint, Guess::Smtp { .. });
    let clear = |smtp: bool| {
        if smtp {
            Guess::Smtp { tls: false }
        } else {
            Guess::Pop3 { tls: false }
        }
    };
    if b.len() >= 3 && crate::proto::is_tls_record_start(b) {
        return match hint {
            Guess::Smtp { .. } => Guess::Smtp { tls: true },
            Guess::Pop3 { .. } => Guess::Pop3 { tls: true },
            Guess::Imap { .. } => Guess::Imap { tls: true },
        };
    }
    // IMAP: an untagged greeting, or a tagged command a client opens with.
    let imap = match from {
        Side::Server => imap::looks_like_imap(b"", b),
        Side::Client => imap::looks_like_imap(b, b""),
    };
    if matches!(imap, Recognition::Yes { .. }) {
        return Guess::Imap { tls: false };
    }
    let line = b.split(|&c| c == b'\n').next().unwrap_or(b);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match from {
        Side::Server => {
            if line.starts_with(b"+OK") || line.starts_with(b"-ERR") {
                return clear(false);
            }
            let reply_code = line.len() >= 3
                && line[..3].iter().all(u8::is_ascii_digit)
                && matches!(line.get(3), None | Some(b' ' | b'-'));
            if reply_code {
                return clear(true);
            }
        }
        Side::Client => {
            let verb = line.split(|&c| c == b' ').next().unwrap_or(line);
            let verb = verb.to_ascii_uppercase();
            const SMTP_ONLY: &[&[u8]] = &[
                b"EHLO",
                b"HELO",
                b"LHLO",
                b"MAIL",
                b"RCPT",
                b"DATA",
                b"BDAT",
                b"STARTTLS",
                b"VRFY",
                b"EXPN",
            ];
            const POP3_ONLY: &[&[u8]] = &[
                b"USER", b"PASS", b"APOP", b"CAPA", b"STLS", b"STAT", b"LIST", b"RETR", b"UIDL",
                b"TOP", b"DELE",
            ];
            const BOTH: &[&[u8]] = &[b"AUTH", b"QUIT", b"NOOP", b"RSET"];
            if SMTP_ONLY.contains(&verb.as_slice()) {
                return clear(true);
            }
            if POP3_ONLY.contains(&verb.as_slice()) {
                return clear(false);
            }
            if BOTH.contains(&verb.as_slice()) {
                return clear(hint_smtp);
            }
        }
    }
    hint
}

impl MailHandler<'_> {
    fn by_port(&self, port: u16) -> Option<Guess> {
        let c = self.cfg;
        if c.smtp_ports.contains(&port) {
            Some(Guess::Smtp { tls: false })
        } else if c.pop3_ports.contains(&port) {
            Some(Guess::Pop3 { tls: false })
        } else if c.smtps_ports.contains(&port) {
            Some(Guess::Smtp { tls: true })
        } else if c.pop3s_ports.contains(&port) {
            Some(Guess::Pop3 { tls: true })
        } else if c.imap_ports.contains(&port) {
            Some(Guess::Imap { tls: false })
        } else if c.imaps_ports.contains(&port) {
            Some(Guess::Imap { tls: true })
        } else {
            None
        }
    }

    /// The stream of a connection on a mail port: the port's guess is a hint that the
    /// first bytes settle.
    fn port_stream(&self, hint: Guess) -> MailStream {
        let (smtp, pop3, imap) = (
            self.smtp_cfg(false),
            self.pop3_cfg(false),
            self.imap_cfg(false),
        );
        MailStream::new(
            Start::Port(Box::new(PortStart {
                hint,
                smtp,
                pop3,
                imap,
            })),
            &self.cfg.keylog,
        )
    }

    fn stream(&self, guess: Guess) -> MailStream {
        match guess {
            Guess::Smtp { tls } => {
                MailStream::new(Start::Smtp(self.smtp_cfg(tls)), &self.cfg.keylog)
            }
            Guess::Pop3 { tls } => {
                MailStream::new(Start::Pop3(self.pop3_cfg(tls)), &self.cfg.keylog)
            }
            Guess::Imap { tls } => {
                MailStream::new(Start::Imap(self.imap_cfg(tls)), &self.cfg.keylog)
            }
        }
    }

    fn imap_cfg(&self, tls: bool) -> ImapConfig {
        let mut cfg = self.cfg.imap;
        cfg.tls_from_start = tls;
        cfg.message.keep_data = self.cfg.keep_data;
        cfg.skip_dialogue = !self.cfg.keep_dialogue;
        cfg
    }

    fn smtp_cfg(&self, tls: bool) -> SmtpConfig {
        let mut cfg = self.cfg.smtp;
        cfg.tls_from_start = tls;
        cfg.message.keep_data = self.cfg.keep_data;
        cfg.skip_dialogue = !self.cfg.keep_dialogue;
        cfg
    }

    fn pop3_cfg(&self, tls: bool) -> Pop3Config {
        let mut cfg = self.cfg.pop3;
        cfg.tls_from_start = tls;
        cfg.message.keep_data = self.cfg.keep_data;
        cfg.skip_dialogue = !self.cfg.keep_dialogue;
        cfg
    }
}

impl Handler for MailHandler<'_> {
    type Stream = MailStream;

    fn classify(
        &mut self,
        info: &ConnInfo,
        client_prefix: &[u8],
        server_prefix: &[u8],
    ) -> Decision<MailStream> {
        let d = self.decide(info, client_prefix, server_prefix);
        if let (Decision::Ignore, Some(tx)) = (&d, &self.ignored) {
            tx.ignored(info);
        }
        d
    }

    fn finished(&mut self, info: &ConnInfo, stats: &ConnStats, mut stream: MailStream) {
        if !stream.is_mail() {
            self.not_mail += 1;
            return;
        }
        let protocol = stream.protocol;
        let (output, tls) = stream.finish();
        self.finished.push(Finished {
            info: *info,
            stats: *stats,
            protocol,
            output,
            tls,
        });
    }
}

impl MailHandler<'_> {
    fn decide(
        &mut self,
        info: &ConnInfo,
        client_prefix: &[u8],
        server_prefix: &[u8],
    ) -> Decision<MailStream> {
        // Ports first: the tentative server, then (when the handshake was not seen) the
        // tentative client, which means the roles are the other way round.
        if let Some(g) = self.by_port(info.server.port) {
            return follow(self.port_stream(g), false, 0, 0);
        }
        if !info.handshake {
            if let Some(g) = self.by_port(info.client.port) {
                return follow(self.port_stream(g), true, 0, 0);
            }
        }
        if !self.cfg.detect {
            return Decision::Ignore;
        }
        let mut need_more = false;
        let orders: &[bool] = if info.handshake {
            &[false]
        } else {
            &[false, true]
        };
        for &swap in orders {
            let (c, s) = if swap {
                (server_prefix, client_prefix)
            } else {
                (client_prefix, server_prefix)
            };
            let candidates = [
                (smtp::looks_like_smtp(c, s), Guess::Smtp { tls: false }),
                (pop3::looks_like_pop3(c, s), Guess::Pop3 { tls: false }),
                (imap::looks_like_imap(c, s), Guess::Imap { tls: false }),
            ];
            for (recognition, guess) in candidates {
                match recognition {
                    Recognition::Yes {
                        skip_client,
                        skip_server,
                    } => return follow(self.stream(guess), swap, skip_client, skip_server),
                    Recognition::NeedMore => need_more = true,
                    Recognition::No => {}
                }
            }
        }
        if need_more || (client_prefix.is_empty() && server_prefix.is_empty()) {
            Decision::Undecided
        } else {
            Decision::Ignore
        }
    }
}

fn follow(
    stream: MailStream,
    swap: bool,
    skip_client: usize,
    skip_server: usize,
) -> Decision<MailStream> {
    Decision::Follow {
        stream,
        swap,
        skip_client,
        skip_server,
    }
}

/// Capture counters of a TLS session (`tls.*`).
fn tls_counters(t: &TlsFacts, counters: &mut crate::model::Counters) {
    let st = t.stats;
    let mut add = |k: &str, v: u64| {
        if v != 0 {
            *counters.entry(format!("tls.{k}")).or_insert(0) += v;
        }
    };
    add("sessions", 1);
    add("sessions_decrypted", u64::from(t.info.decrypted));
    add("records", st.records);
    add("records_decrypted", st.decrypted);
    add("auth_failures", st.auth_failures);
    add("records_lost", st.records_lost);
    add("records_opaque", st.opaque);
    add("bad_headers", st.bad_headers);
    add("handshake_oversized", st.handshake_oversized);
    add("plaintext_bytes", st.plaintext_bytes);
}

/// Audit findings of a TLS handshake: an old protocol version, a self-signed or expired
/// server certificate (at the session's start).
fn tls_findings(info: &TlsInfo, start: Ts) -> Vec<crate::model::Finding> {
    use crate::model::Finding;
    let mut out = Vec::new();
    if let Some(v) = info.version.as_deref() {
        if matches!(v, "SSL 3.0" | "TLS 1.0" | "TLS 1.1") {
            out.push(Finding {
                code: "tls-old-version".into(),
                detail: format!(
                    "{v} was negotiated ({}); TLS 1.2 or later is expected (RFC 8996)",
                    info.cipher.as_deref().unwrap_or("cipher unknown")
                ),
            });
        }
    }
    if let Some(c) = &info.server_certificate {
        if c.self_signed {
            out.push(Finding {
                code: "tls-self-signed-certificate".into(),
                detail: format!("the server's certificate is self-signed ({})", c.subject),
            });
        }
        let at = start.0.div_euclid(1_000_000_000);
        let (from, until) = c.validity_unix;
        if at > until || at < from {
            out.push(Finding {
                code: "tls-expired-certificate".into(),
                detail: format!(
                    "the server's certificate ({}) was not valid at the session's start: valid from {} to {}",
                    c.subject, c.not_before, c.not_after
                ),
            });
        }
    }
    out
}

mod run;
mod split;

pub use run::{run, Failure, RunOutcome};

/// The result of reading one capture file (see [`analyze_file`]).
pub struct CaptureResult {
    pub capture: CaptureInfo,
    pub sessions: Vec<Session>,
    pub credentials: Vec<Credential>,
    pub messages: Vec<Message>,
}

/// How often (in packets) a progress callback is told the bytes read so far.
pub const PROGRESS_EVERY: u64 = 1024;

/// Reads one capture file and collects its records: a convenience over [`run`] for tests
/// and small inputs (memory grows with the capture). Session ids are numbered from
/// `first_id`.
pub fn analyze_file(
    path: &Path,
    cfg: &Config,
    first_id: usize,
) -> Result<CaptureResult, CaptureError> {
    let mut c = Collect::default();
    let outcome = run(&[path], cfg, false, &mut c, &|_, _| {}).map_err(|e| CaptureError::Io {
        path: path.display().to_string(),
        source: e,
    })?;
    if let Some(f) = outcome.failures.into_iter().next() {
        return Err(f.error);
    }
    let mut r = c.report;
    if first_id != 1 {
        renumber(&mut r, first_id);
    }
    Ok(CaptureResult {
        capture: r.captures.pop().expect("one capture read"),
        sessions: r.sessions,
        credentials: r.credentials,
        messages: r.messages,
    })
}

/// Shifts session ids `sN` to `s(N + first - 1)` (with their credentials and messages).
fn renumber(r: &mut Report, first: usize) {
    let shift = |id: &str| -> String {
        let (s, rest) = id.split_once('-').map_or((id, ""), |(a, b)| (a, b));
        let n: usize = s.trim_start_matches('s').parse().unwrap_or(0);
        let base = format!("s{}", n + first - 1);
        if rest.is_empty() {
            base
        } else {
            format!("{base}-{rest}")
        }
    };
    for s in &mut r.sessions {
        s.id = shift(&s.id);
        if let ProtocolDetail::Smtp(d) = &mut s.detail {
            for t in &mut d.transactions {
                t.message = t.message.as_deref().map(shift);
            }
        }
    }
    for c in &mut r.credentials {
        c.session = shift(&c.session);
    }
    for m in &mut r.messages {
        m.id = shift(&m.id);
        m.session = shift(&m.session);
    }
}

/// Reads every capture and collects the whole document: a convenience over [`run`] for
/// tests and small inputs (memory grows with the captures). Captures that cannot be read
/// at all are returned as failures.
pub fn analyze(paths: &[&Path], cfg: &Config) -> (Report, Vec<Failure>) {
    analyze_with_progress(paths, cfg, &|_, _| {})
}

/// `analyze`, telling `progress(index in paths, bytes of that file read so far)` as it goes.
pub fn analyze_with_progress(
    paths: &[&Path],
    cfg: &Config,
    progress: &(dyn Fn(usize, u64) + Sync),
) -> (Report, Vec<Failure>) {
    let mut c = Collect::default();
    // Collect never fails.
    let outcome = run(paths, cfg, false, &mut c, progress).unwrap_or_default();
    (c.report, outcome.failures)
}

/// Duration helper for reports.
pub fn span(first: Option<Ts>, last: Option<Ts>) -> Option<f64> {
    Some((last?.0 - first?.0) as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CertificateInfo;

    fn cert(self_signed: bool, from: i64, until: i64) -> CertificateInfo {
        CertificateInfo {
            subject: "CN=mx.example".into(),
            issuer: if self_signed {
                "CN=mx.example".into()
            } else {
                "CN=CA".into()
            },
            not_before: "from".into(),
            not_after: "until".into(),
            sha256: "00".into(),
            self_signed,
            validity_unix: (from, until),
        }
    }

    fn codes(info: &TlsInfo, at_secs: i64) -> Vec<String> {
        tls_findings(info, Ts(at_secs * 1_000_000_000))
            .into_iter()
            .map(|f| f.code)
            .collect()
    }

    #[test]
    fn tls_findings_name_old_versions_and_bad_certificates() {
        let good = TlsInfo {
            version: Some("TLS 1.2".into()),
            server_certificate: Some(cert(false, 100, 200)),
            ..TlsInfo::default()
        };
        assert!(codes(&good, 150).is_empty());
        let old = TlsInfo {
            version: Some("TLS 1.0".into()),
            ..good.clone()
        };
        assert_eq!(codes(&old, 150), ["tls-old-version"]);
        // Expired at the session's time (and not yet valid counts the same).
        assert_eq!(codes(&good, 201), ["tls-expired-certificate"]);
        assert_eq!(codes(&good, 99), ["tls-expired-certificate"]);
        let own = TlsInfo {
            server_certificate: Some(cert(true, 100, 200)),
            ..good.clone()
        };
        assert_eq!(codes(&own, 150), ["tls-self-signed-certificate"]);
        // TLS 1.3 without keys: no certificate, so nothing said of it.
        let hidden = TlsInfo {
            version: Some("TLS 1.3".into()),
            ..TlsInfo::default()
        };
        assert!(codes(&hidden, 150).is_empty());
    }
}
