//! Pure SMTP parsers over byte slices: reply lines, command lines, paths, BDAT arguments,
//! enhanced status codes, and the content check `looks_like_smtp`. No state, no allocation
//! beyond the returned values.

use crate::proto::Recognition;

/// One server reply line, `ddd[ -]text` (RFC 5321 §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyLine<'a> {
    /// The three-digit code.
    pub code: [u8; 3],
    /// `-` was used: more lines of the same reply follow.
    pub more: bool,
    /// The text after the separator (may be empty).
    pub text: &'a [u8],
}

impl ReplyLine<'_> {
    /// The code as a string ("250").
    pub fn code_str(&self) -> String {
        self.code.iter().map(|&b| b as char).collect()
    }
}

/// Parses a reply line (without its ending). The first digit must be 2..5 (RFC 5321
/// §4.2.1; 1yz is never used by SMTP), the others digits; the code is followed by a space,
/// a hyphen, or the end of the line.
pub fn parse_reply(line: &[u8]) -> Option<ReplyLine<'_>> {
    if line.len() < 3 {
        return None;
    }
    let code = [line[0], line[1], line[2]];
    if !(b'2'..=b'5').contains(&code[0]) || !code[1].is_ascii_digit() || !code[2].is_ascii_digit() {
        return None;
    }
    match line.get(3) {
        None => Some(ReplyLine {
            code,
            more: false,
            text: b"",
        }),
        Some(b' ') => Some(ReplyLine {
            code,
            more: false,
            text: &line[4..],
        }),
        Some(b'-') => Some(ReplyLine {
            code,
            more: true,
            text: &line[4..],
        }),
        // Some servers omit the space before text; tolerate only horizontal tab.
        Some(b'\t') => Some(ReplyLine {
            code,
            more: false,
            text: &line[4..],
        }),
        _ => None,
    }
}

/// Splits an enhanced status code (RFC 3463: `class.subject.detail`) off the start of a
/// reply text when its class matches the reply code's first digit. Returns the code and
/// the rest of the text.
pub fn split_enhanced(code_class: u8, text: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
    let candidate = &text[..end];
    let mut parts = candidate.split(|&b| b == b'.');
    let (class, subject, detail) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let digits =
        |p: &[u8], max: usize| !p.is_empty() && p.len() <= max && p.iter().all(u8::is_ascii_digit);
    if class.len() != 1 || class[0] != code_class || !digits(subject, 3) || !digits(detail, 3) {
        return None;
    }
    let rest = text.get(end + 1..).unwrap_or(b"");
    Some((candidate, rest))
}

/// Command verbs of RFC 5321 and its extensions that we recognise as SMTP. A `match` on
/// literals (lengths, then fixed-size compares): a list's `contains` made a memcmp call per
/// entry, some 60 per command with the FTP list.
fn is_known_verb(verb: &str) -> bool {
    matches!(
        verb,
        "HELO"
            | "EHLO"
            | "MAIL"
            | "RCPT"
            | "DATA"
            | "BDAT"
            | "RSET"
            | "VRFY"
            | "EXPN"
            | "HELP"
            | "NOOP"
            | "QUIT"
            | "AUTH"
            | "STARTTLS"
            | "TURN"
            | "ETRN"
            | "ATRN"
            | "SEND"
            | "SOML"
            | "SAML"
            | "XCLIENT"
            | "XFORWARD"
            | "LHLO"
    )
}

/// An FTP command verb (RFC 959, 2228, 2389, 2428, 3659) that SMTP does not have (`verb`
/// upper-cased). FTP, like SMTP, greets with `220`: these tell an FTP control connection
/// apart.
pub fn is_ftp_verb(verb: &str) -> bool {
    matches!(
        verb,
        "USER"
            | "PASS"
            | "ACCT"
            | "CWD"
            | "CDUP"
            | "SMNT"
            | "REIN"
            | "PORT"
            | "PASV"
            | "EPSV"
            | "EPRT"
            | "TYPE"
            | "STRU"
            | "MODE"
            | "RETR"
            | "STOR"
            | "STOU"
            | "APPE"
            | "ALLO"
            | "REST"
            | "RNFR"
            | "RNTO"
            | "ABOR"
            | "DELE"
            | "RMD"
            | "MKD"
            | "PWD"
            | "XPWD"
            | "LIST"
            | "NLST"
            | "MLSD"
            | "MLST"
            | "SITE"
            | "SYST"
            | "STAT"
            | "FEAT"
            | "OPTS"
            | "SIZE"
            | "MDTM"
            | "PBSZ"
            | "PROT"
    )
}

/// A reply code FTP uses and SMTP never does (RFC 959 §4.2 vs RFC 5321 §4.2.3): any 1yz
/// preliminary reply, `200`, `215` (system type), `226`, `227`/`229` (passive mode), `230`
/// (logged in), `257` (path created), `331`/`332` (need password / account), `350`, ...
pub fn is_ftp_reply_code(code: &[u8; 3]) -> bool {
    code[0] == b'1'
        || matches!(
            code,
            b"200"
                | b"202"
                | b"212"
                | b"213"
                | b"215"
                | b"225"
                | b"226"
                | b"227"
                | b"228"
                | b"229"
                | b"230"
                | b"232"
                | b"234"
                | b"257"
                | b"331"
                | b"332"
                | b"350"
                | b"425"
                | b"426"
                | b"532"
        )
}

/// Longest verb accepted as a (possibly unknown) command.
const MAX_VERB: usize = 16;

/// A client command line split into verb and argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandLine<'a> {
    /// Upper-cased verb.
    pub verb: [u8; MAX_VERB],
    pub verb_len: usize,
    /// Everything after the first space (or tab), as sent.
    pub arg: &'a [u8],
    /// The verb is one of the SMTP verbs we know.
    pub known: bool,
}

impl CommandLine<'_> {
    /// The upper-cased verb as text.
    pub fn verb(&self) -> &str {
        // Only ASCII letters, digits and '-' are accepted, so this cannot fail.
        std::str::from_utf8(&self.verb[..self.verb_len]).unwrap_or("")
    }
}

/// Parses a command line: a verb of ASCII letters (then letters, digits or `-`, as in
/// `X-EXPS`) of at most 16 bytes, then a space or the end of the line.
pub fn parse_command(line: &[u8]) -> Option<CommandLine<'_>> {
    let end = line
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(line.len());
    let verb = &line[..end];
    if verb.is_empty()
        || verb.len() > MAX_VERB
        || !verb[0].is_ascii_alphabetic()
        || !verb.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return None;
    }
    let mut upper = [0u8; MAX_VERB];
    for (d, s) in upper.iter_mut().zip(verb) {
        *d = s.to_ascii_uppercase();
    }
    let upper_str = std::str::from_utf8(&upper[..verb.len()]).unwrap_or("");
    let known = is_known_verb(upper_str);
    Some(CommandLine {
        verb: upper,
        verb_len: verb.len(),
        arg: line.get(end + 1..).unwrap_or(b""),
        known,
    })
}

/// A path argument of MAIL FROM / RCPT TO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathArg<'a> {
    /// The address without angle brackets and source route; empty for `<>`.
    pub address: &'a [u8],
    /// The ESMTP parameters after the path, trimmed.
    pub params: &'a [u8],
    /// The argument did not have the expected `FROM:`/`TO:` keyword or closing bracket;
    /// the address is a best effort.
    pub malformed: bool,
}

/// Parses the argument of `MAIL` (keyword `FROM:`) or `RCPT` (keyword `TO:`), tolerating
/// what real clients send: any case, spaces after the colon, missing angle brackets.
pub fn parse_path<'a>(arg: &'a [u8], keyword: &[u8]) -> PathArg<'a> {
    let arg = trim(arg);
    let (rest, mut malformed) =
        if arg.len() >= keyword.len() && arg[..keyword.len()].eq_ignore_ascii_case(keyword) {
            (trim(&arg[keyword.len()..]), false)
        } else {
            // "MAIL FROM <a>" or garbage: take what follows the first ':' if any.
            match arg.iter().position(|&b| b == b':') {
                Some(c) => (trim(&arg[c + 1..]), true),
                None => (arg, true),
            }
        };
    let (addr, params) = if let Some(inner) = rest.strip_prefix(b"<") {
        match inner.iter().position(|&b| b == b'>') {
            Some(close) => (&inner[..close], trim(&inner[close + 1..])),
            None => {
                malformed = true;
                let end = inner.iter().position(|&b| b == b' ').unwrap_or(inner.len());
                (&inner[..end], trim(&inner[end..]))
            }
        }
    } else {
        let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        (&rest[..end], trim(&rest[end..]))
    };
    // A source route (`@a,@b:user@c`, RFC 5321 §4.1.2, obsolete) is not part of the address.
    let addr = if addr.first() == Some(&b'@') {
        match addr.iter().position(|&b| b == b':') {
            Some(c) => &addr[c + 1..],
            None => addr,
        }
    } else {
        addr
    };
    PathArg {
        address: addr,
        params,
        malformed,
    }
}

/// Parses the argument of `BDAT chunk-size [LAST]` (RFC 3030 §2). None when the size is not
/// a decimal number that fits 64 bits or something other than `LAST` follows.
pub fn parse_bdat(arg: &[u8]) -> Option<(u64, bool)> {
    let mut words = arg
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|w| !w.is_empty());
    let size = words.next()?;
    if size.is_empty() || size.len() > 20 || !size.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = std::str::from_utf8(size).ok()?.parse::<u64>().ok()?;
    let last = match words.next() {
        None => false,
        Some(w) if w.eq_ignore_ascii_case(b"LAST") => true,
        Some(_) => return None,
    };
    if words.next().is_some() {
        return None;
    }
    Some((n, last))
}

/// Splits `AUTH mechanism [initial-response]` (RFC 4954 §4).
pub fn parse_auth(arg: &[u8]) -> (&[u8], Option<&[u8]>) {
    let arg = trim(arg);
    match arg.iter().position(|&b| b == b' ') {
        Some(sp) => (&arg[..sp], Some(trim(&arg[sp + 1..]))),
        None => (arg, None),
    }
}

/// Trims ASCII spaces and tabs.
pub fn trim(t: &[u8]) -> &[u8] {
    let start = t
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(t.len());
    let end = t
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |e| e + 1);
    &t[start..end]
}

/// Prefixes longer than this without a decision are not SMTP.
const MAX_PROBE: usize = 4096;

/// Cheap content recognition for the analysis layer: does this look like the start of an
/// SMTP dialogue? `client_prefix` / `server_prefix` are the first bytes of each direction
/// (either may be empty).
///
/// Yes when the server starts with a `220 ` / `220-` greeting followed by text, or the
/// client starts with `EHLO `/`HELO ` (any case) and the server has not said something
/// else. An HTTP CONNECT tunnel (`CONNECT host:port HTTP/1.x` ... blank line, answered by
/// `HTTP/1.x 2xx` ... blank line, then a 220 greeting) is Yes with the lengths of the two
/// preambles to skip. TLS, HTTP and binary data are No.
pub fn looks_like_smtp(client_prefix: &[u8], server_prefix: &[u8]) -> Recognition {
    if client_prefix.len() >= 8 && client_prefix[..8].eq_ignore_ascii_case(b"CONNECT ") {
        return connect_tunnel(client_prefix, server_prefix);
    }
    let plain = Recognition::Yes {
        skip_client: 0,
        skip_server: 0,
    };
    let server = greeting(server_prefix);
    let client = hello(client_prefix);
    let verdict = match (client, server) {
        (_, Probe::Yes) | (Probe::Yes, Probe::Empty) => return plain,
        // A client saying EHLO to a server that answers with some other reply code is still
        // SMTP (e.g. a `554` greeting); a server that is not speaking reply lines is not.
        (Probe::Yes, Probe::No) if looks_like_reply_start(server_prefix) => return plain,
        // The server spoke and it was not a greeting.
        (_, Probe::No) => Recognition::No,
        // The client spoke first with something other than a hello (a client-first
        // protocol such as TLS or HTTP); only a greeting still on its way could save it.
        (Probe::No, Probe::Empty) => Recognition::No,
        _ => Recognition::NeedMore,
    };
    if verdict == Recognition::NeedMore
        && (client_prefix.len() > MAX_PROBE || server_prefix.len() > MAX_PROBE)
    {
        return Recognition::No;
    }
    verdict
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    Yes,
    No,
    NeedMore,
    Empty,
}

/// `220 ` or `220-` then at least one printable character.
fn greeting(s: &[u8]) -> Probe {
    if s.is_empty() {
        return Probe::Empty;
    }
    let want = b"220";
    let n = s.len().min(3);
    if s[..n] != want[..n] {
        return Probe::No;
    }
    match s.get(3) {
        None => Probe::NeedMore,
        Some(b' ' | b'-') => match s.get(4) {
            None => Probe::NeedMore,
            Some(&c) if c.is_ascii_graphic() || c >= 0x80 => Probe::Yes,
            Some(_) => Probe::No,
        },
        Some(_) => Probe::No,
    }
}

/// `EHLO ` / `HELO ` in any case.
fn hello(c: &[u8]) -> Probe {
    if c.is_empty() {
        return Probe::Empty;
    }
    let n = c.len().min(5);
    let matches = |w: &[u8]| c[..n].eq_ignore_ascii_case(&w[..n]);
    if matches(b"EHLO ") || matches(b"HELO ") {
        if n == 5 {
            Probe::Yes
        } else {
            Probe::NeedMore
        }
    } else {
        Probe::No
    }
}

fn looks_like_reply_start(s: &[u8]) -> bool {
    s.len() >= 4 && parse_reply(&s[..4]).is_some()
}

fn connect_tunnel(client: &[u8], server: &[u8]) -> Recognition {
    let first_line_end = client.iter().position(|&b| b == b'\n');
    if let Some(e) = first_line_end {
        if memchr::memmem::find(&client[..e], b" HTTP/1.").is_none() {
            return Recognition::No;
        }
    }
    let Some(skip_client) = header_end(client) else {
        return if client.len() > MAX_PROBE {
            Recognition::No
        } else {
            Recognition::NeedMore
        };
    };
    if server.is_empty() {
        return Recognition::NeedMore;
    }
    let n = server.len().min(7);
    if server[..n] != b"HTTP/1."[..n] {
        return Recognition::No;
    }
    let status_ok = match server.iter().position(|&b| b == b'\n') {
        // "HTTP/1.x 2yz ..." : any 2xx establishes the tunnel.
        Some(_) => server.len() >= 10 && server[8] == b' ' && server.get(9) == Some(&b'2'),
        None => return need_more_or_no(server),
    };
    if !status_ok {
        return Recognition::No;
    }
    let Some(skip_server) = header_end(server) else {
        return need_more_or_no(server);
    };
    match greeting(&server[skip_server..]) {
        Probe::Yes => Recognition::Yes {
            skip_client,
            skip_server,
        },
        Probe::No => Recognition::No,
        Probe::NeedMore | Probe::Empty => need_more_or_no(server),
    }
}

fn need_more_or_no(s: &[u8]) -> Recognition {
    if s.len() > MAX_PROBE {
        Recognition::No
    } else {
        Recognition::NeedMore
    }
}

/// Length of an HTTP header block including its blank line (CRLF CRLF or LF LF).
fn header_end(s: &[u8]) -> Option<usize> {
    let crlf = memchr::memmem::find(s, b"\r\n\r\n").map(|p| p + 4);
    let lf = memchr::memmem::find(s, b"\n\n").map(|p| p + 2);
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_lines() {
        let r = parse_reply(b"250-PIPELINING").unwrap();
        assert_eq!(
            (r.code_str().as_str(), r.more, r.text),
            ("250", true, &b"PIPELINING"[..])
        );
        let r = parse_reply(b"221").unwrap();
        assert_eq!((r.more, r.text), (false, &b""[..]));
        assert!(parse_reply(b"+OK hi").is_none());
        assert!(parse_reply(b"2500 x").is_none());
        assert!(parse_reply(b"150 x").is_none());
    }

    #[test]
    fn enhanced_codes() {
        assert_eq!(
            split_enhanced(b'2', b"2.1.5 Ok"),
            Some((&b"2.1.5"[..], &b"Ok"[..]))
        );
        assert_eq!(split_enhanced(b'5', b"2.1.5 Ok"), None);
        assert_eq!(split_enhanced(b'2', b"example.com"), None);
        assert_eq!(
            split_enhanced(b'2', b"2.0.0"),
            Some((&b"2.0.0"[..], &b""[..]))
        );
    }

    #[test]
    fn commands() {
        let c = parse_command(b"mail FROM:<a@b> SIZE=1").unwrap();
        assert_eq!(
            (c.verb(), c.arg, c.known),
            ("MAIL", &b"FROM:<a@b> SIZE=1"[..], true)
        );
        let c = parse_command(b"QUIT").unwrap();
        assert_eq!((c.verb(), c.arg), ("QUIT", &b""[..]));
        let c = parse_command(b"X-EXPS foo").unwrap();
        assert!(!c.known);
        assert!(parse_command(b"\x16\x03\x01").is_none());
        assert!(parse_command(b"").is_none());
        assert!(parse_command(b"1234").is_none());
    }

    #[test]
    fn paths() {
        let p = parse_path(b"FROM:<a@b.test> SIZE=10 BODY=8BITMIME", b"FROM:");
        assert_eq!(p.address, b"a@b.test");
        assert_eq!(p.params, b"SIZE=10 BODY=8BITMIME");
        assert!(!p.malformed);
        assert_eq!(parse_path(b"From: <>", b"FROM:").address, b"");
        assert_eq!(parse_path(b"to:c@d", b"TO:").address, b"c@d");
        assert_eq!(parse_path(b"TO:<@r1,@r2:u@x>", b"TO:").address, b"u@x");
        let p = parse_path(b"TO <u@x", b"TO:");
        assert!(p.malformed);
    }

    #[test]
    fn bdat_args() {
        assert_eq!(parse_bdat(b"4404 LAST"), Some((4404, true)));
        assert_eq!(parse_bdat(b"0 last"), Some((0, true)));
        assert_eq!(parse_bdat(b"12"), Some((12, false)));
        assert_eq!(parse_bdat(b"-1 LAST"), None);
        assert_eq!(parse_bdat(b"99999999999999999999999 LAST"), None);
        assert_eq!(parse_bdat(b"10 FIRST"), None);
        assert_eq!(parse_bdat(b""), None);
    }

    #[test]
    fn recognition_plain() {
        let yes = Recognition::Yes {
            skip_client: 0,
            skip_server: 0,
        };
        assert_eq!(looks_like_smtp(b"", b"220 mx.example ESMTP\r\n"), yes);
        assert_eq!(looks_like_smtp(b"", b"220-mx.example\r\n"), yes);
        assert_eq!(looks_like_smtp(b"ehlo client\r\n", b""), yes);
        assert_eq!(looks_like_smtp(b"", b"22"), Recognition::NeedMore);
        assert_eq!(looks_like_smtp(b"EH", b""), Recognition::NeedMore);
        assert_eq!(looks_like_smtp(b"", b""), Recognition::NeedMore);
        assert_eq!(
            looks_like_smtp(b"\x16\x03\x01\x02\x00", b""),
            Recognition::No
        );
        assert_eq!(
            looks_like_smtp(b"GET / HTTP/1.1\r\n", b"HTTP/1.1 200 OK\r\n"),
            Recognition::No
        );
        assert_eq!(looks_like_smtp(b"", b"+OK POP3 ready\r\n"), Recognition::No);
        assert_eq!(
            looks_like_smtp(b"", b"\x00\x01\x02\x03\x04"),
            Recognition::No
        );
        assert_eq!(
            looks_like_smtp(b"EHLO x\r\n", b"SSH-2.0-OpenSSH\r\n"),
            Recognition::No
        );
        assert_eq!(looks_like_smtp(b"EHLO x\r\n", b"554 go away\r\n"), yes);
    }

    #[test]
    fn recognition_connect_tunnel() {
        // Wire bytes of zeek/http/connect-with-smtp.pcap.
        let c: &[u8] = b"CONNECT mailin03.sul.t-online.de:25 / HTTP/1.0\r\nMozilla 4.0 (compatible; MSIE 5.01; Windows NT 5.0)\r\n\r\nHELO 208.191.73.21\r\n";
        let s: &[u8] = b"HTTP/1.0 200 Connection established\r\n\r\n220 mailin03.sul.t-online.de T-Online ESMTP receiver fssmtpd ready.\r\n";
        assert_eq!(
            looks_like_smtp(c, s),
            Recognition::Yes {
                skip_client: 103,
                skip_server: 39
            }
        );
        assert_eq!(looks_like_smtp(&c[..50], b""), Recognition::NeedMore);
        assert_eq!(looks_like_smtp(c, &s[..39]), Recognition::NeedMore);
        assert_eq!(
            looks_like_smtp(c, b"HTTP/1.0 407 Proxy auth\r\n\r\n"),
            Recognition::No
        );
        assert_eq!(
            looks_like_smtp(c, b"HTTP/1.0 200 OK\r\n\r\nSSH-2.0-x\r\n"),
            Recognition::No
        );
    }
}
