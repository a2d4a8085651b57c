//! Pure POP3 line parsers (RFC 1939, 2449, 5034, 2595): no state, no allocation beyond
//! what the caller keeps. The state machine in `mod.rs` decides which parser applies.

/// The status indicator of a server reply (RFC 1939 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Err,
}

impl Status {
    /// As written on the wire, used as `Reply.code`.
    pub fn code(self) -> &'static str {
        match self {
            Status::Ok => "+OK",
            Status::Err => "-ERR",
        }
    }
}

/// What a server line is, taken on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerLine<'a> {
    /// `+OK` / `-ERR`, followed by a space or the end of the line; `text` is the rest after
    /// the space.
    Status(Status, &'a [u8]),
    /// A SASL continuation (RFC 5034 §4): `+` alone or `+ ` followed by base64.
    Continuation(&'a [u8]),
    /// Anything else (body lines, garbage, another protocol's replies such as `+PONG`).
    Other,
}

/// Classifies one server line (without its ending). Status indicators are matched
/// case-sensitively, as RFC 1939 writes them: a looser match would let `+ok`-shaped body
/// lines or other protocols pass for POP3.
pub fn parse_server_line(line: &[u8]) -> ServerLine<'_> {
    for (word, status) in [(&b"+OK"[..], Status::Ok), (&b"-ERR"[..], Status::Err)] {
        if let Some(rest) = line.strip_prefix(word) {
            match rest.first() {
                None => return ServerLine::Status(status, rest),
                Some(b' ') => return ServerLine::Status(status, &rest[1..]),
                _ => {}
            }
        }
    }
    match line {
        [b'+'] => ServerLine::Continuation(b""),
        [b'+', b' ', rest @ ..] => ServerLine::Continuation(rest),
        _ => ServerLine::Other,
    }
}

/// True when `line` is a status line (`+OK`/`-ERR` followed by a space or nothing).
pub fn is_status_line(line: &[u8]) -> bool {
    matches!(parse_server_line(line), ServerLine::Status(..))
}

/// Splits a command line at the first space: the verb and the rest exactly as sent (RFC
/// 1939 separates arguments by a single space; `PASS` takes the whole rest, spaces included).
pub fn split_command(line: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memchr(b' ', line) {
        Some(sp) => (&line[..sp], &line[sp + 1..]),
        None => (line, b""),
    }
}

/// A client command, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd<'a> {
    User(&'a [u8]),
    Pass(&'a [u8]),
    Apop {
        name: &'a [u8],
        digest: &'a [u8],
    },
    /// `AUTH` without a mechanism asks for the mechanism list (multi-line on `+OK`).
    AuthList,
    Auth {
        mechanism: &'a [u8],
        initial: Option<&'a [u8]>,
    },
    Capa,
    Stat,
    /// `multi`: no argument was given, so a `+OK` reply is a multi-line scan listing.
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
    Noop,
    Quit,
    Stls,
    /// A POP3 command without consequences for the analysis (LAST, RPOP, UTF8, LANG).
    OtherKnown,
    /// Not a POP3 command.
    Unknown,
}

impl Cmd<'_> {
    /// True for commands defined by the POP3 RFCs.
    pub fn is_known(&self) -> bool {
        !matches!(self, Cmd::Unknown)
    }
}

/// Parses a command from its verb and argument (as `split_command` returns them).
pub fn parse_command<'a>(verb: &[u8], arg: &'a [u8]) -> Cmd<'a> {
    let mut v = [0u8; 4];
    if verb.is_empty() || verb.len() > 4 {
        return Cmd::Unknown;
    }
    for (d, s) in v.iter_mut().zip(verb) {
        *d = s.to_ascii_uppercase();
    }
    let no_arg = trim(arg).is_empty();
    match &v[..verb.len()] {
        b"USER" => Cmd::User(arg),
        b"PASS" => Cmd::Pass(arg),
        b"APOP" => {
            let (name, digest) = split_command(arg);
            Cmd::Apop {
                name,
                digest: trim(digest),
            }
        }
        b"AUTH" if no_arg => Cmd::AuthList,
        b"AUTH" => {
            let (mechanism, rest) = split_command(trim(arg));
            let initial = (!trim(rest).is_empty()).then(|| trim(rest));
            Cmd::Auth { mechanism, initial }
        }
        b"CAPA" => Cmd::Capa,
        b"STAT" => Cmd::Stat,
        b"LIST" => Cmd::List { multi: no_arg },
        b"UIDL" => Cmd::Uidl { multi: no_arg },
        b"RETR" => Cmd::Retr(first_number(arg)),
        b"TOP" => Cmd::Top(first_number(arg)),
        b"DELE" => Cmd::Dele(first_number(arg)),
        b"RSET" => Cmd::Rset,
        b"NOOP" => Cmd::Noop,
        b"QUIT" => Cmd::Quit,
        b"STLS" => Cmd::Stls,
        b"LAST" | b"RPOP" | b"UTF8" | b"LANG" => Cmd::OtherKnown,
        _ => Cmd::Unknown,
    }
}

/// The verbs a POP3 client opens a session with (used by content recognition).
pub fn is_opening_verb(verb: &[u8]) -> bool {
    [&b"USER"[..], b"CAPA", b"APOP", b"AUTH", b"STLS"]
        .iter()
        .any(|v| verb.eq_ignore_ascii_case(v))
}

/// True when `t` (shorter than a verb) could still become a POP3 verb.
pub fn is_verb_prefix(t: &[u8]) -> bool {
    const VERBS: [&[u8]; 17] = [
        b"USER", b"PASS", b"APOP", b"AUTH", b"CAPA", b"STAT", b"LIST", b"UIDL", b"RETR", b"TOP",
        b"DELE", b"RSET", b"NOOP", b"QUIT", b"STLS", b"LAST", b"UTF8",
    ];
    t.len() <= 4
        && VERBS
            .iter()
            .any(|v| v.len() >= t.len() && v[..t.len()].eq_ignore_ascii_case(t))
}

/// A decimal number (RFC 1939 message numbers and sizes); None on overflow or non-digits.
pub fn number(t: &[u8]) -> Option<u64> {
    if t.is_empty() || t.len() > 20 || !t.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(t).ok()?.parse().ok()
}

fn first_number(arg: &[u8]) -> Option<u64> {
    arg.split(|&b| b == b' ')
        .find(|w| !w.is_empty())
        .and_then(number)
}

/// Two leading numbers of a line: `STAT` replies (`n octets`) and scan listings (`n size`,
/// RFC 1939 §5 LIST). Text after them is allowed (RFC 1939 permits it).
pub fn two_numbers(t: &[u8]) -> Option<(u64, u64)> {
    let mut words = t.split(|&b| b == b' ').filter(|w| !w.is_empty());
    Some((number(words.next()?)?, number(words.next()?)?))
}

/// A unique-id listing line `n uid` (RFC 1939 §7 UIDL: uid is 1..70 characters 0x21-0x7E).
pub fn uid_listing(t: &[u8]) -> Option<(u64, &[u8])> {
    let mut words = t.split(|&b| b == b' ').filter(|w| !w.is_empty());
    let n = number(words.next()?)?;
    let uid = words.next()?;
    (uid.len() <= 70 && uid.iter().all(|b| (0x21..=0x7e).contains(b))).then_some((n, uid))
}

/// The APOP timestamp of a greeting: the first `<...>` containing `@` (RFC 1939 §7, a
/// msg-id), angle brackets included. Bounded: a timestamp is short.
pub fn apop_timestamp(banner: &[u8]) -> Option<&[u8]> {
    let start = memchr::memchr(b'<', banner)?;
    let len = memchr::memchr(b'>', &banner[start..])?;
    let ts = &banner[start..=start + len];
    (ts.len() <= 512 && ts.contains(&b'@') && !ts[1..].contains(&b'<')).then_some(ts)
}

/// Removes the dot-stuffing of one multi-line response line (RFC 1939 §3).
pub fn unstuff(line: &[u8]) -> &[u8] {
    line.strip_prefix(b".").unwrap_or(line)
}

/// Trims ASCII whitespace on both sides.
pub fn trim(t: &[u8]) -> &[u8] {
    t.trim_ascii()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_lines() {
        use ServerLine::*;
        assert_eq!(
            parse_server_line(b"+OK POP3 ready"),
            Status(super::Status::Ok, b"POP3 ready")
        );
        assert_eq!(parse_server_line(b"+OK"), Status(super::Status::Ok, b""));
        assert_eq!(
            parse_server_line(b"-ERR no"),
            Status(super::Status::Err, b"no")
        );
        assert_eq!(parse_server_line(b"+PONG"), Other);
        assert_eq!(parse_server_line(b"+OKAY"), Other);
        assert_eq!(parse_server_line(b"+ok fine"), Other);
        assert_eq!(parse_server_line(b"+ "), Continuation(b""));
        assert_eq!(parse_server_line(b"+"), Continuation(b""));
        assert_eq!(parse_server_line(b"+ PDE+"), Continuation(b"PDE+"));
        assert_eq!(parse_server_line(b"GARBAGE"), Other);
    }

    #[test]
    fn commands() {
        let p = |l: &'static [u8]| {
            let (v, a) = split_command(l);
            parse_command(v, a)
        };
        assert_eq!(p(b"user bob"), Cmd::User(b"bob"));
        assert_eq!(p(b"PASS two words "), Cmd::Pass(b"two words "));
        assert_eq!(
            p(b"APOP mrose c4c9334bac560ecc979e58001b3e22fb"),
            Cmd::Apop {
                name: b"mrose",
                digest: b"c4c9334bac560ecc979e58001b3e22fb"
            }
        );
        assert_eq!(p(b"AUTH"), Cmd::AuthList);
        assert_eq!(p(b"AUTH "), Cmd::AuthList);
        assert_eq!(
            p(b"AUTH PLAIN AGJvYgBwdw=="),
            Cmd::Auth {
                mechanism: b"PLAIN",
                initial: Some(b"AGJvYgBwdw==")
            }
        );
        assert_eq!(
            p(b"AUTH LOGIN"),
            Cmd::Auth {
                mechanism: b"LOGIN",
                initial: None
            }
        );
        assert_eq!(p(b"LIST"), Cmd::List { multi: true });
        assert_eq!(p(b"LIST 2"), Cmd::List { multi: false });
        assert_eq!(p(b"uidl"), Cmd::Uidl { multi: true });
        assert_eq!(p(b"RETR 12"), Cmd::Retr(Some(12)));
        assert_eq!(p(b"RETR x"), Cmd::Retr(None));
        assert_eq!(p(b"TOP 3 10"), Cmd::Top(Some(3)));
        assert_eq!(p(b"DELE 99999999999999999999999"), Cmd::Dele(None));
        assert_eq!(p(b"PING"), Cmd::Unknown);
        assert_eq!(p(b"*1"), Cmd::Unknown);
        assert_eq!(p(b""), Cmd::Unknown);
    }

    #[test]
    fn listings_and_timestamp() {
        assert_eq!(two_numbers(b"3 19191"), Some((3, 19191)));
        assert_eq!(two_numbers(b"2 messages (320 octets)"), None);
        assert_eq!(two_numbers(b"1 120 extra"), Some((1, 120)));
        assert_eq!(
            uid_listing(b"1 0M8Oog-1VyW6I2B74-00vNGA"),
            Some((1, &b"0M8Oog-1VyW6I2B74-00vNGA"[..]))
        );
        assert_eq!(uid_listing(b"1"), None);
        assert_eq!(
            apop_timestamp(b"POP3 server ready <1896.697170952@dbc.mtview.ca.us>"),
            Some(&b"<1896.697170952@dbc.mtview.ca.us>"[..])
        );
        assert_eq!(apop_timestamp(b"ready <no-at-sign>"), None);
        assert_eq!(apop_timestamp(b"ready <a@b"), None);
        assert_eq!(unstuff(b"..x"), b".x");
    }
}
