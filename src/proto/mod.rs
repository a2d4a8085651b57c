//! Application-protocol dissectors: sans-IO state machines fed ordered bytes and gap
//! events by the reassembler. They know nothing of pcap, threads or output formats.

pub mod dialogue;
pub mod imap;
pub mod lines;
pub mod message;
pub mod mime;
pub mod pop3;
pub mod sasl;
pub mod smtp;
pub mod upgrade;

use crate::model::{
    Command, Counters, Credential, DialogueEntry, Finding, Message, Protocol, ProtocolDetail, Side,
    Tls, Ts,
};

/// Where and when a chunk of stream bytes crossed the wire: the packet that carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ChunkMeta {
    /// 1-based frame number in the capture file (as Wireshark numbers frames).
    pub frame: u64,
    pub ts: Ts,
}

/// Why a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// FIN seen in both directions (or the last FIN and its data delivered).
    Fin,
    /// One side reset the connection.
    Rst,
    /// No packet for longer than the idle timeout (capture time).
    Timeout,
    /// The capture ended while the connection was open.
    EndOfCapture,
    /// Evicted to honour the concurrent-connection limit.
    Evicted,
}

impl EndReason {
    /// Short name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            EndReason::Fin => "fin",
            EndReason::Rst => "rst",
            EndReason::Timeout => "timeout",
            EndReason::EndOfCapture => "end-of-capture",
            EndReason::Evicted => "evicted",
        }
    }
}

/// The interface between reassembly and the dissectors: ordered bytes per direction,
/// explicit gaps, and the end of the connection. Calls arrive in capture order.
pub trait StreamConsumer {
    /// In-order bytes sent by `from`, carried by the packet described in `meta`.
    fn data(&mut self, from: Side, bytes: &[u8], meta: ChunkMeta);
    /// `len` bytes sent by `from` are missing from the stream at this point (capture loss,
    /// snaplen truncation, buffer limit). The next `data` call for `from` follows the hole.
    fn gap(&mut self, from: Side, len: u64, meta: ChunkMeta);
    /// The connection is over; no more calls follow.
    fn end(&mut self, reason: EndReason, meta: ChunkMeta);
}

/// What a dissector knows at the end of its session. The analysis layer adds the
/// connection facts (endpoints, ids, capture) and turns it into model records; the
/// `session`, `client` and `server` fields of credentials and the `id`/`session` of
/// messages are placeholders until then.
#[derive(Debug, Clone)]
pub struct SessionOutput {
    pub detail: ProtocolDetail,
    pub banner: Option<String>,
    pub tls: Tls,
    pub starttls_offered: bool,
    /// The start of the dialogue (banner) and a proper end (QUIT and its reply) were seen.
    pub complete: bool,
    pub commands: Vec<Command>,
    pub credentials: Vec<Credential>,
    pub messages: Vec<Message>,
    pub dialogue: Vec<DialogueEntry>,
    pub findings: Vec<Finding>,
    pub truncated: Vec<String>,
    pub anomalies: Vec<String>,
}

impl SessionOutput {
    /// Adds this session's limit hits and anomalies to capture-wide counters:
    /// - `<proto>.limit.<field>`: sessions where a limit cut `<field>` (the session's
    ///   `truncated` list: `commands`, `rcpt_to`, `line`, `dialogue`, ...);
    /// - `smtp.<anomaly>`: SMTP anomaly occurrences (`smtp.line_too_long`,
    ///   `smtp.pending_overflow`, ...), from the `"<name> (<count>)"` entries;
    /// - `pop3.anomalies`: POP3 anomaly entries;
    /// - `message.limit.<field>`: messages cut by a limit (`data`: larger than the
    ///   in-memory bound, hashed only; `attachments`), `mime.limit.depth` /
    ///   `mime.limit.parts`: messages whose MIME decoding was skipped by a guard;
    /// - `message.incomplete`: messages whose end was not seen or that have a gap.
    pub fn add_counters(&self, protocol: Protocol, counters: &mut Counters) {
        let p = protocol.name();
        let mut add = |k: String, v: u64| {
            if v != 0 {
                *counters.entry(k).or_insert(0) += v;
            }
        };
        for f in &self.truncated {
            add(format!("{p}.limit.{}", snake(f)), 1);
        }
        for a in &self.anomalies {
            match protocol {
                // IMAP anomalies use the SMTP form: "imap-<name> (<count>)" or a sentence.
                Protocol::Smtp | Protocol::Imap => {
                    let (name, n) = match a.rsplit_once(" (") {
                        Some((name, n)) => (name, n.trim_end_matches(')').parse().unwrap_or(1)),
                        None => (a.as_str(), 1),
                    };
                    let prefix = format!("{p}-");
                    let Some(name) = name.strip_prefix(prefix.as_str()) else {
                        if protocol == Protocol::Imap {
                            add("imap.anomalies".into(), 1);
                        } else {
                            add(format!("smtp.{}", snake(name)), n);
                        }
                        continue;
                    };
                    add(format!("{p}.{}", snake(name)), n);
                }
                Protocol::Pop3 => add("pop3.anomalies".into(), 1),
            }
        }
        for m in &self.messages {
            for f in &m.truncated {
                match f.strip_prefix("mime-") {
                    Some(r) => add(format!("mime.limit.{}", snake(r)), 1),
                    None => add(format!("message.limit.{}", snake(f)), 1),
                }
            }
            add("message.incomplete".into(), u64::from(!m.complete));
        }
    }
}

/// `rcpt-to` → `rcpt_to`, keeping counter names in one style.
fn snake(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// A protocol dissector: a stream consumer that yields a session description at the end.
pub trait Dissector: StreamConsumer {
    /// The peer really spoke this protocol (not a stranger on its port): what was seen
    /// is worth reporting.
    fn recognised(&self) -> bool;
    /// The session as far as it was seen. Called once, after `end`.
    fn finish(&mut self) -> SessionOutput;
    /// The dialogue upgraded to TLS in the last `data` call (STARTTLS/STLS/IMAP STARTTLS was
    /// accepted and a TLS record followed): the last `n` bytes of that call are the first
    /// bytes of TLS, and every later byte of both sides is TLS, which the dissector only
    /// counts until [`Dissector::tls_decrypted`]. Given once. The transport (Suricata's
    /// "protocol upgrade") takes the bytes over from there; a protocol without an upgrade
    /// keeps the default.
    fn take_tls_start(&mut self) -> Option<usize> {
        None
    }
    /// The transport decrypts this session's TLS: from the next call on, `data` and `gap`
    /// carry the plaintext of both directions (after STARTTLS, or from the start for
    /// implicit TLS). What is found from here on was protected on the wire: credentials and
    /// messages are marked `encrypted` and raise no clear-text finding. Called at most once.
    fn tls_decrypted(&mut self) {}
}

/// The bytes start like a TLS record: content type 20-23 (change_cipher_spec, alert,
/// handshake, application_data) then major version 3. Bytes not yet seen are given the
/// benefit of the doubt. Used after STARTTLS/STLS was accepted and on ports where TLS is
/// expected: only a TLS record makes the rest of a connection opaque.
pub fn is_tls_record_start(b: &[u8]) -> bool {
    matches!(b.first(), Some(0x14..=0x17))
        && b.get(1).is_none_or(|&v| v == 3)
        && b.get(2).is_none_or(|&v| v <= 4)
}

/// Answer of a cheap content check (`smtp::looks_like_smtp`, ...) on the first bytes of
/// both directions of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recognition {
    /// The protocol was recognised. The dissector should be fed the streams after skipping
    /// the first `skip_client` / `skip_server` bytes (a tunnel preamble such as an HTTP
    /// CONNECT exchange; both 0 for a plain dialogue).
    Yes {
        skip_client: usize,
        skip_server: usize,
    },
    /// Not this protocol.
    No,
    /// Not enough bytes yet to decide; ask again with longer prefixes.
    NeedMore,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SmtpDetail;

    #[test]
    fn limit_hits_and_anomalies_become_counters() {
        let out = SessionOutput {
            detail: ProtocolDetail::Smtp(SmtpDetail::default()),
            banner: None,
            tls: Tls::None,
            starttls_offered: false,
            complete: false,
            commands: Vec::new(),
            credentials: Vec::new(),
            messages: Vec::new(),
            dialogue: Vec::new(),
            findings: Vec::new(),
            truncated: vec!["rcpt_to".into(), "line".into()],
            anomalies: vec!["smtp-line-too-long (3)".into(), "smtp-gap-resync".into()],
        };
        let mut c = Counters::new();
        out.add_counters(Protocol::Smtp, &mut c);
        out.add_counters(Protocol::Smtp, &mut c);
        let got: Vec<(&str, u64)> = c.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            got,
            [
                ("smtp.gap_resync", 2),
                ("smtp.limit.line", 2),
                ("smtp.limit.rcpt_to", 2),
                ("smtp.line_too_long", 6),
            ]
        );
    }
}
