//! A synthetic but protocol-correct Ethernet pcap: many concurrent TCP connections in a
//! shuffled interleaving, mixing SMTP sessions (AUTH PLAIN with and without initial
//! response, LOGIN with and without, CRAM-MD5, XOAUTH2, a failed attempt then success, no
//! AUTH with pipelining; messages with base64 attachments), POP3 sessions (USER/PASS, APOP,
//! AUTH PLAIN, AUTH LOGIN; one or two RETRs), optionally IMAP sessions as Thunderbird and
//! phone clients run them (LOGIN with quoted and literal passwords, AUTHENTICATE PLAIN,
//! SELECT, UID FETCH of whole messages in `{n}` literals, whole or in 64 KiB ranges, APPEND,
//! IDLE/DONE, LOGOUT; [`GenConfig::protocols`]), and non-mail traffic (HTTP downloads,
//! TLS-like bulk on 443, DNS over UDP), over IPv4 and IPv6, with optional capture loss,
//! reordering, duplicates and IPv4 fragmentation. [`generate_with_truth`] also returns what
//! the IMAP sessions carried, for tests.
//!
//! Used by `examples/gen-capture.rs` (benchmarks) and by the tests (small captures), so it
//! depends only on the crate's own dependencies. Deterministic for a given configuration.
#![allow(dead_code)]

use std::io::{self, Write};

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenConfig {
    /// Stop once the file holds this many bytes (the last connections are cut off there,
    /// as in a real capture).
    pub size_bytes: u64,
    /// Share of the file's bytes that are mail (SMTP/POP3/IMAP; 0..=100), about: 9.9 % of
    /// a 200 MB and 10.1 % of a 1 GB capture with 2,000 connections at 10; more when each
    /// connection gets only a few KB of the file (12.6 % at 20 MB), as a mail session's
    /// first packets are small. 100 is all mail but the second connection (HTTP or TLS),
    /// as it always was.
    pub mail_percent: u64,
    /// Connections open at once.
    pub concurrent: usize,
    /// Probability that a data segment is missing from the capture.
    pub loss: f64,
    /// Probability that a data segment is delivered after the next one of its connection.
    pub reorder: f64,
    /// Probability that a data segment appears twice (retransmission).
    pub duplicate: f64,
    /// Probability that an IPv4 data segment is split into two IP fragments.
    pub fragment: f64,
    /// Every n-th connection is IPv6 (0: none).
    pub ipv6_every: u64,
    /// Largest attachment (bytes before base64) of a generated message.
    pub max_attachment: usize,
    pub seed: u64,
    /// The mail protocols of the mail sessions (default SMTP and POP3).
    pub protocols: Protocols,
    /// Short sessions (`--profile short`): every SMTP session authenticates, messages are
    /// `500 + below(max_attachment)` bytes of attachment, a POP3 session makes one RETR
    /// then one TOP of the same message. Off: the captures are those of before.
    pub short: bool,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            size_bytes: 100 << 20,
            mail_percent: 10,
            concurrent: 500,
            loss: 0.0,
            reorder: 0.0,
            duplicate: 0.0,
            fragment: 0.0,
            ipv6_every: 7,
            max_attachment: 150_000,
            seed: 1,
            protocols: Protocols::default(),
            short: false,
        }
    }
}

/// What was generated.
#[derive(Debug, Clone, Default)]
pub struct GenStats {
    pub packets: u64,
    pub bytes: u64,
    pub connections: u64,
    pub smtp_sessions: u64,
    pub pop3_sessions: u64,
    pub imap_sessions: u64,
    /// Application payload planned for the mail connections (all of it, also what the
    /// size limit cut off).
    pub mail_bytes: u64,
    /// The same for the other connections.
    pub other_bytes: u64,
    /// Bytes of the file (record headers and frames) that belong to mail connections.
    pub mail_written: u64,
    /// The same for the other connections (HTTP, TLS; DNS is in neither).
    pub other_written: u64,
}

pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

const MSS: usize = 1448;

pub fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len() * 4 / 3 + 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        s.push(T[(n >> 18) as usize & 63] as char);
        s.push(T[(n >> 12) as usize & 63] as char);
        s.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        s.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    s
}

fn hmac_md5_hex(key: &[u8], msg: &[u8]) -> String {
    use md5::{Digest, Md5};
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..16].copy_from_slice(&Md5::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Md5::new();
    inner.update(k.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Md5::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    hex::encode(outer.finalize())
}

fn message(rng: &mut Rng, n: u64, attach: usize) -> Vec<u8> {
    message_with(rng, n, attach, "")
}

/// A message with `extra` (whole CRLF-terminated lines) in its text part.
fn message_with(rng: &mut Rng, n: u64, attach: usize, extra: &str) -> Vec<u8> {
    let mut m = format!(
        "From: Sender {n} <sender{n}@example.test>\r\nTo: rcpt{n}@example.test\r\nSubject: Report {n}\r\n\
Message-ID: <gen-{n}@example.test>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b{n}\"\r\n\r\n--b{n}\r\nContent-Type: text/plain\r\n\r\n\
Hello,\r\n.this line starts with a dot\r\n{extra}regards\r\n--b{n}\r\nContent-Type: application/octet-stream\r\n\
Content-Disposition: attachment; filename=\"data{n}.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    )
    .into_bytes();
    let data: Vec<u8> = (0..attach).map(|_| rng.next() as u8).collect();
    let enc = b64(&data);
    for line in enc.as_bytes().chunks(76) {
        m.extend_from_slice(line);
        m.extend_from_slice(b"\r\n");
    }
    m.extend_from_slice(format!("--b{n}--\r\n").as_bytes());
    m
}

fn dot_stuff(m: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.len() + 16);
    let mut at_start = true;
    for &b in m {
        if at_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_start = b == b'\n';
    }
    out
}

type Writes = Vec<(bool, Vec<u8>)>;

fn smtp(rng: &mut Rng, n: u64, max_attach: usize, short: bool) -> Writes {
    let mut w: Writes = Vec::new();
    let mut s = |c: bool, t: &str| w.push((c, t.as_bytes().to_vec()));
    s(false, "220 mx.example.test ESMTP ready\r\n");
    s(true, &format!("EHLO client{n}.example.test\r\n"));
    s(
        false,
        "250-mx.example.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n\
250-AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2\r\n250 8BITMIME\r\n",
    );
    let (user, pw) = (format!("user{n}"), format!("pw-{n}"));
    let ok = "235 2.7.0 Authentication successful\r\n";
    let mut pipelined = false;
    // Short sessions all authenticate: the no-AUTH case 6 becomes AUTH PLAIN.
    let kind = if short && n % 8 == 6 { 1 } else { n % 8 };
    match kind {
        0 => {
            s(true, "AUTH LOGIN\r\n");
            s(false, "334 VXNlcm5hbWU6\r\n");
            s(true, &format!("{}\r\n", b64(user.as_bytes())));
            s(false, "334 UGFzc3dvcmQ6\r\n");
            s(true, &format!("{}\r\n", b64(pw.as_bytes())));
            s(false, ok);
        }
        1 => {
            let ir = b64(format!("\0{user}\0{pw}").as_bytes());
            s(true, &format!("AUTH PLAIN {ir}\r\n"));
            s(false, ok);
        }
        2 => {
            s(true, "AUTH PLAIN\r\n");
            s(false, "334 \r\n");
            s(
                true,
                &format!("{}\r\n", b64(format!("\0{user}\0{pw}").as_bytes())),
            );
            s(false, ok);
        }
        3 => {
            let challenge = format!("<{n}.1764000000@mx.example.test>");
            s(true, "AUTH CRAM-MD5\r\n");
            s(false, &format!("334 {}\r\n", b64(challenge.as_bytes())));
            let digest = hmac_md5_hex(pw.as_bytes(), challenge.as_bytes());
            s(
                true,
                &format!("{}\r\n", b64(format!("{user} {digest}").as_bytes())),
            );
            s(false, ok);
        }
        4 => {
            let ir = format!("user={user}@example.test\x01auth=Bearer tok{n}\x01\x01");
            s(true, &format!("AUTH XOAUTH2 {}\r\n", b64(ir.as_bytes())));
            s(false, ok);
        }
        5 => {
            s(true, &format!("AUTH LOGIN {}\r\n", b64(user.as_bytes())));
            s(false, "334 UGFzc3dvcmQ6\r\n");
            s(true, &format!("{}\r\n", b64(pw.as_bytes())));
            s(false, ok);
        }
        6 => pipelined = true,
        _ => {
            let bad = b64(format!("\0{user}\0wrong").as_bytes());
            s(true, &format!("AUTH PLAIN {bad}\r\n"));
            s(false, "535 5.7.8 Authentication credentials invalid\r\n");
            let ir = b64(format!("\0{user}\0{pw}").as_bytes());
            s(true, &format!("AUTH PLAIN {ir}\r\n"));
            s(false, ok);
        }
    }
    if pipelined {
        s(
            true,
            &format!(
                "MAIL FROM:<sender{n}@example.test>\r\nRCPT TO:<rcpt{n}@example.test>\r\nDATA\r\n"
            ),
        );
        s(
            false,
            "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n",
        );
    } else {
        s(true, &format!("MAIL FROM:<sender{n}@example.test>\r\n"));
        s(false, "250 2.1.0 Ok\r\n");
        s(true, &format!("RCPT TO:<rcpt{n}@example.test>\r\n"));
        s(false, "250 2.1.5 Ok\r\n");
        s(true, "DATA\r\n");
        s(false, "354 End data with <CR><LF>.<CR><LF>\r\n");
    }
    let base = if short { 500 } else { 2_000 };
    let size = base + rng.below(max_attach.max(1) as u64) as usize;
    let mut body = dot_stuff(&message(rng, n, size));
    body.extend_from_slice(b".\r\n");
    w.push((true, body));
    w.push((false, b"250 2.0.0 Ok: queued\r\n".to_vec()));
    w.push((true, b"QUIT\r\n".to_vec()));
    w.push((false, b"221 2.0.0 Bye\r\n".to_vec()));
    w
}

fn pop3(rng: &mut Rng, n: u64, max_attach: usize, short: bool) -> Writes {
    let mut w: Writes = Vec::new();
    let mut s = |c: bool, t: &str| w.push((c, t.as_bytes().to_vec()));
    let stamp = format!("<{n}.1764000000@pop.example.test>");
    s(false, &format!("+OK POP3 ready {stamp}\r\n"));
    let (user, pw) = (format!("user{n}"), format!("pw-{n}"));
    match n % 4 {
        0 => {
            s(true, &format!("USER {user}\r\n"));
            s(false, "+OK\r\n");
            s(true, &format!("PASS {pw}\r\n"));
        }
        1 => {
            use md5::{Digest, Md5};
            let d = hex::encode(Md5::digest(format!("{stamp}{pw}").as_bytes()));
            s(true, &format!("APOP {user} {d}\r\n"));
        }
        2 => {
            s(true, "AUTH PLAIN\r\n");
            s(false, "+ \r\n");
            s(
                true,
                &format!("{}\r\n", b64(format!("\0{user}\0{pw}").as_bytes())),
            );
        }
        _ => {
            s(true, "AUTH LOGIN\r\n");
            s(false, "+ VXNlcm5hbWU6\r\n");
            s(true, &format!("{}\r\n", b64(user.as_bytes())));
            s(false, "+ UGFzc3dvcmQ6\r\n");
            s(true, &format!("{}\r\n", b64(pw.as_bytes())));
        }
    }
    s(false, "+OK Logged in.\r\n");
    let count = if short { 1 } else { 1 + (n / 4) % 2 };
    s(true, "STAT\r\n");
    s(false, &format!("+OK {count} 1000\r\n"));
    for i in 1..=count {
        w.push((true, format!("RETR {i}\r\n").into_bytes()));
        let size = if short {
            500 + rng.below(max_attach.max(1) as u64) as usize
        } else {
            5_000 + rng.below(2 * max_attach.max(1) as u64 / count) as usize
        };
        let msg = message(rng, n * 16 + i, size);
        let mut body = b"+OK message follows\r\n".to_vec();
        body.extend_from_slice(&dot_stuff(&msg));
        body.extend_from_slice(b".\r\n");
        w.push((false, body));
        if short {
            // TOP i 5: the header, the blank line, the first five body lines.
            w.push((true, format!("TOP {i} 5\r\n").into_bytes()));
            let hdr_end = msg
                .windows(4)
                .position(|x| x == b"\r\n\r\n")
                .map_or(msg.len(), |p| p + 4);
            let mut end = hdr_end;
            for _ in 0..5 {
                match msg[end..].windows(2).position(|x| x == b"\r\n") {
                    Some(p) => end += p + 2,
                    None => break,
                }
            }
            let mut top = b"+OK top of message follows\r\n".to_vec();
            top.extend_from_slice(&dot_stuff(&msg[..end]));
            top.extend_from_slice(b".\r\n");
            w.push((false, top));
        }
    }
    w.push((true, b"QUIT\r\n".to_vec()));
    w.push((false, b"+OK Logging out.\r\n".to_vec()));
    w
}

/// A connection's client port: every connection number has its own.
pub fn client_port(conn: u64) -> u16 {
    1024 + (conn % 60000) as u16
}

/// A credential an IMAP session sent (for tests: what pcapmail must find).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruthCredential {
    /// The connection number ([`client_port`] names its client port).
    pub conn: u64,
    /// `IMAP-LOGIN` for LOGIN, else the SASL mechanism.
    pub mechanism: String,
    pub username: String,
    pub password: String,
    /// What the server answered.
    pub success: bool,
}

/// A message an IMAP session carried whole: fetched (`BODY[]`, perhaps in ranges) or
/// uploaded with APPEND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruthMessage {
    pub conn: u64,
    pub appended: bool,
    pub mailbox: String,
    pub uid: u64,
    /// The message bytes exactly (the literal's octets; for ranges, their concatenation).
    pub data: Vec<u8>,
}

/// What the generated IMAP sessions revealed ([`generate_with_truth`]).
#[derive(Debug, Clone, Default)]
pub struct Truth {
    /// The IMAP connections.
    pub sessions: Vec<u64>,
    /// Connections written to their last packet (the size limit cuts the last ones off).
    pub finished: Vec<u64>,
    pub credentials: Vec<TruthCredential>,
    pub messages: Vec<TruthMessage>,
}

/// Which mail protocols the mail sessions use (at least one). Weights among the enabled
/// ones, in sessions: POP3 1, SMTP 2, IMAP 2 (the default SMTP + POP3 is the generator's
/// historical one third POP3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocols {
    pub smtp: bool,
    pub pop3: bool,
    pub imap: bool,
}

impl Default for Protocols {
    fn default() -> Self {
        Protocols {
            smtp: true,
            pop3: true,
            imap: false,
        }
    }
}

impl Protocols {
    /// From a comma-separated list: `smtp,pop3,imap`.
    pub fn parse(list: &str) -> Option<Protocols> {
        let mut p = Protocols {
            smtp: false,
            pop3: false,
            imap: false,
        };
        for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match name.to_ascii_lowercase().as_str() {
                "smtp" => p.smtp = true,
                "pop3" => p.pop3 = true,
                "imap" => p.imap = true,
                _ => return None,
            }
        }
        (p.smtp || p.pop3 || p.imap).then_some(p)
    }
}

/// Client writes and server answers of one IMAP session.
struct Script {
    w: Writes,
    /// Tag style (Thunderbird `1`, `2`...; `A001`...; `a1`...) and the last number.
    style: u64,
    t: u32,
}

impl Script {
    fn c(&mut self, text: &str) {
        self.w.push((true, text.as_bytes().to_vec()));
    }
    fn s(&mut self, text: &str) {
        self.w.push((false, text.as_bytes().to_vec()));
    }
    fn tag(&mut self) -> String {
        self.t += 1;
        match self.style {
            0 => format!("{}", self.t),
            1 => format!("A{:03}", self.t),
            _ => format!("a{}", self.t),
        }
    }
}

/// Quotes an IMAP string (RFC 9051 `quoted`: `\` before `"` and `\`).
fn imap_quote(s: &str) -> String {
    let mut q = String::with_capacity(s.len() + 2);
    q.push('"');
    for ch in s.chars() {
        if ch == '"' || ch == '\\' {
            q.push('\\');
        }
        q.push(ch);
    }
    q.push('"');
    q
}

const IMAP_CAPS: &str = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS \
AUTH=PLAIN AUTH=LOGIN";
const IMAP_CAPS_AUTHED: &str = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT \
SORT=DISPLAY THREAD=REFERENCES MULTIAPPEND URL-PARTIAL CATENATE UNSELECT CHILDREN NAMESPACE \
UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH \
LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY LITERAL+ NOTIFY SPECIAL-USE";
const UIDVALIDITY: u64 = 1_764_000_000;
/// Thunderbird's first chunk size for `BODY.PEEK[]<o.n>` fetches.
const IMAP_CHUNK: usize = 65_536;

/// An IMAP session as mail clients (Thunderbird, phone clients) run it against Dovecot:
/// CAPABILITY; LOGIN (quoted, quoted with escapes, synchronizing literal, LITERAL+) or
/// AUTHENTICATE PLAIN (with and without SASL-IR), sometimes after a failed attempt; ID;
/// LIST; SELECT INBOX; a flags sync; UID FETCH of whole messages `BODY.PEEK[]` (all at
/// once, or in Thunderbird's 64 KiB ranges `BODY.PEEK[]<o.65536>`); APPEND of a sent
/// message (synchronizing or LITERAL+); IDLE/DONE with a new message then fetched; LOGOUT.
fn imap(rng: &mut Rng, n: u64, max_attach: usize, mut truth: Option<&mut Truth>) -> Writes {
    let mut sc = Script {
        w: Vec::new(),
        style: n % 3,
        t: 0,
    };
    if let Some(t) = truth.as_deref_mut() {
        t.sessions.push(n);
    }
    let user = format!("user{n}");
    let mut cred = |mech: &str, pw: &str, ok: bool| {
        if let Some(t) = truth.as_deref_mut() {
            t.credentials.push(TruthCredential {
                conn: n,
                mechanism: mech.to_string(),
                username: user.clone(),
                password: pw.to_string(),
                success: ok,
            });
        }
    };
    sc.s(&format!(
        "* OK [CAPABILITY {IMAP_CAPS}] Dovecot (Debian) ready.\r\n"
    ));
    let t = sc.tag();
    sc.c(&format!("{t} CAPABILITY\r\n"));
    sc.s(&format!(
        "* CAPABILITY {IMAP_CAPS}\r\n{t} OK Pre-login capabilities listed, post-login capabilities have more.\r\n"
    ));
    if n % 7 == 3 {
        // A mistyped password first.
        let t = sc.tag();
        let bad = format!("wrong-{n}");
        sc.c(&format!(
            "{t} LOGIN {} {}\r\n",
            imap_quote(&user),
            imap_quote(&bad)
        ));
        sc.s(&format!(
            "{t} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n"
        ));
        cred("IMAP-LOGIN", &bad, false);
    }
    let t = sc.tag();
    let logged_in = format!("{t} OK [CAPABILITY {IMAP_CAPS_AUTHED}] Logged in\r\n");
    match n % 6 {
        0 => {
            let pw = format!("pw-{n}");
            sc.c(&format!(
                "{t} LOGIN {} {}\r\n",
                imap_quote(&user),
                imap_quote(&pw)
            ));
            cred("IMAP-LOGIN", &pw, true);
        }
        1 => {
            // Quotes and backslashes are escaped in a quoted string.
            let pw = format!("p\"w\\{n}");
            sc.c(&format!("{t} LOGIN {user} {}\r\n", imap_quote(&pw)));
            cred("IMAP-LOGIN", &pw, true);
        }
        2 => {
            // 8-bit octets are not allowed in a quoted string: a synchronizing literal.
            let pw = format!("pw {n} grüße");
            sc.c(&format!(
                "{t} LOGIN {} {{{}}}\r\n",
                imap_quote(&user),
                pw.len()
            ));
            sc.s("+ OK\r\n");
            sc.c(&format!("{pw}\r\n"));
            cred("IMAP-LOGIN", &pw, true);
        }
        3 => {
            // LITERAL+: both strings as non-synchronizing literals in one write.
            let pw = format!("pw-{n}-\"lit\"");
            sc.c(&format!(
                "{t} LOGIN {{{}+}}\r\n{user} {{{}+}}\r\n{pw}\r\n",
                user.len(),
                pw.len()
            ));
            cred("IMAP-LOGIN", &pw, true);
        }
        4 => {
            let pw = format!("pw-{n}");
            let ir = b64(format!("\0{user}\0{pw}").as_bytes());
            sc.c(&format!("{t} AUTHENTICATE PLAIN {ir}\r\n"));
            cred("PLAIN", &pw, true);
        }
        _ => {
            let pw = format!("pw-{n}");
            sc.c(&format!("{t} AUTHENTICATE PLAIN\r\n"));
            sc.s("+ \r\n");
            sc.c(&format!(
                "{}\r\n",
                b64(format!("\0{user}\0{pw}").as_bytes())
            ));
            cred("PLAIN", &pw, true);
        }
    }
    sc.s(&logged_in);
    if n.is_multiple_of(2) {
        let t = sc.tag();
        sc.c(&format!(
            "{t} ID (\"name\" \"Thunderbird\" \"version\" \"128.5.0\")\r\n"
        ));
        sc.s(&format!(
            "* ID (\"name\" \"Dovecot\")\r\n{t} OK ID completed (0.001 + 0.000 secs).\r\n"
        ));
    }
    let t = sc.tag();
    sc.c(&format!(
        "{t} LIST (SUBSCRIBED) \"\" \"*\" RETURN (SPECIAL-USE)\r\n"
    ));
    sc.s(&format!(
        "* LIST (\\HasNoChildren \\Subscribed) \".\" INBOX\r\n\
* LIST (\\HasNoChildren \\Subscribed \\Sent) \".\" Sent\r\n\
* LIST (\\HasNoChildren \\Subscribed \\Drafts) \".\" Drafts\r\n\
* LIST (\\HasNoChildren \\Subscribed \\Trash) \".\" Trash\r\n\
* LIST (\\HasNoChildren \\Subscribed) \".\" \"Gesendete Elemente\"\r\n\
{t} OK List completed (0.001 + 0.000 secs).\r\n"
    ));
    // INBOX holds `count` messages, UIDs 10, 13, 16...
    let count = 1 + (n / 6) % 3;
    let uid = |seq: u64| 7 + 3 * seq;
    let t = sc.tag();
    sc.c(&format!("{t} SELECT INBOX\r\n"));
    sc.s(&format!(
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n\
* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted.\r\n\
* {count} EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY {UIDVALIDITY}] UIDs valid\r\n\
* OK [UIDNEXT {}] Predicted next UID\r\n{t} OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n",
        uid(count) + 1
    ));
    let t = sc.tag();
    sc.c(&format!("{t} UID FETCH 1:* (FLAGS)\r\n"));
    let mut flags = String::new();
    for seq in 1..=count {
        flags += &format!("* {seq} FETCH (UID {} FLAGS ())\r\n", uid(seq));
    }
    flags += &format!("{t} OK Fetch completed (0.001 + 0.000 secs).\r\n");
    sc.s(&flags);
    let chunked = n % 4 == 1;
    // Message bodies hold lines that would end the response if a parser looked for lines
    // inside literals.
    let tricky = |t: &str| format!("* 9 EXISTS\r\n{t} OK Fetch completed.\r\n)\r\n");
    let fetch = |sc: &mut Script, rng: &mut Rng, first: u64, last: u64| {
        let t = sc.tag();
        let msgs: Vec<(u64, Vec<u8>)> = (first..=last)
            .map(|seq| {
                let size = 2_000 + rng.below(max_attach.max(1) as u64) as usize;
                let extra = if seq % 2 == 1 {
                    tricky(&t)
                } else {
                    String::new()
                };
                (seq, message_with(rng, n * 16 + seq, size, &extra))
            })
            .collect();
        if chunked {
            // Thunderbird: one message at a time, 64 KiB ranges until one comes back short.
            for (seq, m) in &msgs {
                let mut off = 0;
                loop {
                    let t = if off == 0 { t.clone() } else { sc.tag() };
                    sc.c(&format!(
                        "{t} UID FETCH {} (UID RFC822.SIZE BODY.PEEK[]<{off}.{IMAP_CHUNK}>)\r\n",
                        uid(*seq)
                    ));
                    let end = (off + IMAP_CHUNK).min(m.len());
                    let mut r = format!(
                        "* {seq} FETCH (UID {} RFC822.SIZE {} BODY[]<{off}> {{{}}}\r\n",
                        uid(*seq),
                        m.len(),
                        end - off
                    )
                    .into_bytes();
                    r.extend_from_slice(&m[off..end]);
                    r.extend_from_slice(
                        format!(")\r\n{t} OK Fetch completed (0.002 + 0.000 secs).\r\n").as_bytes(),
                    );
                    sc.w.push((false, r));
                    off = end;
                    if off >= m.len() {
                        break;
                    }
                }
            }
        } else {
            let set = if first == last {
                uid(first).to_string()
            } else {
                format!("{}:{}", uid(first), uid(last))
            };
            sc.c(&format!(
                "{t} UID FETCH {set} (UID RFC822.SIZE FLAGS BODY.PEEK[])\r\n"
            ));
            for (seq, m) in &msgs {
                let mut r = format!(
                    "* {seq} FETCH (UID {} RFC822.SIZE {} FLAGS () BODY[] {{{}}}\r\n",
                    uid(*seq),
                    m.len(),
                    m.len()
                )
                .into_bytes();
                r.extend_from_slice(m);
                r.extend_from_slice(b")\r\n");
                sc.w.push((false, r));
            }
            sc.s(&format!("{t} OK Fetch completed (0.003 + 0.000 secs).\r\n"));
        }
        msgs
    };
    let mut fetched = fetch(&mut sc, rng, 1, count);
    // A sent message goes to the Sent folder.
    let size = 2_000 + rng.below(max_attach.max(1) as u64) as usize;
    let sent = message_with(rng, n * 16 + 15, size, &tricky("x1"));
    let mailbox = if n % 5 == 4 {
        "Gesendete Elemente"
    } else {
        "Sent"
    };
    let t = sc.tag();
    let head = format!(
        "{t} APPEND {} (\\Seen) \"24-Nov-2026 10:00:00 +0000\" ",
        imap_quote(mailbox)
    );
    let mut body = Vec::with_capacity(sent.len() + 2);
    if n % 3 == 2 {
        body.extend_from_slice(format!("{head}{{{}+}}\r\n", sent.len()).as_bytes());
    } else {
        sc.c(&format!("{head}{{{}}}\r\n", sent.len()));
        sc.s("+ OK\r\n");
    }
    body.extend_from_slice(&sent);
    body.extend_from_slice(b"\r\n");
    sc.w.push((true, body));
    let sent_uid = 1 + n % 1000;
    sc.s(&format!(
        "{t} OK [APPENDUID {UIDVALIDITY} {sent_uid}] Append completed (0.004 + 0.000 secs).\r\n"
    ));
    if n % 2 == 1 {
        // IDLE until a new message arrives, then fetch it.
        let t = sc.tag();
        sc.c(&format!("{t} IDLE\r\n"));
        sc.s("+ idling\r\n");
        sc.s(&format!("* {} EXISTS\r\n* 1 RECENT\r\n", count + 1));
        sc.c("DONE\r\n");
        sc.s(&format!("{t} OK Idle completed (0.001 + 4.999 secs).\r\n"));
        fetched.extend(fetch(&mut sc, rng, count + 1, count + 1));
    }
    let t = sc.tag();
    sc.c(&format!("{t} LOGOUT\r\n"));
    sc.s(&format!(
        "* BYE Logging out\r\n{t} OK Logout completed (0.001 + 0.000 secs).\r\n"
    ));
    if let Some(tr) = truth {
        for (seq, data) in fetched {
            tr.messages.push(TruthMessage {
                conn: n,
                appended: false,
                mailbox: "INBOX".into(),
                uid: uid(seq),
                data,
            });
        }
        tr.messages.push(TruthMessage {
            conn: n,
            appended: true,
            mailbox: mailbox.into(),
            uid: sent_uid,
            data: sent,
        });
    }
    sc.w
}

fn http(rng: &mut Rng, n: u64) -> Writes {
    let size = 50_000 + rng.below(2_000_000) as usize;
    let mut resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n").into_bytes();
    resp.extend((0..size).map(|i| (i as u64 ^ n) as u8));
    vec![
        (
            true,
            format!("GET /file{n} HTTP/1.1\r\nHost: www.example.test\r\n\r\n").into_bytes(),
        ),
        (false, resp),
    ]
}

fn tls(rng: &mut Rng) -> Writes {
    let up = 500 + rng.below(5_000) as usize;
    let down = 20_000 + rng.below(1_500_000) as usize;
    let mut hello = vec![0x16, 0x03, 0x01, 0x02, 0x00];
    hello.extend((0..up).map(|_| rng.next() as u8));
    vec![
        (true, hello),
        (false, (0..down).map(|i| (i * 7) as u8).collect()),
    ]
}

/// One scripted TCP connection: a list of (from_client, bytes) application writes.
struct Conn {
    /// The connection number.
    n: u64,
    client: ([u8; 4], u16),
    server: ([u8; 4], u16),
    v6: bool,
    writes: Writes,
    /// A mail connection (SMTP, POP3, IMAP).
    mail: bool,
    /// Index of the next write, and offset inside it.
    next: usize,
    off: usize,
    seq: [u32; 2],
    state: u8, // 0: SYN, 1: SYN-ACK, 2: ACK, 3: data, 4: FIN c, 5: FIN s, 6: last ACK
    pending_swap: Option<Vec<Vec<u8>>>,
    /// Reorder only within a direction, so that an answer never precedes on the wire the
    /// request it answers (IMAP: a tagged reply before its command would be a reply to
    /// nothing). SMTP and POP3 connections keep the generator's original reordering, where
    /// a held segment may go out after the peer's next one.
    causal: bool,
}

fn v6(a: [u8; 4]) -> [u8; 16] {
    let mut x = [0u8; 16];
    x[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    x[12..].copy_from_slice(&a);
    x
}

fn tcp_frame(c: &Conn, from_client: bool, flags: u8, payload: &[u8]) -> Vec<u8> {
    use etherparse::PacketBuilder;
    let (src, dst) = if from_client {
        (c.client, c.server)
    } else {
        (c.server, c.client)
    };
    let (seq, ack) = if from_client {
        (c.seq[0], c.seq[1])
    } else {
        (c.seq[1], c.seq[0])
    };
    let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let mut b = if c.v6 {
        eth.ipv6(v6(src.0), v6(dst.0), 64)
            .tcp(src.1, dst.1, seq, 64240)
    } else {
        eth.ipv4(src.0, dst.0, 64).tcp(src.1, dst.1, seq, 64240)
    };
    if flags & 0x02 != 0 {
        b = b.syn();
    }
    if flags & 0x10 != 0 {
        b = b.ack(ack);
    }
    if flags & 0x01 != 0 {
        b = b.fin();
    }
    if flags & 0x08 != 0 {
        b = b.psh();
    }
    let mut v = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut v, payload).unwrap();
    v
}

/// Splits an Ethernet + IPv4 (no options) frame into two IP fragments.
fn fragment(frame: &[u8], id: u16) -> Vec<Vec<u8>> {
    let ip = &frame[14..];
    let body = &ip[20..];
    if body.len() < 48 {
        return vec![frame.to_vec()];
    }
    let cut = (body.len() / 2) & !7;
    let mut out = Vec::new();
    for (off, part, more) in [(0, &body[..cut], true), (cut, &body[cut..], false)] {
        let mut h = ip[..20].to_vec();
        h[2..4].copy_from_slice(&((20 + part.len()) as u16).to_be_bytes());
        h[4..6].copy_from_slice(&id.to_be_bytes());
        let ff = ((off / 8) as u16) | if more { 0x2000 } else { 0 };
        h[6..8].copy_from_slice(&ff.to_be_bytes());
        h[10..12].copy_from_slice(&[0, 0]);
        let mut sum = 0u32;
        for w in h.chunks(2) {
            sum += u16::from_be_bytes([w[0], w[1]]) as u32;
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        h[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        let mut f = frame[..14].to_vec();
        f.extend_from_slice(&h);
        f.extend_from_slice(part);
        out.push(f);
    }
    out
}

/// The file bytes a connection writes in its first `picks` turns of the main loop (the
/// handshake's three packets, a segment plus an ACK every other turn, the close's three
/// packets; loss, duplicates and fragments left out), and the turns it takes (fewer when it
/// ends before).
fn written_in_picks(writes: &Writes, v6: bool, picks: u64) -> (u64, u64) {
    // Record header, Ethernet, IP, TCP.
    let hdr = 16 + 14 + 20 + if v6 { 40 } else { 20 };
    let mut left = picks;
    let mut bytes = 0;
    let mut turn = |payload: u64| -> bool {
        if left == 0 {
            return false;
        }
        left -= 1;
        bytes += payload + hdr;
        true
    };
    for _ in 0..3 {
        turn(0);
    }
    for (_, data) in writes {
        for seg in data.chunks(MSS) {
            if !turn(seg.len() as u64 + hdr / 2) {
                return (bytes, picks);
            }
        }
    }
    for _ in 0..3 {
        turn(0);
    }
    (bytes, picks - left)
}

struct Writer<W: Write> {
    out: W,
    ts_us: u64,
    stats: GenStats,
    /// Whose packets are being written: a mail connection's, another's, or neither (DNS).
    class: Option<bool>,
}

impl<W: Write> Writer<W> {
    fn packet(&mut self, frame: &[u8]) -> io::Result<()> {
        self.ts_us += 7;
        let sec = (self.ts_us / 1_000_000) as u32 + 1_764_000_000;
        let usec = (self.ts_us % 1_000_000) as u32;
        let len = frame.len() as u32;
        let mut hdr = [0u8; 16];
        for (i, v) in [sec, usec, len, len].into_iter().enumerate() {
            hdr[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
        self.out.write_all(&hdr)?;
        self.out.write_all(frame)?;
        self.stats.bytes += 16 + frame.len() as u64;
        self.stats.packets += 1;
        match self.class {
            Some(true) => self.stats.mail_written += 16 + frame.len() as u64,
            Some(false) => self.stats.other_written += 16 + frame.len() as u64,
            None => {}
        }
        Ok(())
    }
}

/// Writes a capture to `out`.
pub fn generate<W: Write>(cfg: &GenConfig, out: W) -> io::Result<GenStats> {
    generate_with_truth(cfg, out, None)
}

/// Writes a capture to `out` and, with `truth`, collects what its IMAP sessions revealed
/// (credentials, whole messages) and which connections were written to their end. The
/// capture is the same with or without `truth`.
pub fn generate_with_truth<W: Write>(
    cfg: &GenConfig,
    out: W,
    mut truth: Option<&mut Truth>,
) -> io::Result<GenStats> {
    let mut rng = Rng(cfg.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut w = Writer {
        out,
        ts_us: 0,
        stats: GenStats::default(),
        class: None,
    };
    // pcap header: microseconds, Ethernet.
    let mut hdr = Vec::with_capacity(24);
    hdr.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    hdr.extend_from_slice(&2u16.to_le_bytes());
    hdr.extend_from_slice(&4u16.to_le_bytes());
    hdr.extend_from_slice(&[0; 8]);
    hdr.extend_from_slice(&65535u32.to_le_bytes());
    hdr.extend_from_slice(&1u32.to_le_bytes());
    w.out.write_all(&hdr)?;
    w.stats.bytes = 24;
    let mut conns: Vec<Conn> = Vec::new();
    let mut n = 0u64;
    let mut ip_id = 0u16;
    let (mut mail_bytes, mut other_bytes) = (0u64, 0u64);
    let (mut mail_plan, mut other_plan) = (0u64, 0u64);
    let mut picks = 0u64;
    // Bytes and turns projected for the connections so far.
    let mut projected = (0u64, 0u64);
    while w.stats.bytes < cfg.size_bytes {
        while conns.len() < cfg.concurrent.max(1) {
            n += 1;
            // Keep mail at roughly mail_percent of the bytes that will be in the file.
            let want_mail = (mail_plan * 100) < (mail_plan + other_plan) * cfg.mail_percent;
            let (port, writes) = if want_mail || (n == 1 && cfg.mail_percent > 0) {
                // Weighted choice among the enabled protocols: POP3 1, SMTP 2, IMAP 2 (for
                // SMTP + POP3 the same draws as before IMAP existed).
                let p = cfg.protocols;
                let (wp, ws, wi) = (
                    u64::from(p.pop3),
                    2 * u64::from(p.smtp),
                    2 * u64::from(p.imap),
                );
                let r = rng.below(wp + ws + wi);
                if r < wp {
                    w.stats.pop3_sessions += 1;
                    (110, pop3(&mut rng, n, cfg.max_attachment, cfg.short))
                } else if r < wp + ws {
                    w.stats.smtp_sessions += 1;
                    let port = if n.is_multiple_of(5) { 587 } else { 25 };
                    (port, smtp(&mut rng, n, cfg.max_attachment, cfg.short))
                } else {
                    w.stats.imap_sessions += 1;
                    (
                        143,
                        imap(&mut rng, n, cfg.max_attachment, truth.as_deref_mut()),
                    )
                }
            } else {
                match rng.below(3) {
                    0 => (80, http(&mut rng, n)),
                    _ => (443, tls(&mut rng)),
                }
            };
            let total: u64 = writes.iter().map(|(_, b)| b.len() as u64).sum();
            let mail = matches!(port, 25 | 587 | 110 | 143);
            let v6 = cfg.ipv6_every > 0 && n.is_multiple_of(cfg.ipv6_every);
            // What this connection will have written when the file is cut: the packets are
            // drawn evenly among the open connections, so it gets about its share of the
            // picks that remain (their mean size so far; before the first, the mean of the
            // turns projected for the connections before, 1000 bytes for the first). Its
            // planned bytes whole made a 200 MB "10 %" capture a third mail: the long
            // HTTP/TLS transfers were mostly unwritten at the cut, the short sessions whole.
            let per_pick = match (picks, projected.1) {
                (0, 0) => 1000,
                (0, turns) => projected.0 / turns,
                _ => (w.stats.mail_written + w.stats.other_written) / picks,
            };
            let left = (cfg.size_bytes - w.stats.bytes) / per_pick.max(1);
            let turns = left / cfg.concurrent.max(1) as u64;
            let (share, used) = written_in_picks(&writes, v6, turns);
            projected = (projected.0 + share, projected.1 + used);
            if mail {
                mail_bytes += total;
                mail_plan += share;
            } else {
                other_bytes += total;
                other_plan += share;
            }
            // Client address and port from the connection number: no tuple is reused.
            let m = n / 60000;
            conns.push(Conn {
                n,
                client: (
                    [10, (m >> 8) as u8, m as u8, (n % 250) as u8 + 1],
                    client_port(n),
                ),
                server: ([192, 0, 2, (port % 250) as u8 + 1], port),
                v6,
                writes,
                mail,
                next: 0,
                off: 0,
                seq: [rng.next() as u32, rng.next() as u32],
                state: 0,
                pending_swap: None,
                causal: port == 143,
            });
        }
        // DNS noise: one UDP query now and then.
        if rng.below(50) == 0 {
            use etherparse::PacketBuilder;
            let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 3])
                .ipv4([10, 0, 0, 9], [192, 0, 2, 53], 64)
                .udp(5353, 53);
            let mut v = Vec::new();
            b.write(&mut v, &[0u8; 40]).unwrap();
            w.class = None;
            w.packet(&v)?;
        }
        let k = rng.below(conns.len() as u64) as usize;
        let c = &mut conns[k];
        w.class = Some(c.mail);
        picks += 1;
        match c.state {
            0 => {
                w.packet(&tcp_frame(c, true, 0x02, &[]))?;
                c.seq[0] = c.seq[0].wrapping_add(1);
                c.state = 1;
            }
            1 => {
                w.packet(&tcp_frame(c, false, 0x12, &[]))?;
                c.seq[1] = c.seq[1].wrapping_add(1);
                c.state = 2;
            }
            2 => {
                w.packet(&tcp_frame(c, true, 0x10, &[]))?;
                c.state = 3;
            }
            3 => {
                // A held segment goes out after the next one: reordered on the wire.
                let held = c.pending_swap.take();
                if c.next >= c.writes.len() {
                    for f in held.into_iter().flatten() {
                        w.packet(&f)?;
                    }
                    c.state = 4;
                    continue;
                }
                let (from_client, ref data) = c.writes[c.next];
                let end = (c.off + MSS).min(data.len());
                let f = tcp_frame(c, from_client, 0x18, &data[c.off..end]);
                let idx = if from_client { 0 } else { 1 };
                c.seq[idx] = c.seq[idx].wrapping_add((end - c.off) as u32);
                c.off = end;
                if c.off >= data.len() {
                    c.next += 1;
                    c.off = 0;
                }
                let frames = if !c.v6 && rng.chance(cfg.fragment) {
                    ip_id = ip_id.wrapping_add(1);
                    fragment(&f, ip_id)
                } else {
                    vec![f]
                };
                if rng.chance(cfg.loss) {
                    // lost on the capture path
                } else if held.is_none()
                    && rng.chance(cfg.reorder)
                    && c.next < c.writes.len()
                    && (!c.causal || c.writes[c.next].0 == from_client)
                {
                    c.pending_swap = Some(frames);
                    continue;
                } else {
                    let dup = rng.chance(cfg.duplicate);
                    for f in &frames {
                        w.packet(f)?;
                    }
                    if dup {
                        for f in &frames {
                            w.packet(f)?;
                        }
                    }
                }
                for f in held.into_iter().flatten() {
                    w.packet(&f)?;
                }
                if rng.below(2) == 0 {
                    w.packet(&tcp_frame(c, !from_client, 0x10, &[]))?;
                }
            }
            4 => {
                w.packet(&tcp_frame(c, true, 0x11, &[]))?;
                c.seq[0] = c.seq[0].wrapping_add(1);
                c.state = 5;
            }
            5 => {
                w.packet(&tcp_frame(c, false, 0x11, &[]))?;
                c.seq[1] = c.seq[1].wrapping_add(1);
                c.state = 6;
            }
            _ => {
                w.packet(&tcp_frame(c, true, 0x10, &[]))?;
                if let Some(t) = truth.as_deref_mut() {
                    t.finished.push(c.n);
                }
                conns.swap_remove(k);
            }
        }
    }
    w.out.flush()?;
    w.stats.connections = n;
    w.stats.mail_bytes = mail_bytes;
    w.stats.other_bytes = other_bytes;
    Ok(w.stats)
}
