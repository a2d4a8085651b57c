//! Redaction of secrets in a [`Report`], for sharing a report (`--redact`).
//!
//! Rule: a secret of 8 or more characters keeps its first and last character with `***`
//! between them (`Ana-pw-1!` → `A***!`); a shorter one becomes `***`. The length of the
//! secret is not revealed (always three stars).
//!
//! Masked: in credentials `password`, `token`, `hash` and the raw `undecodable` payloads;
//! in the command list the argument of `PASS`, the digest of `APOP`, the initial response
//! of `AUTH <mechanism> <response>` and every `AUTH-DATA` line (SASL continuations); in the
//! dialogue (transcript) the same client lines; and, as a safety net, every occurrence of
//! any of those secrets (and of the decoded passwords/tokens) in the free-text fields of
//! sessions (replies, findings, anomalies, dialogue lines). Usernames, message contents and
//! everything else are left as they are.

use crate::model::{DialogueEvent, Report, Session, Side};

/// Masks one secret by the rule of the module documentation.
pub fn mask(secret: &str) -> String {
    let n = secret.chars().count();
    if n < 8 {
        return "***".to_string();
    }
    let first = secret.chars().next().unwrap_or('*');
    let last = secret.chars().next_back().unwrap_or('*');
    format!("{first}***{last}")
}

/// Masks the secret part of a client command line (`verb` upper-case, `arg` the rest of
/// the line). Returns None when the command carries no secret.
fn mask_command(verb: &str, arg: &str) -> Option<String> {
    match verb {
        "PASS" => Some(mask(arg)),
        "APOP" => {
            let (user, digest) = arg.rsplit_once(' ')?;
            Some(format!("{user} {}", mask(digest)))
        }
        // IMAP LOGIN: the password is the second astring (atom, quoted or literal marker).
        "LOGIN" => {
            let (user, pass) = split_astring(arg)?;
            let pass = pass.trim_start();
            if pass.is_empty() {
                return None;
            }
            Some(format!("{user} {}", mask(pass)))
        }
        "AUTH" | "AUTHENTICATE" => {
            let (mech, resp) = arg.split_once(' ')?;
            if resp.is_empty() {
                return None;
            }
            Some(format!("{mech} {}", mask(resp)))
        }
        "AUTH-DATA" => Some(mask(arg)),
        _ => None,
    }
}

/// The first IMAP astring of `arg` (a quoted string with its escapes, or up to the first
/// space) and the rest.
fn split_astring(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('"') {
        let b = arg.as_bytes();
        let mut i = 1;
        while i < b.len() && b[i] != b'"' {
            i += if b[i] == b'\\' { 2 } else { 1 };
        }
        let end = (i + 1).min(arg.len());
        return Some((&arg[..end], &arg[end..]));
    }
    arg.split_once(' ')
}

/// Replaces every occurrence of the secrets in `s` by their masks.
fn scrub(s: &mut String, secrets: &[String]) {
    for secret in secrets {
        if s.contains(secret.as_str()) {
            *s = s.replace(secret.as_str(), &mask(secret));
        }
    }
}

fn scrub_opt(s: &mut Option<String>, secrets: &[String]) {
    if let Some(s) = s {
        scrub(s, secrets);
    }
}

/// The secrets of one session's command list, before they are masked.
fn command_secrets(s: &Session, out: &mut Vec<String>) {
    for c in &s.commands {
        let secret = match c.verb.as_str() {
            "PASS" | "AUTH-DATA" => Some(c.arg.as_str()),
            "APOP" => c.arg.rsplit_once(' ').map(|(_, d)| d),
            "AUTH" | "AUTHENTICATE" => c.arg.split_once(' ').map(|(_, r)| r),
            "LOGIN" => split_astring(&c.arg).map(|(_, p)| p.trim_start()),
            _ => None,
        };
        if let Some(secret) = secret {
            out.push(secret.to_string());
        }
    }
}

/// Masks the secret of a transcript line sent by the client (`PASS x`, `AUTH PLAIN x`,
/// `APOP user digest`), recognising the verb case-insensitively.
fn mask_line(line: &str) -> Option<String> {
    let (verb, arg) = line.split_once(' ')?;
    let upper = verb.to_ascii_uppercase();
    if !matches!(upper.as_str(), "PASS" | "APOP" | "AUTH") {
        // IMAP: `tag LOGIN user pass`, `tag AUTHENTICATE mech response`.
        let (verb2, arg2) = arg.split_once(' ')?;
        let upper2 = verb2.to_ascii_uppercase();
        if !matches!(upper2.as_str(), "LOGIN" | "AUTHENTICATE") {
            return None;
        }
        return mask_command(&upper2, arg2).map(|m| format!("{verb} {verb2} {m}"));
    }
    mask_command(&upper, arg).map(|m| format!("{verb} {m}"))
}

/// Masks every password, token, hash and secret-bearing command argument of the report
/// (see the module documentation for the exact rule and list).
pub fn redact(report: &mut Report) {
    // Every secret string, longest first so that a secret containing another is replaced
    // whole. Secrets shorter than 3 characters are not searched for in free text (they
    // would mask unrelated words); their own fields are masked all the same.
    let mut secrets: Vec<String> = Vec::new();
    for c in &report.credentials {
        secrets.extend(c.password.iter().cloned());
        secrets.extend(c.token.iter().cloned());
        secrets.extend(c.hash.iter().cloned());
        secrets.extend(c.undecodable.iter().cloned());
    }
    for s in &report.sessions {
        command_secrets(s, &mut secrets);
    }
    secrets.retain(|s| s.chars().count() >= 3);
    secrets.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    secrets.dedup();

    for c in &mut report.credentials {
        for v in [&mut c.password, &mut c.token, &mut c.hash]
            .into_iter()
            .flatten()
        {
            *v = mask(v);
        }
        for u in &mut c.undecodable {
            *u = mask(u);
        }
        scrub_opt(&mut c.reply, &secrets);
    }
    for s in &mut report.sessions {
        for c in &mut s.commands {
            if let Some(m) = mask_command(&c.verb, &c.arg) {
                c.arg = m;
            } else {
                scrub(&mut c.arg, &secrets);
            }
            if let Some(r) = &mut c.reply {
                scrub(&mut r.text, &secrets);
            }
        }
        for f in &mut s.findings {
            scrub(&mut f.detail, &secrets);
        }
        for a in &mut s.anomalies {
            scrub(a, &secrets);
        }
        for e in &mut s.dialogue {
            if let DialogueEvent::Literal {
                text: Some(t),
                secret,
                ..
            } = &mut e.event
            {
                // The dissector marked the literals that carried a password.
                if *secret {
                    *t = mask(t);
                } else {
                    scrub(t, &secrets);
                }
                continue;
            }
            if let DialogueEvent::Line { line } = &mut e.event {
                if e.from == Side::Client {
                    if let Some(m) = mask_line(line) {
                        *line = m;
                        continue;
                    }
                }
                scrub(line, &secrets);
            }
        }
    }
}

/// A sink that redacts each session record (as [`redact`] does a report) before passing it
/// on. Secrets are searched for in the free text of their own session.
pub struct RedactSink<S>(pub S);

/// One session record redacted as [`redact`] does a report.
fn redact_record(r: crate::sink::SessionRecord) -> crate::sink::SessionRecord {
    let mut report = Report {
        schema: crate::model::SCHEMA,
        tool: crate::model::Tool::default(),
        captures: Vec::new(),
        sessions: vec![r.session],
        credentials: r.credentials,
        messages: r.messages,
    };
    redact(&mut report);
    let session = report.sessions.pop().expect("one session");
    crate::sink::SessionRecord {
        session,
        credentials: report.credentials,
        messages: report.messages,
    }
}

/// Redacts each record before another renderer renders it (on the rendering thread).
struct RedactRender(std::sync::Arc<dyn crate::sink::Render>);

impl crate::sink::Render for RedactRender {
    fn render(&self, record: crate::sink::SessionRecord) -> std::io::Result<crate::sink::Rendered> {
        self.0.render(redact_record(record))
    }
}

impl<S: crate::sink::Sink> crate::sink::Sink for RedactSink<S> {
    fn session(&mut self, r: crate::sink::SessionRecord) -> std::io::Result<()> {
        self.0.session(redact_record(r))
    }
    fn capture(&mut self, info: &crate::model::CaptureInfo) -> std::io::Result<()> {
        self.0.capture(info)
    }
    fn failure(&mut self, f: &crate::sink::CaptureFailure) -> std::io::Result<()> {
        self.0.failure(f)
    }
    fn renderer(&self) -> Option<std::sync::Arc<dyn crate::sink::Render>> {
        let inner = self.0.renderer()?;
        Some(std::sync::Arc::new(RedactRender(inner)))
    }
    fn rendered(&mut self, r: crate::sink::Rendered, id: &str) -> std::io::Result<()> {
        self.0.rendered(r, id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_rule() {
        assert_eq!(mask("Ana-pw-1!"), "A***!");
        assert_eq!(mask("12345678"), "1***8");
        assert_eq!(mask("1234567"), "***");
        assert_eq!(mask(""), "***");
        assert_eq!(mask("ünïcödé-pw"), "ü***w");
    }

    #[test]
    fn commands_and_lines() {
        assert_eq!(mask_command("PASS", "secret-pw").unwrap(), "s***w");
        assert_eq!(
            mask_command("APOP", "cyd 78e7204603d3945eb92ff5927a4977e4").unwrap(),
            "cyd 7***4"
        );
        assert_eq!(
            mask_command("AUTH", "PLAIN AGJlbkBzYW1wbGUudGVzdABiZW4tU2VjcmV0LTIy").unwrap(),
            "PLAIN A***y"
        );
        assert_eq!(mask_command("AUTH", "LOGIN"), None);
        assert_eq!(mask_command("USER", "ana"), None);
        assert_eq!(mask_line("pass hunter22").unwrap(), "pass h***2");
        assert_eq!(mask_line("PASS short").unwrap(), "PASS ***");
        assert_eq!(mask_line("EHLO x"), None);
        assert_eq!(mask_command("LOGIN", "ana hunter22").unwrap(), "ana h***2");
        assert_eq!(
            mask_command("LOGIN", r#""a \"b" "pw pw pw""#).unwrap(),
            r#""a \"b" "***""#
        );
        assert_eq!(
            mask_line("a1 LOGIN ana hunter22").unwrap(),
            "a1 LOGIN ana h***2"
        );
        assert_eq!(
            mask_line("a2 authenticate PLAIN AGJlbkBzYW1wbGUudGVzdABi").unwrap(),
            "a2 authenticate PLAIN A***i"
        );
        assert_eq!(mask_line("a3 SELECT INBOX"), None);
        let mut s = "wrong password Ana-pw-1! rejected".to_string();
        scrub(&mut s, &["Ana-pw-1!".to_string()]);
        assert_eq!(s, "wrong password A***! rejected");
    }
}
