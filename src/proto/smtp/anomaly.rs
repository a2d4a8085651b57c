//! What the SMTP dissector counts when the dialogue departs from the RFCs or hits a limit.

/// An anomaly of an SMTP session. Each variant is counted; the session lists the non-zero
/// counters as `"<name>"` or `"<name> (<count>)"` in its `anomalies`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Anomaly {
    /// A server reply arrived while no command was waiting for one (RFC 5321 §4.2: every
    /// reply answers a command or is the greeting). Usually loss on the client side or a
    /// capture that started mid-dialogue.
    ReplyWithoutCommand,
    /// A server line that is not `ddd[ -]text` with a 2..5 first digit (RFC 5321 §4.2).
    InvalidReply,
    /// A line of a multi-line reply with a different code than its first line
    /// (RFC 5321 §4.2.1: all lines carry the same code).
    ReplyCodeMismatch,
    /// A client line that is not a command verb (RFC 5321 §4.1.1).
    InvalidCommand,
    /// A command line longer than `max_line` (RFC 5321 §4.5.3.1.4: 512 octets); only its
    /// first piece was parsed.
    LineTooLong,
    /// The rest of a line whose start was lost in a gap was dropped (resynchronisation at
    /// the next line boundary).
    GapResync,
    /// More commands awaited replies than `max_pending` (RFC 2920 pipelining without
    /// replies); the oldest was given up unanswered.
    PendingOverflow,
    /// More commands than `max_commands`; later ones are processed but not listed.
    TooManyCommands,
    /// More recipients in one transaction than `max_recipients` (RFC 5321 §4.5.3.1.8 only
    /// requires servers to take 100).
    TooManyRecipients,
    /// More transactions than `max_transactions`; later ones are not listed.
    TooManyTransactions,
    /// More reply lines than `max_reply_lines` in one reply; the rest was not kept.
    ReplyTooLong,
    /// The transcript reached `max_dialogue` entries; later lines are not listed.
    DialogueFull,
    /// RCPT without a MAIL before it (RFC 5321 §3.3: MAIL starts a transaction); a
    /// transaction with an unknown sender was opened.
    RcptWithoutMail,
    /// DATA or BDAT without MAIL before it; a transaction with an unknown sender was opened.
    DataWithoutMail,
    /// MAIL FROM / RCPT TO argument without the `FROM:`/`TO:` keyword or closing bracket
    /// (RFC 5321 §4.1.1.2, §4.1.1.3).
    MalformedPath,
    /// BDAT with a size that is not a 64-bit decimal number or with junk after it
    /// (RFC 3030 §2); treated as an ordinary command, no payload taken.
    InvalidBdat,
    /// A 334 challenge while no AUTH exchange was running (RFC 4954 §4).
    UnexpectedChallenge,
    /// A DATA reply that was neither 354 nor a refusal arrived after body lines; the
    /// client did not wait for 354 (RFC 5321 §4.1.1.4).
    DataBeforeReply,
    /// A server reply during message content after a gap: the end-of-data line was lost,
    /// the message was closed there (incomplete).
    LostDataTerminator,
    /// A line without its ending at the end of the stream.
    UnterminatedLine,
    /// The client started TLS (a TLS record) after STARTTLS before any 220 reply was seen.
    TlsWithoutReply,
    /// Nothing SMTP-like in the first lines; the rest of the connection was only counted.
    NotSmtp,
    /// A lone `.` line in DATA not bounded by CRLF on both sides (`\n.\n`, `\r\n.\n`,
    /// `\n.\r\n`). RFC 5321 §4.1.1.4 ends DATA only at CRLF `.` CRLF, and so does Postfix
    /// 3.9 and later by default (`smtpd_forbid_bare_newline = normalize`): the line is
    /// content, not the end. Such lines are the SMTP smuggling attack (CVE-2023-51764).
    BareLfTerminator,
    /// A server's line not terminated when the client spoke again: the client had the whole
    /// reply (e.g. a banner without CRLF), so the line was taken as complete.
    UnterminatedReply,
}

impl Anomaly {
    /// Every variant, in report order.
    pub const ALL: [Anomaly; 24] = [
        Anomaly::ReplyWithoutCommand,
        Anomaly::InvalidReply,
        Anomaly::ReplyCodeMismatch,
        Anomaly::InvalidCommand,
        Anomaly::LineTooLong,
        Anomaly::GapResync,
        Anomaly::PendingOverflow,
        Anomaly::TooManyCommands,
        Anomaly::TooManyRecipients,
        Anomaly::TooManyTransactions,
        Anomaly::ReplyTooLong,
        Anomaly::DialogueFull,
        Anomaly::RcptWithoutMail,
        Anomaly::DataWithoutMail,
        Anomaly::MalformedPath,
        Anomaly::InvalidBdat,
        Anomaly::UnexpectedChallenge,
        Anomaly::DataBeforeReply,
        Anomaly::LostDataTerminator,
        Anomaly::UnterminatedLine,
        Anomaly::TlsWithoutReply,
        Anomaly::NotSmtp,
        Anomaly::BareLfTerminator,
        Anomaly::UnterminatedReply,
    ];

    /// Kebab-case name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Anomaly::ReplyWithoutCommand => "smtp-reply-without-command",
            Anomaly::InvalidReply => "smtp-invalid-reply",
            Anomaly::ReplyCodeMismatch => "smtp-reply-code-mismatch",
            Anomaly::InvalidCommand => "smtp-invalid-command",
            Anomaly::LineTooLong => "smtp-line-too-long",
            Anomaly::GapResync => "smtp-gap-resync",
            Anomaly::PendingOverflow => "smtp-pending-overflow",
            Anomaly::TooManyCommands => "smtp-too-many-commands",
            Anomaly::TooManyRecipients => "smtp-too-many-recipients",
            Anomaly::TooManyTransactions => "smtp-too-many-transactions",
            Anomaly::ReplyTooLong => "smtp-reply-too-long",
            Anomaly::DialogueFull => "smtp-dialogue-full",
            Anomaly::RcptWithoutMail => "smtp-rcpt-without-mail",
            Anomaly::DataWithoutMail => "smtp-data-without-mail",
            Anomaly::MalformedPath => "smtp-malformed-path",
            Anomaly::InvalidBdat => "smtp-invalid-bdat",
            Anomaly::UnexpectedChallenge => "smtp-unexpected-challenge",
            Anomaly::DataBeforeReply => "smtp-data-before-reply",
            Anomaly::LostDataTerminator => "smtp-lost-data-terminator",
            Anomaly::UnterminatedLine => "smtp-unterminated-line",
            Anomaly::TlsWithoutReply => "smtp-tls-without-reply",
            Anomaly::NotSmtp => "smtp-not-smtp",
            Anomaly::BareLfTerminator => "smtp-bare-lf-terminator",
            Anomaly::UnterminatedReply => "smtp-unterminated-reply",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// Counters of all anomalies of one session.
#[derive(Debug, Clone, Default)]
pub struct AnomalyCounts([u64; Anomaly::ALL.len()]);

impl AnomalyCounts {
    /// Counts one occurrence.
    pub fn add(&mut self, a: Anomaly) {
        self.0[a.index()] = self.0[a.index()].saturating_add(1);
    }

    /// How often `a` occurred.
    pub fn get(&self, a: Anomaly) -> u64 {
        self.0[a.index()]
    }

    /// The non-zero counters as report strings, in `Anomaly::ALL` order.
    pub fn render(&self) -> Vec<String> {
        Anomaly::ALL
            .iter()
            .filter(|a| self.get(**a) > 0)
            .map(|a| match self.get(*a) {
                1 => a.name().to_string(),
                n => format!("{} ({n})", a.name()),
            })
            .collect()
    }
}
