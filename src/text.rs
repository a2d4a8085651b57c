//! Safe text for terminals and files: capture bytes never reach them raw.

use std::borrow::Cow;

/// Escapes every control character (C0, DEL, C1) and the Unicode bidi/format controls that
/// can reorder or hide terminal text, as `\xNN` / `\u{NNNN}`; `\t` `\r` `\n` become `\t`
/// `\r` `\n`. Printable text is returned unchanged, without allocating.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if needs_escape(c) {
            match c {
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\n' => out.push_str("\\n"),
                c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
                c => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(c as u32, 0x200b..=0x200f | 0x202a..=0x202e | 0x2066..=0x2069 | 0xfeff)
}

/// Escapes, then cuts to at most `max` characters, marking a cut with `…`.
pub fn cell(s: &str, max: usize) -> String {
    let e = escape(s);
    if e.chars().count() <= max {
        return e.into_owned();
    }
    let mut out: String = e.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Lossy UTF-8 of capture bytes (invalid sequences become U+FFFD).
pub fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    // The same result as `from_utf8_lossy` alone, but valid text (nearly every protocol
    // line) is checked by `from_utf8`'s word-at-a-time ASCII path, not character by
    // character.
    match std::str::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_and_controls_are_escaped() {
        assert_eq!(escape("plain ü"), "plain ü");
        assert_eq!(escape("\x1b[31mred\x07"), "\\x1b[31mred\\x07");
        assert_eq!(escape("a\r\nb\tc\u{9b}"), "a\\r\\nb\\tc\\x9b");
        assert_eq!(escape("x\u{202e}y"), "x\\u{202e}y");
    }

    #[test]
    fn cell_cuts_visibly() {
        assert_eq!(cell("abcdef", 4), "abc…");
        assert_eq!(cell("abc", 4), "abc");
    }
}
