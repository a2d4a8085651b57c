//! IMAP dissector (RFC 9051 / 3501; 7888 LITERAL+/-, 3516 literal8, 4978 COMPRESS, 2177
//! IDLE, 4959 SASL-IR, 2971 ID, 5161 ENABLE, 6855 UTF8=ACCEPT).
//!
//! # Framing
//! Each direction is a sequence of *logical lines*: a line that ends with a literal marker
//! (`{n}`, `{n+}`, `{n-}`, `~{n}`) continues after the marker's line ending and `n` octets
//! that are counted, never scanned for line endings: a message body that contains `a1 OK`
//! or `* BYE` cannot end a response early. The line pieces of a logical line are kept (up
//! to [`ImapLimits::max_logical`]); small literals (astrings: user names, passwords,
//! mailbox names) are kept apart, up to [`ImapLimits::max_kept_literal`] each; message
//! literals (FETCH `BODY[...]`/`RFC822*`/`BINARY[...]` data, APPEND messages) stream into a
//! [`MessageBuilder`] and are never buffered whole. A synchronizing client literal whose
//! command is refused (tagged NO/BAD before any octet) is cancelled.
//!
//! # Pairing
//! Commands wait in a bounded queue ([`ImapLimits::max_pending`]) and a tagged
//! `OK`/`NO`/`BAD` answers the command with that tag, wherever it is in the queue
//! (pipelining); untagged responses are taken at any time. While an AUTHENTICATE exchange
//! is open every client line is a SASL response (base64 has no spaces: a line shaped like a
//! tagged command ends the exchange as unanswered); while IDLE is open, `DONE` ends it.
//!
//! # Messages
//! Whole messages (`BODY[]`, `BODY.PEEK[]`, `RFC822`, `BINARY[]`) are "retrieved",
//! APPEND literals "appended"; other sections are `partial`. Ranges `BODY[]<o>` of one
//! message (same sequence number and mailbox) that follow each other from offset 0 are
//! assembled into one message, whole when a range came back shorter than asked (the
//! FETCH's `<o.len>`) or the total reached `RFC822.SIZE`; otherwise the message is partial
//! and says in `missing` which bytes were not fetched. The UID may follow the literal in
//! the same FETCH response: it is filled in at the end of the response.
//!
//! # Transport changes
//! After the tagged OK to `COMPRESS DEFLATE` both directions are raw DEFLATE (inflated with
//! a fixed output buffer and parsed as usual); a gap in a compressed stream cannot be
//! recovered. After the tagged OK to `STARTTLS` each direction is checked: a TLS record
//! makes it opaque; anything else is parsed on with a `starttls-not-negotiated` finding.
//!
//! # Gaps
//! A gap inside a literal shortens it (the message is incomplete); a gap in a line drops
//! the logical line in progress and the next line is not interpreted, except a tagged
//! response whose tag is pending (tags make the pairing robust) and literal markers (so the
//! framing stays right).
//!
//! # Evidence
//! [`ImapDissector::recognised`] is true with an untagged greeting (`* OK`, `* PREAUTH`,
//! `* BYE`), or, for captures that start mid-session, when the client's first line was a
//! tagged IMAP command and a tagged reply answered a pending command.

pub mod parser;
#[cfg(test)]
mod tests;

use super::dialogue::Dialogue;
use super::lines::{Line, LineReader, DEFAULT_MAX_LINE};
use super::message::{MessageBuilder, MessageLimits};
use super::sasl::{self, SaslExchange};
use super::upgrade::Upgrade;
use super::{ChunkMeta, Dissector, EndReason, Recognition, SessionOutput, StreamConsumer};
use crate::model::{
    Command, Credential, DialogueEvent, Finding, ImapDetail, ImapMailbox, Message,
    MessageDirection, Protocol, ProtocolDetail, Reply, Side, Tls,
};
use flate2::{Decompress, FlushDecompress, Status as ZStatus};
use parser::{LitRef, LiteralMarker, Status, Tokens};
use std::collections::{BTreeMap, VecDeque};

/// Bounds of one IMAP session. Every limit, when hit, is recorded in `truncated` or counted
/// in an `imap-<name> (<count>)` anomaly (capture counters `imap.<name>`).
#[derive(Debug, Clone, Copy)]
pub struct ImapLimits {
    /// Longest physical line buffered (longer lines are cut: their first `max_line` bytes
    /// are kept, and a literal marker in their last 64 bytes is still honoured).
    pub max_line: usize,
    /// Bytes kept of the line pieces of one logical line.
    pub max_logical: usize,
    /// Literals kept per logical line (further ones are counted, not kept).
    pub max_literals: usize,
    /// Octets kept of one non-message literal.
    pub max_kept_literal: usize,
    /// Commands waiting for their tagged reply; beyond it the oldest is given up.
    pub max_pending: usize,
    pub max_commands: usize,
    pub max_dialogue: usize,
    pub max_credentials: usize,
    pub max_messages: usize,
    pub max_mailboxes: usize,
    /// Capabilities, ENABLED entries and ID fields kept (each).
    pub max_listing: usize,
    pub max_anomalies: usize,
    /// Bytes kept of a banner, a command argument or a reply text.
    pub max_text: usize,
    /// A literal announced larger than this is counted as `imap-literal-huge` (it is still
    /// followed: its octets are counted or streamed, never buffered).
    pub huge_literal: u64,
}

impl Default for ImapLimits {
    fn default() -> Self {
        ImapLimits {
            max_line: DEFAULT_MAX_LINE,
            max_logical: 64 * 1024,
            // At most 16 × 4 KiB of literals kept per logical line and direction: enough for
            // user names, passwords, mailbox names and ID values, small per connection.
            max_literals: 16,
            max_kept_literal: 4 * 1024,
            max_pending: 1024,
            max_commands: 20_000,
            max_dialogue: 100_000,
            max_credentials: 1_000,
            max_messages: 10_000,
            max_mailboxes: 1_000,
            max_listing: 256,
            max_anomalies: 100,
            max_text: 4096,
            huge_literal: 1 << 30,
        }
    }
}

/// Configuration of the IMAP dissector.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImapConfig {
    pub limits: ImapLimits,
    pub message: MessageLimits,
    /// The connection is TLS from the first byte (IMAPS, port 993).
    pub tls_from_start: bool,
    /// Do not build the transcript.
    pub skip_dialogue: bool,
}

/// One side's opinion during recognition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Yes,
    No,
    NeedMore,
}

/// Cheap content recognition: is this connection IMAP?
///
/// `Yes` when the server's first line is an untagged `* OK`/`* PREAUTH`/`* BYE` greeting
/// or `* CAPABILITY` (POP3's `+OK` and SMTP's `220` are not), or when the client's first
/// line is `<tag> <verb>` with a verb a client opens a session with (LOGIN, AUTHENTICATE,
/// CAPABILITY, STARTTLS, ID, ...) and the server has not said something else.
pub fn looks_like_imap(client_prefix: &[u8], server_prefix: &[u8]) -> Recognition {
    use Verdict::*;
    let client = if client_prefix.is_empty() {
        NeedMore
    } else {
        let (line, whole) = match memchr::memchr(b'\n', client_prefix) {
            Some(nl) => (&client_prefix[..nl], true),
            None => (client_prefix, false),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        match parser::split_tag(line) {
            Some((tag, rest)) if tag != b"*" && tag != b"+" => {
                let (verb, _) = parser::split_word(rest);
                let verb_done = whole || verb.len() < rest.len();
                if verb_done && parser::is_opening_verb(verb) {
                    Yes
                } else if (verb_done && parser::is_known_verb(verb)) || (!whole && line.len() < 32)
                {
                    // A known verb that is not an opener (a capture started mid-session),
                    // or a line still arriving: the server's side decides.
                    NeedMore
                } else {
                    No
                }
            }
            None if !whole && line.len() < 32 && line.iter().all(|&b| parser::is_tag_char(b)) => {
                NeedMore
            }
            _ => No,
        }
    };
    let server = if server_prefix.is_empty() {
        NeedMore
    } else {
        let (line, whole) = match memchr::memchr(b'\n', server_prefix) {
            Some(nl) => (&server_prefix[..nl], true),
            None => (server_prefix, false),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let greeting = [&b"* OK"[..], b"* PREAUTH", b"* BYE", b"* CAPABILITY"]
            .iter()
            .any(|g| {
                line.len() >= g.len()
                    && line[..g.len()].eq_ignore_ascii_case(g)
                    && matches!(line.get(g.len()), None | Some(b' '))
            });
        if greeting && (whole || line.len() > 5) {
            Yes
        } else if !whole
            && [&b"* OK "[..], b"* PREAUTH ", b"* BYE "]
                .iter()
                .any(|g| g.len() > line.len() && g[..line.len()].eq_ignore_ascii_case(line))
        {
            NeedMore
        } else {
            No
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

/// What a pending command waits for.
#[derive(Debug)]
enum Kind {
    Login(Box<Credential>),
    Authenticate,
    /// Index in `mailboxes` (None when that list was full).
    Select(Option<usize>),
    Compress,
    Starttls,
    Logout,
    Idle,
    /// Messages this APPEND uploaded (their APPENDUID is in the tagged OK).
    Append(Vec<usize>),
    Other,
    Unknown,
}

#[derive(Debug)]
struct Pending {
    tag: String,
    /// Index in `commands`, None when that list was full.
    idx: Option<usize>,
    kind: Kind,
}

/// How a direction's bytes are taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    /// STARTTLS was accepted: the next bytes decide between TLS and plain text.
    TlsCheck,
    Tls,
    /// The compressed stream cannot be inflated any more (a gap or corrupt data).
    Dead,
}

/// A literal kept for parsing (not a message).
#[derive(Debug, Default)]
struct KeptLit {
    data: Vec<u8>,
    cut: bool,
    meta: ChunkMeta,
    /// Its transcript entry.
    entry: Option<usize>,
}

/// The logical line being received in one direction.
#[derive(Debug, Default)]
struct Logical {
    active: bool,
    text: Vec<u8>,
    lits: Vec<KeptLit>,
    /// Literals of this line beyond `max_literals` (counted, not kept).
    lits_dropped: usize,
    meta: ChunkMeta,
    /// Where the last line piece began (the packet of a secret at the end of the line).
    last_meta: ChunkMeta,
    cut: bool,
    after_gap: bool,
    /// Messages completed within this line (UID and size come at its end).
    msgs: Vec<usize>,
}

impl Logical {
    fn reset(&mut self) {
        self.active = false;
        self.text.clear();
        self.lits.clear();
        self.lits_dropped = 0;
        self.cut = false;
        self.after_gap = false;
        self.msgs.clear();
    }
}

/// A message literal in progress.
#[derive(Debug)]
struct MsgLit {
    builder: MessageBuilder,
    direction: MessageDirection,
    partial: bool,
    seq: Option<u64>,
    mailbox: Option<String>,
    section: Option<String>,
    missing: Option<String>,
}

/// Where the octets of the literal in progress go.
#[derive(Debug)]
enum Role {
    /// Into `Logical::lits` (index).
    Keep(usize),
    Message(Box<MsgLit>),
    /// A range of the message being assembled (`ImapDissector::assembly`).
    Range,
    Skip,
}

#[derive(Debug)]
struct Lit {
    remaining: u64,
    total: u64,
    sync: bool,
    role: Role,
    /// Transcript entry (Body or Literal).
    entry: Option<usize>,
    /// Octets lost in gaps.
    lost: bool,
    /// The first octet (or the end) was seen: `entry` was made.
    started: bool,
    /// The packet of the marker line (the entry's packet when no octet arrives).
    meta: ChunkMeta,
}

impl Lit {
    /// Octets of this literal were lost: the message (or the range's assembly) it carries
    /// has a gap.
    fn mark_lost(&mut self, assembly: Option<&mut Assembly>) {
        self.lost = true;
        match &mut self.role {
            Role::Message(m) => m.builder.gap(),
            Role::Range => {
                if let Some(a) = assembly {
                    a.builder.gap();
                }
            }
            _ => {}
        }
    }
}

/// One direction of the connection.
#[derive(Debug)]
struct Dir {
    reader: LineReader,
    lit: Option<Lit>,
    logical: Logical,
    inflate: Option<Box<Decompress>>,
    mode: Mode,
    tls_entry: Option<usize>,
    /// The last bytes of the pieces of an overlong line (at most [`MARKER_WINDOW`]).
    tail: Vec<u8>,
}

/// The end of an overlong line in which its literal marker is looked for: the marker is
/// found wherever the line was cut into pieces (which depends on the packets).
const MARKER_WINDOW: usize = 64;

impl Dir {
    fn new(max_line: usize) -> Self {
        Dir {
            tail: Vec::new(),
            reader: LineReader::new(max_line),
            lit: None,
            logical: Logical::default(),
            inflate: None,
            mode: Mode::Plain,
            tls_entry: None,
        }
    }
}

/// Ranges `BODY[]<o>` of one message being put together.
#[derive(Debug)]
struct Assembly {
    builder: MessageBuilder,
    seq: u64,
    mailbox: Option<String>,
    uid: Option<u64>,
    next: u64,
    /// RFC822.SIZE when the server told it.
    size: Option<u64>,
    /// The last range's length and the length asked for.
    last_len: u64,
    asked: Option<u64>,
    /// Transcript entries of its ranges (to name the message at the end).
    entries: Vec<usize>,
}

/// An AUTHENTICATE exchange in progress.
#[derive(Debug)]
struct Sasl {
    tag: String,
    ex: SaslExchange,
    responses: u32,
}

/// Size of the inflate output buffer: inflated bytes are parsed in pieces of this size.
const INFLATE_BUF: usize = 16 * 1024;

/// The IMAP state machine of one connection.
#[derive(Debug)]
pub struct ImapDissector {
    cfg: ImapConfig,
    dirs: [Dir; 2],
    tls: Tls,
    /// Shared inflate output buffer, allocated when COMPRESS starts.
    zbuf: Vec<u8>,
    /// The current feed call must return: the direction's transport changed mid-chunk.
    switched: bool,

    greeting: bool,
    first_client_known: Option<bool>,
    answered_known: bool,
    tls_record_seen: bool,
    client_spoke: [bool; 2],

    banner: Option<String>,
    authenticated: bool,
    utf8: bool,
    idling: bool,
    logout_answered: bool,
    starttls_offered: bool,
    /// Where TLS began, decryption, and the STARTTLS findings.
    upgrade: Upgrade,
    end: Option<EndReason>,
    mailbox: Option<String>,
    /// The whole-message range length asked for by the latest FETCH (`<o.len>`).
    asked: Option<u64>,

    pending: VecDeque<Pending>,
    sasl: Option<Sasl>,
    /// Boxed: a connection without a ranged fetch in progress holds 8 bytes.
    assembly: Option<Box<Assembly>>,

    detail: ImapDetail,
    commands: Vec<Command>,
    credentials: Vec<Credential>,
    messages: Vec<Message>,
    dialogue: Dialogue,
    findings: Vec<Finding>,
    truncated: Vec<String>,
    anomalies: Vec<String>,
    anomalies_dropped: u64,
    /// Limit hits and anomalies by name, reported as `imap-<name> (<count>)`.
    counts: BTreeMap<&'static str, u64>,
}

fn side(from: Side) -> usize {
    match from {
        Side::Client => 0,
        Side::Server => 1,
    }
}

fn strip_ending(l: &[u8]) -> &[u8] {
    let l = l.strip_suffix(b"\n").unwrap_or(l);
    l.strip_suffix(b"\r").unwrap_or(l)
}

/// The first physical line of a logical line's text, without its ending.
fn first_line(text: &[u8]) -> &[u8] {
    match memchr::memchr(b'\n', text) {
        Some(i) => strip_ending(&text[..=i]),
        None => text,
    }
}

impl ImapDissector {
    /// A dissector for one connection.
    pub fn new(cfg: &ImapConfig) -> Self {
        let max_line = cfg.limits.max_line;
        ImapDissector {
            cfg: *cfg,
            dirs: [Dir::new(max_line), Dir::new(max_line)],
            tls: if cfg.tls_from_start {
                Tls::Implicit
            } else {
                Tls::None
            },
            zbuf: Vec::new(),
            switched: false,
            greeting: false,
            first_client_known: None,
            answered_known: false,
            tls_record_seen: false,
            client_spoke: [false; 2],
            banner: None,
            authenticated: false,
            utf8: false,
            idling: false,
            logout_answered: false,
            starttls_offered: false,
            upgrade: Upgrade::default(),
            end: None,
            mailbox: None,
            asked: None,
            pending: VecDeque::new(),
            sasl: None,
            assembly: None,
            detail: ImapDetail::default(),
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
            counts: BTreeMap::new(),
        }
    }

    /// Evidence that the connection really was IMAP (see the module documentation).
    pub fn is_imap(&self) -> bool {
        if self.cfg.tls_from_start {
            return self.tls_record_seen;
        }
        self.greeting || (self.first_client_known == Some(true) && self.answered_known)
    }

    // ---- bounded recording -------------------------------------------------------------

    fn count(&mut self, name: &'static str) {
        *self.counts.entry(name).or_insert(0) += 1;
    }

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

    fn clip(&mut self, bytes: &[u8], field: &str) -> String {
        let max = self.cfg.limits.max_text;
        if bytes.len() > max {
            self.truncate(field);
            sasl::text(&bytes[..max])
        } else {
            sasl::text(bytes)
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
            "IMAP-LOGIN" => "LOGIN password".to_string(),
            m => format!("AUTHENTICATE {m} credentials"),
        };
        let mut c = c;
        c.encrypted = self.upgrade.decrypting();
        if self.tls == Tls::None {
            self.findings.push(Finding {
                code: "cleartext-auth".into(),
                detail: format!("{what} for {who} sent in clear text (frame {})", c.frame),
            });
        }
        self.credentials.push(c);
    }

    fn push_message(&mut self, msg: Message) -> Option<usize> {
        if self.messages.len() >= self.cfg.limits.max_messages {
            self.truncate("messages");
            return None;
        }
        let i = self.messages.len();
        let mut msg = msg;
        msg.id = i.to_string();
        msg.encrypted = self.upgrade.decrypting();
        if self.tls == Tls::None {
            let what = match (msg.direction, msg.partial) {
                (MessageDirection::Appended, _) => "uploaded with APPEND",
                (_, true) => "partly fetched",
                _ => "fetched",
            };
            self.findings.push(Finding {
                code: "cleartext-mail".into(),
                detail: format!(
                    "message ({} bytes) {what} in clear text (frame {})",
                    msg.size, msg.frame
                ),
            });
        }
        self.messages.push(msg);
        Some(i)
    }

    // ---- transport ---------------------------------------------------------------------

    fn tls_bytes(&mut self, from: Side, len: usize, meta: ChunkMeta) {
        let s = side(from);
        if self.dirs[s].tls_entry.is_none() {
            self.dirs[s].tls_entry = self.entry(from, meta, DialogueEvent::Tls { bytes: 0 });
        }
        if let Some(DialogueEvent::Tls { bytes }) = self.dirs[s]
            .tls_entry
            .and_then(|e| self.dialogue.event_mut(e))
        {
            *bytes += len as u64;
        }
    }

    fn feed(&mut self, from: Side, bytes: &[u8], meta: ChunkMeta) {
        let s = side(from);
        if self.tls == Tls::Implicit && !self.upgrade.decrypting() {
            if !bytes.is_empty() && !self.client_spoke[s] {
                self.tls_record_seen |= bytes[0] == 0x16 && bytes.get(1).is_none_or(|&v| v == 3);
            }
            self.client_spoke[s] = true;
            self.tls_bytes(from, bytes.len(), meta);
            return;
        }
        self.client_spoke[s] = true;
        let mut input = bytes;
        while !input.is_empty() {
            match self.dirs[s].mode {
                Mode::Tls => {
                    self.upgrade.tls_began(input.len());
                    self.tls_bytes(from, input.len(), meta);
                    return;
                }
                Mode::Dead => return,
                Mode::TlsCheck => {
                    if super::is_tls_record_start(input) {
                        self.dirs[s].mode = Mode::Tls;
                        self.tls = Tls::Starttls;
                        continue;
                    }
                    self.dirs[s].mode = Mode::Plain;
                    // Reported once, in `finish`, like SMTP and POP3 do.
                    if self.upgrade.not_negotiated.is_none() {
                        self.upgrade.not_negotiated = Some((from, meta.frame));
                    }
                }
                Mode::Plain => {
                    if self.dirs[s].inflate.is_some() {
                        self.inflate(from, input, meta);
                        return;
                    }
                    let rest = self.plain(from, input, meta);
                    let stuck = rest.len() == input.len()
                        && self.dirs[s].mode == Mode::Plain
                        && self.dirs[s].inflate.is_none();
                    if stuck {
                        // Nothing consumed and nothing changed: never spin.
                        return;
                    }
                    input = rest;
                }
            }
        }
    }

    /// Inflates compressed bytes and parses the output.
    fn inflate(&mut self, from: Side, mut input: &[u8], meta: ChunkMeta) {
        let s = side(from);
        let Some(mut z) = self.dirs[s].inflate.take() else {
            return;
        };
        let mut out = std::mem::take(&mut self.zbuf);
        out.resize(INFLATE_BUF, 0);
        loop {
            let (in0, out0) = (z.total_in(), z.total_out());
            let r = z.decompress(input, &mut out, FlushDecompress::Sync);
            let used = (z.total_in() - in0) as usize;
            let made = (z.total_out() - out0) as usize;
            input = &input[used.min(input.len())..];
            if made > 0 {
                let rest = self.plain(from, &out[..made], meta);
                if !rest.is_empty() {
                    self.anomaly(format!(
                        "transport change inside the compressed stream; {} bytes not parsed (frame {})",
                        rest.len(),
                        meta.frame
                    ));
                }
            }
            match r {
                Err(e) => {
                    self.count("inflate-error");
                    self.anomaly(format!(
                        "compressed {} stream cannot be inflated: {e} (frame {})",
                        if from == Side::Client {
                            "client"
                        } else {
                            "server"
                        },
                        meta.frame
                    ));
                    self.dirs[s].mode = Mode::Dead;
                    break;
                }
                Ok(ZStatus::StreamEnd) => {
                    self.dirs[s].mode = Mode::Dead;
                    break;
                }
                Ok(_) => {}
            }
            if input.is_empty() && made < out.len() {
                break;
            }
            if used == 0 && made == 0 {
                break;
            }
        }
        self.zbuf = out;
        if self.dirs[s].mode == Mode::Plain {
            self.dirs[s].inflate = Some(z);
        }
    }

    /// Parses plain bytes; returns the rest when the transport changed mid-chunk.
    fn plain<'i>(&mut self, from: Side, mut input: &'i [u8], meta: ChunkMeta) -> &'i [u8] {
        let s = side(from);
        self.switched = false;
        let mut reader = std::mem::take(&mut self.dirs[s].reader);
        while !input.is_empty() {
            if self.dirs[s].lit.is_some() {
                let remaining = self.dirs[s].lit.as_ref().map_or(0, |l| l.remaining);
                let n = remaining.min(input.len() as u64) as usize;
                self.literal_bytes(from, &input[..n], meta);
                input = &input[n..];
                if self.dirs[s].lit.as_ref().is_some_and(|l| l.remaining == 0) {
                    self.literal_end(from);
                }
            } else {
                let Some(line) = reader.next_line(&mut input, meta) else {
                    break;
                };
                self.piece(from, &line);
            }
            if self.switched {
                break;
            }
        }
        self.dirs[s].reader = reader;
        input
    }

    // ---- framing -----------------------------------------------------------------------

    /// One physical line (or a piece of an overlong one).
    ///
    /// An overlong line comes in pieces whose cuts depend on the packets (the reader may
    /// hand out one byte more when a line ending could still follow). What is taken from
    /// it does not: the first `max_line` bytes, and a marker in its last [`MARKER_WINDOW`]
    /// bytes.
    fn piece(&mut self, from: Side, line: &Line<'_>) {
        let s = side(from);
        if line.partial {
            let tail = &mut self.dirs[s].tail;
            if !line.continuation {
                tail.clear();
            }
            tail.extend_from_slice(line.bytes);
            let cut = tail.len().saturating_sub(MARKER_WINDOW);
            tail.drain(..cut);
        }
        if line.continuation && line.partial {
            return; // the middle of an overlong line: already cut
        }
        let line = &Line {
            bytes: if line.partial {
                &line.bytes[..line.bytes.len().min(self.cfg.limits.max_line.max(1))]
            } else {
                line.bytes
            },
            ..*line
        };
        let max = self.cfg.limits.max_logical;
        {
            let lg = &mut self.dirs[s].logical;
            if !lg.active {
                lg.active = true;
                lg.meta = line.meta;
                lg.after_gap = line.after_gap;
            }
            lg.last_meta = line.meta;
            if !line.continuation {
                let room = max.saturating_sub(lg.text.len());
                let take = line.bytes.len().min(room);
                lg.text.extend_from_slice(&line.bytes[..take]);
                if take < line.bytes.len() {
                    lg.cut = true;
                }
            } else {
                lg.cut = true;
            }
        }
        if !line.continuation && self.dialogue.is_kept() {
            let text = self.clip(line.bytes, "dialogue");
            self.entry(from, line.meta, DialogueEvent::Line { line: text });
        }
        if line.partial {
            self.truncate("line");
            self.count("line-too-long");
            return; // the marker, if any, is on the final piece
        }
        let marker = if line.ending.is_empty() {
            None
        } else if line.continuation {
            // The end of an overlong line: the marker may straddle a cut.
            let window = MARKER_WINDOW.min(self.cfg.limits.max_line.max(1));
            let tail = &mut self.dirs[s].tail;
            tail.extend_from_slice(line.bytes);
            let m = parser::literal_marker(&tail[tail.len().saturating_sub(window)..]);
            tail.clear();
            m
        } else {
            parser::literal_marker(line.bytes)
        };
        {
            let lg = &mut self.dirs[s].logical;
            if lg.text.len() + line.ending.len() <= max {
                lg.text.extend_from_slice(line.ending);
            } else {
                lg.cut = true;
            }
        }
        match marker {
            Some(m) => self.literal_start(from, m, line),
            None => self.logical_end(from),
        }
    }

    fn literal_start(&mut self, from: Side, m: LiteralMarker, line: &Line<'_>) {
        let s = side(from);
        if m.len > self.cfg.limits.huge_literal {
            self.count("literal-huge");
        }
        let interpretable = !self.dirs[s].logical.after_gap && !line.continuation;
        let mut role = Role::Skip;
        if interpretable {
            role = match from {
                Side::Server => self.server_literal_role(m, line),
                Side::Client => self.client_literal_role(m),
            };
        }
        if let Role::Skip = role {
            // Not a message: keep it for parsing when room is left.
            let lg = &mut self.dirs[s].logical;
            if interpretable && lg.lits.len() < self.cfg.limits.max_literals {
                let keep = (m.len as usize).min(self.cfg.limits.max_kept_literal);
                lg.lits.push(KeptLit {
                    data: Vec::with_capacity(keep.min(1024)),
                    cut: false,
                    meta: line.meta,
                    entry: None,
                });
                role = Role::Keep(lg.lits.len() - 1);
            } else if interpretable {
                lg.lits_dropped += 1;
                self.truncate("literals");
                self.count("literals-per-line");
            }
        }
        if let Role::Range = role {
            if let Some(a) = self.assembly.as_mut() {
                a.last_len = 0;
            }
        }
        self.dirs[s].lit = Some(Lit {
            remaining: m.len,
            total: m.len,
            sync: m.sync && from == Side::Client,
            role,
            // Made when the first octet arrives, so that the transcript keeps stream order
            // (a synchronizing literal follows the server's `+`).
            entry: None,
            started: false,
            meta: line.meta,
            lost: false,
        });
        if m.len == 0 {
            self.literal_end(from);
        }
    }

    /// The role of a literal the server announces: FETCH message data, or a string.
    fn server_literal_role(&mut self, m: LiteralMarker, line: &Line<'_>) -> Role {
        let first = first_line(&self.dirs[1].logical.text);
        let Some((b"*", rest)) = parser::split_tag(first) else {
            return Role::Skip;
        };
        let (n, rest) = parser::split_word(rest);
        let (w, _) = parser::split_word(rest);
        let Some(seq) = std::str::from_utf8(n)
            .ok()
            .and_then(|n| n.parse::<u64>().ok())
        else {
            return Role::Skip;
        };
        if !w.eq_ignore_ascii_case(b"FETCH") {
            return Role::Skip;
        }
        let Some(item) = parser::fetch_item_before(line.bytes, m.start) else {
            return Role::Skip;
        };
        let upper = item.name.to_ascii_uppercase();
        let content = upper.starts_with("BODY[")
            || upper.starts_with("BODY.PEEK[")
            || upper.starts_with("BINARY[")
            || upper.starts_with("BINARY.PEEK[")
            || upper.starts_with("RFC822");
        if !content || upper.starts_with("RFC822.SIZE") {
            return Role::Skip;
        }
        let limits = self.cfg.message;
        let meta = line.meta;
        let new_msg = |partial: bool, missing: Option<String>, mailbox: Option<String>| {
            Role::Message(Box::new(MsgLit {
                builder: MessageBuilder::new(meta, &limits),
                direction: MessageDirection::Retrieved,
                partial,
                seq: Some(seq),
                mailbox,
                section: Some(item.name.clone()),
                missing,
            }))
        };
        let mailbox = self.mailbox.clone();
        if !item.whole {
            return new_msg(true, None, mailbox);
        }
        let Some(origin) = item.origin else {
            return new_msg(false, None, mailbox);
        };
        let continues = self
            .assembly
            .as_ref()
            .is_some_and(|a| a.seq == seq && a.mailbox == mailbox && a.next == origin);
        if continues {
            return Role::Range;
        }
        self.finish_assembly();
        if origin == 0 {
            self.assembly = Some(Box::new(Assembly {
                builder: MessageBuilder::new(meta, &limits),
                seq,
                mailbox,
                uid: None,
                next: 0,
                size: None,
                last_len: 0,
                asked: self.asked,
                entries: Vec::new(),
            }));
            return Role::Range;
        }
        new_msg(
            true,
            Some(format!(
                "bytes 0 to {origin} were not fetched (range from offset {origin} only)"
            )),
            mailbox,
        )
    }

    /// The role of a literal the client sends: an APPEND message, or a string.
    fn client_literal_role(&mut self, m: LiteralMarker) -> Role {
        let lg = &self.dirs[0].logical;
        let first = first_line(&lg.text);
        let Some((_, rest)) = parser::split_tag(first) else {
            return Role::Skip;
        };
        let (verb, args) = parser::split_word(rest);
        if !verb.eq_ignore_ascii_case(b"APPEND") {
            return Role::Skip;
        }
        // The first argument is the mailbox: a literal there is its name, not a message.
        let lits: Vec<LitRef<'_>> = lg
            .lits
            .iter()
            .map(|k| LitRef {
                data: &k.data,
                cut: k.cut,
            })
            .collect();
        let mut t = Tokens::new(&lg.text, &lits);
        t.skip(first.len() - args.len());
        let mailbox = match t.astring() {
            Some((_, Some(i))) if i >= lits.len() => return Role::Skip,
            Some((name, _)) => name,
            None => return Role::Skip,
        };
        let _ = m;
        let mailbox = if self.utf8 {
            sasl::text(&mailbox)
        } else {
            parser::decode_mutf7(&mailbox)
        };
        let limits = self.cfg.message;
        let meta = self.dirs[0].logical.last_meta;
        Role::Message(Box::new(MsgLit {
            builder: MessageBuilder::new(meta, &limits),
            direction: MessageDirection::Appended,
            partial: false,
            seq: None,
            mailbox: Some(mailbox),
            section: None,
            missing: None,
        }))
    }

    /// The literal's transcript entry, made at its first octet (`meta`), and where its
    /// first octet travelled (a kept literal's packet: the credential's frame).
    fn literal_begins(&mut self, from: Side, meta: ChunkMeta) {
        let s = side(from);
        let Some(lit) = self.dirs[s].lit.as_mut() else {
            return;
        };
        if std::mem::replace(&mut lit.started, true) {
            return;
        }
        let message = matches!(lit.role, Role::Message(_) | Role::Range);
        let keep = match lit.role {
            Role::Keep(i) => Some(i),
            _ => None,
        };
        let event = if message {
            DialogueEvent::Body {
                lines: 0,
                bytes: 0,
                message: None,
            }
        } else {
            DialogueEvent::Literal {
                bytes: 0,
                text: None,
                secret: false,
            }
        };
        let entry = self.entry(from, meta, event);
        if let Some(lit) = self.dirs[s].lit.as_mut() {
            lit.entry = entry;
        }
        if let Some(k) = keep.and_then(|i| self.dirs[s].logical.lits.get_mut(i)) {
            k.entry = entry;
            k.meta = meta;
        }
        if message {
            if let (Some(a), Some(e)) = (self.assembly.as_mut(), entry) {
                if a.entries.len() < 64
                    && matches!(
                        self.dirs[s].lit.as_ref().map(|l| &l.role),
                        Some(Role::Range)
                    )
                {
                    a.entries.push(e);
                }
            }
        }
    }

    fn literal_bytes(&mut self, from: Side, bytes: &[u8], meta: ChunkMeta) {
        let s = side(from);
        self.literal_begins(from, meta);
        let kept_max = self.cfg.limits.max_kept_literal;
        let Some(lit) = self.dirs[s].lit.as_mut() else {
            return;
        };
        lit.remaining -= bytes.len() as u64;
        let done = lit.total - lit.remaining;
        let entry = lit.entry;
        match &mut lit.role {
            Role::Message(m) => m.builder.push(bytes),
            Role::Range => {
                if let Some(a) = self.assembly.as_mut() {
                    a.builder.push(bytes);
                    a.last_len += bytes.len() as u64;
                    a.next += bytes.len() as u64;
                }
            }
            Role::Keep(i) => {
                let i = *i;
                if let Some(k) = self.dirs[s].logical.lits.get_mut(i) {
                    let room = kept_max.saturating_sub(k.data.len());
                    let take = room.min(bytes.len());
                    k.data.extend_from_slice(&bytes[..take]);
                    if take < bytes.len() {
                        k.cut = true;
                    }
                }
            }
            Role::Skip => {}
        }
        if let Some(
            DialogueEvent::Body { bytes: b, .. } | DialogueEvent::Literal { bytes: b, .. },
        ) = entry.and_then(|e| self.dialogue.event_mut(e))
        {
            *b = done;
        }
    }

    /// The literal's octets are all in (or lost): back to lines.
    fn literal_end(&mut self, from: Side) {
        let s = side(from);
        let lit_meta = self.dirs[s].lit.as_ref().map(|l| l.meta);
        if let Some(m) = lit_meta {
            self.literal_begins(from, m);
        }
        let Some(lit) = self.dirs[s].lit.take() else {
            return;
        };
        let complete = !lit.lost;
        match lit.role {
            Role::Message(m) => {
                let MsgLit {
                    builder,
                    direction,
                    partial,
                    seq,
                    mailbox,
                    section,
                    missing,
                } = *m;
                let mut msg = builder.finish(complete, direction, &self.cfg.message);
                msg.partial = partial;
                msg.imap_seq = seq;
                msg.imap_mailbox = mailbox;
                msg.imap_section = section;
                msg.missing = missing;
                if let Some(i) = self.push_message(msg) {
                    self.dirs[s].logical.msgs.push(i);
                    self.name_entry(lit.entry, i);
                }
            }
            Role::Keep(i) => {
                if self.dialogue.is_kept() {
                    let (text, cut) = match self.dirs[s].logical.lits.get(i) {
                        Some(k) => (sasl::text(&k.data), k.cut),
                        None => (String::new(), false),
                    };
                    let max = self.cfg.limits.max_text;
                    let text = if text.len() > max || cut {
                        None
                    } else {
                        Some(text)
                    };
                    if let Some(DialogueEvent::Literal { text: t, .. }) =
                        lit.entry.and_then(|e| self.dialogue.event_mut(e))
                    {
                        *t = text;
                    }
                }
                if lit.lost {
                    if let Some(k) = self.dirs[s].logical.lits.get_mut(i) {
                        k.cut = true;
                    }
                }
            }
            Role::Range | Role::Skip => {}
        }
    }

    /// Points a transcript Body entry at message `i`.
    fn name_entry(&mut self, entry: Option<usize>, i: usize) {
        if let Some(DialogueEvent::Body { message, .. }) =
            entry.and_then(|e| self.dialogue.event_mut(e))
        {
            *message = Some(i.to_string());
        }
    }

    /// Ends the range assembly: a whole message when the ranges reached its end.
    fn finish_assembly(&mut self) {
        let Some(a) = self.assembly.take() else {
            return;
        };
        let whole =
            a.size.is_some_and(|s| a.next >= s) || a.asked.is_some_and(|asked| a.last_len < asked);
        let mut msg = a
            .builder
            .finish(true, MessageDirection::Retrieved, &self.cfg.message);
        msg.partial = !whole;
        msg.imap_seq = Some(a.seq);
        msg.imap_uid = a.uid;
        msg.imap_mailbox = a.mailbox;
        msg.imap_section = Some("BODY[]".to_string());
        if !whole {
            msg.complete = false;
            msg.missing = Some(match a.size {
                Some(s) => format!("bytes {} to {s} were not fetched (RFC822.SIZE {s})", a.next),
                None => format!(
                    "the message may go on after byte {}: no later range was fetched",
                    a.next
                ),
            });
        }
        if let Some(i) = self.push_message(msg) {
            for e in a.entries {
                self.name_entry(Some(e), i);
            }
        }
    }

    /// A logical line is complete.
    fn logical_end(&mut self, from: Side) {
        let s = side(from);
        let mut lg = std::mem::take(&mut self.dirs[s].logical);
        if lg.cut {
            self.truncate("line");
        }
        match from {
            Side::Client => self.client_line(&lg),
            Side::Server => self.server_line(&lg),
        }
        lg.reset();
        // Keep the buffers for the next line (no allocation per line).
        self.dirs[s].logical = lg;
    }

    // ---- client ------------------------------------------------------------------------

    fn client_line(&mut self, lg: &Logical) {
        let meta = lg.meta;
        let first = first_line(&lg.text);
        if lg.after_gap {
            self.anomaly(format!(
                "client line after a gap not interpreted (frame {})",
                meta.frame
            ));
            return;
        }
        let parsed = parser::split_tag(first).filter(|(t, _)| *t != b"*" && *t != b"+");
        let command_like = parsed.is_some_and(|(_, rest)| {
            let (verb, _) = parser::split_word(rest);
            !rest.is_empty() && parser::is_known_verb(verb)
        });
        if self.sasl.is_some() {
            if command_like && memchr::memchr(b' ', first).is_some() {
                self.anomaly(format!(
                    "AUTHENTICATE exchange abandoned: the client sent a command (frame {})",
                    meta.frame
                ));
                let tag = self.sasl.as_ref().map(|x| x.tag.clone());
                if let Some(p) = tag.and_then(|t| self.take_pending(&t)) {
                    self.abandon(p);
                }
                self.finish_sasl(None, None);
            } else {
                // RFC 9051 §6.2.2: every client line of the exchange is a SASL response.
                if let Some(x) = self.sasl.as_mut() {
                    let r = first.trim_ascii();
                    if r != b"*" && !r.is_empty() {
                        x.responses += 1;
                    }
                    x.ex.client(first, meta);
                }
                self.add_command(None, "AUTH-DATA", first, meta);
                return;
            }
        }
        if self.idling && first.eq_ignore_ascii_case(b"DONE") {
            self.idling = false;
            self.add_command(None, "DONE", b"", meta);
            return;
        }
        let Some((tag, rest)) = parsed else {
            self.first_client_known.get_or_insert(false);
            let shown = self.clip(&first[..first.len().min(60)], "anomalies");
            self.anomaly(format!(
                "client line is not a tagged command (frame {}): {shown:?}",
                meta.frame
            ));
            return;
        };
        let (mut verb, mut args) = parser::split_word(rest);
        let mut uid = false;
        if verb.eq_ignore_ascii_case(b"UID") {
            uid = true;
            (verb, args) = parser::split_word(args);
        }
        let known = parser::is_known_verb(verb);
        self.first_client_known.get_or_insert(known);
        let tag_s = sasl::text(&tag[..tag.len().min(64)]);
        let upper = sasl::text(&verb[..verb.len().min(32)]).to_ascii_uppercase();
        // The arguments as text: the rest of the logical line, literal markers kept and
        // their line endings turned into spaces; literal octets are not shown here.
        let arg_start = first.len() - args.len();
        let mut arg_bytes: Vec<u8> = Vec::new();
        let tail = &lg.text[arg_start.min(lg.text.len())..];
        for part in tail.split(|&b| b == b'\n') {
            let p = part.strip_suffix(b"\r").unwrap_or(part);
            if !arg_bytes.is_empty() && !p.is_empty() {
                arg_bytes.push(b' ');
            }
            arg_bytes.extend_from_slice(p.strip_prefix(b" ").unwrap_or(p));
        }
        let lits: Vec<LitRef<'_>> = lg
            .lits
            .iter()
            .map(|k| LitRef {
                data: &k.data,
                cut: k.cut,
            })
            .collect();
        let mut toks = Tokens::new(&lg.text, &lits);
        toks.skip(arg_start);
        self.upgrade.command(lg.last_meta.frame, || {
            (upper != "LOGOUT").then(|| upper.clone())
        });
        let kind = match upper.as_str() {
            "LOGIN" => {
                let user = toks.astring();
                let pass = toks.astring();
                let mut c = sasl::new_credential(Protocol::Imap, "IMAP-LOGIN", lg.last_meta);
                c.username = user.as_ref().map(|(u, _)| sasl::text(u));
                if let Some((p, lit)) = &pass {
                    c.password = Some(sasl::text(p));
                    if let Some(k) = lit.and_then(|i| lg.lits.get(i)) {
                        c.frame = k.meta.frame;
                        c.time = k.meta.ts;
                        if k.cut {
                            c.undecodable.push("password literal cut by a limit".into());
                        }
                        if let Some(DialogueEvent::Literal { secret, .. }) =
                            k.entry.and_then(|e| self.dialogue.event_mut(e))
                        {
                            *secret = true;
                        }
                    }
                }
                Kind::Login(Box::new(c))
            }
            "AUTHENTICATE" => {
                let mech = toks
                    .astring()
                    .map(|(m, _)| m.into_owned())
                    .unwrap_or_default();
                // `=` is the empty initial response (RFC 4959): the exchange goes on after
                // a `+` like one without.
                let ir = toks
                    .astring()
                    .map(|(r, _)| r.into_owned())
                    .filter(|r| r != b"=");
                let responses = u32::from(ir.as_deref().is_some_and(|r| r != b"*"));
                if self.sasl.is_some() {
                    self.finish_sasl(None, None);
                }
                self.sasl = Some(Sasl {
                    tag: tag_s.clone(),
                    ex: SaslExchange::start(Protocol::Imap, &mech, ir.as_deref(), meta),
                    responses,
                });
                Kind::Authenticate
            }
            "SELECT" | "EXAMINE" => {
                let name = toks.astring().map(|(n, _)| {
                    if self.utf8 {
                        sasl::text(&n)
                    } else {
                        parser::decode_mutf7(&n)
                    }
                });
                let idx = if self.detail.mailboxes.len() < self.cfg.limits.max_mailboxes {
                    self.detail.mailboxes.push(ImapMailbox {
                        name: name.unwrap_or_default(),
                        command: upper.clone(),
                        exists: None,
                        success: None,
                    });
                    Some(self.detail.mailboxes.len() - 1)
                } else {
                    self.truncate("mailboxes");
                    None
                };
                Kind::Select(idx)
            }
            "COMPRESS" => Kind::Compress,
            "STARTTLS" => Kind::Starttls,
            "LOGOUT" => Kind::Logout,
            "IDLE" => {
                self.idling = true;
                Kind::Idle
            }
            "APPEND" => Kind::Append(lg.msgs.clone()),
            "FETCH" => {
                self.asked = parser::requested_range(args);
                Kind::Other
            }
            "ID" => {
                let f = parser::id_fields(&mut toks, self.cfg.limits.max_listing);
                self.detail.client_id = Some(f);
                Kind::Other
            }
            _ if known => Kind::Other,
            _ => Kind::Unknown,
        };
        // The uploaded messages belong to the mailbox named on this line.
        let verb_shown = if uid { format!("UID {upper}") } else { upper };
        let idx = self.add_command(Some(tag_s.clone()), &verb_shown, &arg_bytes, meta);
        self.queue(tag_s, idx, kind);
    }

    fn add_command(
        &mut self,
        tag: Option<String>,
        verb: &str,
        arg: &[u8],
        meta: ChunkMeta,
    ) -> Option<usize> {
        if self.commands.len() >= self.cfg.limits.max_commands {
            self.truncate("commands");
            return None;
        }
        let arg = self.clip(arg, "command");
        self.commands.push(Command {
            tag,
            verb: verb.to_string(),
            arg,
            frame: meta.frame,
            capture: None,
            time: meta.ts,
            reply: None,
        });
        Some(self.commands.len() - 1)
    }

    fn queue(&mut self, tag: String, idx: Option<usize>, kind: Kind) {
        if self.pending.len() >= self.cfg.limits.max_pending {
            if let Some(old) = self.pending.pop_front() {
                self.count("pending-overflow");
                self.abandon(old);
            }
        }
        self.pending.push_back(Pending { tag, idx, kind });
    }

    fn take_pending(&mut self, tag: &str) -> Option<Pending> {
        let i = self.pending.iter().position(|p| p.tag == tag)?;
        self.pending.remove(i)
    }

    /// A command that will never get its reply: keep what it revealed.
    fn abandon(&mut self, p: Pending) {
        match p.kind {
            Kind::Login(c) => self.push_credential(*c),
            Kind::Authenticate if self.sasl.as_ref().is_some_and(|x| x.tag == p.tag) => {
                self.finish_sasl(None, None)
            }
            Kind::Idle => self.idling = false,
            _ => {}
        }
    }

    fn finish_sasl(&mut self, success: Option<bool>, reply: Option<String>) {
        if let Some(x) = self.sasl.take() {
            if x.responses > 0 {
                let c = x.ex.finish(success, reply);
                self.push_credential(c);
            } else if x.ex.cancelled() {
                self.count("authenticate-cancelled");
            }
        }
    }

    // ---- server ------------------------------------------------------------------------

    fn server_line(&mut self, lg: &Logical) {
        let meta = lg.meta;
        let first = first_line(&lg.text);
        let Some((tag, rest)) = parser::split_tag(first) else {
            if !lg.after_gap {
                let shown = self.clip(&first[..first.len().min(60)], "anomalies");
                self.anomaly(format!(
                    "server line is not a response (frame {}): {shown:?}",
                    meta.frame
                ));
            }
            return;
        };
        if lg.after_gap {
            // Only a tagged reply to a pending command is trusted after a gap.
            let pending = self.pending.iter().any(|p| p.tag.as_bytes() == tag);
            if !pending || parser::status(rest).is_none() {
                self.anomaly(format!(
                    "server line after a gap not interpreted (frame {})",
                    meta.frame
                ));
                return;
            }
        }
        match tag {
            b"+" => {
                if let Some(x) = self.sasl.as_mut() {
                    x.ex.server(rest);
                }
            }
            b"*" => self.untagged(rest, lg),
            _ => self.tagged(tag, rest, meta),
        }
    }

    fn capabilities(&mut self, list: &[u8]) {
        let mut caps = Vec::new();
        for c in list.split(|&b| b == b' ').filter(|c| !c.is_empty()) {
            if c.eq_ignore_ascii_case(b"STARTTLS") {
                self.starttls_offered = true;
            }
            if caps.len() < self.cfg.limits.max_listing {
                caps.push(sasl::text(c));
            } else {
                self.truncate("capabilities");
            }
        }
        if !self.authenticated {
            self.detail.capabilities = caps;
        }
    }

    fn untagged(&mut self, rest: &[u8], lg: &Logical) {
        if let Some((st, text)) = parser::status(rest) {
            if !self.greeting && self.banner.is_none() && self.commands.is_empty() {
                self.greeting = true;
                self.banner = Some(self.clip(text, "banner"));
                if st == Status::Preauth {
                    self.detail.preauth = true;
                    self.authenticated = true;
                }
            }
            if let Some((code, args)) = parser::response_code(text) {
                if code.eq_ignore_ascii_case(b"CAPABILITY") {
                    self.capabilities(args);
                }
            }
            if st == Status::Bye && self.pending.iter().any(|p| matches!(p.kind, Kind::Logout)) {
                self.logout_answered = true;
            }
            return;
        }
        let (w, args) = parser::split_word(rest);
        if w.eq_ignore_ascii_case(b"CAPABILITY") {
            self.capabilities(args);
            return;
        }
        if w.eq_ignore_ascii_case(b"ENABLED") {
            for e in args.split(|&b| b == b' ').filter(|e| !e.is_empty()) {
                if e.eq_ignore_ascii_case(b"UTF8=ACCEPT") {
                    self.utf8 = true;
                }
                if self.detail.enabled.len() < self.cfg.limits.max_listing {
                    self.detail.enabled.push(sasl::text(e));
                }
            }
            return;
        }
        if w.eq_ignore_ascii_case(b"ID") {
            let lits: Vec<LitRef<'_>> = lg
                .lits
                .iter()
                .map(|k| LitRef {
                    data: &k.data,
                    cut: k.cut,
                })
                .collect();
            let mut t = Tokens::new(&lg.text, &lits);
            t.skip(first_line(&lg.text).len() - args.len());
            self.detail.server_id = Some(parser::id_fields(&mut t, self.cfg.limits.max_listing));
            return;
        }
        let Some(n) = std::str::from_utf8(w)
            .ok()
            .and_then(|n| n.parse::<u64>().ok())
        else {
            return;
        };
        let (what, _) = parser::split_word(args);
        if what.eq_ignore_ascii_case(b"EXISTS") {
            let sel = self.pending.iter().rev().find_map(|p| match p.kind {
                Kind::Select(i) => Some(i),
                _ => None,
            });
            if let Some(Some(i)) = sel {
                if let Some(m) = self.detail.mailboxes.get_mut(i) {
                    m.exists = Some(n);
                }
            }
        } else if what.eq_ignore_ascii_case(b"FETCH") {
            let uid = parser::fetch_number(&lg.text, b"UID");
            let size = parser::fetch_number(&lg.text, b"RFC822.SIZE");
            for &i in &lg.msgs {
                if let Some(m) = self.messages.get_mut(i) {
                    if m.imap_uid.is_none() {
                        m.imap_uid = uid;
                    }
                }
            }
            let mut done = false;
            if let Some(a) = self.assembly.as_mut().filter(|a| a.seq == n) {
                a.uid = a.uid.or(uid);
                a.size = a.size.or(size);
                done = a.size.is_some_and(|s| a.next >= s)
                    || a.asked.is_some_and(|asked| a.last_len < asked);
            }
            if done {
                self.finish_assembly();
            }
        }
    }

    fn tagged(&mut self, tag: &[u8], rest: &[u8], meta: ChunkMeta) {
        let tag_s = sasl::text(tag);
        let Some((st, text)) = parser::status(rest) else {
            self.anomaly(format!(
                "tagged response {tag_s} without OK/NO/BAD (frame {})",
                meta.frame
            ));
            return;
        };
        // A synchronizing literal refused before any octet was sent: the client will not
        // send it.
        let cancel = st != Status::Ok
            && self.dirs[0]
                .lit
                .as_ref()
                .is_some_and(|l| l.sync && l.remaining == l.total && l.total > 0)
            && split_first_tag(&self.dirs[0].logical.text) == Some(tag);
        if cancel {
            self.dirs[0].lit = None;
            let mut lg = std::mem::take(&mut self.dirs[0].logical);
            lg.reset();
            self.dirs[0].logical = lg;
            self.anomaly(format!(
                "synchronizing literal of {tag_s} refused by the server; not expected (frame {})",
                meta.frame
            ));
        }
        let Some(p) = self.take_pending(&tag_s) else {
            self.count("reply-without-command");
            self.anomaly(format!(
                "tagged reply {tag_s} without a pending command (frame {})",
                meta.frame
            ));
            return;
        };
        let ok = st == Status::Ok;
        let auth_cmd = matches!(p.kind, Kind::Login(_) | Kind::Authenticate);
        if !matches!(p.kind, Kind::Unknown) {
            self.answered_known = true;
        }
        if !auth_cmd {
            if let Some((code, args)) = parser::response_code(text) {
                if code.eq_ignore_ascii_case(b"CAPABILITY") {
                    self.capabilities(args);
                }
            }
        }
        let reply_text = self.clip(text, "reply");
        if let Some(c) = p.idx.and_then(|i| self.commands.get_mut(i)) {
            c.reply = Some(Reply {
                code: st.name().to_string(),
                status: Some(st.name().to_string()),
                enhanced: None,
                text: reply_text,
                frame: meta.frame,
                time: meta.ts,
            });
        }
        let full = || format!("{tag_s} {}", sasl::text(rest));
        match p.kind {
            Kind::Login(mut c) => {
                c.success = Some(ok);
                c.reply = Some(full());
                self.authenticated |= ok;
                self.push_credential(*c);
            }
            Kind::Authenticate => {
                self.authenticated |= ok;
                if self.sasl.as_ref().is_some_and(|x| x.tag == tag_s) {
                    self.finish_sasl(Some(ok), Some(full()));
                }
            }
            Kind::Select(i) => {
                if let Some(m) = i.and_then(|i| self.detail.mailboxes.get_mut(i)) {
                    m.success = Some(ok);
                    if ok {
                        self.mailbox = Some(m.name.clone());
                    }
                }
            }
            Kind::Compress if ok => {
                self.detail.compressed = true;
                for d in &mut self.dirs {
                    d.inflate = Some(Box::new(Decompress::new(false)));
                }
                self.switched = true;
            }
            Kind::Starttls if ok => {
                self.starttls_offered = true;
                for d in &mut self.dirs {
                    d.mode = Mode::TlsCheck;
                }
                self.switched = true;
            }
            Kind::Starttls => self.upgrade.refused(),
            Kind::Logout => self.logout_answered = true,
            Kind::Idle => self.idling = false,
            Kind::Append(msgs) if ok => {
                // APPENDUID uidvalidity uid (RFC 4315): one UID for one message.
                if let Some((code, args)) = parser::response_code(text) {
                    if code.eq_ignore_ascii_case(b"APPENDUID") && msgs.len() == 1 {
                        let (_, uid) = parser::split_word(args);
                        let uid = std::str::from_utf8(uid).ok().and_then(|u| u.parse().ok());
                        if let Some(m) = self.messages.get_mut(msgs[0]) {
                            m.imap_uid = uid;
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// The tag of a logical line's text.
fn split_first_tag(text: &[u8]) -> Option<&[u8]> {
    parser::split_tag(first_line(text)).map(|(t, _)| t)
}

impl StreamConsumer for ImapDissector {
    fn data(&mut self, from: Side, bytes: &[u8], meta: ChunkMeta) {
        self.feed(from, bytes, meta);
    }

    fn gap(&mut self, from: Side, len: u64, meta: ChunkMeta) {
        let s = side(from);
        self.entry(from, meta, DialogueEvent::Gap { bytes: len });
        if (self.tls == Tls::Implicit && !self.upgrade.decrypting())
            || matches!(self.dirs[s].mode, Mode::Tls | Mode::Dead)
        {
            return;
        }
        if self.dirs[s].inflate.is_some() {
            self.count("compressed-gap");
            self.anomaly(format!(
                "{len} bytes lost in a compressed stream: the rest of it cannot be inflated (frame {})",
                meta.frame
            ));
            self.dirs[s].inflate = None;
            self.dirs[s].mode = Mode::Dead;
            return;
        }
        if let Some(lit) = self.dirs[s].lit.as_mut() {
            lit.mark_lost(self.assembly.as_deref_mut());
            let lost = len.min(lit.remaining);
            if let (Role::Range, Some(a)) = (&lit.role, self.assembly.as_mut()) {
                // Offsets of later ranges count the lost octets too.
                a.next += lost;
                a.last_len += lost;
            }
            if len < lit.remaining {
                // The hole is inside the literal: count it as received and go on.
                lit.remaining -= len;
                return;
            }
            lit.remaining = 0;
            self.literal_end(from);
            // The rest of the logical line went with the hole.
        }
        let s = side(from);
        self.dirs[s].reader.gap();
        if self.dirs[s].logical.active {
            self.anomaly(format!(
                "{} line lost in a gap (frame {})",
                if from == Side::Client {
                    "client"
                } else {
                    "server"
                },
                meta.frame
            ));
            let mut lg = std::mem::take(&mut self.dirs[s].logical);
            lg.reset();
            self.dirs[s].logical = lg;
        }
    }

    fn end(&mut self, reason: EndReason, _meta: ChunkMeta) {
        if self.end.is_some() {
            return;
        }
        self.end = Some(reason);
        for from in [Side::Client, Side::Server] {
            let s = side(from);
            if self.dirs[s].mode != Mode::Plain || self.dirs[s].lit.is_some() {
                continue;
            }
            let mut reader = std::mem::take(&mut self.dirs[s].reader);
            if let Some(line) = reader.flush() {
                self.piece(from, &line);
            }
            self.dirs[s].reader = reader;
            if self.dirs[s].logical.active && self.dirs[s].lit.is_none() {
                self.logical_end(from);
            }
        }
    }
}

impl Dissector for ImapDissector {
    fn recognised(&self) -> bool {
        self.is_imap()
    }

    fn finish(&mut self) -> SessionOutput {
        for from in [Side::Client, Side::Server] {
            let s = side(from);
            let Some((total, left)) = self.dirs[s].lit.as_ref().map(|l| (l.total, l.remaining))
            else {
                continue;
            };
            self.count("literal-unterminated");
            self.anomaly(format!(
                "literal of {total} octets not finished at the end of the stream ({left} missing)"
            ));
            if let Some(lit) = self.dirs[s].lit.as_mut() {
                lit.mark_lost(self.assembly.as_deref_mut());
            }
            self.literal_end(from);
        }
        self.finish_assembly();
        while let Some(p) = self.pending.pop_front() {
            self.abandon(p);
        }
        self.finish_sasl(None, None);
        self.upgrade
            .findings("STARTTLS", "tagged OK", &mut self.findings);
        if self.upgrade.not_negotiated.is_none()
            && self.starttls_offered
            && self.tls == Tls::None
            && !self.credentials.is_empty()
            && !self.upgrade.went_on_after_refusal()
        {
            self.findings.push(Finding {
                code: "starttls-offered-not-used".into(),
                detail: "the server offered STARTTLS but the client authenticated in clear text"
                    .into(),
            });
        }
        for (name, n) in std::mem::take(&mut self.counts) {
            self.anomalies.push(format!("imap-{name} ({n})"));
        }
        if self.anomalies_dropped > 0 {
            let n = self.anomalies_dropped;
            self.anomalies
                .push(format!("{n} further anomalies not listed"));
            self.anomalies_dropped = 0;
            self.truncate("anomalies");
        }
        let complete = match self.tls {
            _ if self.upgrade.decrypting() => self.banner.is_some() && self.logout_answered,
            Tls::None => self.banner.is_some() && self.logout_answered,
            Tls::Starttls => self.banner.is_some() && self.end == Some(EndReason::Fin),
            Tls::Implicit => self.end == Some(EndReason::Fin),
        };
        SessionOutput {
            detail: ProtocolDetail::Imap(std::mem::take(&mut self.detail)),
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
        let max_line = self.cfg.limits.max_line;
        for d in &mut self.dirs {
            let entry = d.tls_entry;
            *d = Dir::new(max_line);
            d.tls_entry = entry;
        }
    }
}
