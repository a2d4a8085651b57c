//! SMTP dissector (RFC 5321 with AUTH 4954, STARTTLS 3207, PIPELINING 2920, CHUNKING 3030).
//!
//! Split as in Suricata: `parser` holds pure functions over byte slices; this file owns the
//! per-session state (line framing, the queue of commands awaiting replies, SASL, message
//! assembly, bounds) and turns it into a [`SessionOutput`] at the end.
//!
//! Decisions worth knowing:
//! - **Pairing**: every client command (and every SASL response line, verb `AUTH-DATA`) is
//!   queued; each complete server reply answers the front of the queue. That is how RFC
//!   2920 pipelining works and needs no special case. A reply with an empty queue is counted
//!   as an anomaly. The end of message content (the `.` line, BDAT) is queued too, without
//!   a listed command: its reply becomes the transaction's `data_reply`.
//! - **DATA mode**: after `DATA` the client's next lines are taken as message content at
//!   once, without waiting for 354, so that one-sided captures (client → server only) and
//!   a lost 354 still yield the message. If a reply other than 354 answers DATA before any
//!   content line arrived, the DATA was refused and the client's lines are commands again.
//!   DATA ends only at CRLF `.` CRLF (Postfix ≥ 3.9's default, RFC 5321 §4.1.1.4): a `.`
//!   line with a bare LF on either side is content (`smtp-bare-lf-terminator`).
//! - **State (RFC 5321 §3.3)**: what the server refused did not happen. A refused MAIL
//!   starts no transaction (a refused nested MAIL leaves the open one); a RCPT or DATA
//!   outside a transaction opens a tentative one (a capture that started mid-transaction)
//!   that a refusal removes; RSET after a refused DATA, then MAIL, is the same transaction
//!   tried again; `helo` is the last name the server accepted. The command list keeps
//!   every command with its reply.
//! - **Gaps**: the line framer drops the rest of a line whose start was lost and flags it;
//!   command and reply fragments are dropped (counted), content fragments are dropped too
//!   and the message is marked incomplete, but collection goes on until the `.` line. If the
//!   `.` line itself was lost, a server reply during content after a gap closes the message.
//!   A gap inside BDAT payload is subtracted from the chunk (the size is known), so framing
//!   stays exact.
//! - **TLS**: after `STARTTLS` answered by 220, the next bytes decide: a TLS record makes
//!   both directions opaque (only counted), anything else is parsed on in clear with the
//!   finding `starttls-not-negotiated`. A TLS record from the client while the reply is
//!   still outstanding starts TLS too. `tls_from_start` (SMTPS, when the analysis layer saw
//!   TLS from the first byte) counts everything.
//! - **Is it SMTP?** [`SmtpDissector::is_smtp`] is false unless a 220 greeting, or a known
//!   command together with a valid reply (or with a silent server), was seen, and false
//!   for FTP (its verbs or reply codes without any SMTP-only command); after a number of
//!   non-SMTP lines and nothing valid, parsing stops.

mod anomaly;
pub mod parser;
#[cfg(test)]
mod tests;

pub use anomaly::{Anomaly, AnomalyCounts};
pub use parser::looks_like_smtp;

use super::dialogue::Dialogue;
use super::lines::{Line, LineReader};
use super::message::{is_terminator, MessageBuilder, MessageLimits};
use super::sasl::{self, SaslExchange};
use super::upgrade::Upgrade;
use super::{ChunkMeta, Dissector, EndReason, SessionOutput, StreamConsumer};
use crate::model::{
    Command, Credential, DialogueEvent, Finding, Message, MessageDirection, Protocol,
    ProtocolDetail, Recipient, Reply, Side, SmtpDetail, Tls, Transaction,
};
use parser::{parse_auth, parse_bdat, parse_command, parse_path, parse_reply, split_enhanced};
use std::borrow::Cow;
use std::collections::VecDeque;

/// Bounds of one SMTP session. Every bound is counted as an [`Anomaly`] and recorded in
/// `truncated` when it cuts something.
#[derive(Debug, Clone, Copy)]
pub struct SmtpLimits {
    /// Commands listed (later ones are still processed).
    pub max_commands: usize,
    /// Recipients listed per transaction (RFC 5321 §4.5.3.1.8 asks servers for 100).
    pub max_recipients: usize,
    /// Transactions (and messages) listed.
    pub max_transactions: usize,
    /// Transcript entries.
    pub max_dialogue: usize,
    /// Bytes of one line buffered before it is handed out in pieces (message content stays
    /// byte-exact; commands keep their first piece).
    pub max_line: usize,
    /// Pipelined commands awaiting replies; beyond, the oldest is given up.
    pub max_pending: usize,
    /// Lines kept of one multi-line reply (and extensions listed).
    pub max_reply_lines: usize,
    /// Bytes kept of a name-like field: HELO name, addresses, command arguments.
    pub max_field: usize,
    /// Bytes kept of a text: reply texts, banner, transcript lines.
    pub max_text: usize,
    /// Non-SMTP lines accepted before anything valid was seen, then parsing stops.
    pub max_junk_lines: usize,
}

impl Default for SmtpLimits {
    fn default() -> Self {
        SmtpLimits {
            max_commands: 10_000,
            max_recipients: 1_000,
            max_transactions: 1_000,
            max_dialogue: 20_000,
            max_line: 64 * 1024,
            max_pending: 1_000,
            max_reply_lines: 256,
            max_field: 1_024,
            max_text: 4_096,
            max_junk_lines: 8,
        }
    }
}

/// Configuration of the SMTP dissector.
#[derive(Debug, Clone, Copy, Default)]
pub struct SmtpConfig {
    pub limits: SmtpLimits,
    pub message: MessageLimits,
    /// The connection is TLS from the first byte (SMTPS, port 465): count bytes only.
    pub tls_from_start: bool,
    /// Do not build the transcript (`SessionOutput::dialogue` stays empty), for runs that
    /// do not show it.
    pub skip_dialogue: bool,
}

/// Sans-IO SMTP dissector of one TCP connection.
#[derive(Debug)]
pub struct SmtpDissector {
    client_lines: LineReader,
    server_lines: LineReader,
    st: State,
}

/// What the client's next bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientMode {
    Command,
    /// SASL responses until the server's final reply.
    Sasl,
    /// Message content until the `.` line.
    Data,
    /// `remaining` raw payload bytes of a BDAT chunk.
    Bdat {
        remaining: u64,
        last: bool,
    },
    /// Encrypted or not SMTP: counted only.
    Opaque,
}

/// What a queued command is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Helo,
    Ehlo,
    /// `tx`: the transaction it opened; `prev`: the one open before (a nested MAIL).
    Mail {
        tx: Option<usize>,
        prev: Option<usize>,
    },
    Rcpt {
        tx: usize,
        rcpt: Option<usize>,
    },
    Data,
    DataEnd {
        tx: usize,
    },
    Bdat {
        tx: usize,
        last: bool,
    },
    Auth,
    Starttls,
    Quit,
    Other,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    /// Index in `commands`, None when the list was full or for the end of data.
    cmd: Option<usize>,
    kind: Kind,
}

/// A multi-line reply being collected.
#[derive(Debug)]
struct ReplyAcc {
    code: [u8; 3],
    lines: Vec<Vec<u8>>,
    meta: ChunkMeta,
}

/// The text lines of a reply.
#[derive(Debug)]
enum ReplyLines<'a> {
    /// A one-line reply (nearly all): its text, borrowed from the line, nothing gathered.
    One(&'a [u8]),
    /// Lines gathered over a multi-line reply (or cut short by the end of the stream).
    Many(Vec<Vec<u8>>),
}

/// A complete reply.
#[derive(Debug)]
struct FullReply<'a> {
    code: [u8; 3],
    /// Text of each line after `ddd-` / `ddd `.
    lines: ReplyLines<'a>,
    meta: ChunkMeta,
}

impl FullReply<'_> {
    /// The text lines, in order.
    fn lines(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let (one, many): (Option<&[u8]>, &[Vec<u8>]) = match &self.lines {
            ReplyLines::One(l) => (Some(l), &[]),
            ReplyLines::Many(v) => (None, v),
        };
        one.into_iter().chain(many.iter().map(Vec::as_slice))
    }
    fn line_count(&self) -> usize {
        match &self.lines {
            ReplyLines::One(_) => 1,
            ReplyLines::Many(v) => v.len(),
        }
    }
    fn class(&self) -> u8 {
        self.code[0]
    }
    fn is(&self, code: &[u8; 3]) -> bool {
        &self.code == code
    }
    fn code_str(&self) -> String {
        // Three ASCII digits (`parse_reply` checked them): the same text as a `char` per
        // byte, without collecting one at a time.
        lossy(&self.code)
    }
    /// The reply as on the wire, lines joined with "\n" ("250 2.1.5 Ok").
    fn raw(&self, max: usize) -> String {
        let n = self.line_count();
        // Sized once: the lines, and per line its code, a separator and a newline.
        let mut out = Vec::with_capacity(self.lines().map(|l| l.len() + 5).sum());
        for (i, l) in self.lines().enumerate() {
            if i > 0 {
                out.push(b'\n');
            }
            out.extend_from_slice(&self.code);
            if i + 1 < n {
                out.push(b'-');
            } else if !l.is_empty() {
                out.push(b' ');
            }
            out.extend_from_slice(l);
        }
        // Valid text (nearly always) becomes the String without a second copy.
        let s = String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        cut(s, max).0
    }
}

/// The SASL exchange in progress.
#[derive(Debug)]
struct SaslState {
    ex: SaslExchange,
    /// Responses carrying data sent so far (initial response included, `*` excluded).
    responses: usize,
    /// Responses the mechanism needs, when known: used when the server is silent or its
    /// replies are missing.
    expected: Option<usize>,
    /// 334 challenges seen, counting an initial response as answering a first one.
    challenges: usize,
}

/// The message in progress.
#[derive(Debug)]
struct MsgState {
    builder: Option<MessageBuilder>,
    tx: usize,
    /// Bytes were lost.
    gap: bool,
    /// A content line (or BDAT byte, or the end line) arrived.
    started: bool,
    /// 354 answered DATA.
    got_354: bool,
    /// Index of the `Body` entry of the transcript.
    body_entry: Option<usize>,
    /// Content lines (for the transcript; BDAT counts chunks).
    lines: u64,
    /// The last line ended in CRLF (the DATA line counts): the start of a possible
    /// CRLF `.` CRLF end.
    prev_crlf: bool,
}

#[derive(Debug, Default)]
struct State {
    limits: SmtpLimits,
    msg_limits: MessageLimits,
    implicit_tls: bool,
    client_mode: Option<ClientMode>,
    /// The server side is encrypted or not SMTP: counted only.
    server_opaque: bool,
    pending: VecDeque<Pending>,
    reply: Option<ReplyAcc>,
    greeting_done: bool,
    banner: Option<String>,
    banner_220: bool,
    /// The name of the last HELO/EHLO sent (kept for a silent server).
    helo: Option<String>,
    /// The name of the last HELO/EHLO the server accepted: what the session reports when
    /// replies were seen (a refused EHLO followed by HELO reports the HELO name).
    helo_accepted: Option<String>,
    extensions: Vec<String>,
    starttls_offered: bool,
    tls: Tls,
    /// STARTTLS sent, its reply not yet seen.
    starttls_pending: bool,
    /// STARTTLS was answered 220: the next bytes (of either side) decide whether TLS
    /// really started (a TLS record) or the dialogue went on in clear.
    tls_unconfirmed: bool,
    /// Where TLS began, decryption, and the STARTTLS findings.
    upgrade: Upgrade,
    quit_answered: bool,
    commands: Vec<Command>,
    credentials: Vec<Credential>,
    /// Credentials whose secret material crossed (for `cleartext-auth`).
    cleartext_creds: Vec<(String, u64)>,
    sasl: Option<SaslState>,
    transactions: Vec<Transaction>,
    current_tx: Option<usize>,
    /// Boxed: a connection outside DATA/BDAT holds 8 bytes, not the message state.
    msg: Option<Box<MsgState>>,
    messages: Vec<Message>,
    /// Transaction of each message.
    msg_tx: Vec<usize>,
    dialogue: Dialogue,
    /// Index of the TLS transcript entry per side (client, server).
    tls_entry: [Option<usize>; 2],
    truncated: Vec<String>,
    anomalies: AnomalyCounts,
    client_seen: bool,
    server_seen: bool,
    /// The transaction whose DATA the server refused last.
    data_refused: Option<usize>,
    /// RSET ended this transaction after its DATA was refused.
    reset_after_refused_data: Option<usize>,
    known_commands: u64,
    valid_replies: u64,
    junk_lines: u64,
    /// FTP verbs from the client and FTP-only reply codes from the server.
    ftp_signs: u64,
    /// Commands only SMTP has (HELO/EHLO/MAIL/RCPT/DATA/BDAT/STARTTLS).
    smtp_signs: u64,
    /// AUTH or MAIL in clear after STARTTLS was offered: (verb, frame).
    not_used: Option<(&'static str, u64)>,
}

impl SmtpDissector {
    /// A dissector for one connection.
    pub fn new(cfg: &SmtpConfig) -> Self {
        let mut st = State {
            limits: cfg.limits,
            msg_limits: cfg.message,
            implicit_tls: cfg.tls_from_start,
            client_mode: Some(ClientMode::Command),
            dialogue: if cfg.skip_dialogue {
                Dialogue::off()
            } else {
                Dialogue::new(cfg.limits.max_dialogue)
            },
            ..State::default()
        };
        if cfg.tls_from_start {
            st.tls = Tls::Implicit;
            st.client_mode = Some(ClientMode::Opaque);
            st.server_opaque = true;
        }
        SmtpDissector {
            client_lines: LineReader::new(cfg.limits.max_line),
            server_lines: LineReader::new(cfg.limits.max_line),
            st,
        }
    }

    /// Whether this connection was SMTP at all: a 220 greeting, or a known command with a
    /// valid reply (or with a server that sent nothing) was seen. Always true with
    /// `tls_from_start`, where the port is all there is to go by. When false, the caller
    /// should drop the session instead of reporting it.
    pub fn is_smtp(&self) -> bool {
        let s = &self.st;
        // FTP greets with 220 too: its verbs or reply codes, with nothing only SMTP has,
        // make it FTP, not mail.
        let ftp = s.ftp_signs > 0 && s.smtp_signs == 0;
        s.implicit_tls
            || (!ftp
                && (s.banner_220
                    || (s.known_commands > 0 && (s.valid_replies > 0 || !s.server_seen))
                    || (s.valid_replies > 0 && !s.client_seen && s.junk_lines == 0)))
    }

    /// How often `a` occurred so far.
    pub fn anomaly_count(&self, a: Anomaly) -> u64 {
        self.st.anomalies.get(a)
    }

    fn client_data(&mut self, mut input: &[u8], meta: ChunkMeta) {
        while !input.is_empty() {
            match self.st.client_mode() {
                ClientMode::Opaque => {
                    self.st.opaque_bytes(Side::Client, input.len(), meta);
                    return;
                }
                ClientMode::Bdat { remaining, last } => {
                    let n = remaining.min(input.len() as u64) as usize;
                    let (payload, rest) = input.split_at(n);
                    input = rest;
                    self.st
                        .bdat_payload(payload, remaining - n as u64, last, meta);
                    continue;
                }
                ClientMode::Command | ClientMode::Sasl | ClientMode::Data => {}
            }
            if self.st.tls_unconfirmed && self.client_lines.buffered() == 0 {
                self.st.confirm_tls(Side::Client, input, meta);
                continue;
            }
            // A TLS handshake record right after STARTTLS whose reply we have not seen:
            // the server said 220 somewhere we could not see (one-sided capture, loss).
            if self.st.starttls_pending
                && self.st.client_mode() == ClientMode::Command
                && self.client_lines.buffered() == 0
                && input.first() == Some(&0x16)
            {
                self.st.anomalies.add(Anomaly::TlsWithoutReply);
                self.st.start_tls();
                continue;
            }
            let Some(line) = self.client_lines.next_line(&mut input, meta) else {
                break;
            };
            self.st.client_line(&line);
        }
    }

    /// The client speaks while the server's last line has no line end yet: a client only
    /// speaks after the whole reply (a banner sent without CRLF, a reply whose CRLF comes
    /// later or never), so a buffered line that is a complete final reply line is taken as
    /// one now. Otherwise it would swallow the next reply and shift every later pairing.
    fn flush_unterminated_reply(&mut self) {
        if self.st.server_opaque {
            return;
        }
        let pending = self.server_lines.pending();
        if parse_reply(pending).is_none_or(|r| r.more) {
            return;
        }
        if let Some(line) = self.server_lines.flush() {
            self.st.anomalies.add(Anomaly::UnterminatedReply);
            self.st.server_line(&line);
        }
    }

    fn server_data(&mut self, mut input: &[u8], meta: ChunkMeta) {
        while !input.is_empty() {
            if self.st.server_opaque {
                self.st.opaque_bytes(Side::Server, input.len(), meta);
                return;
            }
            if self.st.tls_unconfirmed && self.server_lines.buffered() == 0 {
                self.st.confirm_tls(Side::Server, input, meta);
                continue;
            }
            let Some(line) = self.server_lines.next_line(&mut input, meta) else {
                break;
            };
            self.st.server_line(&line);
        }
    }
}

impl StreamConsumer for SmtpDissector {
    fn data(&mut self, from: Side, bytes: &[u8], meta: ChunkMeta) {
        if bytes.is_empty() {
            return;
        }
        match from {
            Side::Client => {
                self.st.client_seen = true;
                self.flush_unterminated_reply();
                self.client_data(bytes, meta);
            }
            Side::Server => {
                self.st.server_seen = true;
                self.server_data(bytes, meta);
            }
        }
        if self.st.should_give_up() {
            self.st.anomalies.add(Anomaly::NotSmtp);
            self.st.client_mode = Some(ClientMode::Opaque);
            self.st.server_opaque = true;
        }
    }

    fn gap(&mut self, from: Side, len: u64, meta: ChunkMeta) {
        self.st
            .push_entry(from, meta, DialogueEvent::Gap { bytes: len });
        match from {
            Side::Client => {
                if let ClientMode::Bdat { remaining, last } = self.st.client_mode() {
                    self.st.msg_gap();
                    if len <= remaining {
                        // Inside the payload: the size is known, framing stays exact.
                        self.st.bdat_payload(b"", remaining - len, last, meta);
                        return;
                    }
                    // The gap runs past the chunk into the command stream.
                    self.st.bdat_payload(b"", 0, last, meta);
                } else if self.st.client_mode() == ClientMode::Data {
                    self.st.msg_gap();
                }
                self.client_lines.gap();
            }
            Side::Server => {
                self.server_lines.gap();
            }
        }
    }

    fn end(&mut self, _reason: EndReason, _meta: ChunkMeta) {
        if self.st.client_mode() != ClientMode::Opaque {
            if let Some(line) = self.client_lines.flush() {
                self.st.anomalies.add(Anomaly::UnterminatedLine);
                self.st.client_line(&line);
            }
        }
        if !self.st.server_opaque {
            if let Some(line) = self.server_lines.flush() {
                self.st.anomalies.add(Anomaly::UnterminatedLine);
                self.st.server_line(&line);
            }
        }
        // A reply cut short by the end: what was seen of it still answers its command.
        if let Some(acc) = self.st.reply.take() {
            self.st.handle_reply(FullReply {
                code: acc.code,
                lines: ReplyLines::Many(acc.lines),
                meta: acc.meta,
            });
        }
        self.st.close_open_work();
    }
}

impl Dissector for SmtpDissector {
    fn recognised(&self) -> bool {
        self.is_smtp()
    }

    fn finish(&mut self) -> SessionOutput {
        self.st.close_open_work();
        self.st.output()
    }

    fn take_tls_start(&mut self) -> Option<usize> {
        self.st.upgrade.take_start()
    }

    fn tls_decrypted(&mut self) {
        // RFC 3207 §4.2: after the handshake the client starts over with EHLO; nothing of
        // the clear dialogue carries on but the transactions already reported.
        let st = &mut self.st;
        st.upgrade.decrypted();
        st.tls_unconfirmed = false;
        st.client_mode = Some(ClientMode::Command);
        st.server_opaque = false;
        st.reply = None;
        st.pending.clear();
        self.client_lines = LineReader::new(st.limits.max_line);
        self.server_lines = LineReader::new(st.limits.max_line);
    }
}

impl State {
    fn client_mode(&self) -> ClientMode {
        self.client_mode.unwrap_or(ClientMode::Command)
    }

    fn should_give_up(&self) -> bool {
        !self.implicit_tls
            && self.junk_lines > self.limits.max_junk_lines as u64
            && !self.banner_220
            && self.known_commands == 0
            && self.valid_replies == 0
            && self.client_mode() != ClientMode::Opaque
    }

    // ----- transcript and bounds -----------------------------------------------------

    fn push_entry(&mut self, from: Side, meta: ChunkMeta, event: DialogueEvent) -> Option<usize> {
        if !self.dialogue.is_kept() {
            return None;
        }
        let i = self.dialogue.push(from, meta, event);
        if i.is_none() {
            self.anomalies.add(Anomaly::DialogueFull);
            self.mark_truncated("dialogue");
        }
        i
    }

    fn push_line_entry(&mut self, from: Side, line: &Line<'_>) {
        if !self.dialogue.is_kept() {
            return;
        }
        let (text, _) = cut(lossy(line.bytes), self.limits.max_text);
        self.push_entry(from, line.meta, DialogueEvent::Line { line: text });
    }

    fn mark_truncated(&mut self, field: &str) {
        if !self.truncated.iter().any(|f| f == field) {
            self.truncated.push(field.to_string());
        }
    }

    /// A bounded text field; records the cut under `field`.
    fn field(&mut self, bytes: &[u8], max: usize, field: &str) -> String {
        let (s, was_cut) = cut(lossy(bytes), max);
        if was_cut {
            self.mark_truncated(field);
        }
        s
    }

    fn opaque_bytes(&mut self, from: Side, n: usize, meta: ChunkMeta) {
        if self.tls == Tls::Starttls {
            self.upgrade.tls_began(n);
        }
        let i = match from {
            Side::Client => 0,
            Side::Server => 1,
        };
        match self.tls_entry[i] {
            Some(e) => {
                if let Some(DialogueEvent::Tls { bytes }) = self.dialogue.event_mut(e) {
                    *bytes += n as u64;
                }
            }
            None => {
                // Bytes of a non-SMTP connection are not TLS; they are simply not listed.
                if self.tls != Tls::None {
                    self.tls_entry[i] =
                        self.push_entry(from, meta, DialogueEvent::Tls { bytes: n as u64 });
                }
            }
        }
    }

    /// The first bytes of `from` after a 220 to STARTTLS: only a TLS record makes the rest
    /// opaque (RFC 3207 §4: the TLS negotiation begins right after the 220). Anything else
    /// (a client that goes on in clear, a proxy that stripped TLS) is parsed as clear text
    /// and reported as `starttls-not-negotiated`, so a credential sent there is not hidden.
    fn confirm_tls(&mut self, from: Side, input: &[u8], meta: ChunkMeta) {
        self.tls_unconfirmed = false;
        if super::is_tls_record_start(input) {
            self.start_tls();
        } else {
            self.tls = Tls::None;
            self.upgrade.not_negotiated = Some((from, meta.frame));
        }
    }

    fn start_tls(&mut self) {
        self.tls = Tls::Starttls;
        self.starttls_pending = false;
        self.client_mode = Some(ClientMode::Opaque);
        self.server_opaque = true;
        self.reply = None;
    }

    // ----- client side ---------------------------------------------------------------

    fn client_line(&mut self, line: &Line<'_>) {
        match self.client_mode() {
            ClientMode::Data => self.content_line(line),
            ClientMode::Sasl => self.sasl_line(line),
            ClientMode::Command => self.command_line(line),
            // Opaque and BDAT bytes never reach the line framer.
            ClientMode::Opaque | ClientMode::Bdat { .. } => {}
        }
    }

    /// A line that is not a fresh whole line (the tail of an overlong line or the rest of a
    /// line cut by a gap): dropped by command parsing. Returns true when dropped.
    fn drop_fragment(&mut self, line: &Line<'_>) -> bool {
        // After a gap we cannot know whether the hole ended on a line boundary. A line that
        // is a whole known command is taken as one (the tail of some other line is very
        // unlikely to be exactly that); anything else is dropped.
        if line.after_gap
            && (line.partial
                || line.continuation
                || !parse_command(line.bytes).is_some_and(|c| c.known))
        {
            self.anomalies.add(Anomaly::GapResync);
            return true;
        }
        if line.continuation {
            return true;
        }
        if line.partial {
            self.anomalies.add(Anomaly::LineTooLong);
            self.mark_truncated("line");
        }
        false
    }

    fn command_line(&mut self, line: &Line<'_>) {
        if self.drop_fragment(line) {
            return;
        }
        self.push_line_entry(Side::Client, line);
        let Some(cmd) = parse_command(line.bytes) else {
            self.anomalies.add(Anomaly::InvalidCommand);
            self.junk_lines += 1;
            // A server that speaks SMTP answers even a malformed line (500): keep its place
            // in the queue, unlisted, so the following replies pair correctly.
            if self.banner_220 || self.known_commands > 0 {
                self.push_pending(None, Kind::Other);
            }
            return;
        };
        if cmd.known {
            self.known_commands += 1;
        } else {
            self.junk_lines += 1;
        }
        // Borrowed from `cmd` (a copy on the stack): the command list makes the one String.
        let verb = cmd.verb();
        self.upgrade.command(line.meta.frame, || {
            (verb != "QUIT").then(|| verb.to_string())
        });
        if parser::is_ftp_verb(verb) {
            self.ftp_signs += 1;
        }
        if matches!(
            verb,
            "HELO" | "EHLO" | "LHLO" | "MAIL" | "RCPT" | "DATA" | "BDAT" | "STARTTLS"
        ) {
            self.smtp_signs += 1;
        }
        if line.partial {
            // The line was longer than `max_line`: its argument is only a first part.
            let field = match verb {
                "HELO" | "EHLO" | "LHLO" => "helo",
                _ => "arg",
            };
            self.mark_truncated(field);
        }
        let arg_text = self.field(cmd.arg, self.limits.max_field, "arg");
        let idx = self.push_command(verb, arg_text, line.meta);
        let kind = match verb {
            "HELO" | "EHLO" | "LHLO" => {
                let name = parser::trim(cmd.arg);
                self.helo = Some(self.field(name, self.limits.max_field, "helo"));
                if verb == "HELO" {
                    Kind::Helo
                } else {
                    Kind::Ehlo
                }
            }
            "MAIL" => {
                self.check_starttls_not_used("MAIL", line.meta);
                self.drop_refused_attempt();
                let prev = self.current_tx;
                self.start_transaction(cmd.arg, line.meta);
                Kind::Mail {
                    tx: self.current_tx,
                    prev,
                }
            }
            "RCPT" => self.add_recipient(cmd.arg, line.meta),
            "DATA" => {
                let tx = self.tx_for_data(line.meta);
                self.finish_message(false); // a BDAT message left open
                self.msg = Some(Box::new(MsgState::new(tx)));
                self.client_mode = Some(ClientMode::Data);
                Kind::Data
            }
            "BDAT" => match parse_bdat(cmd.arg) {
                Some((size, last)) => self.start_bdat(size, last, line.meta),
                None => {
                    self.anomalies.add(Anomaly::InvalidBdat);
                    Kind::Other
                }
            },
            "AUTH" => {
                self.check_starttls_not_used("AUTH", line.meta);
                self.start_auth(cmd.arg, line.meta);
                Kind::Auth
            }
            "STARTTLS" => {
                self.starttls_pending = true;
                Kind::Starttls
            }
            "RSET" => {
                // RFC 5321 §4.1.1.5: the transaction (and a BDAT message) is abandoned.
                self.finish_message(false);
                self.reset_after_refused_data =
                    self.current_tx.filter(|t| self.data_refused == Some(*t));
                self.current_tx = None;
                Kind::Other
            }
            "QUIT" => Kind::Quit,
            _ => Kind::Other,
        };
        self.push_pending(idx, kind);
    }

    fn push_command(&mut self, verb: &str, arg: String, meta: ChunkMeta) -> Option<usize> {
        if self.commands.len() >= self.limits.max_commands {
            self.anomalies.add(Anomaly::TooManyCommands);
            self.mark_truncated("commands");
            return None;
        }
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
    }

    fn push_pending(&mut self, cmd: Option<usize>, kind: Kind) {
        if self.pending.len() >= self.limits.max_pending {
            self.anomalies.add(Anomaly::PendingOverflow);
            self.pending.pop_front();
        }
        self.pending.push_back(Pending { cmd, kind });
    }

    fn check_starttls_not_used(&mut self, verb: &'static str, meta: ChunkMeta) {
        if self.starttls_offered && self.tls == Tls::None && self.not_used.is_none() {
            self.not_used = Some((verb, meta.frame));
        }
    }

    fn start_transaction(&mut self, arg: &[u8], meta: ChunkMeta) {
        self.finish_message(false);
        let path = parse_path(arg, b"FROM:");
        if path.malformed {
            self.anomalies.add(Anomaly::MalformedPath);
        }
        let from = self.field(path.address, self.limits.max_field, "mail_from");
        let params = self.field(path.params, self.limits.max_field, "mail_params");
        self.current_tx = self.push_transaction(Some(from), params, meta);
    }

    fn push_transaction(
        &mut self,
        from: Option<String>,
        params: String,
        meta: ChunkMeta,
    ) -> Option<usize> {
        if self.transactions.len() >= self.limits.max_transactions {
            self.anomalies.add(Anomaly::TooManyTransactions);
            self.mark_truncated("transactions");
            return None;
        }
        self.transactions.push(Transaction {
            mail_from: from,
            mail_params: params,
            rcpt_to: Vec::new(),
            message: None,
            data_reply: None,
            accepted: None,
            frame: meta.frame,
            time: meta.ts,
        });
        Some(self.transactions.len() - 1)
    }

    /// The open transaction, or one opened for a RCPT/DATA/BDAT without MAIL (a capture
    /// that started mid-transaction).
    fn open_tx(&mut self, meta: ChunkMeta, why: Anomaly) -> Option<usize> {
        if self.current_tx.is_none() {
            self.anomalies.add(why);
            // Tentative: a capture that started mid-transaction. If the server refuses the
            // command (RFC 5321 §3.3: 503 outside a transaction) it is dropped again.
            self.current_tx = self.push_transaction(None, String::new(), meta);
        }
        self.current_tx
    }

    fn add_recipient(&mut self, arg: &[u8], meta: ChunkMeta) -> Kind {
        let path = parse_path(arg, b"TO:");
        if path.malformed {
            self.anomalies.add(Anomaly::MalformedPath);
        }
        let address = self.field(path.address, self.limits.max_field, "rcpt_to");
        let Some(tx) = self.open_tx(meta, Anomaly::RcptWithoutMail) else {
            return Kind::Other;
        };
        let list = &mut self.transactions[tx].rcpt_to;
        let rcpt = if list.len() < self.limits.max_recipients {
            list.push(Recipient {
                address,
                accepted: false,
                reply: None,
            });
            Some(list.len() - 1)
        } else {
            self.anomalies.add(Anomaly::TooManyRecipients);
            self.mark_truncated("rcpt_to");
            None
        };
        Kind::Rcpt { tx, rcpt }
    }

    fn tx_for_data(&mut self, meta: ChunkMeta) -> usize {
        // With the transaction list full there is nowhere to attach the message: it is still
        // framed (so the dialogue stays in sync) but not kept.
        self.open_tx(meta, Anomaly::DataWithoutMail)
            .unwrap_or(usize::MAX)
    }

    fn start_bdat(&mut self, size: u64, last: bool, meta: ChunkMeta) -> Kind {
        let tx = match &self.msg {
            Some(m) => m.tx,
            None => {
                let tx = self.tx_for_data(meta);
                self.msg = Some(Box::new(MsgState::new(tx)));
                tx
            }
        };
        if let Some(m) = &mut self.msg {
            // BDAT needs no 354; the payload follows the command directly.
            m.got_354 = true;
        }
        if size > 0 {
            self.client_mode = Some(ClientMode::Bdat {
                remaining: size,
                last,
            });
        } else if last {
            self.bdat_payload(b"", 0, true, meta);
        }
        Kind::Bdat { tx, last }
    }

    /// Payload bytes of the current BDAT chunk; `remaining` is what is left after them.
    fn bdat_payload(&mut self, payload: &[u8], remaining: u64, last: bool, meta: ChunkMeta) {
        let limits = self.msg_limits;
        if let Some(m) = &mut self.msg {
            let b = m
                .builder
                .get_or_insert_with(|| MessageBuilder::new(meta, &limits));
            b.push(payload);
            m.started = true;
        }
        if !payload.is_empty() {
            self.update_body(meta);
        }
        if remaining > 0 {
            self.client_mode = Some(ClientMode::Bdat { remaining, last });
            return;
        }
        self.client_mode = Some(ClientMode::Command);
        if last {
            self.finish_message(true);
            // The transaction ends with the LAST chunk (RFC 3030 §2).
            self.current_tx = None;
        }
    }

    fn start_auth(&mut self, arg: &[u8], meta: ChunkMeta) {
        self.finish_sasl(None, None);
        let (mech, ir) = parse_auth(arg);
        let ex = SaslExchange::start(Protocol::Smtp, mech, ir, meta);
        let responses = usize::from(ir.is_some_and(|r| r != b"*"));
        let expected = match ex.mechanism() {
            "PLAIN" | "XOAUTH2" | "OAUTHBEARER" | "CRAM-MD5" => Some(1),
            "LOGIN" => Some(2),
            _ => None,
        };
        self.sasl = Some(SaslState {
            ex,
            responses,
            expected,
            challenges: responses,
        });
        self.client_mode = Some(ClientMode::Sasl);
    }

    fn sasl_line(&mut self, line: &Line<'_>) {
        if self.drop_fragment(line) {
            return;
        }
        // With a silent server (one-sided capture) nothing ends the exchange: leave it once
        // the mechanism has all its responses, or on a line that is a command and not base64.
        // With a server whose replies are missing or garbage (a lost direction, a server
        // answering nonsense) the same bytes must give the same result: once the mechanism
        // had its responses, a line that is a known SMTP command ends the exchange (a
        // further SASL response would have needed a 334 first).
        let done = self
            .sasl
            .as_ref()
            .is_none_or(|s| s.expected.is_some_and(|e| s.responses >= e));
        let known = parse_command(line.bytes).is_some_and(|c| c.known);
        let leave = if self.server_seen {
            done && known && !self.sasl_challenged()
        } else {
            done || (known && sasl::decode_b64(line.bytes).is_none())
        };
        if leave {
            self.finish_sasl(None, None);
            self.client_mode = Some(ClientMode::Command);
            self.command_line(line);
            return;
        }
        self.push_line_entry(Side::Client, line);
        let arg = self.field(line.bytes, self.limits.max_text, "arg");
        let idx = self.push_command("AUTH-DATA", arg, line.meta);
        if let Some(s) = &mut self.sasl {
            s.ex.client(line.bytes, line.meta);
            if parser::trim(line.bytes) != b"*" {
                s.responses += 1;
            }
        }
        self.push_pending(idx, Kind::Auth);
    }

    /// The server asked for one more SASL response: its last reply to the exchange was a
    /// 334 that came after the client's responses so far.
    fn sasl_challenged(&self) -> bool {
        self.sasl
            .as_ref()
            .is_some_and(|s| s.challenges > s.responses)
    }

    /// Ends the SASL exchange in progress (if any) and records its credential.
    fn finish_sasl(&mut self, success: Option<bool>, reply: Option<String>) {
        let Some(s) = self.sasl.take() else {
            return;
        };
        if self.client_mode() == ClientMode::Sasl {
            self.client_mode = Some(ClientMode::Command);
        }
        let mut cred = s.ex.finish(success, reply);
        cred.encrypted = self.upgrade.decrypting();
        if s.responses > 0 && self.tls == Tls::None {
            self.cleartext_creds
                .push((cred.mechanism.clone(), cred.frame));
        }
        self.credentials.push(cred);
    }

    fn content_line(&mut self, line: &Line<'_>) {
        let limits = self.msg_limits;
        let Some(m) = &mut self.msg else {
            self.client_mode = Some(ClientMode::Command);
            return self.command_line(line);
        };
        m.started = true;
        // Policy for bare LF: that of Postfix 3.9 and later by default
        // (`smtpd_forbid_bare_newline = normalize`) and of RFC 5321 §4.1.1.4: DATA ends only
        // at CRLF `.` CRLF; a `.` line with a bare LF on either side is content (the server
        // answers only at the real end, so replies stay paired). Lines themselves may end
        // in a bare LF, as Postfix accepts them.
        let crlf_before = m.prev_crlf;
        if !line.partial {
            m.prev_crlf = line.ending == b"\r\n";
        }
        let bare_lf_end = is_terminator(line) && !(crlf_before && line.ending == b"\r\n");
        if is_terminator(line) && !bare_lf_end {
            let tx = m.tx;
            // An empty message (DATA then `.`) has its place and time from its end line.
            m.builder
                .get_or_insert_with(|| MessageBuilder::new(line.meta, &limits));
            self.push_line_entry(Side::Client, line);
            self.finish_message(true);
            self.client_mode = Some(ClientMode::Command);
            self.current_tx = None;
            self.push_pending(None, Kind::DataEnd { tx });
            return;
        }
        if line.after_gap {
            // The rest of a line whose start was lost: its bytes cannot be placed exactly.
            m.gap = true;
            self.anomalies.add(Anomaly::GapResync);
            return;
        }
        let b = m
            .builder
            .get_or_insert_with(|| MessageBuilder::new(line.meta, &limits));
        b.push_dotted_line(line);
        if !line.partial {
            m.lines += 1;
        }
        self.update_body(line.meta);
        if bare_lf_end {
            self.anomalies.add(Anomaly::BareLfTerminator);
        }
    }

    /// Keeps the transcript's `Body` entry of the message in progress up to date.
    fn update_body(&mut self, meta: ChunkMeta) {
        if !self.dialogue.is_kept() {
            return;
        }
        let next_index = self.messages.len();
        let Some(m) = &self.msg else { return };
        let (lines, bytes) = (m.lines, m.builder.as_ref().map_or(0, MessageBuilder::size));
        match m.body_entry {
            Some(e) => {
                if let Some(DialogueEvent::Body {
                    lines: l, bytes: b, ..
                }) = self.dialogue.event_mut(e)
                {
                    *l = lines;
                    *b = bytes;
                }
            }
            None => {
                let message = (m.tx != usize::MAX).then(|| next_index.to_string());
                let e = self.push_entry(
                    Side::Client,
                    meta,
                    DialogueEvent::Body {
                        lines,
                        bytes,
                        message,
                    },
                );
                if let Some(m) = &mut self.msg {
                    m.body_entry = e;
                }
            }
        }
    }

    fn msg_gap(&mut self) {
        if let Some(m) = &mut self.msg {
            m.gap = true;
            if let Some(b) = &mut m.builder {
                b.gap();
            }
        }
    }

    /// Closes the message in progress, if any. `ended`: its proper end was seen.
    fn finish_message(&mut self, ended: bool) {
        let Some(m) = self.msg.take() else { return };
        if !m.started {
            // DATA without content (refused, or the stream ended): no message.
            return;
        }
        if m.tx == usize::MAX || self.messages.len() >= self.limits.max_transactions {
            self.mark_truncated("messages");
            return;
        }
        let limits = self.msg_limits;
        let builder = m
            .builder
            .unwrap_or_else(|| MessageBuilder::new(ChunkMeta::default(), &limits));
        let mut message = builder.finish(ended && !m.gap, MessageDirection::Sent, &limits);
        message.encrypted = self.upgrade.decrypting();
        let idx = self.messages.len();
        self.transactions[m.tx].message = Some(idx.to_string());
        self.messages.push(message);
        self.msg_tx.push(m.tx);
    }

    // ----- server side ---------------------------------------------------------------

    fn server_line(&mut self, line: &Line<'_>) {
        // As for commands: after a gap, a line that parses as a reply is taken as one.
        if line.after_gap && (line.continuation || parse_reply(line.bytes).is_none()) {
            self.anomalies.add(Anomaly::GapResync);
            return;
        }
        if line.continuation {
            return;
        }
        self.push_line_entry(Side::Server, line);
        if let Some(code) = line.bytes.first_chunk::<3>() {
            if code.iter().all(u8::is_ascii_digit) && parser::is_ftp_reply_code(code) {
                self.ftp_signs += 1;
            }
        }
        let Some(r) = parse_reply(line.bytes) else {
            self.anomalies.add(Anomaly::InvalidReply);
            self.junk_lines += 1;
            return;
        };
        let max_lines = self.limits.max_reply_lines;
        if self.reply.is_none() && !r.more && max_lines > 0 {
            // A one-line reply (nearly all): answered from the line itself, as the
            // gathering below would, without copying its text.
            self.valid_replies += 1;
            self.handle_reply(FullReply {
                code: r.code,
                lines: ReplyLines::One(r.text),
                meta: line.meta,
            });
            return;
        }
        let acc = self.reply.get_or_insert_with(|| ReplyAcc {
            code: r.code,
            lines: Vec::new(),
            meta: line.meta,
        });
        if acc.code != r.code {
            self.anomalies.add(Anomaly::ReplyCodeMismatch);
        }
        if acc.lines.len() < max_lines {
            acc.lines.push(r.text.to_vec());
        } else {
            self.anomalies.add(Anomaly::ReplyTooLong);
            self.mark_truncated("reply");
        }
        // A piece of an overlong reply line: its end comes as continuation, not parsed.
        if r.more {
            return;
        }
        if let Some(acc) = self.reply.take() {
            self.valid_replies += 1;
            self.handle_reply(FullReply {
                code: acc.code,
                lines: ReplyLines::Many(acc.lines),
                meta: acc.meta,
            });
        }
    }

    fn handle_reply(&mut self, r: FullReply<'_>) {
        // The greeting: the first reply with nothing asked yet, or a first 220 while the
        // client already pipelined its EHLO (Exim's PIPE_CONNECT).
        if !self.greeting_done {
            self.greeting_done = true;
            let front_is_starttls = self
                .pending
                .front()
                .is_some_and(|p| p.kind == Kind::Starttls);
            if self.pending.is_empty() || (r.is(b"220") && !front_is_starttls) {
                if r.is(b"220") {
                    self.banner_220 = true;
                }
                let text = r.lines().map(lossy).collect::<Vec<_>>().join("\n");
                self.banner = Some(cut(text, self.limits.max_text).0);
                return;
            }
        }
        // Content after a gap and a server reply: the `.` line was lost in the gap.
        if self.client_mode() == ClientMode::Data {
            if let Some(m) = &self.msg {
                let data_answered = !self.pending.iter().any(|p| p.kind == Kind::Data);
                if m.gap && m.got_354 && data_answered {
                    let tx = m.tx;
                    self.anomalies.add(Anomaly::LostDataTerminator);
                    self.finish_message(false);
                    self.client_mode = Some(ClientMode::Command);
                    self.current_tx = None;
                    self.pending.push_front(Pending {
                        cmd: None,
                        kind: Kind::DataEnd { tx },
                    });
                }
            }
        }
        if r.is(b"334") && self.sasl.is_none() {
            self.anomalies.add(Anomaly::UnexpectedChallenge);
        }
        let Some(p) = self.pending.pop_front() else {
            self.anomalies.add(Anomaly::ReplyWithoutCommand);
            return;
        };
        // The reply as on the wire is built only where it is kept (not for EHLO, MAIL, ...).
        let max_text = self.limits.max_text;
        if let Some(i) = p.cmd {
            let reply = self.make_reply(&r);
            self.commands[i].reply = Some(reply);
        }
        let success = r.class() == b'2';
        if success && matches!(p.kind, Kind::Helo | Kind::Ehlo) {
            if let Some(i) = p.cmd {
                let name = parser::trim(self.commands[i].arg.as_bytes()).to_vec();
                self.helo_accepted = Some(lossy(&name));
            }
        }
        match p.kind {
            Kind::Ehlo if success => {
                let max = self.limits.max_field;
                let exts: Vec<String> = r.lines().skip(1).map(|l| cut(lossy(l), max).0).collect();
                self.starttls_offered |= exts.iter().any(|e| {
                    e.split_whitespace()
                        .next()
                        .is_some_and(|k| k.eq_ignore_ascii_case("STARTTLS"))
                });
                self.extensions = exts;
            }
            Kind::Mail { tx: Some(t), prev } if !success => self.mail_refused(t, prev),
            Kind::Rcpt { tx, rcpt } => {
                if let Some(rc) = rcpt.and_then(|i| self.transactions[tx].rcpt_to.get_mut(i)) {
                    rc.accepted = success;
                    rc.reply = Some(r.raw(max_text));
                }
                if !success {
                    self.drop_phantom(tx);
                }
            }
            Kind::Data => self.data_reply(&r),
            Kind::DataEnd { tx } => self.end_of_data_reply(tx, success, r.raw(max_text)),
            Kind::Bdat { tx, last } if last || !success => {
                self.end_of_data_reply(tx, success, r.raw(max_text));
            }
            Kind::Auth if self.sasl.is_some() => {
                if r.is(b"334") {
                    let challenge = r.lines().next().unwrap_or(b"");
                    if let Some(s) = &mut self.sasl {
                        s.ex.server(challenge);
                        s.challenges += 1;
                    }
                } else {
                    self.finish_sasl(Some(success), Some(r.raw(max_text)));
                }
            }
            Kind::Starttls => {
                if r.is(b"220") {
                    self.tls = Tls::Starttls;
                    self.starttls_pending = false;
                    self.tls_unconfirmed = true;
                } else {
                    // Refused: the dialogue goes on in clear.
                    self.starttls_pending = false;
                    self.upgrade.refused();
                }
            }
            Kind::Quit if r.is(b"221") => self.quit_answered = true,
            _ => {}
        }
    }

    /// MAIL was refused: RFC 5321 §3.3, what the server refused did not happen. It starts
    /// no transaction (the command list keeps it, with its reply); a nested MAIL refused
    /// with 503 leaves the transaction that was open as it was, and recipients pipelined
    /// after the refused MAIL belong to that one (or to none).
    fn mail_refused(&mut self, t: usize, prev: Option<usize>) {
        if t + 1 != self.transactions.len() || self.transactions[t].message.is_some() {
            return;
        }
        let Some(refused) = self.transactions.pop() else {
            return;
        };
        let base = prev.map(|p| self.transactions[p].rcpt_to.len());
        if let Some(p) = prev {
            self.transactions[p].rcpt_to.extend(refused.rcpt_to);
        }
        let move_tx = |tx: usize| if tx == t { prev } else { Some(tx) };
        for q in &mut self.pending {
            q.kind = match q.kind {
                Kind::Rcpt { tx, rcpt } if tx == t => match (prev, base) {
                    (Some(p), Some(b)) => Kind::Rcpt {
                        tx: p,
                        rcpt: rcpt.map(|i| b + i),
                    },
                    _ => Kind::Other,
                },
                Kind::DataEnd { tx } => move_tx(tx).map_or(Kind::Other, |tx| Kind::DataEnd { tx }),
                Kind::Bdat { tx, last } => {
                    move_tx(tx).map_or(Kind::Other, |tx| Kind::Bdat { tx, last })
                }
                k => k,
            };
        }
        if let Some(m) = &mut self.msg {
            if m.tx == t {
                m.tx = prev.unwrap_or(usize::MAX);
            }
        }
        if self.current_tx == Some(t) {
            self.current_tx = prev;
        }
    }

    /// A MAIL after RSET after the server refused DATA (RFC 5321 §4.1.1.5: sender and
    /// recipients were discarded): the client tries the same mail again, so the attempt
    /// that transferred nothing is not listed as a transaction of its own (its commands
    /// and replies stay in the command list).
    fn drop_refused_attempt(&mut self) {
        let Some(t) = self.reset_after_refused_data.take() else {
            return;
        };
        if t + 1 == self.transactions.len()
            && self.transactions[t].message.is_none()
            && !self.refers_to(t)
        {
            self.transactions.pop();
        }
    }

    /// A command still waiting for its reply refers to transaction `t`.
    fn refers_to(&self, t: usize) -> bool {
        self.pending.iter().any(|p| match p.kind {
            Kind::Rcpt { tx, .. } | Kind::DataEnd { tx } | Kind::Bdat { tx, .. } => tx == t,
            Kind::Mail { tx, .. } => tx == Some(t),
            _ => false,
        }) || self.msg.as_ref().is_some_and(|m| m.tx == t && m.started)
    }

    /// A RCPT or DATA outside any transaction opened a tentative one (for a capture that
    /// started mid-transaction); the server refused it (RFC 5321 §3.3: 503, no MAIL), so
    /// there was no transaction: it is dropped once nothing else refers to it.
    fn drop_phantom(&mut self, t: usize) {
        let Some(tx) = self.transactions.get(t) else {
            return;
        };
        if t + 1 != self.transactions.len()
            || tx.mail_from.is_some()
            || tx.message.is_some()
            || tx.rcpt_to.iter().any(|r| r.accepted)
            || self.refers_to(t)
        {
            return;
        }
        self.transactions.pop();
        if let Some(m) = &mut self.msg {
            if m.tx == t {
                m.tx = usize::MAX;
            }
        }
        if self.current_tx == Some(t) {
            self.current_tx = None;
        }
    }

    fn data_reply(&mut self, r: &FullReply<'_>) {
        let Some(m) = &mut self.msg else { return };
        if r.is(b"354") {
            m.got_354 = true;
        } else if !m.started {
            // DATA refused (e.g. 554 no valid recipients): the client's lines are commands.
            let tx = m.tx;
            self.msg = None;
            if tx != usize::MAX {
                self.data_refused = Some(tx);
                self.drop_phantom(tx);
            }
            if self.client_mode() == ClientMode::Data {
                self.client_mode = Some(ClientMode::Command);
            }
        } else {
            self.anomalies.add(Anomaly::DataBeforeReply);
        }
    }

    fn end_of_data_reply(&mut self, tx: usize, success: bool, raw: String) {
        if let Some(t) = self.transactions.get_mut(tx) {
            t.data_reply = Some(raw);
            t.accepted = Some(success);
        }
    }

    fn make_reply(&mut self, r: &FullReply<'_>) -> Reply {
        let class = r.class();
        let first = r.lines().next().and_then(|l| split_enhanced(class, l));
        // Borrowed from the reply: the model's String is the only copy.
        let enhanced = first.map(|(e, _)| e);
        // Lines repeating the enhanced code (RFC 3463 replies carry it on each line) lose
        // it; the code is in `enhanced`.
        fn line_text<'a>(enhanced: Option<&[u8]>, class: u8, l: &'a [u8]) -> Cow<'a, str> {
            match (enhanced, split_enhanced(class, l)) {
                (Some(e), Some((le, rest))) if e == le => crate::text::lossy(rest),
                _ => crate::text::lossy(l),
            }
        }
        // A one-line reply (nearly all) is its text, without a list to join, and its
        // first split is its only one.
        let text = match (r.line_count(), first) {
            (1, Some((_, rest))) => crate::text::lossy(rest).into_owned(),
            (1, None) => crate::text::lossy(r.lines().next().unwrap_or_default()).into_owned(),
            _ => r
                .lines()
                .map(|l| line_text(enhanced, class, l))
                .collect::<Vec<_>>()
                .join("\n"),
        };
        // Valid UTF-8 already: the cut alone bounds it, as `field` would.
        let (text, was_cut) = cut(text, self.limits.max_text);
        if was_cut {
            self.mark_truncated("reply");
        }
        Reply {
            code: r.code_str(),
            status: None,
            enhanced: enhanced.map(lossy),
            text,
            frame: r.meta.frame,
            time: r.meta.ts,
        }
    }

    // ----- end -----------------------------------------------------------------------

    /// At the end of the stream: a message or an exchange still open is closed as seen.
    fn close_open_work(&mut self) {
        self.finish_message(false);
        self.finish_sasl(None, None);
    }

    fn output(&mut self) -> SessionOutput {
        let mut messages = std::mem::take(&mut self.messages);
        for (m, &tx) in messages.iter_mut().zip(&self.msg_tx) {
            if let Some(t) = self.transactions.get(tx) {
                m.mail_from = t.mail_from.clone();
                m.rcpt_to = Some(
                    t.rcpt_to
                        .iter()
                        .filter(|r| r.accepted)
                        .map(|r| r.address.clone())
                        .collect(),
                );
            }
        }
        let findings = self.findings(&messages);
        SessionOutput {
            detail: ProtocolDetail::Smtp(SmtpDetail {
                helo: self.helo_accepted.take().or_else(|| self.helo.take()),
                extensions: std::mem::take(&mut self.extensions),
                transactions: std::mem::take(&mut self.transactions),
            }),
            banner: self.banner.take(),
            tls: self.tls,
            starttls_offered: self.starttls_offered,
            complete: self.banner_220 && self.quit_answered,
            commands: std::mem::take(&mut self.commands),
            credentials: std::mem::take(&mut self.credentials),
            messages,
            dialogue: self.dialogue.take(),
            findings,
            truncated: std::mem::take(&mut self.truncated),
            anomalies: self.anomalies.render(),
        }
    }

    fn findings(&self, messages: &[Message]) -> Vec<Finding> {
        let mut out = Vec::new();
        if let Some((mech, frame)) = self.cleartext_creds.first() {
            let mut mechs: Vec<&str> = Vec::new();
            for (m, _) in &self.cleartext_creds {
                if !mechs.contains(&m.as_str()) {
                    mechs.push(m);
                }
            }
            let n = self.cleartext_creds.len();
            out.push(Finding {
                code: "cleartext-auth".into(),
                detail: if n == 1 {
                    format!("AUTH {mech} credentials sent without TLS (frame {frame})")
                } else {
                    format!(
                        "{n} AUTH attempts ({}) sent without TLS, the first in frame {frame}",
                        mechs.join(", ")
                    )
                },
            });
        }
        // Messages read in clear; those of a decrypted session crossed inside TLS.
        {
            let clear: Vec<&Message> = messages.iter().filter(|m| !m.encrypted).collect();
            if let Some(first) = clear.first() {
                let n = clear.len();
                let bytes: u64 = clear.iter().map(|m| m.size).sum();
                out.push(Finding {
                    code: "cleartext-mail".into(),
                    detail: format!(
                        "{n} message{} ({bytes} bytes) sent without TLS, the first in frame {}",
                        if n == 1 { "" } else { "s" },
                        first.frame
                    ),
                });
            }
        }
        self.upgrade.findings("STARTTLS", "220", &mut out);
        // A refused STARTTLS is reported as such (the client went on in clear with the very
        // command that would make this finding).
        let (negotiation, refusal) = (
            self.upgrade.not_negotiated.is_some(),
            self.upgrade.went_on_after_refusal(),
        );
        if let Some((verb, frame)) = self.not_used.filter(|_| !negotiation && !refusal) {
            out.push(Finding {
                code: "starttls-offered-not-used".into(),
                detail: format!(
                    "the server offered STARTTLS; the client sent {verb} in clear without it (frame {frame})"
                ),
            });
        }
        out
    }
}

impl MsgState {
    fn new(tx: usize) -> Self {
        MsgState {
            builder: None,
            tx,
            gap: false,
            started: false,
            got_354: false,
            body_entry: None,
            lines: 0,
            prev_crlf: true,
        }
    }
}

/// Lossy UTF-8 text of wire bytes.
fn lossy(b: &[u8]) -> String {
    crate::text::lossy(b).into_owned()
}

/// Cuts `s` to at most `max` bytes on a character boundary; true when it was cut.
fn cut(mut s: String, max: usize) -> (String, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    (s, true)
}
