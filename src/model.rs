//! The session model: plain data, serialised as the JSON document of docs/JSON.md.
//!
//! Dissectors fill these types; reports only render them.

use serde::{Serialize, Serializer};
use std::net::IpAddr;
use std::sync::Arc;

/// JSON schema identifier of the document.
pub const SCHEMA: &str = "pcapmail/1";

/// A capture timestamp: nanoseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ts(pub i64);

impl Ts {
    /// Builds a timestamp from seconds and nanoseconds.
    pub fn from_parts(secs: i64, nanos: u32) -> Ts {
        Ts(secs
            .saturating_mul(1_000_000_000)
            .saturating_add(nanos as i64))
    }

    /// Seconds since the epoch as a float (for rates and durations).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// RFC 3339 in UTC with microsecond precision (nanoseconds when they are not zero
    /// below the microsecond), e.g. `2026-11-25T12:57:35.123456Z`.
    pub fn rfc3339(self) -> String {
        let mut buf = [0u8; RFC3339_MAX];
        match self.rfc3339_into(&mut buf) {
            Some(n) => String::from_utf8_lossy(&buf[..n]).into_owned(),
            None => self.rfc3339_slow(),
        }
    }

    /// [`Ts::rfc3339`] into a stack buffer, without allocating (JSON writes one per command
    /// and reply): its length, or None when the year does not have four digits (then
    /// [`Ts::rfc3339`] formats it the general way).
    fn rfc3339_into(self, buf: &mut [u8; RFC3339_MAX]) -> Option<usize> {
        let secs = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000) as u32;
        let dt = time::OffsetDateTime::from_unix_timestamp(secs).ok()?;
        let (year, month, day) = dt.to_calendar_date();
        if !(0..=9999).contains(&year) {
            return None;
        }
        let (h, m, sec) = dt.to_hms();
        // Two digits per division (a timestamp is written per command and reply).
        fn digits(out: &mut [u8], mut v: u32) {
            let mut end = out.len();
            while end >= 2 {
                let i = (v % 100) as usize * 2;
                out[end - 2..end].copy_from_slice(&DIGIT_PAIRS[i..i + 2]);
                v /= 100;
                end -= 2;
            }
            if end == 1 {
                out[0] = b'0' + (v % 10) as u8;
            }
        }
        digits(&mut buf[0..4], year as u32);
        buf[4] = b'-';
        digits(&mut buf[5..7], month as u32);
        buf[7] = b'-';
        digits(&mut buf[8..10], day.into());
        buf[10] = b'T';
        digits(&mut buf[11..13], h.into());
        buf[13] = b':';
        digits(&mut buf[14..16], m.into());
        buf[16] = b':';
        digits(&mut buf[17..19], sec.into());
        buf[19] = b'.';
        let end = if nanos.is_multiple_of(1000) {
            digits(&mut buf[20..26], nanos / 1000);
            26
        } else {
            digits(&mut buf[20..29], nanos);
            29
        };
        buf[end] = b'Z';
        Some(end + 1)
    }

    /// The general form, for years outside 0..=9999 and timestamps `time` cannot represent.
    fn rfc3339_slow(self) -> String {
        let secs = self.0.div_euclid(1_000_000_000);
        let nanos = self.0.rem_euclid(1_000_000_000) as u32;
        let dt = match time::OffsetDateTime::from_unix_timestamp(secs) {
            Ok(d) => d,
            Err(_) => return format!("@{}.{:09}", secs, nanos),
        };
        let frac = if nanos.is_multiple_of(1000) {
            format!("{:06}", nanos / 1000)
        } else {
            format!("{:09}", nanos)
        };
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{}Z",
            dt.year(),
            dt.month() as u8,
            dt.day(),
            dt.hour(),
            dt.minute(),
            dt.second(),
            frac
        )
    }
}

/// Longest [`Ts::rfc3339_into`] output: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
const RFC3339_MAX: usize = 30;

/// "00" to "99".
static DIGIT_PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

impl Serialize for Ts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; RFC3339_MAX];
        match self.rfc3339_into(&mut buf) {
            // Only ASCII digits and separators were written.
            Some(n) => s.serialize_str(std::str::from_utf8(&buf[..n]).unwrap_or_default()),
            None => s.serialize_str(&self.rfc3339_slow()),
        }
    }
}

/// Application protocol of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Smtp,
    Pop3,
    Imap,
}

impl Protocol {
    /// Every protocol, in the order reports list them.
    pub const ALL: [Protocol; 3] = [Protocol::Smtp, Protocol::Pop3, Protocol::Imap];

    /// Lower-case name as used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Smtp => "smtp",
            Protocol::Pop3 => "pop3",
            Protocol::Imap => "imap",
        }
    }
}

/// TLS state of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    /// Clear text throughout.
    #[default]
    None,
    /// The dialogue switched to TLS with STARTTLS/STLS; what follows is not readable.
    Starttls,
    /// TLS from the first byte (465, 995).
    Implicit,
}

/// What the TLS handshake of a session showed (CONTRACT.md "TLS"): visible without keys
/// except what TLS 1.3 encrypts (its certificate and ALPN answer), which appears only when
/// the session was decrypted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TlsInfo {
    /// "TLS 1.0" … "TLS 1.3" as negotiated (the ServerHello's supported_versions wins over
    /// its legacy version); "SSL 3.0" when so; null when no ServerHello was seen.
    pub version: Option<String>,
    /// IANA name of the negotiated suite ("TLS_AES_256_GCM_SHA384"); "0x1234" when unknown.
    pub cipher: Option<String>,
    /// The server name the client asked for (SNI).
    pub sni: Option<String>,
    /// The application protocol the server selected (ALPN), when seen.
    pub alpn: Option<String>,
    /// The application protocols the client offered.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alpn_offered: Vec<String>,
    /// The server's (leaf) certificate, when it crossed in clear (TLS ≤ 1.2) or was decrypted.
    pub server_certificate: Option<CertificateInfo>,
    /// Records of this session were decrypted with a key log.
    pub decrypted: bool,
}

/// Facts of an X.509 certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertificateInfo {
    /// RFC 4514 string ("CN=mail.sample.test").
    pub subject: String,
    pub issuer: String,
    /// RFC 3339.
    pub not_before: String,
    pub not_after: String,
    /// SHA-256 of the DER encoding, lowercase hex (what `openssl x509 -fingerprint -sha256`
    /// prints, without colons).
    pub sha256: String,
    /// Issued by itself: issuer equals subject (and its authority key identifier, when
    /// present, is its own subject key identifier).
    pub self_signed: bool,
    /// Validity bounds as Unix seconds, for findings; not serialised.
    #[serde(skip)]
    pub validity_unix: (i64, i64),
}

/// One end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.ip {
            IpAddr::V4(ip) => write!(f, "{}:{}", ip, self.port),
            IpAddr::V6(ip) => write!(f, "[{}]:{}", ip, self.port),
        }
    }
}

/// Who sent a line or a chunk of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Client,
    Server,
}

impl Side {
    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        }
    }
}

/// An audit fact about a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `cleartext-auth`, `starttls-offered-not-used`, `cleartext-mail`,
    /// `starttls-not-negotiated` (STARTTLS/STLS was accepted, but the next bytes were not
    /// a TLS record: the dialogue went on in clear and was parsed), ...
    pub code: String,
    pub detail: String,
}

/// A reply from the server to one command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reply {
    /// SMTP: the three-digit code ("250"); POP3: "+OK", "-ERR" or "+" (SASL continuation);
    /// IMAP: "OK", "NO", "BAD" or "+" (continuation request).
    pub code: String,
    /// IMAP: the status of the tagged response ("OK", "NO", "BAD"; "+" for a continuation
    /// request answering a SASL step), the contract's `reply.status`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// SMTP enhanced status code ("2.1.0") when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enhanced: Option<String>,
    /// The reply text; lines of a multi-line reply joined with "\n" (codes removed).
    pub text: String,
    pub frame: u64,
    pub time: Ts,
}

/// One client command and its reply, in stream order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Command {
    /// IMAP: the command's tag (replies are paired with commands by it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The command verb, upper-cased ("EHLO", "MAIL", "RETR"; "AUTH-DATA" for a SASL
    /// continuation line sent by the client).
    pub verb: String,
    /// The rest of the line as sent (secrets included: they are in the credentials too).
    pub arg: String,
    pub frame: u64,
    /// With `--merge`, the capture file of `frame` when it is not the session's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<String>,
    pub time: Ts,
    /// Null when no reply was seen.
    pub reply: Option<Reply>,
}

/// A recipient of an SMTP transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recipient {
    pub address: String,
    /// True when the server answered 2xx; false on 4xx/5xx or when no reply was seen.
    pub accepted: bool,
    /// The reply line ("250 2.1.5 Ok"), null when not seen.
    pub reply: Option<String>,
}

/// One SMTP mail transaction (MAIL FROM .. end of data or RSET).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transaction {
    /// The reverse path without angle brackets or parameters; "" for the null sender;
    /// null when the transaction has no MAIL FROM (the capture started after it, or the
    /// client sent RCPT/DATA without one).
    pub mail_from: Option<String>,
    /// MAIL FROM parameters as sent (e.g. "SIZE=1234 BODY=8BITMIME").
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mail_params: String,
    pub rcpt_to: Vec<Recipient>,
    /// `id` of the Message, null when no message was transferred.
    pub message: Option<String>,
    /// The reply to the end of data (or to BDAT LAST), e.g. "250 2.0.0 Ok: queued as X".
    pub data_reply: Option<String>,
    /// True when the server accepted the message (2xx to end of data).
    pub accepted: Option<bool>,
    pub frame: u64,
    pub time: Ts,
}

/// SMTP details of a session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SmtpDetail {
    /// The name given with HELO/EHLO (the last one).
    pub helo: Option<String>,
    /// Extensions advertised in the EHLO reply ("PIPELINING", "AUTH PLAIN LOGIN", ...).
    pub extensions: Vec<String>,
    pub transactions: Vec<Transaction>,
}

/// POP3 details of a session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pop3Detail {
    /// Capabilities from CAPA.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// STAT result: (messages, octets).
    pub stat: Option<(u64, u64)>,
    /// LIST results: message number and size.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub list: Vec<(u64, u64)>,
    /// UIDL results: message number and unique id.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub uidl: Vec<(u64, String)>,
    /// Message numbers retrieved with RETR (successfully).
    pub retrieved: Vec<u64>,
    /// Message numbers marked deleted with DELE (successfully).
    pub deleted: Vec<u64>,
    /// RSET seen (undoes deletions).
    #[serde(skip_serializing_if = "is_false")]
    pub reset: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A mailbox opened with SELECT or EXAMINE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImapMailbox {
    /// The name decoded from modified UTF-7 (as sent when UTF8=ACCEPT was enabled).
    pub name: String,
    /// "SELECT" or "EXAMINE".
    pub command: String,
    /// The `* n EXISTS` answer, when seen.
    pub exists: Option<u64>,
    /// The tagged reply was OK (false on NO/BAD, null when not seen).
    pub success: Option<bool>,
}

/// IMAP details of a session.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImapDetail {
    /// The capabilities last advertised before authentication (CAPABILITY response or
    /// `[CAPABILITY ...]` response code).
    pub capabilities: Vec<String>,
    /// The client's ID fields (RFC 2971), in the order sent; null when ID was not sent.
    pub client_id: Option<Vec<(String, Option<String>)>>,
    /// The server's ID fields.
    pub server_id: Option<Vec<(String, Option<String>)>>,
    pub mailboxes: Vec<ImapMailbox>,
    /// Extensions the server confirmed with `* ENABLED` (e.g. "UTF8=ACCEPT").
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub enabled: Vec<String>,
    /// COMPRESS=DEFLATE was in use; the streams were inflated and parsed.
    pub compressed: bool,
    /// The greeting was `* PREAUTH`: the session was authenticated without a login.
    #[serde(skip_serializing_if = "is_false")]
    pub preauth: bool,
}

/// Protocol-specific part of a session (flattened into the session object).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum ProtocolDetail {
    Smtp(SmtpDetail),
    Pop3(Pop3Detail),
    Imap(ImapDetail),
}

/// An entry of the reassembled dialogue (the transcript).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DialogueEntry {
    pub frame: u64,
    pub time: Ts,
    pub from: Side,
    #[serde(flatten)]
    pub event: DialogueEvent,
}

/// What a transcript entry is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DialogueEvent {
    /// A protocol line, without its line ending (lossily decoded to UTF-8).
    Line { line: String },
    /// Message content of `lines` lines / `bytes` bytes (bodies are not kept in the dialogue).
    Body {
        lines: u64,
        bytes: u64,
        message: Option<String>,
    },
    /// Bytes lost from the stream.
    Gap { bytes: u64 },
    /// From here on the stream is TLS.
    Tls { bytes: u64 },
    /// An IMAP literal that is not a message: `bytes` octets, its text when kept (bounded,
    /// lossily decoded); `secret` when it carried a password (redaction masks it).
    Literal {
        bytes: u64,
        text: Option<String>,
        #[serde(skip_serializing_if = "is_false")]
        secret: bool,
    },
}

/// One SMTP or POP3 session (one TCP connection).
#[derive(Debug, Clone, Serialize)]
pub struct Session {
    pub id: String,
    pub protocol: Protocol,
    /// Community ID v1 (seed 0) of the connection: joins with Zeek, Suricata, Arkime.
    pub community_id: String,
    pub client: Endpoint,
    pub server: Endpoint,
    pub start: Ts,
    pub end: Ts,
    pub tls: Tls,
    /// What the TLS handshake showed, for a session that switched to or started in TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_info: Option<TlsInfo>,
    /// Both the start and a proper end of the dialogue were seen.
    pub complete: bool,
    /// Holes in the byte streams (lost packets).
    pub gaps: u64,
    pub gap_bytes: u64,
    pub capture: String,
    pub first_frame: u64,
    pub last_frame: u64,
    pub bytes_client: u64,
    pub bytes_server: u64,
    pub starttls_offered: bool,
    pub banner: Option<String>,
    /// How the connection ended: "fin", "rst", "timeout", "end-of-capture", ...
    pub close: String,
    #[serde(flatten)]
    pub detail: ProtocolDetail,
    pub commands: Vec<Command>,
    pub findings: Vec<Finding>,
    /// Names of fields cut by a limit.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub truncated: Vec<String>,
    /// Anomalies seen by the dissector (unexpected replies, resynchronisations...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub anomalies: Vec<String>,
    /// The transcript; rendered by `transcript`, not part of the analyze document.
    #[serde(skip)]
    pub dialogue: Vec<DialogueEntry>,
}

/// A credential seen in clear.
#[derive(Debug, Clone, Serialize)]
pub struct Credential {
    pub session: String,
    pub protocol: Protocol,
    pub client: Endpoint,
    pub server: Endpoint,
    /// SASL name upper-case, or "USER" / "APOP" for POP3.
    pub mechanism: String,
    pub username: Option<String>,
    pub password: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// SASL authorization identity when given and different from empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authzid: Option<String>,
    /// From the server's reply; null when the reply was not seen.
    pub success: Option<bool>,
    /// The server's final reply line.
    pub reply: Option<String>,
    pub time: Ts,
    pub frame: u64,
    /// With `--merge`, the capture file of `frame` when it is not the session's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<String>,
    /// The session was encrypted when this was sent (never for what we can read).
    pub encrypted: bool,
    /// Payloads that were not valid base64 or not of the mechanism's shape, kept raw.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub undecodable: Vec<String>,
}

/// An attachment (a MIME part with a file name or marked attachment).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    pub filename: Option<String>,
    pub content_type: String,
    pub size: u64,
    pub sha256: String,
    /// The decoded content, for `extract`; not serialised.
    #[serde(skip)]
    pub data: Option<Arc<Vec<u8>>>,
    /// For an attachment inside an attached message (`message/rfc822`, named or not): the
    /// MIME part number (IMAP section numbering, e.g. `"2"` or `"2.3"`) of the innermost
    /// attached message that holds it. Absent for the message's own attachments.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
}

/// Decoded headers of a message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Headers {
    pub message_id: Option<String>,
    pub subject: Option<String>,
    pub from: Option<String>,
    pub to: Vec<String>,
    pub date: Option<String>,
    /// Decoded `Cc` address entries, like `to`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cc: Vec<String>,
    /// Decoded `Reply-To` address entries, joined with ", ".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// `In-Reply-To` as written (angle brackets kept, like `message_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_reply_to: Option<String>,
    /// The sending program: `User-Agent`, else `X-Mailer` (RFC 2047 decoded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// `X-Originating-IP` as written (often in brackets), the client of a webmail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x_originating_ip: Option<String>,
    /// The `Received` header values, unfolded and decoded, top (newest hop) first; at most
    /// [`MAX_RECEIVED`] are kept: the path of the message through the mail servers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub received: Vec<String>,
}

/// `Received` headers kept per message; a longer chain (a mail loop, or a forged header
/// block) keeps its first (newest) entries.
pub const MAX_RECEIVED: usize = 32;

/// Direction of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MessageDirection {
    Sent,
    Retrieved,
    /// Stored by the client with IMAP APPEND (e.g. its Sent copy).
    Appended,
}

/// A message sent (SMTP DATA/BDAT) or retrieved (POP3 RETR/TOP).
#[derive(Debug, Clone, Serialize)]
pub struct Message {
    pub id: String,
    pub session: String,
    pub direction: MessageDirection,
    #[serde(skip_serializing_if = "is_false")]
    pub partial: bool,
    pub size: u64,
    pub sha256: String,
    pub complete: bool,
    /// It crossed inside TLS and was read because the session was decrypted with a key log.
    #[serde(skip_serializing_if = "is_false")]
    pub encrypted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mail_from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rcpt_to: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pop3_number: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uidl: Option<String>,
    /// IMAP: the mailbox selected when fetched, or the APPEND target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap_mailbox: Option<String>,
    /// IMAP: the message's UID (FETCH UID item, or APPENDUID), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap_uid: Option<u64>,
    /// IMAP: the message sequence number of the FETCH response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap_seq: Option<u64>,
    /// IMAP: the FETCH item that carried the bytes (`BODY[]`, `BODY[HEADER]`, `RFC822`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imap_section: Option<String>,
    /// What is missing from a partial message (e.g. a range never fetched).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
    pub headers: Headers,
    pub attachments: Vec<Attachment>,
    pub frame: u64,
    /// With `--merge`, the capture file of `frame` when it is not the session's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<String>,
    pub time: Ts,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub truncated: Vec<String>,
    /// The message bytes (as docs/JSON.md defines them), for `extract`; not serialised.
    /// None when the message was larger than the in-memory bound.
    #[serde(skip)]
    pub data: Option<Arc<Vec<u8>>>,
    /// The message bytes of a message larger than the in-memory bound, kept in an anonymous
    /// temporary file (deleted when the last handle goes), for `extract`; not serialised.
    #[serde(skip)]
    pub spilled: Option<Arc<Spilled>>,
}

/// Message bytes kept in an anonymous temporary file (see [`Message::spilled`]).
#[derive(Debug)]
pub struct Spilled {
    file: std::fs::File,
    len: u64,
}

impl Spilled {
    /// Bytes written to `file` (already flushed), `len` of them.
    pub fn new(file: std::fs::File, len: u64) -> Spilled {
        Spilled { file, len }
    }

    /// Number of bytes kept.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// No byte kept.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copies the bytes to `w` in chunks (positional reads: the handle is shared), calling
    /// `each` on every chunk (to hash it on the way).
    pub fn copy_to(
        &self,
        w: &mut dyn std::io::Write,
        each: &mut dyn FnMut(&[u8]),
    ) -> std::io::Result<u64> {
        use std::os::unix::fs::FileExt;
        let mut buf = vec![0u8; 256 * 1024];
        let mut off = 0u64;
        while off < self.len {
            let want = buf.len().min((self.len - off) as usize);
            let n = self.file.read_at(&mut buf[..want], off)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            each(&buf[..n]);
            w.write_all(&buf[..n])?;
            off += n as u64;
        }
        Ok(off)
    }
}

/// A warning about a capture (damage, unsupported link type...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Warning {
    /// Byte offset in the (decompressed) capture file, when known.
    pub offset: Option<u64>,
    /// Frame number near the problem, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame: Option<u64>,
    pub message: String,
}

/// Counters of one capture (limits hit, decode failures...), by name.
pub type Counters = std::collections::BTreeMap<String, u64>;

/// What was read from one capture file.
#[derive(Debug, Clone, Serialize)]
pub struct CaptureInfo {
    pub path: String,
    /// "pcap" or "pcapng".
    pub format: String,
    #[serde(skip_serializing_if = "is_false")]
    pub gzip: bool,
    /// libpcap names ("EN10MB", "LINUX_SLL", ...).
    pub link_types: Vec<String>,
    pub packets: u64,
    pub bytes: u64,
    pub first: Option<Ts>,
    pub last: Option<Ts>,
    pub warnings: Vec<Warning>,
    pub counters: Counters,
}

/// The whole analysis result: the JSON document of `analyze --format json`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub tool: Tool,
    pub captures: Vec<CaptureInfo>,
    pub sessions: Vec<Session>,
    pub credentials: Vec<Credential>,
    pub messages: Vec<Message>,
}

/// Tool identification in the document.
#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

impl Default for Tool {
    fn default() -> Self {
        Tool {
            name: "pcapmail",
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ts_rfc3339_micro_and_nano() {
        assert_eq!(
            Ts::from_parts(0, 0).rfc3339(),
            "1970-01-01T00:00:00.000000Z"
        );
        assert_eq!(
            Ts::from_parts(1_700_000_000, 123_456_000).rfc3339(),
            "2023-11-14T22:13:20.123456Z"
        );
        assert_eq!(
            Ts::from_parts(1_700_000_000, 123_456_789).rfc3339(),
            "2023-11-14T22:13:20.123456789Z"
        );
        // The fast form and the general one agree (nanoseconds in i64 span 1677 to 2262).
        for ns in [
            0i64,
            -1,
            1,
            999,
            1_000,
            86_399_999_999_999,
            i64::MAX,
            i64::MIN,
            1_764_000_000_123_456_789,
        ] {
            let t = Ts(ns);
            assert_eq!(t.rfc3339(), t.rfc3339_slow(), "{ns}");
            let json = serde_json::to_string(&t).unwrap();
            assert_eq!(json, format!("\"{}\"", t.rfc3339_slow()), "{ns}");
        }
        // And over the whole range, at a stride that visits every digit position.
        let mut ns = i64::MIN;
        for _ in 0..20_000 {
            let t = Ts(ns);
            assert_eq!(t.rfc3339(), t.rfc3339_slow(), "{ns}");
            ns = ns.wrapping_add(922_337_203_685_477 + 123_457);
        }
    }
}
