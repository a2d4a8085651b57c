//! POP3 dissector (RFC 1939, 2449 CAPA/pipelining, 5034 SASL, 2595 STLS).
//!
//! Structure after Suricata's `rust/src/pop3`: `parser.rs` holds pure line parsers, this
//! file the per-connection state (line framing per direction, the queue of commands waiting
//! for a reply, the multi-line response in progress, the SASL exchange in progress).
//!
//! # Framing of replies
//! Commands are queued as the client sends them (pipelining, RFC 2449 §6.6) and each server
//! status line (`+OK`/`-ERR`, or `+` during SASL) answers the oldest one. A `+OK` opens a
//! multi-line response only for the commands that define one: `LIST`/`UIDL` without
//! argument, `RETR`, `TOP`, `CAPA` and `AUTH` without mechanism; `-ERR` is always one line.
//! Server lines that are neither a status nor inside a multi-line response are recorded as
//! anomalies and answer nothing.
//!
//! # Resynchronisation
//! A server may claim a multi-line response and never terminate it (Zeek's
//! `bad-list-retr-crafted` trace). The open response is closed as unterminated, with an
//! anomaly, when
//! 1. a whole line that is exactly a status line (`+OK`/`-ERR` + space or end) arrives,
//!    **and** a further command is queued that the client sent after the previous server
//!    line, i.e. immediately before this line. A non-pipelining client only speaks once it
//!    believes the response is over, and a pipelining client sends its batch before the
//!    response starts; so a status line right after a fresh command is that command's
//!    reply, not content. The line is then processed as that reply. Or
//! 2. a listing (`LIST`, `UIDL`, `CAPA`, `AUTH`) exceeds its line bound
//!    ([`Pop3Limits::max_listing_lines`]); message bodies have no line bound (their bytes
//!    are hashed, the in-memory copy is bounded by [`MessageLimits`]).
//!
//! A gap resynchronises at the next line boundary: the fragment after the hole is recorded
//! in the transcript but not interpreted (inside a message body it is kept as content and
//! the message is marked incomplete). A server fragment shaped exactly like a status line is
//! taken as a reply (lost packets are usually whole segments ending at a line boundary);
//! replies lost in the hole may shift the pairing, which is recorded as an anomaly. An AUTH
//! exchange whose final reply was lost ends when the client sends a line with a space that
//! parses as a POP3 command (base64 has no spaces).
//!
//! # Output
//! Messages carry a local `id` (their index in `SessionOutput::messages`, "0", "1", ...)
//! which the transcript's `Body` entries reference in `message`; the analysis layer replaces
//! both with the document-wide id. `Pop3Detail.list`/`uidl` are sorted by message number (a
//! repeated LIST keeps the last size). Findings: `cleartext-auth` per credential,
//! `cleartext-mail` per RETR/TOP result, `starttls-offered-not-used` once,
//! `deletions-undone` when RSET revoked successful DELEs, and `starttls-not-negotiated`
//! when STLS was accepted but the next bytes were not a TLS record (the dialogue went on
//! in clear and was parsed; only a TLS record makes the rest opaque).
//!
//! # Evidence
//! [`Pop3Dissector::is_pop3`] is true only with a real greeting (the server spoke first with
//! `+OK`) or, for captures that start mid-session, when the client's first line was a POP3
//! command, at least one POP3 command got a status reply and POP3 commands outnumber
//! unknown ones. Redis (`PING` / `+PONG`, RESP arrays) fails all of these.

pub mod parser;

use super::dialogue::Dialogue;
use super::lines::{Line, LineReader, DEFAULT_MAX_LINE};
use super::message::{is_terminator, MessageBuilder, MessageLimits};
use super::sasl::{self, SaslExchange};
use super::upgrade::Upgrade;
use super::Recognition;
use super::{ChunkMeta, Dissector, EndReason, SessionOutput, StreamConsumer};
use crate::model::{
    Command, Credential, DialogueEvent, Finding, Message, MessageDirection, Pop3Detail, Protocol,
    ProtocolDetail, Reply, Side, Tls,
};
use parser::{Cmd, ServerLine, Status};
use std::collections::{BTreeMap, VecDeque};

/// One side's opinion during recognition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Yes,
    No,
    /// Not enough bytes to decide yet.
    NeedMore,
}

/// Bounds of one POP3 session. Every limit, when hit, is recorded in `truncated` or
/// `anomalies` of the session.
#[derive(Debug, Clone, Copy)]
pub struct Pop3Limits {
    /// Longest line buffered (longer lines are handled in pieces).
    pub max_line: usize,
    /// Commands waiting for a reply (pipelining); beyond it the oldest is given up.
    pub max_pending: usize,
    /// Commands kept in `commands`.
    pub max_commands: usize,
    /// Transcript entries kept.
    pub max_dialogue: usize,
    /// Entries kept from LIST and from UIDL each, and capabilities from CAPA.
    pub max_listing: usize,
    /// Lines of one LIST/UIDL/CAPA/AUTH multi-line response before it is declared runaway
    /// (resynchronisation rule 2).
    pub max_listing_lines: u64,
    pub max_credentials: usize,
    pub max_messages: usize,
    /// Anomalies listed (further ones are counted in one final entry).
    pub max_anomalies: usize,
    /// Bytes kept of a banner, a command argument or a reply text.
    pub max_text: usize,
}

impl Default for Pop3Limits {
    fn default() -> Self {
        Pop3Limits {
            max_line: DEFAULT_MAX_LINE,
            max_pending: 256,
            max_commands: 20_000,
            max_dialogue: 100_000,
            max_listing: 100_000,
            max_listing_lines: 1_000_000,
            max_credentials: 1_000,
            max_messages: 10_000,
            max_anomalies: 100,
            max_text: 4096,
        }
    }
}

/// Configuration of the POP3 dissector.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pop3Config {
    pub limits: Pop3Limits,
    pub message: MessageLimits,
    /// The connection is TLS from the first byte (POP3S, port 995).
    pub tls_from_start: bool,
    /// Do not build the transcript (`SessionOutput::dialogue` stays empty), for runs that
    /// do not show it.
    pub skip_dialogue: bool,
}

/// Cheap content recognition for the analysis layer: is this connection POP3?
///
/// Conservative: `Yes` when the server's first line is a `+OK` greeting (followed by a space
/// or the line end; `+PONG` and other `+` replies do not count) and the client has not said
/// anything un-POP3-like, or when the client opens with USER/CAPA/APOP/AUTH/STLS and the
/// server has not answered with something else. Any other client line → `No`.
pub fn looks_like_pop3(client_prefix: &[u8], server_prefix: &[u8]) -> Recognition {
    use Verdict::*;
    // Client: Yes (opening verb), No (not POP3), None (no opinion: empty or other POP3 verb).
    let client = if client_prefix.is_empty() {
        NeedMore
    } else {
        match memchr::memchr(b'\n', client_prefix) {
            Some(nl) => {
                let line = client_prefix[..nl]
                    .strip_suffix(b"\r")
                    .unwrap_or(&client_prefix[..nl]);
                let (verb, arg) = parser::split_command(line);
                if parser::is_opening_verb(verb) {
                    Yes
                } else if parser::parse_command(verb, arg).is_known() {
                    NeedMore
                } else {
                    No
                }
            }
            None => {
                let (verb, _) = parser::split_command(client_prefix);
                if verb.len() < client_prefix.len() && parser::is_opening_verb(verb) {
                    Yes
                } else if client_prefix.len() < 5 && parser::is_verb_prefix(client_prefix) {
                    NeedMore
                } else {
                    No
                }
            }
        }
    };
    let server = if server_prefix.is_empty() {
        NeedMore
    } else {
        match memchr::memchr(b'\n', server_prefix) {
            Some(nl) => {
                let line = server_prefix[..nl]
                    .strip_suffix(b"\r")
                    .unwrap_or(&server_prefix[..nl]);
                match parser::parse_server_line(line) {
                    ServerLine::Status(Status::Ok, _) => Yes,
                    _ => No,
                }
            }
            None if server_prefix.starts_with(b"+OK ") => Yes,
            None if b"+OK ".starts_with(server_prefix) => NeedMore,
            None => No,
        }
    };
    match (client, server) {
        (No, _) | (_, No) => Recognition::No,
        (Yes, _) | (_, Yes) => Recognition::Yes {
            skip_client: 0,
            skip_server: 0,
        },
        _ => Recognition::NeedMore,
    }
}

/// What a queued command is waiting for.
#[derive(Debug)]
enum Kind {
    Pass(Box<Credential>),
    Apop(Box<Credential>),
    /// `AUTH mech` or a client SASL response: the exchange lives in `Pop3Dissector::sasl`.
    Sasl,
    AuthList,
    Capa,
    Stat,
    List {
        multi: bool,
    },
    Uidl {
        multi: bool,
    },
    Retr(Option<u64>),
    Top(Option<u64>),
    Dele(Option<u64>),
    Rset,
    Quit,
    Stls,
    /// A POP3 command whose reply changes nothing (USER, NOOP, ...).
    Plain,
    Unknown,
}

/// A command waiting for its reply.
#[derive(Debug)]
struct Pending {
    /// Index in `commands`, None when that list was full.
    idx: Option<usize>,
    kind: Kind,
    /// Server lines processed before the command was sent (resynchronisation rule 1).
    sent_after: u64,
}

/// Which multi-line response is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MultiKind {
    Capa,
    AuthList,
    List,
    Uidl,
    Retr(Option<u64>),
    Top(Option<u64>),
}

impl MultiKind {
    fn verb(self) -> &'static str {
        match self {
            MultiKind::Capa => "CAPA",
            MultiKind::AuthList => "AUTH",
            MultiKind::List => "LIST",
            MultiKind::Uidl => "UIDL",
            MultiKind::Retr(_) => "RETR",
            MultiKind::Top(_) => "TOP",
        }
    }

    fn is_message(self) -> bool {
        matches!(self, MultiKind::Retr(_) | MultiKind::Top(_))
    }
}

/// The multi-line response in progress.
#[derive(Debug)]
struct Multi {
    kind: MultiKind,
    /// Index of the command in `commands` (its reply text grows with listing lines).
    cmd: Option<usize>,
    /// The `+OK` line: the message's packet when the body is empty.
    status_meta: ChunkMeta,
    builder: Option<MessageBuilder>,
    lines: u64,
    /// Transcript entry `Body` of a message.
    body_entry: Option<usize>,
}

/// An AUTH exchange in progress.
#[derive(Debug)]
struct Sasl {
    ex: SaslExchange,
    /// Client responses that carried something (`*` excluded): without any, the attempt
    /// revealed nothing and yields no credential.
    responses: u32,
}

/// The POP3 state machine of one connection.
#[derive(Debug)]
pub struct Pop3Dissector {
    cfg: Pop3Config,
    client: LineReader,
    server: LineReader,
    tls: Tls,
    /// STLS was answered +OK: the next bytes (of either side) decide whether TLS really
    /// started (a TLS record) or the dialogue went on in clear.
    tls_unconfirmed: bool,
    /// Where TLS began, decryption, and the STLS findings.
    upgrade: Upgrade,
    /// Transcript index of the `Tls` entry per side (client, server).
    tls_entry: [Option<usize>; 2],

    // Evidence (see `is_pop3`).
    client_spoke: bool,
    server_spoke: bool,
    greeting_ok: bool,
    first_client_known: Option<bool>,
    answered_known: bool,
    known_cmds: u64,
    unknown_cmds: u64,
    tls_record_seen: bool,

    banner: Option<String>,
    apop_ts: Option<String>,
    pending: VecDeque<Pending>,
    open: Option<Box<Multi>>,
    sasl: Option<Sasl>,
    user: Option<String>,
    server_lines: u64,
    quit_answered: bool,
    end: Option<EndReason>,

    capabilities: Vec<String>,
    stat: Option<(u64, u64)>,
    list: BTreeMap<u64, u64>,
    uidl: BTreeMap<u64, String>,
    retrieved: Vec<u64>,
    deleted: Vec<u64>,
    deleted_since_rset: Vec<u64>,
    reset: bool,
    starttls_offered: bool,

    commands: Vec<Command>,
    credentials: Vec<Credential>,
    messages: Vec<Message>,
    dialogue: Dialogue,
    findings: Vec<Finding>,
    truncated: Vec<String>,
    anomalies: Vec<String>,
    anomalies_dropped: u64,
}

impl Pop3Dissector {
    /// A dissector for one connection.
    pub fn new(cfg: &Pop3Config) -> Self {
        let max_line = cfg.limits.max_line;
        Pop3Dissector {
            cfg: *cfg,
            client: LineReader::new(max_line),
            server: LineReader::new(max_line),
            tls: if cfg.tls_from_start {
                Tls::Implicit
            } else {
                Tls::None
            },
            tls_unconfirmed: false,
            upgrade: Upgrade::default(),
            tls_entry: [None; 2],
            client_spoke: false,
            server_spoke: false,
            greeting_ok: false,
            first_client_known: None,
            answered_known: false,
            known_cmds: 0,
            unknown_cmds: 0,
            tls_record_seen: false,
            banner: None,
            apop_ts: None,
            pending: VecDeque::new(),
            open: None,
            sasl: None,
            user: None,
            server_lines: 0,
            quit_answered: false,
            end: None,
            capabilities: Vec::new(),
            stat: None,
            list: BTreeMap::new(),
            uidl: BTreeMap::new(),
            retrieved: Vec::new(),
            deleted: Vec::new(),
            deleted_since_rset: Vec::new(),
            reset: false,
            starttls_offered: false,
            commands: Vec::new(),
            credentials: Vec::new(),
            messages: Vec::new(),
            dialogue: if cfg.skip_dialogue {
                Dialogue::off()
            } else {
                Dialogue::new(cfg.limits.max_dialogue)
            },
            findings: Vec::new(),
            truncated: Vec::new(),
            anomalies: Vec::new(),
            anomalies_dropped: 0,
        }
    }

    /// The bytes are TLS that is not decrypted: counted only.
    fn opaque(&self) -> bool {
        self.tls != Tls::None && !self.upgrade.decrypting()
    }

    /// Evidence that this connection really was POP3 (see the module documentation). For
    /// implicit TLS, the evidence is a TLS handshake record at the start of either side.
    pub fn is_pop3(&self) -> bool {
        if self.cfg.tls_from_start {
            return self.tls_record_seen;
        }
        self.greeting_ok
            || (self.first_client_known == Some(true)
                && self.answered_known
                && self.known_cmds >= self.unknown_cmds)
    }

    // ---- bounded recording -------------------------------------------------------------

    fn anomaly(&mut self, text: String) {
        if self.anomalies.len() < self.cfg.limits.max_anomalies {
            self.anomalies.push(text);
        } else {
            self.anomalies_dropped += 1;
        }
    }

    fn truncate(&mut self, field: &str) {
        if !self.truncated.iter().any(|t| t == field) {
            self.truncated.push(field.to_string());
        }
    }

    /// Lossy text of at most `max_text` bytes; records `field` as truncated when cut.
    fn clip(&mut self, bytes: &[u8], field: &str) -> String {
        let max = self.cfg.limits.max_text;
        // `text::lossy`: valid text is checked word-at-a-time, not decoded char by char.
        if bytes.len() > max {
            self.truncate(field);
            crate::text::lossy(&bytes[..max]).into_owned()
        } else {
            crate::text::lossy(bytes).into_owned()
        }
    }

    fn entry(&mut self, from: Side, meta: ChunkMeta, event: DialogueEvent) -> Option<usize> {
        if !self.dialogue.is_kept() {
            return None;
        }
        let i = self.dialogue.push(from, meta, event);
        if i.is_none() {
            self.truncate("dialogue");
        }
        i
    }

    fn line_entry(&mut self, from: Side, line: &Line<'_>) {
        if !self.dialogue.is_kept() {
            return;
        }
        let text = self.clip(line.bytes, "dialogue");
        self.entry(from, line.meta, DialogueEvent::Line { line: text });
    }

    fn push_credential(&mut self, c: Credential) {
        if self.credentials.len() >= self.cfg.limits.max_credentials {
            self.truncate("credentials");
            return;
        }
        let who = c
            .username
            .as_deref()
            .map_or_else(|| "an unknown user".to_string(), |u| format!("\"{u}\""));
        let what = match c.mechanism.as_str() {
            "USER" => "USER/PASS password".to_string(),
            "APOP" => "APOP digest (crackable offline, hashcat mode 20)".to_string(),
            m => format!("AUTH {m} credentials"),
        };
        let mut c = c;
        c.encrypted = self.upgrade.decrypting();
        if !c.encrypted {
            self.findings.push(Finding {
                code: "cleartext-auth".into(),
                detail: format!("{what} for {who} sent in clear text (frame {})", c.frame),
            });
        }
        self.credentials.push(c);
    }

    // ---- stream handling ---------------------------------------------------------------

    fn tls_bytes(&mut self, from: Side, len: usize, meta: ChunkMeta) {
        let i = match from {
            Side::Client => 0,
            Side::Server => 1,
        };
        if self.tls_entry[i].is_none() {
            self.tls_entry[i] = self.entry(from, meta, DialogueEvent::Tls { bytes: 0 });
        }
        if let Some(DialogueEvent::Tls { bytes }) =
            self.tls_entry[i].and_then(|e| self.dialogue.event_mut(e))
        {
            *bytes += len as u64;
        }
    }

    fn line(&mut self, from: Side, line: &Line<'_>) {
        match from {
            Side::Client => self.client_line(line),
            Side::Server => self.server_line(line),
        }
    }

    fn client_line(&mut self, line: &Line<'_>) {
        if line.continuation {
            return; // the rest of an overlong line: its first piece was interpreted
        }
        self.line_entry(Side::Client, line);
        if line.after_gap {
            self.anomaly(format!(
                "client line after a gap not interpreted (frame {})",
                line.meta.frame
            ));
            return;
        }
        let meta = line.meta;
        if line.partial {
            self.truncate("command");
        }
        if self.sasl.is_some() && memchr::memchr(b' ', line.bytes).is_some() {
            let (verb, arg) = parser::split_command(line.bytes);
            if parser::parse_command(verb, arg).is_known() {
                // Base64 has no spaces: this is a command, so the exchange's final reply
                // was lost (a gap) or never sent. Close the attempt as unanswered.
                self.anomaly(format!(
                    "AUTH exchange abandoned: the client sent a command (frame {})",
                    meta.frame
                ));
                self.pending.retain(|p| !matches!(p.kind, Kind::Sasl));
                self.finish_sasl(None, None);
            }
        }
        if let Some(s) = self.sasl.as_mut() {
            // RFC 5034 §4: while an exchange is open every client line is a SASL response.
            let r = parser::trim(line.bytes);
            if r != b"*" && !r.is_empty() {
                s.responses += 1;
            }
            s.ex.client(line.bytes, meta);
            self.add_command("AUTH-DATA", line.bytes, meta, Kind::Sasl);
            return;
        }
        let (verb, arg) = parser::split_command(line.bytes);
        if verb.is_empty() && arg.is_empty() {
            self.anomaly(format!("empty client line (frame {})", meta.frame));
            return;
        }
        let cmd = parser::parse_command(verb, arg);
        self.upgrade.command(meta.frame, || {
            (!verb.eq_ignore_ascii_case(b"QUIT"))
                .then(|| String::from_utf8_lossy(verb).to_ascii_uppercase())
        });
        self.first_client_known.get_or_insert(cmd.is_known());
        if cmd.is_known() {
            self.known_cmds += 1;
        } else {
            self.unknown_cmds += 1;
        }
        let kind = match cmd {
            Cmd::User(name) => {
                self.user = Some(sasl::text(name));
                Kind::Plain
            }
            Cmd::Pass(secret) => {
                let mut c = sasl::new_credential(Protocol::Pop3, "USER", meta);
                c.username = self.user.clone();
                c.password = Some(sasl::text(secret));
                Kind::Pass(Box::new(c))
            }
            Cmd::Apop { name, digest } => {
                let mut c = sasl::new_credential(Protocol::Pop3, "APOP", meta);
                c.username = Some(sasl::text(name));
                match &self.apop_ts {
                    Some(ts) => {
                        c.hash = Some(format!("{}:{ts}", sasl::text(digest).to_ascii_lowercase()))
                    }
                    None => {
                        c.undecodable.push(sasl::text(digest));
                        self.anomaly(format!(
                            "APOP without a greeting timestamp: the digest cannot be cracked (frame {})",
                            meta.frame
                        ));
                    }
                }
                Kind::Apop(Box::new(c))
            }
            Cmd::AuthList => Kind::AuthList,
            Cmd::Auth { mechanism, initial } => {
                let responses = u32::from(initial.is_some_and(|i| i != b"*"));
                self.sasl = Some(Sasl {
                    ex: SaslExchange::start(Protocol::Pop3, mechanism, initial, meta),
                    responses,
                });
                Kind::Sasl
            }
            Cmd::Capa => Kind::Capa,
            Cmd::Stat => Kind::Stat,
            Cmd::List { multi } => Kind::List { multi },
            Cmd::Uidl { multi } => Kind::Uidl { multi },
            Cmd::Retr(n) => Kind::Retr(n),
            Cmd::Top(n) => Kind::Top(n),
            Cmd::Dele(n) => Kind::Dele(n),
            Cmd::Rset => Kind::Rset,
            Cmd::Quit => Kind::Quit,
            Cmd::Stls => Kind::Stls,
            Cmd::Noop | Cmd::OtherKnown => Kind::Plain,
            Cmd::Unknown => Kind::Unknown,
        };
        let verb = crate::text::lossy(verb).to_ascii_uppercase();
        let verb = if verb.len() > 32 {
            verb.chars().take(32).collect()
        } else {
            verb
        };
        self.add_command(&verb, arg, meta, kind);
    }

    fn add_command(&mut self, verb: &str, arg: &[u8], meta: ChunkMeta, kind: Kind) {
        let idx = if self.commands.len() < self.cfg.limits.max_commands {
            let arg = self.clip(arg, "command");
            self.commands.push(Command {
                tag: None,
                verb: verb.to_string(),
                arg,
                frame: meta.frame,
                capture: None,
                time: meta.ts,
                reply: None,
            });
            Some(self.commands.len() - 1)
        } else {
            self.truncate("commands");
            None
        };
        if self.pending.len() >= self.cfg.limits.max_pending {
            if let Some(old) = self.pending.pop_front() {
                self.anomaly(format!(
                    "more than {} commands waiting for a reply; the oldest is given up",
                    self.cfg.limits.max_pending
                ));
                self.abandon(old);
            }
        }
        self.pending.push_back(Pending {
            idx,
            kind,
            sent_after: self.server_lines,
        });
    }

    /// A command that will never get its reply: keep what it revealed.
    fn abandon(&mut self, p: Pending) {
        match p.kind {
            Kind::Pass(c) | Kind::Apop(c) => self.push_credential(*c),
            // The exchange continues with the next queued response, if any; only when no
            // response of it is left queued is the attempt finished unanswered.
            Kind::Sasl if !self.pending.iter().any(|q| matches!(q.kind, Kind::Sasl)) => {
                self.finish_sasl(None, None)
            }
            _ => {}
        }
    }

    fn finish_sasl(&mut self, success: Option<bool>, reply: Option<String>) {
        if let Some(s) = self.sasl.take() {
            if s.responses > 0 {
                let c = s.ex.finish(success, reply);
                self.push_credential(c);
            }
        }
    }

    fn server_line(&mut self, line: &Line<'_>) {
        let seq = self.server_lines;
        self.server_lines += 1;
        if let Some(kind) = self.open.as_ref().map(|m| m.kind) {
            if is_terminator(line) {
                self.line_entry(Side::Server, line);
                self.close(true);
                return;
            }
            // `sent_after` never decreases along the queue: the newest command decides.
            let fresh_command = self.pending.back().is_some_and(|p| p.sent_after == seq);
            // After a gap the line start is uncertain, but lost packets are usually whole
            // segments ending at a line boundary: a status-shaped line still counts.
            let status = !line.partial && !line.continuation && parser::is_status_line(line.bytes);
            if status && fresh_command {
                self.anomaly(format!(
                    "multi-line response to {} not terminated; resynchronised on the status line in frame {}",
                    kind.verb(),
                    line.meta.frame
                ));
                self.close(false);
                // fall through: the line is the reply to the queued command
            } else {
                self.body_line(kind, line);
                return;
            }
        }
        if line.continuation {
            return;
        }
        self.line_entry(Side::Server, line);
        if line.after_gap && (line.partial || !parser::is_status_line(line.bytes)) {
            self.anomaly(format!(
                "server line after a gap not interpreted (frame {})",
                line.meta.frame
            ));
            return;
        }
        let first = !std::mem::replace(&mut self.server_spoke, true);
        let parsed = parser::parse_server_line(line.bytes);
        if first && self.commands.is_empty() && self.pending.is_empty() {
            // The server speaks first in POP3: its first line, before any command, is the
            // greeting.
            if let ServerLine::Status(st, text) = parsed {
                let banner = self.clip(text, "banner");
                self.banner = Some(banner);
                if st == Status::Ok {
                    self.greeting_ok = true;
                    self.apop_ts = parser::apop_timestamp(text).map(sasl::text);
                }
                return;
            }
        }
        match parsed {
            ServerLine::Status(st, text) => self.status(st, text, line),
            ServerLine::Continuation(ch) if self.sasl.is_some() => {
                if let Some(s) = self.sasl.as_mut() {
                    s.ex.server(ch);
                }
                match self.pending.pop_front() {
                    Some(p) => {
                        let reply = self.reply("+", ch, line.meta);
                        self.set_reply(p.idx, reply);
                        if !matches!(p.kind, Kind::Sasl) {
                            self.abandon(p);
                        }
                    }
                    None => self.anomaly(format!(
                        "SASL continuation without a pending command (frame {})",
                        line.meta.frame
                    )),
                }
            }
            _ => {
                let what = if self.pending.is_empty() {
                    "unexpected server line"
                } else {
                    "server line that is not a reply"
                };
                let shown = self.clip(&line.bytes[..line.bytes.len().min(60)], "anomalies");
                self.anomaly(format!("{what} (frame {}): {shown:?}", line.meta.frame));
            }
        }
    }

    fn reply(&mut self, code: &str, text: &[u8], meta: ChunkMeta) -> Reply {
        Reply {
            code: code.to_string(),
            status: None,
            enhanced: None,
            text: self.clip(text, "reply"),
            frame: meta.frame,
            time: meta.ts,
        }
    }

    fn set_reply(&mut self, idx: Option<usize>, reply: Reply) {
        if let Some(c) = idx.and_then(|i| self.commands.get_mut(i)) {
            c.reply = Some(reply);
        }
    }

    /// A `+OK`/`-ERR` line outside a multi-line response: the reply to the oldest command.
    fn status(&mut self, st: Status, text: &[u8], line: &Line<'_>) {
        let meta = line.meta;
        let Some(p) = self.pending.pop_front() else {
            self.anomaly(format!(
                "{} reply without a pending command (frame {})",
                st.code(),
                meta.frame
            ));
            return;
        };
        let reply = self.reply(st.code(), text, meta);
        self.set_reply(p.idx, reply);
        let ok = st == Status::Ok;
        if !matches!(p.kind, Kind::Unknown) {
            self.answered_known = true;
        }
        let full = || String::from_utf8_lossy(line.bytes).into_owned();
        let open = |kind| Some((kind, p.idx));
        let mut opens = None;
        match p.kind {
            Kind::Pass(mut c) | Kind::Apop(mut c) => {
                c.success = Some(ok);
                c.reply = Some(full());
                self.push_credential(*c);
            }
            Kind::Sasl => self.finish_sasl(Some(ok), Some(full())),
            Kind::AuthList if ok => opens = open(MultiKind::AuthList),
            Kind::Capa if ok => {
                self.capabilities.clear();
                opens = open(MultiKind::Capa);
            }
            Kind::Stat if ok => self.stat = parser::two_numbers(text),
            Kind::List { multi: true } if ok => opens = open(MultiKind::List),
            Kind::List { multi: false } if ok => {
                if let Some((n, size)) = parser::two_numbers(text) {
                    self.add_list(n, size);
                }
            }
            Kind::Uidl { multi: true } if ok => opens = open(MultiKind::Uidl),
            Kind::Uidl { multi: false } if ok => {
                if let Some((n, uid)) = parser::uid_listing(text) {
                    self.add_uidl(n, uid);
                }
            }
            Kind::Retr(n) if ok => {
                if let Some(n) = n {
                    if self.retrieved.len() < self.cfg.limits.max_listing {
                        self.retrieved.push(n);
                    } else {
                        self.truncate("retrieved");
                    }
                }
                opens = open(MultiKind::Retr(n));
            }
            Kind::Top(n) if ok => opens = open(MultiKind::Top(n)),
            Kind::Dele(Some(n)) if ok => {
                if self.deleted.len() < self.cfg.limits.max_listing {
                    self.deleted.push(n);
                    self.deleted_since_rset.push(n);
                } else {
                    self.truncate("deleted");
                }
            }
            Kind::Rset if ok => {
                self.reset = true;
                if !self.deleted_since_rset.is_empty() {
                    let nums: Vec<String> =
                        self.deleted_since_rset.iter().map(u64::to_string).collect();
                    self.findings.push(Finding {
                        code: "deletions-undone".into(),
                        detail: format!(
                            "RSET undid the deletion of message(s) {} (frame {})",
                            nums.join(", "),
                            meta.frame
                        ),
                    });
                    self.deleted_since_rset.clear();
                }
            }
            Kind::Quit => self.quit_answered = true,
            Kind::Stls if ok => {
                self.tls = Tls::Starttls;
                self.tls_unconfirmed = true;
                self.starttls_offered = true;
            }
            Kind::Stls => self.upgrade.refused(),
            _ => {}
        }
        if let Some((kind, cmd)) = opens {
            // Boxed: a connection between responses holds 8 bytes, not the message state.
            self.open = Some(Box::new(Multi {
                kind,
                cmd,
                status_meta: meta,
                builder: None,
                lines: 0,
                body_entry: None,
            }));
        }
    }

    fn add_list(&mut self, n: u64, size: u64) {
        if self.list.len() < self.cfg.limits.max_listing || self.list.contains_key(&n) {
            self.list.insert(n, size);
        } else {
            self.truncate("list");
        }
    }

    fn add_uidl(&mut self, n: u64, uid: &[u8]) {
        if self.uidl.len() < self.cfg.limits.max_listing || self.uidl.contains_key(&n) {
            self.uidl.insert(n, sasl::text(uid));
        } else {
            self.truncate("uidl");
        }
    }

    /// One line of the open multi-line response (not its terminator).
    fn body_line(&mut self, kind: MultiKind, line: &Line<'_>) {
        let kept = self.dialogue.is_kept();
        if kind.is_message() {
            let id = self.messages.len();
            let limits = self.cfg.message;
            let Some(m) = self.open.as_mut() else { return };
            let b = m
                .builder
                .get_or_insert_with(|| MessageBuilder::new(line.meta, &limits));
            b.push_dotted_line(line);
            if !line.partial {
                m.lines += 1;
            }
            let (lines, bytes) = (b.lines(), b.size());
            if !kept {
                return;
            }
            let entry = m.body_entry;
            match entry {
                Some(e) => {
                    if let Some(DialogueEvent::Body {
                        lines: l, bytes: s, ..
                    }) = self.dialogue.event_mut(e)
                    {
                        (*l, *s) = (lines, bytes);
                    }
                }
                None => {
                    let e = self.entry(
                        Side::Server,
                        line.meta,
                        DialogueEvent::Body {
                            lines,
                            bytes,
                            message: Some(id.to_string()),
                        },
                    );
                    if let Some(m) = self.open.as_mut() {
                        m.body_entry = e;
                    }
                }
            }
            return;
        }
        if line.continuation {
            return;
        }
        self.line_entry(Side::Server, line);
        let Some(m) = self.open.as_mut() else { return };
        m.lines += 1;
        let (count, cmd) = (m.lines, m.cmd);
        if count > self.cfg.limits.max_listing_lines {
            self.anomaly(format!(
                "multi-line response to {} exceeds {} lines; treated as unterminated (frame {})",
                kind.verb(),
                self.cfg.limits.max_listing_lines,
                line.meta.frame
            ));
            self.close(false);
            return;
        }
        if line.after_gap || line.partial {
            return; // a fragment: not a listing entry
        }
        let content = parser::unstuff(line.bytes);
        // The reply text of a listing carries its lines (Reply.text joins lines with "\n").
        let max = self.cfg.limits.max_text;
        if let Some(r) = cmd
            .and_then(|i| self.commands.get_mut(i))
            .and_then(|c| c.reply.as_mut())
        {
            if r.text.len() + 1 + content.len() <= max {
                r.text.push('\n');
                r.text.push_str(&String::from_utf8_lossy(content));
            } else {
                self.truncate("reply");
            }
        }
        match kind {
            MultiKind::Capa => {
                if self.capabilities.len() < self.cfg.limits.max_listing {
                    let cap = self.clip(content, "capabilities");
                    let name = cap.split(' ').next().unwrap_or("");
                    if name.eq_ignore_ascii_case("STLS") {
                        self.starttls_offered = true;
                    }
                    self.capabilities.push(cap);
                } else {
                    self.truncate("capabilities");
                }
            }
            MultiKind::List => match parser::two_numbers(content) {
                Some((n, size)) => self.add_list(n, size),
                None => self.anomaly(format!("malformed LIST line (frame {})", line.meta.frame)),
            },
            MultiKind::Uidl => match parser::uid_listing(content) {
                Some((n, uid)) => self.add_uidl(n, uid),
                None => self.anomaly(format!("malformed UIDL line (frame {})", line.meta.frame)),
            },
            _ => {}
        }
    }

    /// Ends the open multi-line response; `complete` when its terminator was seen.
    fn close(&mut self, complete: bool) {
        let Some(m) = self.open.take() else { return };
        let (number, partial) = match m.kind {
            MultiKind::Retr(n) => (n, false),
            MultiKind::Top(n) => (n, true),
            _ => return,
        };
        let limits = self.cfg.message;
        let builder = m
            .builder
            .unwrap_or_else(|| MessageBuilder::new(m.status_meta, &limits));
        let mut msg = builder.finish(complete, MessageDirection::Retrieved, &limits);
        if self.messages.len() >= self.cfg.limits.max_messages {
            self.truncate("messages");
            return;
        }
        msg.id = self.messages.len().to_string();
        msg.encrypted = self.upgrade.decrypting();
        msg.partial = partial;
        msg.pop3_number = number;
        msg.uidl = number.and_then(|n| self.uidl.get(&n).cloned());
        let num = number.map_or_else(|| "?".to_string(), |n| n.to_string());
        let detail = if partial {
            format!(
                "headers and first lines of message {num} ({} bytes) retrieved in clear text with TOP (frame {})",
                msg.size, msg.frame
            )
        } else {
            format!(
                "message {num} ({} bytes) retrieved in clear text (frame {})",
                msg.size, msg.frame
            )
        };
        if !msg.encrypted {
            self.findings.push(Finding {
                code: "cleartext-mail".into(),
                detail,
            });
        }
        self.messages.push(msg);
    }

    fn feed(&mut self, from: Side, bytes: &[u8], meta: ChunkMeta) {
        if self.tls_unconfirmed && !bytes.is_empty() {
            // The first bytes after +OK to STLS: only a TLS record makes the rest opaque
            // (RFC 2595 §4); anything else is read on in clear and reported.
            self.tls_unconfirmed = false;
            if !super::is_tls_record_start(bytes) {
                self.tls = Tls::None;
                self.upgrade.not_negotiated = Some((from, meta.frame));
            }
        }
        if self.opaque() {
            if self.tls == Tls::Starttls {
                self.upgrade.tls_began(bytes.len());
            }
            if self.tls == Tls::Implicit && !bytes.is_empty() && !self.side_spoke(from) {
                // A TLS record starts with content type 22 (handshake) and version 3.x.
                self.tls_record_seen |= bytes[0] == 0x16 && bytes.get(1).is_none_or(|&v| v == 3);
            }
            self.mark_spoke(from);
            self.tls_bytes(from, bytes.len(), meta);
            return;
        }
        self.mark_spoke(from);
        let mut input = bytes;
        let mut reader = std::mem::take(self.reader(from));
        while let Some(line) = reader.next_line(&mut input, meta) {
            self.line(from, &line);
            if self.opaque() {
                break;
            }
        }
        *self.reader(from) = reader;
        if self.opaque() && !input.is_empty() {
            // STLS was accepted in the middle of this chunk: the rest is TLS if it starts
            // like a TLS record (decided at the top of `feed`).
            self.feed(from, input, meta);
        }
    }

    fn side_spoke(&self, from: Side) -> bool {
        match from {
            Side::Client => self.client_spoke,
            Side::Server => self.server_spoke,
        }
    }

    fn mark_spoke(&mut self, from: Side) {
        if from == Side::Client {
            self.client_spoke = true;
        }
        // `server_spoke` is set by the first server *line* (greeting detection), except
        // under TLS where there are no lines.
        if from == Side::Server && self.opaque() {
            self.server_spoke = true;
        }
    }

    fn reader(&mut self, from: Side) -> &mut LineReader {
        match from {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }
}

impl StreamConsumer for Pop3Dissector {
    fn data(&mut self, from: Side, bytes: &[u8], meta: ChunkMeta) {
        self.feed(from, bytes, meta);
    }

    fn gap(&mut self, from: Side, len: u64, meta: ChunkMeta) {
        self.entry(from, meta, DialogueEvent::Gap { bytes: len });
        if self.opaque() {
            return;
        }
        self.reader(from).gap();
        match from {
            Side::Server => {
                if let Some(b) = self.open.as_mut().and_then(|m| m.builder.as_mut()) {
                    b.gap();
                } else if let Some(m) = self.open.as_mut() {
                    // Nothing of the body arrived yet: start it here so the gap is counted.
                    if m.kind.is_message() {
                        let mut b = MessageBuilder::new(meta, &self.cfg.message);
                        b.gap();
                        m.builder = Some(b);
                    }
                } else if !self.pending.is_empty() {
                    self.anomaly(format!(
                        "{len} server bytes lost while {} command(s) waited for a reply; pairing may be off (frame {})",
                        self.pending.len(),
                        meta.frame
                    ));
                }
            }
            Side::Client => self.anomaly(format!(
                "{len} client bytes lost: commands may be missing (frame {})",
                meta.frame
            )),
        }
    }

    fn end(&mut self, reason: EndReason, _meta: ChunkMeta) {
        if self.end.is_some() {
            return;
        }
        self.end = Some(reason);
        if self.opaque() {
            return;
        }
        for from in [Side::Client, Side::Server] {
            let mut reader = std::mem::take(self.reader(from));
            if let Some(line) = reader.flush() {
                self.line(from, &line);
            }
            *self.reader(from) = reader;
        }
    }
}

impl Dissector for Pop3Dissector {
    fn recognised(&self) -> bool {
        self.is_pop3()
    }

    fn finish(&mut self) -> SessionOutput {
        if let Some(kind) = self.open.as_ref().map(|m| m.kind) {
            let left = self.pending.len();
            self.anomaly(format!(
                "multi-line response to {} not terminated at the end of the stream{}",
                kind.verb(),
                if left > 0 {
                    format!("; {left} later command(s) never answered")
                } else {
                    String::new()
                }
            ));
            self.close(false);
        }
        while let Some(p) = self.pending.pop_front() {
            self.abandon(p);
        }
        self.finish_sasl(None, None);
        self.upgrade.findings("STLS", "+OK", &mut self.findings);
        if self.upgrade.not_negotiated.is_none()
            && self.starttls_offered
            && self.tls == Tls::None
            && !self.credentials.is_empty()
            && !self.upgrade.went_on_after_refusal()
        {
            self.findings.push(Finding {
                code: "starttls-offered-not-used".into(),
                detail: "the server offered STLS but the client authenticated in clear text".into(),
            });
        }
        if self.anomalies_dropped > 0 {
            let n = self.anomalies_dropped;
            self.anomalies
                .push(format!("{n} further anomalies not listed"));
            self.anomalies_dropped = 0;
            self.truncate("anomalies");
        }
        let complete = match self.tls {
            _ if self.upgrade.decrypting() => self.banner.is_some() && self.quit_answered,
            Tls::None => self.banner.is_some() && self.quit_answered,
            // The QUIT is encrypted: a FIN after the visible start is the proper end.
            Tls::Starttls => self.banner.is_some() && self.end == Some(EndReason::Fin),
            Tls::Implicit => self.end == Some(EndReason::Fin),
        };
        let detail = Pop3Detail {
            capabilities: std::mem::take(&mut self.capabilities),
            stat: self.stat,
            list: std::mem::take(&mut self.list).into_iter().collect(),
            uidl: std::mem::take(&mut self.uidl).into_iter().collect(),
            retrieved: std::mem::take(&mut self.retrieved),
            deleted: std::mem::take(&mut self.deleted),
            reset: self.reset,
        };
        SessionOutput {
            detail: ProtocolDetail::Pop3(detail),
            banner: self.banner.clone(),
            tls: self.tls,
            starttls_offered: self.starttls_offered,
            complete,
            commands: std::mem::take(&mut self.commands),
            credentials: std::mem::take(&mut self.credentials),
            messages: std::mem::take(&mut self.messages),
            dialogue: self.dialogue.take(),
            findings: std::mem::take(&mut self.findings),
            truncated: std::mem::take(&mut self.truncated),
            anomalies: std::mem::take(&mut self.anomalies),
        }
    }

    fn take_tls_start(&mut self) -> Option<usize> {
        self.upgrade.take_start()
    }

    fn tls_decrypted(&mut self) {
        self.upgrade.decrypted();
        self.tls_unconfirmed = false;
        let max_line = self.cfg.limits.max_line;
        self.client = LineReader::new(max_line);
        self.server = LineReader::new(max_line);
        if self.tls == Tls::Implicit {
            // The greeting and the first command are inside TLS: detect them there.
            self.client_spoke = false;
            self.server_spoke = false;
        }
    }
}
