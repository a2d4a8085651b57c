//! The credential audit view (`pcapmail creds`): every credential with its session
//! context, a summary line an auditor can paste, the findings per server, and the lines
//! hashcat accepts. Renders as a table, a JSON document, JSON lines or CSV. In the table a
//! user name or a secret is never cut nor split over lines: a credential whose row does not
//! fit the width whole is a card (`report::cards`).

use crate::model::CaptureInfo;
use crate::model::{Credential, Endpoint, Protocol, Report, Tls, Tool};
use crate::report::cards::{split, Card};
use crate::report::json::write_record;
use crate::report::json::Spool;
use crate::report::table::{
    colored, result_of, right, secret_of, write_split, CredentialGroup, CredentialGroups,
    TableOptions, MECHANISM_MAX,
};
use crate::sink::{SessionRecord, Sink};
use crate::text::{cell, escape};
use comfy_table::{Cell, CellAlignment, Color};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};
use std::io::{self, Write};
use std::net::IpAddr;

/// The finding codes the audit counts per server (others are counted too, by code).
pub const CLEARTEXT_AUTH: &str = "cleartext-auth";
/// The server offered STARTTLS/STLS and the client went on in clear.
pub const STARTTLS_NOT_USED: &str = "starttls-offered-not-used";

/// What kind of secret a credential exposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Exposure {
    /// A password or a bearer token, usable as is.
    Plaintext,
    /// A challenge-response (CRAM-MD5, APOP): crackable offline.
    Hash,
    /// Neither (e.g. only the user name was seen).
    Incomplete,
}

/// Classifies a credential.
pub fn exposure(c: &Credential) -> Exposure {
    if c.password.is_some() || c.token.is_some() {
        Exposure::Plaintext
    } else if c.hash.is_some() {
        Exposure::Hash
    } else {
        Exposure::Incomplete
    }
}

/// Counts of one kind of credential.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub credentials: u64,
    /// Distinct (server IP, user name) pairs.
    pub accounts: u64,
    /// Distinct server IP addresses.
    pub servers: u64,
    /// Credentials the server accepted.
    pub accepted: u64,
}

/// The summary of the audit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Passwords and bearer tokens seen in clear.
    pub plaintext: Counts,
    /// CRAM-MD5 / APOP responses (crackable offline).
    pub hashes: Counts,
    /// Credentials with neither a password nor a hash.
    pub incomplete: u64,
    /// Sessions whose content was encrypted and could not be read (STARTTLS or implicit
    /// TLS without its keys in a key log).
    pub encrypted_sessions: u64,
    /// The line an auditor can paste.
    pub text: String,
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Computes the summary. Its text reads, e.g., "5 plaintext credentials for 3 accounts on
/// 1 server, 4 accepted; 1 crackable hash (CRAM-MD5/APOP) for 1 account on 1 server, 1
/// accepted; 1 encrypted session". The first clause is always there; the others only when
/// their count is not zero. An account is a user name on a server IP address.
fn summary_text(
    plaintext: Counts,
    hashes: Counts,
    incomplete: u64,
    encrypted_sessions: u64,
) -> Summary {
    let mut text = format!(
        "{} for {} on {}, {} accepted",
        plural(
            plaintext.credentials,
            "plaintext credential",
            "plaintext credentials"
        ),
        plural(plaintext.accounts, "account", "accounts"),
        plural(plaintext.servers, "server", "servers"),
        plaintext.accepted
    );
    if hashes.credentials > 0 {
        let _ = write!(
            text,
            "; {} (CRAM-MD5/APOP) for {} on {}, {} accepted",
            plural(hashes.credentials, "crackable hash", "crackable hashes"),
            plural(hashes.accounts, "account", "accounts"),
            plural(hashes.servers, "server", "servers"),
            hashes.accepted
        );
    }
    if incomplete > 0 {
        let _ = write!(
            text,
            "; {} without a secret",
            plural(incomplete, "credential", "credentials")
        );
    }
    if encrypted_sessions > 0 {
        let _ = write!(
            text,
            "; {} (not readable)",
            plural(
                encrypted_sessions,
                "encrypted session",
                "encrypted sessions"
            )
        );
    }
    Summary {
        plaintext,
        hashes,
        incomplete,
        encrypted_sessions,
        text,
    }
}

/// The audit facts of one server (address and port, one protocol).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerFindings {
    pub server: Endpoint,
    pub protocol: Protocol,
    pub sessions: u64,
    /// Sessions encrypted with STARTTLS or implicit TLS.
    pub tls_sessions: u64,
    pub credentials: u64,
    pub accepted: u64,
    /// Number of sessions with each finding code (`cleartext-auth`,
    /// `starttls-offered-not-used`, `cleartext-mail`, ...).
    pub findings: BTreeMap<String, u64>,
}

impl ServerFindings {
    /// Sessions with the finding `code`.
    pub fn count(&self, code: &str) -> u64 {
        self.findings.get(code).copied().unwrap_or(0)
    }
}

/// One credential with the context of its session: the record of `creds --format json`.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord<'a> {
    #[serde(flatten)]
    pub credential: &'a Credential,
    /// `plaintext`, `hash` or `incomplete`.
    pub exposure: Exposure,
    /// TLS state of the session ("none", "starttls", "implicit"); the credential itself
    /// crossed in clear unless `encrypted` is true.
    pub session_tls: Option<Tls>,
    /// The capture file of the session.
    pub capture: Option<&'a str>,
}

/// The hashcat mode of a line produced by the dissectors.
pub fn hashcat_mode(line: &str) -> Option<u32> {
    if line.starts_with("$cram_md5$") {
        Some(10200)
    } else if line.len() > 33 && line.as_bytes()[32] == b':' {
        Some(20)
    } else {
        None
    }
}

/// The CSV columns, in order.
pub const CSV_COLUMNS: &[&str] = &[
    "time",
    "protocol",
    "server",
    "client",
    "session",
    "capture",
    "frame",
    "mechanism",
    "username",
    "password",
    "token",
    "hash",
    "success",
    "encrypted",
    "session_tls",
    "reply",
    "count",
    "last_frame",
    "last_session",
];

/// One CSV field (RFC 4180): quoted when it holds a comma, quote, CR, LF or starts/ends
/// with a space; quotes doubled. Nothing is escaped: every character of the value is kept,
/// so a CSV reader gives back exactly the JSON value (a password with CR, LF or ESC in it
/// is still that password). CSV is data for programs, like JSON; the terminal views
/// (table) are the ones that escape.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn tls_str(t: Option<Tls>) -> &'static str {
    match t {
        Some(Tls::None) => "none",
        Some(Tls::Starttls) => "starttls",
        Some(Tls::Implicit) => "implicit",
        None => "",
    }
}

fn opt_bool(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "true",
        Some(false) => "false",
        None => "",
    }
}

/// Writes CSV of every credential of a collected report (a header line, then one line per
/// attempt, CRLF line ends): [`CredsSink`] with `all`, fed the report.
pub fn write_csv<W: Write>(out: &mut W, report: &Report) -> io::Result<()> {
    let mut sink = CredsSink::new(out, CredsFormat::Csv, true, TableOptions::default())?;
    crate::report::table::feed(&mut sink, report);
    sink.finish().map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\r\nlines"), "\"two\r\nlines\"");
        assert_eq!(csv_field(" pad"), "\" pad\"");
        assert_eq!(csv_field("esc\x1b[31m"), "esc\x1b[31m");
    }

    #[test]
    fn modes() {
        assert_eq!(hashcat_mode("$cram_md5$PDE+$YQ=="), Some(10200));
        assert_eq!(
            hashcat_mode("78e7204603d3945eb92ff5927a4977e4:<1.2@vm>"),
            Some(20)
        );
        assert_eq!(hashcat_mode("x"), None);
    }

    #[test]
    fn plurals() {
        assert_eq!(plural(1, "server", "servers"), "1 server");
        assert_eq!(plural(0, "server", "servers"), "0 servers");
    }
}

/// The output of `creds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredsFormat {
    Table,
    Json,
    Jsonl,
    Csv,
}

/// Servers remembered for the per-server findings.
pub const MAX_SERVERS: usize = 10_000;
/// Accounts remembered for the summary's distinct counts.
const MAX_ACCOUNTS: usize = 100_000;
/// Rows per table block with `--all` (the table is printed as it grows).
const TABLE_BLOCK: usize = 500;

#[derive(Default)]
struct Tally {
    credentials: u64,
    /// Accounts as 64-bit hashes of (server address, user name): ~9 bytes each instead of
    /// the name's copy, so the bound costs ~1 MiB (a collision among 100,000 accounts has
    /// a chance of about 3 in 10^10).
    accounts: rustc_hash::FxHashSet<u64>,
    servers: HashSet<IpAddr>,
    accepted: u64,
}

impl Tally {
    fn add(&mut self, c: &Credential) {
        self.credentials += 1;
        if self.accounts.len() < MAX_ACCOUNTS {
            // SipHash with fixed keys: the same accounts give the same count on every run.
            let mut h = std::hash::DefaultHasher::new();
            (c.server.ip, c.username.as_deref().unwrap_or_default()).hash(&mut h);
            self.accounts.insert(h.finish());
        }
        if self.servers.len() < MAX_SERVERS {
            self.servers.insert(c.server.ip);
        }
        if c.success == Some(true) {
            self.accepted += 1;
        }
    }
    fn counts(&self) -> Counts {
        Counts {
            credentials: self.credentials,
            accounts: self.accounts.len() as u64,
            servers: self.servers.len() as u64,
            accepted: self.accepted,
        }
    }
}

/// A distinct credential with its attempts: the record of `creds` without `--all`.
#[derive(Debug, Clone, Serialize)]
pub struct GroupRecord<'a> {
    #[serde(flatten)]
    pub record: AuditRecord<'a>,
    /// Attempts with the same account, server, mechanism, secret and outcome.
    pub count: u64,
    /// Frame and session of the last attempt (the first are `frame` and `session`).
    pub last_frame: u64,
    pub last_session: &'a str,
}

/// The credential audit as a sink: distinct credentials (or, with `all`, every attempt)
/// with the summary and the findings per server, in bounded memory. With `all`, JSON lines
/// and CSV rows are written as the sessions end, and the table in blocks.
pub struct CredsSink<W: Write> {
    out: W,
    format: CredsFormat,
    all: bool,
    opts: TableOptions,
    groups: CredentialGroups,
    plaintext: Tally,
    hashes: Tally,
    incomplete: u64,
    encrypted_sessions: u64,
    servers: Vec<ServerFindings>,
    server_index: HashMap<(Endpoint, Protocol), usize>,
    spool: Option<Spool>,
    block: Vec<(Credential, Option<Tls>)>,
    /// A block of `--all` was written (the next ones have no title).
    block_written: bool,
    started: bool,
}

impl<W: Write> CredsSink<W> {
    pub fn new(out: W, format: CredsFormat, all: bool, opts: TableOptions) -> io::Result<Self> {
        Ok(CredsSink {
            out,
            format,
            all,
            opts,
            groups: CredentialGroups::default(),
            plaintext: Tally::default(),
            hashes: Tally::default(),
            incomplete: 0,
            encrypted_sessions: 0,
            servers: Vec::new(),
            server_index: HashMap::new(),
            spool: if all && format == CredsFormat::Json {
                Some(Spool::new("    ")?)
            } else {
                None
            },
            block: Vec::new(),
            block_written: false,
            started: false,
        })
    }

    fn server(&mut self, server: Endpoint, protocol: Protocol) -> Option<&mut ServerFindings> {
        let i = match self.server_index.get(&(server, protocol)) {
            Some(&i) => i,
            None if self.servers.len() < MAX_SERVERS => {
                self.servers.push(ServerFindings {
                    server,
                    protocol,
                    sessions: 0,
                    tls_sessions: 0,
                    credentials: 0,
                    accepted: 0,
                    findings: BTreeMap::new(),
                });
                self.server_index
                    .insert((server, protocol), self.servers.len() - 1);
                self.servers.len() - 1
            }
            None => return None,
        };
        self.servers.get_mut(i)
    }

    /// The summary of everything seen so far.
    pub fn summary(&self) -> Summary {
        summary_text(
            self.plaintext.counts(),
            self.hashes.counts(),
            self.incomplete,
            self.encrypted_sessions,
        )
    }

    fn write_header(&mut self) -> io::Result<()> {
        if self.started {
            return Ok(());
        }
        self.started = true;
        if self.format == CredsFormat::Csv {
            self.out.write_all(CSV_COLUMNS.join(",").as_bytes())?;
            self.out.write_all(b"\r\n")?;
        }
        Ok(())
    }

    fn flush_block(&mut self) -> io::Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let rows: Vec<(CredentialGroup, Option<Tls>)> = self
            .block
            .drain(..)
            .map(|(c, tls)| {
                (
                    CredentialGroup {
                        count: 1,
                        last_frame: c.frame,
                        last_session: c.session.clone(),
                        last_capture: None,
                        tls,
                        first: c,
                    },
                    tls,
                )
            })
            .collect();
        let refs: Vec<&CredentialGroup> = rows.iter().map(|(g, _)| g).collect();
        // The first block has the title; the others go on the same list.
        let title = (!self.block_written).then_some("Credentials (every attempt)");
        self.block_written = true;
        let text = credentials_table(&refs, &self.opts, false, title);
        self.out.write_all(text.as_bytes())?;
        writeln!(self.out)
    }

    /// Writes what is left: the distinct credentials, the summary and the servers.
    pub fn finish(mut self) -> io::Result<W> {
        self.write_header()?;
        let summary = self.summary();
        let groups = std::mem::take(&mut self.groups);
        let records: Vec<GroupRecord<'_>> = groups
            .groups
            .iter()
            .map(|g| GroupRecord {
                record: AuditRecord {
                    credential: &g.first,
                    exposure: exposure(&g.first),
                    session_tls: g.tls,
                    capture: g.first.capture.as_deref().or(g.last_capture.as_deref()),
                },
                count: g.count,
                last_frame: g.last_frame,
                last_session: &g.last_session,
            })
            .collect();
        match self.format {
            CredsFormat::Json => {
                #[derive(Serialize)]
                struct Head<'a> {
                    schema: &'static str,
                    tool: &'a Tool,
                    summary: &'a Summary,
                    servers: &'a [ServerFindings],
                }
                let tool = Tool::default();
                let head = serde_json::to_string_pretty(&Head {
                    schema: crate::model::SCHEMA,
                    tool: &tool,
                    summary: &summary,
                    servers: &self.servers,
                })?;
                self.out.write_all(&head.as_bytes()[..head.len() - 2])?;
                self.out.write_all(b",\n  \"credentials\": ")?;
                match self.spool.take() {
                    Some(spool) => spool.write_array(&mut self.out, "  ")?,
                    None => {
                        let mut spool = Spool::new("    ")?;
                        for r in &records {
                            spool.push(r)?;
                        }
                        spool.write_array(&mut self.out, "  ")?;
                    }
                }
                self.out.write_all(b"\n}\n")?;
            }
            CredsFormat::Jsonl => {
                for r in &records {
                    write_record(&mut self.out, "credential", r)?;
                }
                for s in &self.servers {
                    write_record(&mut self.out, "server", s)?;
                }
                write_record(&mut self.out, "summary", &summary)?;
            }
            CredsFormat::Csv => {
                for r in &records {
                    write_csv_row(&mut self.out, r)?;
                }
            }
            CredsFormat::Table => {
                let mut text = String::new();
                if self.all {
                    self.flush_block()?;
                    let _ = writeln!(text, "{}", summary.text);
                    let _ = writeln!(text);
                } else {
                    // Nothing was written yet: the summary line leads, as an auditor reads.
                    let _ = writeln!(text, "{}", summary.text);
                    let _ = writeln!(text);
                    let refs: Vec<&CredentialGroup> = groups.groups.iter().collect();
                    text.push_str(&credentials_table(
                        &refs,
                        &self.opts,
                        true,
                        Some("Credentials (distinct)"),
                    ));
                    if groups.ungrouped > 0 {
                        let _ = writeln!(
                            text,
                            "… and {} more attempts beyond {} distinct credentials; --all lists every attempt",
                            groups.ungrouped,
                            crate::report::table::MAX_CREDENTIAL_GROUPS
                        );
                    }
                    let _ = writeln!(text);
                }
                text.push_str(&servers_table(&self.servers, &self.opts));
                self.out.write_all(text.as_bytes())?;
            }
        }
        drop(records);
        self.out.flush()?;
        Ok(self.out)
    }
}

fn write_csv_row<W: Write>(out: &mut W, r: &GroupRecord<'_>) -> io::Result<()> {
    let c = r.record.credential;
    let fields = [
        c.time.rfc3339(),
        c.protocol.name().to_string(),
        c.server.to_string(),
        c.client.to_string(),
        c.session.clone(),
        r.record.capture.unwrap_or("").to_string(),
        c.frame.to_string(),
        c.mechanism.clone(),
        c.username.clone().unwrap_or_default(),
        c.password.clone().unwrap_or_default(),
        c.token.clone().unwrap_or_default(),
        c.hash.clone().unwrap_or_default(),
        opt_bool(c.success).to_string(),
        c.encrypted.to_string(),
        tls_str(r.record.session_tls).to_string(),
        c.reply.clone().unwrap_or_default(),
        r.count.to_string(),
        r.last_frame.to_string(),
        r.last_session.to_string(),
    ];
    let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
    out.write_all(line.join(",").as_bytes())?;
    out.write_all(b"\r\n")
}

impl<W: Write> Sink for CredsSink<W> {
    fn session(&mut self, r: SessionRecord) -> io::Result<()> {
        self.session_ref(&r)
    }
    fn reads_records(&self) -> bool {
        true
    }
    fn session_ref(&mut self, r: &SessionRecord) -> io::Result<()> {
        let s = &r.session;
        if s.tls != Tls::None && !s.tls_info.as_ref().is_some_and(|t| t.decrypted) {
            self.encrypted_sessions += 1;
        }
        if let Some(f) = self.server(s.server, s.protocol) {
            f.sessions += 1;
            if s.tls != Tls::None {
                f.tls_sessions += 1;
            }
            let codes: HashSet<&str> = s.findings.iter().map(|f| f.code.as_str()).collect();
            for code in codes {
                *f.findings.entry(code.to_string()).or_default() += 1;
            }
        }
        for c in &r.credentials {
            match exposure(c) {
                Exposure::Plaintext => self.plaintext.add(c),
                Exposure::Hash => self.hashes.add(c),
                Exposure::Incomplete => self.incomplete += 1,
            }
            if let Some(f) = self.server(c.server, c.protocol) {
                f.credentials += 1;
                if c.success == Some(true) {
                    f.accepted += 1;
                }
            }
            if !self.all {
                self.groups.add(c, &s.capture, Some(s.tls));
                continue;
            }
            self.write_header()?;
            let rec = GroupRecord {
                record: AuditRecord {
                    credential: c,
                    exposure: exposure(c),
                    session_tls: Some(s.tls),
                    capture: Some(c.capture.as_deref().unwrap_or(&s.capture)),
                },
                count: 1,
                last_frame: c.frame,
                last_session: &c.session,
            };
            match self.format {
                CredsFormat::Jsonl => write_record(&mut self.out, "credential", &rec)?,
                CredsFormat::Csv => write_csv_row(&mut self.out, &rec)?,
                CredsFormat::Json => {
                    if let Some(sp) = &mut self.spool {
                        sp.push(&rec)?;
                    }
                }
                CredsFormat::Table => {
                    self.block.push((c.clone(), Some(s.tls)));
                    if self.block.len() >= TABLE_BLOCK {
                        self.flush_block()?;
                    }
                }
            }
        }
        if self.all && self.format == CredsFormat::Csv {
            self.out.flush()?;
        }
        Ok(())
    }
    fn capture(&mut self, _info: &CaptureInfo) -> io::Result<()> {
        Ok(())
    }
}

/// "s1", or "s1 … s4" for a credential seen in several sessions.
fn sessions_of(g: &CredentialGroup) -> String {
    if g.count > 1 {
        format!("{} … {}", g.first.session, g.last_session)
    } else {
        g.first.session.clone()
    }
}

/// "2026-11-25 13:09:55" (UTC).
fn time_of(c: &Credential) -> String {
    let time = c.time.rfc3339();
    time.get(..19).unwrap_or(&time).replacen('T', " ", 1)
}

/// Whether the credential itself crossed encrypted, and its colour.
fn encrypted_of(g: &CredentialGroup) -> (&'static str, Option<Color>) {
    if g.first.encrypted {
        ("yes", Some(Color::Green))
    } else if g.tls == Some(Tls::Starttls) {
        ("no (STARTTLS later)", Some(Color::Yellow))
    } else {
        ("no", None)
    }
}

/// The credentials: a table of the rows that fit the width with every value whole (one row
/// per distinct credential with its count, or per attempt), and one card for each other
/// credential. A secret or a user name is never cut nor split over lines.
fn credentials_table(
    rows: &[&CredentialGroup],
    opts: &TableOptions,
    counts: bool,
    title: Option<&str>,
) -> String {
    let mut header = vec![
        "time",
        "proto",
        "server",
        "client",
        "mechanism",
        "username",
        "password / token / hash",
        "success",
        "encrypted",
        "session",
    ];
    if counts {
        header.push("count");
    }
    let cells: Vec<Vec<Cell>> = rows
        .iter()
        .map(|g| {
            let c = &g.first;
            let secret = match secret_of(c) {
                ("token", Some(t)) => format!("token {}", escape(t)),
                (_, Some(s)) => escape(s).into_owned(),
                (_, None) => "-".to_string(),
            };
            let (success, color) = match c.success {
                None => ("?", Color::Yellow),
                s => result_of(s),
            };
            let (encrypted, enc_color) = encrypted_of(g);
            let mut row = vec![
                Cell::new(time_of(c)),
                Cell::new(c.protocol.name()),
                Cell::new(c.server.to_string()),
                Cell::new(c.client.to_string()),
                Cell::new(cell(&c.mechanism, MECHANISM_MAX)),
                Cell::new(escape(c.username.as_deref().unwrap_or("-"))),
                Cell::new(secret),
                colored(success, color, opts),
                match enc_color {
                    Some(col) => colored(encrypted, col, opts),
                    None => Cell::new(encrypted),
                },
                Cell::new(sessions_of(g)),
            ];
            if counts {
                row.push(right(g.count));
            }
            row
        })
        .collect();
    let split = split(&header, &cells, opts);
    let mut out = String::new();
    write_split(&mut out, title, &header, cells, &split, opts, |i, out| {
        let g = rows[i];
        let c = &g.first;
        let (result, color) = result_of(c.success);
        let (key, secret) = secret_of(c);
        let mut card = Card::default()
            .title(sessions_of(g), None)
            .title(c.protocol.name(), None)
            .title(cell(&c.mechanism, MECHANISM_MAX), None)
            .title(result, Some(color));
        if g.count > 1 {
            card = card.title(format!("{} attempts", g.count), None);
        }
        card.field("time", time_of(c))
            .field("server", c.server.to_string())
            .field("client", c.client.to_string())
            .field("encrypted", encrypted_of(g).0)
            .field("username", escape(c.username.as_deref().unwrap_or("-")))
            .field(key, escape(secret.unwrap_or("-")))
            .write(out, opts);
    });
    out
}

/// The findings per server: a table when it fits the width, else one card per server.
fn servers_table(servers: &[ServerFindings], opts: &TableOptions) -> String {
    const HEADER: [&str; 8] = [
        "server",
        "proto",
        "sessions",
        "TLS",
        "credentials (accepted)",
        "clear-text AUTH",
        "STARTTLS offered, not used",
        "other findings",
    ];
    // A count of sessions with a finding is coloured like the finding in `analyze`.
    let count = |n: u64, color: Color| {
        if n > 0 {
            colored(n, color, opts).set_alignment(CellAlignment::Right)
        } else {
            right(n)
        }
    };
    let other = |s: &ServerFindings| {
        let other: Vec<String> = s
            .findings
            .iter()
            .filter(|(k, _)| k.as_str() != CLEARTEXT_AUTH && k.as_str() != STARTTLS_NOT_USED)
            .map(|(k, v)| format!("{} {v}", cell(k, 40)))
            .collect();
        if other.is_empty() {
            "-".to_string()
        } else {
            other.join(", ")
        }
    };
    let rows: Vec<Vec<Cell>> = servers
        .iter()
        .map(|s| {
            vec![
                Cell::new(s.server.to_string()),
                Cell::new(s.protocol.name()),
                right(s.sessions),
                right(s.tls_sessions),
                right(format!("{} ({})", s.credentials, s.accepted)),
                count(s.count(CLEARTEXT_AUTH), Color::Red),
                count(s.count(STARTTLS_NOT_USED), Color::Yellow),
                Cell::new(other(s)),
            ]
        })
        .collect();
    let split = split(&HEADER, &rows, opts);
    let mut out = String::new();
    write_split(
        &mut out,
        Some("Findings per server (sessions)"),
        &HEADER,
        rows,
        &split,
        opts,
        |i, out| {
            let s = &servers[i];
            Card::default()
                .title(s.server.to_string(), None)
                .title(s.protocol.name(), None)
                .field("sessions", s.sessions.to_string())
                .field("TLS", s.tls_sessions.to_string())
                .field(
                    "credentials",
                    format!("{} ({} accepted)", s.credentials, s.accepted),
                )
                .field("clear-text AUTH", s.count(CLEARTEXT_AUTH).to_string())
                .field("STARTTLS not used", s.count(STARTTLS_NOT_USED).to_string())
                .field("other findings", other(s))
                .write(out, opts);
        },
    );
    out
}
