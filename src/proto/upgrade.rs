//! The STARTTLS bookkeeping the mail dissectors share (SMTP STARTTLS, POP3 STLS, IMAP
//! STARTTLS): where TLS began in the stream (the signal of [`Dissector::take_tls_start`]),
//! whether the transport now feeds decrypted plaintext, and the findings of an upgrade that
//! was accepted but not negotiated, or refused with the client going on in clear.
//!
//! [`Dissector::take_tls_start`]: super::Dissector::take_tls_start

use crate::model::{Finding, Side};

/// One session's upgrade state (see the module documentation).
#[derive(Debug, Default)]
pub struct Upgrade {
    /// The upgrade was accepted but this side went on in clear, at this frame.
    pub not_negotiated: Option<(Side, u64)>,
    refused: bool,
    /// After a refusal, the client's first command in clear: (verb, frame).
    refused_then: Option<(String, u64)>,
    decrypting: bool,
    tail: Option<usize>,
    signalled: bool,
}

impl Upgrade {
    /// The transport decrypts the TLS part: what the dissector reads now was protected.
    pub fn decrypting(&self) -> bool {
        self.decrypting
    }

    /// The dissector met its first TLS bytes after an accepted upgrade: the last `n` bytes
    /// of the current `data` call. Only the first call counts.
    pub fn tls_began(&mut self, n: usize) {
        if !self.signalled {
            self.signalled = true;
            self.tail = Some(n);
        }
    }

    /// The signal for [`Dissector::take_tls_start`](super::Dissector::take_tls_start).
    pub fn take_start(&mut self) -> Option<usize> {
        self.tail.take()
    }

    /// The transport decrypts from now on ([`Dissector::tls_decrypted`](super::Dissector::tls_decrypted)).
    pub fn decrypted(&mut self) {
        self.decrypting = true;
        self.signalled = true;
    }

    /// The server refused the upgrade.
    pub fn refused(&mut self) {
        self.refused = true;
    }

    /// The client sent a command at `frame`; `verb` gives its name (upper case), or None
    /// for the command that ends the session, which does not count as going on in clear.
    /// `verb` is only called after a refusal.
    pub fn command(&mut self, frame: u64, verb: impl FnOnce() -> Option<String>) {
        if self.refused && self.refused_then.is_none() {
            if let Some(v) = verb() {
                self.refused_then = Some((v, frame));
            }
        }
    }

    /// The upgrade was refused and the client went on in clear.
    pub fn went_on_after_refusal(&self) -> bool {
        self.refused_then.is_some()
    }

    /// `starttls-not-negotiated` and `starttls-refused`, named after the protocol's
    /// `command` ("STARTTLS", "STLS") and its `accepted` reply ("220", "+OK", "tagged OK").
    pub fn findings(&self, command: &str, accepted: &str, out: &mut Vec<Finding>) {
        if let Some((side, frame)) = self.not_negotiated {
            let who = match side {
                Side::Client => "client",
                Side::Server => "server",
            };
            out.push(Finding {
                code: "starttls-not-negotiated".into(),
                detail: format!(
                    "the server accepted {command} ({accepted}) but the {who} went on in clear text instead of starting TLS (frame {frame}); the rest was read as clear text"
                ),
            });
        }
        if let Some((verb, frame)) = &self.refused_then {
            out.push(Finding {
                code: "starttls-refused".into(),
                detail: format!(
                    "the client asked for {command}, the server refused it, and the client went on in clear text ({verb}, frame {frame})"
                ),
            });
        }
    }
}
