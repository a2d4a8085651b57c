//! Pure IMAP parsers (RFC 9051, 3501, 7888, 2971, 3516): tags, literal markers, astrings
//! over a logical line whose literals are held apart, FETCH item names, response codes and
//! modified UTF-7. No state; the state machine in `mod.rs` decides which applies.

use std::borrow::Cow;

/// The literal announced at the end of a line: `{n}`, `{n+}`, `{n-}` or `~{n}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiteralMarker {
    /// Octets that follow the line ending. A length that does not fit in 64 bits saturates
    /// (the literal is then endless for every practical purpose).
    pub len: u64,
    /// `{n}`: the client waits for a `+` continuation before sending the octets.
    pub sync: bool,
    /// `~{n}` (literal8, RFC 3516): may contain NUL.
    pub binary: bool,
    /// Where the marker (`{` or `~`) starts in the line.
    pub start: usize,
}

/// The literal marker ending `line` (without its line ending), if any.
pub fn literal_marker(line: &[u8]) -> Option<LiteralMarker> {
    let body = line.strip_suffix(b"}")?;
    let (body, sync) = match body.last() {
        Some(b'+') | Some(b'-') => (&body[..body.len() - 1], false),
        _ => (body, true),
    };
    let digits = body.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let open = body.len() - digits;
    if open == 0 || body[open - 1] != b'{' {
        return None;
    }
    let len = body[open..].iter().fold(0u64, |n, &d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    let brace = open - 1;
    let binary = brace > 0 && body[brace - 1] == b'~';
    Some(LiteralMarker {
        len,
        sync,
        binary,
        start: if binary { brace - 1 } else { brace },
    })
}

/// A character allowed in an atom (RFC 9051 ATOM-CHAR), plus `]` which `astring` allows.
fn is_astring_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\')
}

/// A character allowed in a tag: an astring character other than `+` (RFC 9051 `tag`).
pub fn is_tag_char(b: u8) -> bool {
    is_astring_char(b) && b != b'+'
}

/// The tag and the rest of a client command line or a server response line (`*` and `+`
/// are returned as tags; the caller tells them apart). None when the line does not start
/// with a tag followed by a space or its end.
pub fn split_tag(line: &[u8]) -> Option<(&[u8], &[u8])> {
    if let Some(rest) = line.strip_prefix(b"*") {
        return match rest.first() {
            None => Some((b"*", b"")),
            Some(b' ') => Some((b"*", &rest[1..])),
            _ => None,
        };
    }
    if let Some(rest) = line.strip_prefix(b"+") {
        return Some((b"+", rest.strip_prefix(b" ").unwrap_or(rest)));
    }
    let n = line.iter().take_while(|&&b| is_tag_char(b)).count();
    if n == 0 {
        return None;
    }
    match line.get(n) {
        None => Some((line, b"")),
        Some(b' ') => Some((&line[..n], &line[n + 1..])),
        _ => None,
    }
}

/// The first word of `s` and the rest after one space.
pub fn split_word(s: &[u8]) -> (&[u8], &[u8]) {
    match memchr::memchr(b' ', s) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, b""),
    }
}

/// The status of a tagged or untagged condition response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    No,
    Bad,
    Preauth,
    Bye,
}

impl Status {
    /// As written on the wire.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
            Status::Preauth => "PREAUTH",
            Status::Bye => "BYE",
        }
    }
}

/// The status word at the start of a response (after the tag), and the text after it.
pub fn status(rest: &[u8]) -> Option<(Status, &[u8])> {
    let (w, text) = split_word(rest);
    let s = if w.eq_ignore_ascii_case(b"OK") {
        Status::Ok
    } else if w.eq_ignore_ascii_case(b"NO") {
        Status::No
    } else if w.eq_ignore_ascii_case(b"BAD") {
        Status::Bad
    } else if w.eq_ignore_ascii_case(b"PREAUTH") {
        Status::Preauth
    } else if w.eq_ignore_ascii_case(b"BYE") {
        Status::Bye
    } else {
        return None;
    };
    Some((s, text))
}

/// A response code at the start of a response text: `[NAME args] text` → (NAME, args).
pub fn response_code(text: &[u8]) -> Option<(&[u8], &[u8])> {
    let inner = text.strip_prefix(b"[")?;
    let end = memchr::memchr(b']', inner)?;
    Some(split_word(&inner[..end]))
}

/// Commands a client opens a session with: the verbs that make a first line look like
/// IMAP (recognition) — those a client sends before or right after authenticating.
pub fn is_opening_verb(verb: &[u8]) -> bool {
    const VERBS: [&[u8]; 11] = [
        b"LOGIN",
        b"AUTHENTICATE",
        b"CAPABILITY",
        b"STARTTLS",
        b"ID",
        b"NOOP",
        b"SELECT",
        b"EXAMINE",
        b"LIST",
        b"ENABLE",
        b"COMPRESS",
    ];
    VERBS.iter().any(|v| v.eq_ignore_ascii_case(verb))
}

/// Every command verb of RFC 9051 and the extensions handled here.
pub fn is_known_verb(verb: &[u8]) -> bool {
    const VERBS: [&[u8]; 34] = [
        b"LOGOUT",
        b"APPEND",
        b"CHECK",
        b"CLOSE",
        b"UNSELECT",
        b"EXPUNGE",
        b"SEARCH",
        b"FETCH",
        b"STORE",
        b"COPY",
        b"MOVE",
        b"UID",
        b"CREATE",
        b"DELETE",
        b"RENAME",
        b"SUBSCRIBE",
        b"UNSUBSCRIBE",
        b"LSUB",
        b"STATUS",
        b"IDLE",
        b"NAMESPACE",
        b"GETQUOTAROOT",
        b"GETQUOTA",
        b"SETQUOTA",
        b"GETACL",
        b"SETACL",
        b"MYRIGHTS",
        b"GETMETADATA",
        b"SETMETADATA",
        b"XLIST",
        b"SORT",
        b"THREAD",
        b"UNAUTHENTICATE",
        b"XAPPLEPUSHSERVICE",
    ];
    is_opening_verb(verb) || VERBS.iter().any(|v| v.eq_ignore_ascii_case(verb))
}

/// A literal of a logical line as the tokenizer sees it.
#[derive(Debug, Clone, Copy)]
pub struct LitRef<'a> {
    /// The octets kept (all of them unless `cut`).
    pub data: &'a [u8],
    /// Not all octets were kept (a message body, or beyond the bound).
    pub cut: bool,
}

/// One token of a logical line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token<'a> {
    /// An atom, a quoted string (unescaped) or a literal: the value, and the index of the
    /// literal when it was one.
    Str(Cow<'a, [u8]>, Option<usize>),
    Nil,
    Open,
    Close,
}

/// Tokens of a logical line: the line pieces as sent, each literal's marker and line ending
/// followed (in `lits`, not in `text`) by the literal's octets.
#[derive(Debug)]
pub struct Tokens<'a> {
    text: &'a [u8],
    pos: usize,
    lits: &'a [LitRef<'a>],
    next_lit: usize,
}

impl<'a> Tokens<'a> {
    /// Tokens of `text` from its start.
    pub fn new(text: &'a [u8], lits: &'a [LitRef<'a>]) -> Self {
        Tokens {
            text,
            pos: 0,
            lits,
            next_lit: 0,
        }
    }

    /// The unread rest of the text.
    pub fn rest(&self) -> &'a [u8] {
        &self.text[self.pos.min(self.text.len())..]
    }

    /// Skips `n` bytes of the text (a tag and verb already split off by the caller).
    pub fn skip(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.text.len());
    }

    fn skip_space(&mut self) {
        while self.pos < self.text.len() && self.text[self.pos] == b' ' {
            self.pos += 1;
        }
    }

    /// The next token, None at the end of the line (or at a line ending).
    pub fn next_token(&mut self) -> Option<Token<'a>> {
        self.skip_space();
        let t = self.text;
        let &b = t.get(self.pos)?;
        match b {
            b'\r' | b'\n' => None,
            b'(' => {
                self.pos += 1;
                Some(Token::Open)
            }
            b')' => {
                self.pos += 1;
                Some(Token::Close)
            }
            b'"' => {
                let mut out: Option<Vec<u8>> = None;
                let start = self.pos + 1;
                let mut i = start;
                while i < t.len() && t[i] != b'"' && t[i] != b'\r' && t[i] != b'\n' {
                    if t[i] == b'\\' && i + 1 < t.len() {
                        let o = out.get_or_insert_with(|| t[start..i].to_vec());
                        o.push(t[i + 1]);
                        i += 2;
                        continue;
                    }
                    if let Some(o) = out.as_mut() {
                        o.push(t[i]);
                    }
                    i += 1;
                }
                let v = match out {
                    Some(o) => Cow::Owned(o),
                    None => Cow::Borrowed(&t[start..i.min(t.len())]),
                };
                self.pos = (i + 1).min(t.len());
                Some(Token::Str(v, None))
            }
            b'{' | b'~' if self.literal_here() => {
                // Skip the marker and its line ending; the octets are the next literal.
                let nl = memchr::memchr(b'\n', &t[self.pos..]).map_or(t.len(), |i| self.pos + i);
                self.pos = (nl + 1).min(t.len());
                let i = self.next_lit;
                self.next_lit += 1;
                let data = self.lits.get(i).map_or(&[][..], |l| l.data);
                Some(Token::Str(Cow::Borrowed(data), Some(i)))
            }
            _ => {
                let start = self.pos;
                let mut depth = 0usize;
                let mut i = start;
                // `BODY[HEADER.FIELDS (A B)]<0.10>` is one item: spaces and parentheses
                // inside brackets belong to it.
                while i < t.len() {
                    let c = t[i];
                    match c {
                        b'[' => depth += 1,
                        b']' => depth = depth.saturating_sub(1),
                        b' ' | b'(' | b')' | b'\r' | b'\n' if depth == 0 => break,
                        b'\r' | b'\n' => break,
                        _ => {}
                    }
                    i += 1;
                }
                self.pos = i.max(start + 1).min(t.len());
                let v = &t[start..self.pos];
                if v.eq_ignore_ascii_case(b"NIL") {
                    Some(Token::Nil)
                } else {
                    Some(Token::Str(Cow::Borrowed(v), None))
                }
            }
        }
    }

    /// The text at the position is a literal marker followed by a line ending.
    fn literal_here(&self) -> bool {
        let t = &self.text[self.pos..];
        let Some(nl) = memchr::memchr(b'\n', t) else {
            return false;
        };
        let line = t[..nl].strip_suffix(b"\r").unwrap_or(&t[..nl]);
        literal_marker(line).is_some_and(|m| m.start == 0)
    }

    /// The next token as a string (atom, quoted or literal); None for anything else.
    pub fn astring(&mut self) -> Option<(Cow<'a, [u8]>, Option<usize>)> {
        match self.next_token()? {
            Token::Str(s, lit) => Some((s, lit)),
            _ => None,
        }
    }
}

/// The fields of an ID parameter list (RFC 2971): `("name" "x" "version" "1")` or `NIL`.
pub fn id_fields(tokens: &mut Tokens<'_>, max: usize) -> Vec<(String, Option<String>)> {
    let mut out = Vec::new();
    if tokens.next_token() != Some(Token::Open) {
        return out;
    }
    while let Some(Token::Str(k, _)) = tokens.next_token() {
        let key = text(&k);
        let value = match tokens.next_token() {
            Some(Token::Str(v, _)) => Some(text(&v)),
            Some(Token::Nil) => None,
            _ => break,
        };
        if out.len() < max {
            out.push((key, value));
        }
    }
    out
}

/// Lossless-enough text for reports: UTF-8 when valid, else Latin-1.
pub fn text(b: &[u8]) -> String {
    super::super::sasl::text(b)
}

/// Decodes a mailbox name from modified UTF-7 (RFC 3501 §5.1.3): `&` starts base64 of
/// UTF-16 (with `,` for `/`), `-` ends it, `&-` is `&`. Malformed runs are kept as written.
pub fn decode_mutf7(name: &[u8]) -> String {
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    while i < name.len() {
        let b = name[i];
        if b != b'&' {
            out.push(b as char);
            i += 1;
            continue;
        }
        let end = name[i + 1..]
            .iter()
            .position(|&c| c == b'-')
            .map(|p| i + 1 + p);
        let Some(end) = end else {
            out.push_str(&text(&name[i..]));
            break;
        };
        if end == i + 1 {
            out.push('&');
            i = end + 1;
            continue;
        }
        match decode_utf16_b64(&name[i + 1..end]) {
            Some(s) => out.push_str(&s),
            None => out.push_str(&text(&name[i..=end])),
        }
        i = end + 1;
    }
    out
}

fn decode_utf16_b64(run: &[u8]) -> Option<String> {
    let mut bits = 0u32;
    let mut nbits = 0;
    let mut units = Vec::with_capacity(run.len() * 3 / 8 + 1);
    for &c in run {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b',' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(v);
        nbits += 6;
        if nbits >= 16 {
            nbits -= 16;
            units.push((bits >> nbits) as u16);
            bits &= (1 << nbits) - 1;
        }
    }
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .ok()
}

/// What a FETCH data item that carries a literal is (the item name right before it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchItem {
    /// The name as sent, e.g. `BODY[]<0>`, `RFC822.HEADER`, `BINARY[1]`.
    pub name: String,
    /// The whole message (`BODY[]`, `RFC822`, `BINARY[]`), perhaps a range of it.
    pub whole: bool,
    /// `<origin>` of a partial fetch.
    pub origin: Option<u64>,
}

/// The FETCH item whose value is the literal announced at `marker_start` in `piece`.
pub fn fetch_item_before(piece: &[u8], marker_start: usize) -> Option<FetchItem> {
    let before = piece[..marker_start.min(piece.len())].strip_suffix(b" ")?;
    // Scan back over one item, brackets included.
    let mut depth = 0usize;
    let mut i = before.len();
    while i > 0 {
        let c = before[i - 1];
        match c {
            b']' => depth += 1,
            b'[' => depth = depth.saturating_sub(1),
            b' ' | b'(' if depth == 0 => break,
            _ => {}
        }
        i -= 1;
    }
    let name = &before[i..];
    if name.is_empty() {
        return None;
    }
    let upper = name.to_ascii_uppercase();
    let (base, origin) = match upper.iter().rposition(|&b| b == b'<') {
        Some(p) if upper.ends_with(b">") => {
            let o = std::str::from_utf8(&upper[p + 1..upper.len() - 1])
                .ok()
                .and_then(|s| s.parse().ok());
            (&upper[..p], o)
        }
        _ => (&upper[..], None),
    };
    let whole = matches!(
        base,
        b"BODY[]" | b"BODY.PEEK[]" | b"BINARY[]" | b"BINARY.PEEK[]" | b"RFC822"
    );
    Some(FetchItem {
        name: text(name),
        whole,
        origin,
    })
}

/// The number after the FETCH attribute `name` (e.g. `UID`, `RFC822.SIZE`) at an item
/// boundary of a FETCH response text.
pub fn fetch_number(text: &[u8], name: &[u8]) -> Option<u64> {
    let mut from = 0;
    while let Some(i) = memchr::memmem::find(&text[from..], name).map(|i| from + i) {
        let boundary = i == 0 || matches!(text[i - 1], b' ' | b'(');
        let after = &text[i + name.len()..];
        if boundary && after.first() == Some(&b' ') {
            let digits: &[u8] = &after[1..];
            let n = digits.iter().take_while(|b| b.is_ascii_digit()).count();
            if n > 0 && n <= 20 {
                return std::str::from_utf8(&digits[..n]).ok()?.parse().ok();
            }
        }
        from = i + 1;
    }
    None
}

/// The length `len` of the first whole-message partial range `<origin.len>` asked for in
/// a FETCH command's items (`BODY.PEEK[]<0.65536>`).
pub fn requested_range(args: &[u8]) -> Option<u64> {
    let upper = args.to_ascii_uppercase();
    for pat in [
        &b"BODY[]<"[..],
        b"BODY.PEEK[]<",
        b"BINARY[]<",
        b"BINARY.PEEK[]<",
    ] {
        if let Some(i) = memchr::memmem::find(&upper, pat) {
            let rest = &upper[i + pat.len()..];
            let end = memchr::memchr(b'>', rest)?;
            let (_, len) = split_at_byte(&rest[..end], b'.')?;
            return std::str::from_utf8(len).ok()?.parse().ok();
        }
    }
    None
}

fn split_at_byte(s: &[u8], b: u8) -> Option<(&[u8], &[u8])> {
    let i = memchr::memchr(b, s)?;
    Some((&s[..i], &s[i + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers() {
        let m = literal_marker(b"a1 LOGIN {3}").unwrap();
        assert_eq!((m.len, m.sync, m.binary, m.start), (3, true, false, 9));
        let m = literal_marker(b"a APPEND x {310+}").unwrap();
        assert_eq!((m.len, m.sync), (310, false));
        let m = literal_marker(b"* 1 FETCH (BINARY[] ~{7}").unwrap();
        assert!(m.binary);
        assert_eq!(m.start, 20);
        assert_eq!(
            literal_marker(b"x {4294967295}").unwrap().len,
            4_294_967_295
        );
        assert_eq!(
            literal_marker(b"x {99999999999999999999999999}")
                .unwrap()
                .len,
            u64::MAX
        );
        assert_eq!(literal_marker(b"a1 OK done"), None);
        assert_eq!(literal_marker(b"{}"), None);
        assert_eq!(literal_marker(b"x }"), None);
    }

    #[test]
    fn tags() {
        assert_eq!(
            split_tag(b"a1 LOGIN x y"),
            Some((&b"a1"[..], &b"LOGIN x y"[..]))
        );
        assert_eq!(split_tag(b"* OK hi"), Some((&b"*"[..], &b"OK hi"[..])));
        assert_eq!(split_tag(b"+ idling"), Some((&b"+"[..], &b"idling"[..])));
        assert_eq!(split_tag(b"+OK pop3"), Some((&b"+"[..], &b"OK pop3"[..])));
        assert_eq!(split_tag(b"(x"), None);
    }

    fn toks(text: &[u8], lits: &[&[u8]]) -> Vec<String> {
        let lits: Vec<LitRef<'_>> = lits
            .iter()
            .map(|d| LitRef {
                data: d,
                cut: false,
            })
            .collect();
        let mut t = Tokens::new(text, &lits);
        let mut out = Vec::new();
        while let Some(tok) = t.next_token() {
            out.push(match tok {
                Token::Str(s, None) => text_of(&s),
                Token::Str(s, Some(i)) => format!("lit{i}:{}", text_of(&s)),
                Token::Nil => "NIL".into(),
                Token::Open => "(".into(),
                Token::Close => ")".into(),
            });
        }
        out
    }

    fn text_of(s: &[u8]) -> String {
        String::from_utf8_lossy(s).into_owned()
    }

    #[test]
    fn astrings_atom_quoted_literal() {
        assert_eq!(toks(b"bob pw1", &[]), ["bob", "pw1"]);
        assert_eq!(toks(br#""b o\"b" "p\\w""#, &[]), [r#"b o"b"#, r"p\w"]);
        assert_eq!(
            toks(b"{3}\r\n {5+}\r\n\r\n", &[b"bob", b"a1 OK"]),
            ["lit0:bob", "lit1:a1 OK"]
        );
        assert_eq!(
            toks(b"(\"name\" NIL) BODY[HEADER.FIELDS (A B)]<0>", &[]),
            ["(", "name", "NIL", ")", "BODY[HEADER.FIELDS (A B)]<0>"]
        );
    }

    #[test]
    fn mutf7() {
        assert_eq!(decode_mutf7(b"INBOX"), "INBOX");
        assert_eq!(decode_mutf7(b"Entw&APw-rfe"), "Entwürfe");
        assert_eq!(decode_mutf7(b"&ZeVnLIqe-"), "日本語");
        assert_eq!(decode_mutf7(b"A&-B"), "A&B");
        assert_eq!(decode_mutf7(b"bad&!!-x"), "bad&!!-x");
    }

    #[test]
    fn fetch_items() {
        let p = b"* 1 FETCH (UID 7 BODY[] {12}";
        let m = literal_marker(p).unwrap();
        let it = fetch_item_before(p, m.start).unwrap();
        assert!(it.whole && it.origin.is_none());
        let p = b"* 1 FETCH (BODY[]<65536> {12}";
        let it = fetch_item_before(p, literal_marker(p).unwrap().start).unwrap();
        assert_eq!((it.whole, it.origin), (true, Some(65536)));
        let p = b"* 1 FETCH (BODY[HEADER.FIELDS (FROM TO)] {12}";
        let it = fetch_item_before(p, literal_marker(p).unwrap().start).unwrap();
        assert_eq!(it.name, "BODY[HEADER.FIELDS (FROM TO)]");
        assert!(!it.whole);
        assert_eq!(fetch_number(b"(FLAGS (\\Seen) UID 42)", b"UID"), Some(42));
        assert_eq!(fetch_number(b"(XUID 4 RFC822.SIZE 99)", b"UID"), None);
        assert_eq!(
            requested_range(b"1 (UID BODY.PEEK[]<0.65536>)"),
            Some(65536)
        );
    }
}
