//! The terminal report, read top to bottom: an overview (captures, time span, sessions by
//! protocol, warnings), then sessions, credentials, messages and findings as tables that
//! fit the width. A user name or a secret is never cut nor split over lines: the
//! credentials whose row does not fit whole are cards (`report::cards`). Other long values
//! wrap and are cut visibly (`…`); the JSON document has them whole. Every string that
//! comes from a capture goes through `text::escape` / `text::cell`.

use crate::model::{
    CaptureInfo, Credential, Finding, Message, Protocol, ProtocolDetail, Report, Session, Tls, Ts,
};
use crate::report::cards::{overflows, split, width_of, Card, Split};
use crate::sink::{CaptureFailure, SessionRecord, Sink};
use crate::text::{cell, escape};
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{
    Cell, CellAlignment, Color, ColumnConstraint, ContentArrangement, Row, Table, Width,
};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

/// Rendering options.
#[derive(Debug, Clone, Copy, Default)]
pub struct TableOptions {
    /// Total width in columns; None = unbounded (cells are still cut to their maximum).
    pub width: Option<u16>,
    /// Colour accepted/rejected credentials and findings (only for a terminal without
    /// NO_COLOR: the caller decides).
    pub color: bool,
}

/// A table in the report style: condensed UTF-8 borders, fitted to `opts.width`, long cells
/// cut with `…`, colour only when `opts.color`.
pub(crate) fn new_table(opts: &TableOptions, header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().map(Cell::new))
        // What does not fit in a row's lines is cut visibly.
        .set_truncation_indicator("…");
    if opts.color {
        t.enforce_styling();
    } else {
        // Neither colour nor the width of whatever terminal the process happens to have.
        t.force_no_tty();
    }
    if let Some(w) = opts.width {
        t.set_width(w);
    }
    t
}

/// Adds a row of at most `lines` lines (longer cells are cut with `…`).
fn add(t: &mut Table, cells: Vec<Cell>, lines: usize) {
    let mut row = Row::from(cells);
    row.max_height(lines);
    t.add_row(row);
}

/// Keeps a column at least `width` characters wide (plus padding): addresses are not worth
/// wrapping.
fn keep_width(t: &mut Table, column: usize, width: usize) {
    if let Some(c) = t.column_mut(column) {
        c.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(
            (width.min(48) + 2) as u16,
        )));
    }
}

/// True when the table must fit fewer than 100 columns: then the least needed columns go
/// (the session id leads to them).
fn narrow(opts: &TableOptions) -> bool {
    opts.width.is_some_and(|w| w < 100)
}

/// `v` without the items at the `dropped` indexes.
fn without<T>(v: Vec<T>, dropped: &[usize]) -> Vec<T> {
    v.into_iter()
        .enumerate()
        .filter(|(i, _)| !dropped.contains(i))
        .map(|(_, x)| x)
        .collect()
}

/// The items at the `dropped` indexes.
fn only_at<T>(v: Vec<T>, dropped: &[usize]) -> Vec<T> {
    v.into_iter()
        .enumerate()
        .filter(|(i, _)| dropped.contains(i))
        .map(|(_, x)| x)
        .collect()
}

/// Says which columns a narrow table left out (nothing when none was).
fn left_out(columns: &[&str], out: &mut String) {
    match columns {
        [] => {}
        [one] => {
            let _ = writeln!(
                out,
                "Column {one} left out below 100 columns (--width 100 shows it)"
            );
        }
        [many @ .., last] => {
            let _ = writeln!(
                out,
                "Columns {} and {last} left out below 100 columns (--width 100 shows them)",
                many.join(", ")
            );
        }
    }
}

/// Escapes `s`; without a width (the table then grows with its content) also cuts it to
/// `max` characters. With a width the table wraps what is long and cuts what does not fit
/// in a row's lines, so the width given is used.
fn fit(s: &str, max: usize, opts: &TableOptions) -> String {
    if opts.width.is_some() {
        escape(s).into_owned()
    } else {
        cell(s, max)
    }
}

/// A right-aligned cell (numbers).
pub(crate) fn right(s: impl ToString) -> Cell {
    Cell::new(s.to_string()).set_alignment(CellAlignment::Right)
}

pub(crate) fn colored(s: impl ToString, color: Color, opts: &TableOptions) -> Cell {
    let c = Cell::new(s.to_string());
    if opts.color {
        c.fg(color)
    } else {
        c
    }
}

/// SASL mechanism names have at most 20 characters (RFC 4422); longer ones are cut.
pub(crate) const MECHANISM_MAX: usize = 20;

/// The secret of a credential and what it is: `password`, `token`, `hash`, or `secret`
/// with none.
pub(crate) fn secret_of(c: &Credential) -> (&'static str, Option<&str>) {
    match (&c.password, &c.token, &c.hash) {
        (Some(p), _, _) => ("password", Some(p)),
        (None, Some(t), _) => ("token", Some(t)),
        (None, None, Some(h)) => ("hash", Some(h)),
        _ => ("secret", None),
    }
}

/// The server's verdict on a credential, and its colour.
pub(crate) fn result_of(success: Option<bool>) -> (&'static str, Color) {
    match success {
        Some(true) => ("accepted", Color::Green),
        Some(false) => ("rejected", Color::Red),
        None => ("no reply", Color::Yellow),
    }
}

fn bytes_h(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// "2026-11-25 12:57:35" (UTC, to the second).
fn datetime(t: Ts) -> String {
    let s = t.rfc3339();
    s.get(..19).unwrap_or(&s).replacen('T', " ", 1)
}

/// "12:57:35" (UTC time of day).
fn clock(t: Ts) -> String {
    let s = t.rfc3339();
    s.get(11..19).unwrap_or(&s).to_string()
}

fn duration(secs: f64) -> String {
    if secs < 60.0 {
        format!("{secs:.3} s")
    } else if secs < 3600.0 {
        format!("{}m {:02}s", (secs / 60.0) as u64, (secs % 60.0) as u64)
    } else if secs < 86400.0 {
        format!(
            "{}h {:02}m",
            (secs / 3600.0) as u64,
            ((secs % 3600.0) / 60.0) as u64
        )
    } else if secs < 86400.0 * 366.0 {
        format!(
            "{}d {:02}h",
            (secs / 86400.0) as u64,
            ((secs % 86400.0) / 3600.0) as u64
        )
    } else {
        // Spans of years come from captures with broken clocks or files years apart.
        format!("{:.1} years", secs / (86400.0 * 365.25))
    }
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Rows each table shows by default; `TableSink::with_limit(None)` shows all.
pub const DEFAULT_ROWS: usize = 200;

/// Distinct credentials remembered for grouping; beyond, attempts are only counted.
pub const MAX_CREDENTIAL_GROUPS: usize = 10_000;

/// One distinct credential: the same account, server, mechanism, secret and outcome.
#[derive(Debug, Clone)]
pub struct CredentialGroup {
    /// The first attempt.
    pub first: Credential,
    /// Attempts in the group.
    pub count: u64,
    /// Frame, session and capture of the last attempt.
    pub last_frame: u64,
    pub last_session: String,
    pub last_capture: Option<String>,
    /// TLS state of the first attempt's session.
    pub tls: Option<Tls>,
}

type GroupKey = (
    std::net::IpAddr,
    u16,
    Protocol,
    String,
    Option<String>,
    Option<String>,
    Option<bool>,
);

/// Credentials grouped by account, server, mechanism, secret and outcome, in order of first
/// appearance, with at most [`MAX_CREDENTIAL_GROUPS`] groups.
#[derive(Debug, Default)]
pub struct CredentialGroups {
    index: HashMap<GroupKey, usize>,
    pub groups: Vec<CredentialGroup>,
    /// Attempts that did not fit in a group (the group bound was reached).
    pub ungrouped: u64,
}

impl CredentialGroups {
    /// Adds one attempt; `capture` is its session's capture file.
    pub fn add(&mut self, c: &Credential, capture: &str, tls: Option<Tls>) {
        let secret = c
            .password
            .clone()
            .or_else(|| c.token.clone())
            .or_else(|| c.hash.clone());
        let key: GroupKey = (
            c.server.ip,
            c.server.port,
            c.protocol,
            c.mechanism.clone(),
            c.username.clone(),
            secret,
            c.success,
        );
        let capture = c.capture.clone().unwrap_or_else(|| capture.to_string());
        if let Some(&i) = self.index.get(&key) {
            let g = &mut self.groups[i];
            g.count += 1;
            g.last_frame = c.frame;
            g.last_session.clone_from(&c.session);
            g.last_capture = Some(capture);
        } else if self.groups.len() < MAX_CREDENTIAL_GROUPS {
            self.index.insert(key, self.groups.len());
            self.groups.push(CredentialGroup {
                first: c.clone(),
                count: 1,
                last_frame: c.frame,
                last_session: c.session.clone(),
                last_capture: Some(capture),
                tls,
            });
        } else {
            self.ungrouped += 1;
        }
    }
}

/// What the table report shows, gathered in bounded memory while the run goes on: totals
/// as counters, the first rows of each table.
#[derive(Debug)]
pub struct TableSink {
    limit: Option<usize>,
    captures: Vec<CaptureInfo>,
    failures: Vec<CaptureFailure>,
    /// Sessions shown, with the mechanisms of their credentials.
    sessions: Vec<(Session, String)>,
    sessions_total: u64,
    by_protocol: BTreeMap<Protocol, u64>,
    tls_sessions: u64,
    /// Sessions whose TLS was decrypted with a key log.
    tls_decrypted: u64,
    credentials: CredentialGroups,
    credentials_total: u64,
    credentials_accepted: u64,
    messages: Vec<Message>,
    messages_total: u64,
    /// Findings shown: (session id, finding).
    findings: Vec<(String, Finding)>,
    findings_total: u64,
    /// Several captures: rows name their capture.
    several: bool,
}

impl TableSink {
    /// Shows at most [`DEFAULT_ROWS`] rows per table.
    pub fn new() -> Self {
        Self::with_limit(Some(DEFAULT_ROWS))
    }

    /// Shows at most `limit` rows per table (None: every row; memory then grows with the
    /// capture).
    pub fn with_limit(limit: Option<usize>) -> Self {
        TableSink {
            limit,
            captures: Vec::new(),
            failures: Vec::new(),
            sessions: Vec::new(),
            sessions_total: 0,
            by_protocol: BTreeMap::new(),
            tls_sessions: 0,
            tls_decrypted: 0,
            credentials: CredentialGroups::default(),
            credentials_total: 0,
            credentials_accepted: 0,
            messages: Vec::new(),
            messages_total: 0,
            findings: Vec::new(),
            findings_total: 0,
            several: false,
        }
    }

    /// Tells the renderer that rows come from several captures (it then names them).
    pub fn several_captures(&mut self, several: bool) {
        self.several = several;
    }

    fn room(&self, n: usize) -> bool {
        self.limit.is_none_or(|l| n < l)
    }

    /// Renders the report.
    pub fn render(&self, opts: &TableOptions) -> String {
        let mut out = String::new();
        for f in &self.failures {
            let _ = writeln!(out, "Not read: {}: {}", escape(&f.path), escape(&f.error));
        }
        if !self.failures.is_empty() {
            out.push('\n');
        }
        self.overview(&mut out);
        if self.sessions_total == 0 {
            if self.captures.is_empty() {
                out.push_str("No capture could be read.\n\n");
            } else {
                out.push_str("No mail session was found.\n\n");
            }
        } else {
            self.sessions_table(opts, &mut out);
        }
        if self.credentials_total > 0 {
            self.credentials_table(opts, &mut out);
        }
        if self.messages_total > 0 {
            self.messages_table(opts, &mut out);
        }
        self.findings_table(opts, &mut out);
        self.warnings_list(&mut out);
        // One trailing newline.
        while out.ends_with("\n\n") {
            out.pop();
        }
        out
    }

    fn more(&self, shown: usize, total: u64, what: &str, out: &mut String) {
        if (shown as u64) < total {
            let _ = writeln!(
                out,
                "… and {} more {what}; --all shows every row, --format jsonl gives all records",
                total - shown as u64
            );
        }
    }

    fn span(&self) -> (Option<Ts>, Option<Ts>) {
        (
            self.captures.iter().filter_map(|c| c.first).min(),
            self.captures.iter().filter_map(|c| c.last).max(),
        )
    }

    /// The overview: what was read and what was found, as aligned "key  value" lines.
    fn overview(&self, out: &mut String) {
        let mut rows: Vec<(&str, String)> = Vec::new();
        for c in &self.captures {
            let mut fmt = c.format.clone();
            if c.gzip {
                fmt.push_str(", gzip");
            }
            if !c.link_types.is_empty() {
                let _ = write!(fmt, ", {}", c.link_types.join(" "));
            }
            rows.push((
                "capture",
                format!(
                    "{} ({fmt}): {}, {}",
                    escape(&c.path),
                    plural(c.packets, "packet", "packets"),
                    bytes_h(c.bytes)
                ),
            ));
        }
        let (first, last) = self.span();
        rows.push((
            "time span",
            match (first, last) {
                (Some(f), Some(l)) => {
                    let end = if datetime(f).get(..10) == datetime(l).get(..10) {
                        clock(l)
                    } else {
                        datetime(l)
                    };
                    format!(
                        "{} – {} UTC ({})",
                        datetime(f),
                        end,
                        duration((l.0 - f.0) as f64 / 1e9)
                    )
                }
                _ => "no packets".to_string(),
            },
        ));
        let count = |p: Protocol| self.by_protocol.get(&p).copied().unwrap_or(0);
        let mut parts = vec![
            format!("{} SMTP", count(Protocol::Smtp)),
            format!("{} POP3", count(Protocol::Pop3)),
        ];
        for (p, n) in &self.by_protocol {
            if !matches!(p, Protocol::Smtp | Protocol::Pop3) {
                parts.push(format!("{n} {}", p.name().to_uppercase()));
            }
        }
        let mut sessions = parts.join(", ");
        if self.tls_sessions > 0 {
            let _ = write!(sessions, " ({} with TLS", self.tls_sessions);
            if self.tls_decrypted > 0 {
                let _ = write!(sessions, ", {} decrypted", self.tls_decrypted);
            }
            sessions.push(')');
        }
        rows.push(("mail sessions", sessions));
        let mut creds = format!(
            "{} ({} accepted)",
            self.credentials_total, self.credentials_accepted
        );
        let distinct = self.credentials.groups.len() as u64;
        if distinct < self.credentials_total && self.credentials.ungrouped == 0 {
            let _ = write!(creds, ", {distinct} distinct");
        }
        rows.push(("credentials", creds));
        rows.push(("messages", self.messages_total.to_string()));
        rows.push(("findings", self.findings_total.to_string()));
        let warnings: usize = self.captures.iter().map(|c| c.warnings.len()).sum();
        rows.push((
            "warnings",
            if warnings == 0 {
                "none".to_string()
            } else {
                format!("{warnings} (listed at the end)")
            },
        ));
        let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        out.push_str("Overview\n");
        for (k, v) in rows {
            let _ = writeln!(out, "  {k:<w$}  {v}");
        }
        out.push('\n');
    }

    /// Start times to the second; without the date when the whole report is one day (the
    /// overview gives it).
    fn start_time(&self, t: Ts) -> String {
        let day = |t: Ts| datetime(t).get(..10).map(str::to_string);
        match self.span() {
            (Some(f), Some(l)) if day(f) == day(l) => clock(t),
            _ => datetime(t),
        }
    }

    fn sessions_table(&self, opts: &TableOptions, out: &mut String) {
        let mut header = vec![
            "id",
            "proto",
            "client → server",
            "start",
            "TLS",
            "activity",
            "state",
        ];
        // Which capture a row came from, when there are several and room for it.
        let with_capture = self.several && !narrow(opts);
        if with_capture {
            header.push("capture");
        }
        let mut t = new_table(opts, &header);
        let ep_width = self
            .sessions
            .iter()
            .map(|(s, _)| {
                s.client
                    .to_string()
                    .len()
                    .max(s.server.to_string().len() + 2)
            })
            .max()
            .unwrap_or(0);
        keep_width(&mut t, 2, ep_width);
        for (s, mechanisms) in &self.sessions {
            // The negotiated version under the kind, and whether the key log opened it.
            let detail = s.tls_info.as_ref().map_or(String::new(), |t| {
                let v = t.version.as_deref().map(escape).unwrap_or_default();
                if t.decrypted {
                    format!("\n{v}\ndecrypted")
                } else {
                    format!("\n{v}")
                }
            });
            let tls = match s.tls {
                Tls::None if s.starttls_offered => colored("none (offered)", Color::Yellow, opts),
                Tls::None => Cell::new("none"),
                Tls::Starttls => Cell::new(format!("STARTTLS{detail}")),
                Tls::Implicit => Cell::new(format!("implicit{detail}")),
            };
            let mut row = vec![
                Cell::new(&s.id),
                Cell::new(s.protocol.name().to_uppercase()),
                Cell::new(format!("{}\n→ {}", s.client, s.server)),
                Cell::new(self.start_time(s.start)),
                tls,
                Cell::new(session_summary(s, mechanisms)),
                Cell::new(session_state(s)),
            ];
            if with_capture {
                row.push(Cell::new(fit(capture_name(&s.capture), 32, opts)));
            }
            add(&mut t, row, 4);
        }
        let _ = writeln!(out, "Sessions\n{t}");
        if self.several && !with_capture {
            left_out(&["capture"], out);
        }
        self.more(self.sessions.len(), self.sessions_total, "sessions", out);
        out.push('\n');
    }

    /// The credentials: a table of the rows that fit the width with every value whole, and
    /// one card for each other credential (a secret or a user name is never cut nor split
    /// over lines).
    fn credentials_table(&self, opts: &TableOptions, out: &mut String) {
        let shown: Vec<&CredentialGroup> = self
            .credentials
            .groups
            .iter()
            .take(self.limit.unwrap_or(usize::MAX))
            .collect();
        const HEADER: [&str; 8] = [
            "session",
            "server",
            "mechanism",
            "username",
            "secret",
            "result",
            "count",
            "frame",
        ];
        let rows: Vec<Vec<Cell>> = shown.iter().map(|g| credential_row(g, opts)).collect();
        let split = split(&HEADER, &rows, opts);
        write_split(
            out,
            Some("Credentials"),
            &HEADER,
            rows,
            &split,
            opts,
            |i, out| credential_card(shown[i]).write(out, opts),
        );
        let groups = self.credentials.groups.len() as u64;
        self.more(shown.len(), groups, "distinct credentials", out);
        if self.credentials.ungrouped > 0 {
            let _ = writeln!(
                out,
                "… and {} more attempts beyond {} distinct credentials; pcapmail creds --all lists every attempt",
                self.credentials.ungrouped, MAX_CREDENTIAL_GROUPS
            );
        }
        out.push('\n');
    }

    fn messages_table(&self, opts: &TableOptions, out: &mut String) {
        // Narrow: without the direction (the protocol tells) and the recipients.
        let dropped: &[usize] = if narrow(opts) { &[1, 3] } else { &[] };
        let header = vec![
            "id",
            "dir",
            "From:",
            "To:",
            "subject",
            "size",
            "attachments",
        ];
        let mut t = new_table(opts, &without(header.clone(), dropped));
        let (mut from_width, mut to_width) = (0, 0);
        for m in &self.messages {
            let row = message_row(m, opts);
            from_width = from_width.max(row.from_width);
            to_width = to_width.max(row.to_width);
            add(&mut t, without(row.cells, dropped), 4);
        }
        // Addresses are not worth wrapping (up to a point), when something must wrap.
        if overflows(&t, opts) {
            if dropped.is_empty() {
                keep_width(&mut t, 2, from_width.min(32));
                keep_width(&mut t, 3, to_width.min(32));
            } else {
                keep_width(&mut t, 1, from_width.min(32));
            }
        }
        let _ = writeln!(out, "Messages\n{t}");
        left_out(&only_at(header, dropped), out);
        self.more(self.messages.len(), self.messages_total, "messages", out);
        out.push('\n');
    }

    fn findings_table(&self, opts: &TableOptions, out: &mut String) {
        if self.findings.is_empty() {
            return;
        }
        let mut t = new_table(opts, &["session", "finding", "detail"]);
        for (id, f) in &self.findings {
            let color = if f.code.starts_with("cleartext") {
                Color::Red
            } else {
                Color::Yellow
            };
            add(
                &mut t,
                vec![
                    Cell::new(id),
                    colored(fit(&f.code, 32, opts), color, opts),
                    Cell::new(fit(&f.detail, 100, opts)),
                ],
                2,
            );
        }
        let _ = writeln!(out, "Findings\n{t}");
        self.more(self.findings.len(), self.findings_total, "findings", out);
        out.push('\n');
    }

    fn warnings_list(&self, out: &mut String) {
        let mut any = false;
        for c in &self.captures {
            for w in &c.warnings {
                if !any {
                    out.push_str("Warnings\n");
                    any = true;
                }
                let at = w
                    .offset
                    .map(|o| format!(" at offset {o}"))
                    .unwrap_or_default();
                let _ = writeln!(out, "  {}{}: {}", escape(&c.path), at, escape(&w.message));
            }
        }
        if any {
            out.push('\n');
        }
    }
}

impl Default for TableSink {
    fn default() -> Self {
        Self::new()
    }
}

impl Sink for TableSink {
    fn session(&mut self, r: SessionRecord) -> std::io::Result<()> {
        self.session_ref(&r)
    }
    fn reads_records(&self) -> bool {
        true
    }
    fn session_ref(&mut self, r: &SessionRecord) -> std::io::Result<()> {
        let SessionRecord {
            session,
            credentials,
            messages,
        } = r;
        self.sessions_total += 1;
        *self.by_protocol.entry(session.protocol).or_default() += 1;
        if session.tls != Tls::None {
            self.tls_sessions += 1;
        }
        if session.tls_info.as_ref().is_some_and(|t| t.decrypted) {
            self.tls_decrypted += 1;
        }
        for c in credentials {
            self.credentials_total += 1;
            if c.success == Some(true) {
                self.credentials_accepted += 1;
            }
            self.credentials.add(c, &session.capture, Some(session.tls));
        }
        for f in &session.findings {
            self.findings_total += 1;
            if self.room(self.findings.len()) {
                self.findings.push((session.id.clone(), f.clone()));
            }
        }
        for m in messages {
            self.messages_total += 1;
            if self.room(self.messages.len()) {
                // The row needs no bytes (shared, so the copy is cheap).
                let mut m = m.clone();
                m.data = None;
                for a in &mut m.attachments {
                    a.data = None;
                }
                self.messages.push(m);
            }
        }
        if self.room(self.sessions.len()) {
            let mut mechanisms: Vec<&str> = Vec::new();
            for c in credentials {
                if !mechanisms.contains(&c.mechanism.as_str()) {
                    mechanisms.push(&c.mechanism);
                }
            }
            let mechanisms = cell(&mechanisms.join(", "), 24);
            let mut session = session.clone();
            session.dialogue = Vec::new();
            self.sessions.push((session, mechanisms));
        }
        Ok(())
    }
    fn capture(&mut self, info: &CaptureInfo) -> std::io::Result<()> {
        self.captures.push(info.clone());
        Ok(())
    }
    fn failure(&mut self, f: &CaptureFailure) -> std::io::Result<()> {
        self.failures.push(f.clone());
        Ok(())
    }
}

/// "s1", or "s1 … s4" for a credential seen in several sessions.
fn sessions_of(g: &CredentialGroup) -> String {
    if g.count == 1 {
        g.first.session.clone()
    } else {
        format!("{} … {}", g.first.session, g.last_session)
    }
}

/// "9", or "9 … 26" for a credential seen several times.
fn frames_of(g: &CredentialGroup) -> String {
    if g.count == 1 {
        g.first.frame.to_string()
    } else {
        format!("{} … {}", g.first.frame, g.last_frame)
    }
}

/// A row of the credentials table, every value whole.
fn credential_row(g: &CredentialGroup, opts: &TableOptions) -> Vec<Cell> {
    let c = &g.first;
    let (result, color) = result_of(c.success);
    vec![
        Cell::new(sessions_of(g)),
        Cell::new(c.server.to_string()),
        Cell::new(cell(&c.mechanism, MECHANISM_MAX)),
        Cell::new(escape(c.username.as_deref().unwrap_or("-"))),
        Cell::new(escape(secret_of(c).1.unwrap_or("-"))),
        colored(result, color, opts),
        right(g.count),
        right(frames_of(g)),
    ]
}

/// A credential as a card: the table's fields, the secret named by what it is and last.
fn credential_card(g: &CredentialGroup) -> Card {
    let c = &g.first;
    let (result, color) = result_of(c.success);
    let (key, secret) = secret_of(c);
    let mut card = Card::default()
        .title(sessions_of(g), None)
        .title(cell(&c.mechanism, MECHANISM_MAX), None)
        .title(result, Some(color));
    if g.count > 1 {
        card = card.title(plural(g.count, "attempt", "attempts"), None);
    }
    card.field("server", c.server.to_string())
        .field("username", escape(c.username.as_deref().unwrap_or("-")))
        .field("frame", frames_of(g))
        .field(key, escape(secret.unwrap_or("-")))
}

/// Writes `title` and the rows that `split` leaves in the table, then a card (by
/// `card(row index, out)`) for each other row, saying why. Without a title (a further block
/// of the same list) only the table and the cards are written.
pub(crate) fn write_split(
    out: &mut String,
    title: Option<&str>,
    header: &[&str],
    rows: Vec<Vec<Cell>>,
    split: &Split,
    opts: &TableOptions,
    mut card: impl FnMut(usize, &mut String),
) {
    let width = opts.width.unwrap_or(0);
    if rows.is_empty() {
        if let Some(title) = title {
            let _ = writeln!(out, "{title}: none");
        }
    } else if split.none_in_table() {
        if let Some(title) = title {
            let _ = writeln!(
                out,
                "{title}: one card each (a table row would need {} columns, the width is {width})",
                split.needed
            );
        }
    } else {
        let mut t = new_table(opts, header);
        for (row, _) in rows
            .into_iter()
            .zip(&split.in_table)
            .filter(|(_, &keep)| keep)
        {
            t.add_row(row);
        }
        // When the headers do not fit whole: each column at least as wide as its values, so
        // that only headers wrap (comfy-table fixes a column at its lower boundary when the
        // space is short, so the boundaries are only set then).
        let bounds = if overflows(&t, opts) {
            &split.columns[..]
        } else {
            &[]
        };
        for (i, &w) in bounds.iter().enumerate() {
            if let Some(c) = t.column_mut(i) {
                let w = u16::try_from(w.max(1) + 2).unwrap_or(u16::MAX);
                c.set_constraint(ColumnConstraint::LowerBoundary(Width::Fixed(w)));
            }
        }
        if let Some(title) = title {
            let _ = writeln!(out, "{title}");
        }
        let _ = writeln!(out, "{t}");
        if !split.all_in_table() {
            let _ = writeln!(
                out,
                "Too wide for the table at {width} columns, one card each:"
            );
        }
    }
    for (i, _) in split.in_table.iter().enumerate().filter(|(_, &t)| !t) {
        card(i, out);
    }
}

/// The file name of a capture path.
fn capture_name(path: &str) -> &str {
    std::path::Path::new(path)
        .file_name()
        .map_or(path, |n| n.to_str().unwrap_or(path))
}

/// What happened in a session, in a few words.
fn session_summary(s: &Session, mechanisms: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    match &s.detail {
        ProtocolDetail::Smtp(d) => {
            if let Some(h) = &d.helo {
                parts.push(format!("EHLO {}", cell(h, 24)));
            }
            if !mechanisms.is_empty() {
                parts.push(format!("AUTH {mechanisms}"));
            }
            let sent = d
                .transactions
                .iter()
                .filter(|t| t.message.is_some())
                .count() as u64;
            let refused = d
                .transactions
                .iter()
                .filter(|t| t.message.is_some() && t.accepted == Some(false))
                .count();
            if sent > 0 {
                let mut m = plural(sent, "message", "messages");
                if refused > 0 {
                    let _ = write!(m, " ({refused} refused)");
                }
                parts.push(m);
            }
        }
        ProtocolDetail::Pop3(d) => {
            if !mechanisms.is_empty() {
                parts.push(mechanisms.to_string());
            }
            if let Some((n, o)) = d.stat {
                parts.push(format!("STAT {n} ({})", bytes_h(o)));
            }
            if !d.retrieved.is_empty() {
                parts.push(format!("RETR ×{}", d.retrieved.len()));
            }
            if !d.deleted.is_empty() {
                parts.push(format!("DELE ×{}", d.deleted.len()));
            }
        }
        ProtocolDetail::Imap(d) => {
            if !mechanisms.is_empty() {
                parts.push(mechanisms.to_string());
            }
            if d.compressed {
                parts.push("COMPRESS".to_string());
            }
            let mut boxes: Vec<&str> = Vec::new();
            for m in &d.mailboxes {
                if !boxes.contains(&m.name.as_str()) {
                    boxes.push(&m.name);
                }
            }
            if !boxes.is_empty() {
                parts.push(format!("SELECT {}", cell(&boxes.join(", "), 24)));
            }
        }
    }
    if parts.is_empty() {
        "-".to_string()
    } else {
        parts.join(", ")
    }
}

/// How a session ended, and whether anything is missing from it.
fn session_state(s: &Session) -> String {
    let mut state = if s.complete {
        "complete".to_string()
    } else if s.tls != Tls::None {
        // The end of the dialogue was inside TLS: not "cut", just unreadable.
        format!("{}, in TLS", escape(&s.close))
    } else {
        format!("cut ({})", escape(&s.close))
    };
    if s.gaps > 0 {
        let _ = write!(state, ", {}", plural(s.gaps, "gap", "gaps"));
    }
    state
}

/// The address of a mailbox (`Name <addr>` or `addr`), lower-cased, to compare the
/// envelope with the headers.
fn address(mailbox: &str) -> String {
    let m = mailbox.trim();
    let addr = match (m.rfind('<'), m.rfind('>')) {
        (Some(a), Some(b)) if a < b => &m[a + 1..b],
        _ => m,
    };
    addr.trim().to_lowercase()
}

/// The `From:` column: the header From (what the message says, for every protocol), and
/// under it the SMTP envelope sender (`MAIL FROM:<…>`) when that is another address.
fn from_cell(m: &Message, opts: &TableOptions) -> String {
    let header = m.headers.from.as_deref();
    let mut text = fit(header.unwrap_or("-"), 40, opts);
    if let Some(env) = &m.mail_from {
        if header.map(address) != Some(address(env)) {
            // A no-break space: the label stays on one line.
            let _ = write!(text, "\nMAIL\u{a0}FROM:<{}>", fit(env, 40, opts));
        }
    }
    text
}

/// The `To:` column: the header To, and under it the SMTP envelope recipients (`RCPT
/// TO:<…>`) when they are not the addresses of To and Cc (Bcc, a list, a forward).
fn to_cell(m: &Message, opts: &TableOptions) -> String {
    let header = m.headers.to.join(", ");
    let mut text = fit(if header.is_empty() { "-" } else { &header }, 40, opts);
    if let Some(rcpt) = &m.rcpt_to {
        let named: std::collections::BTreeSet<String> = m
            .headers
            .to
            .iter()
            .chain(&m.headers.cc)
            .map(|a| address(a))
            .collect();
        let envelope: std::collections::BTreeSet<String> =
            rcpt.iter().map(|a| address(a)).collect();
        if named != envelope {
            let list: Vec<String> = rcpt.iter().map(|r| format!("<{r}>")).collect();
            let _ = write!(text, "\nRCPT\u{a0}TO:{}", fit(&list.join(", "), 40, opts));
        }
    }
    text
}

/// A row of the messages table, and the widest lines of its sender and recipients.
struct MessageRow {
    cells: Vec<Cell>,
    from_width: usize,
    to_width: usize,
}

fn message_row(m: &Message, opts: &TableOptions) -> MessageRow {
    let dir = match (m.direction, m.partial) {
        (_, true) if m.imap_section.is_some() => "partial",
        (_, true) => "TOP",
        (crate::model::MessageDirection::Sent, _) => "sent",
        (crate::model::MessageDirection::Retrieved, _) => "retrieved",
        (crate::model::MessageDirection::Appended, _) => "appended",
    };
    let mut size = bytes_h(m.size);
    if !m.complete {
        size.push_str(" (cut)");
    }
    let atts = if m.attachments.is_empty() {
        "-".to_string()
    } else {
        let names: Vec<String> = m
            .attachments
            .iter()
            .map(|a| fit(a.filename.as_deref().unwrap_or("(unnamed)"), 24, opts))
            .collect();
        fit(&names.join(", "), 32, opts)
    };
    let widest = |s: &str| s.lines().map(width_of).max().unwrap_or(0);
    let (from, to) = (from_cell(m, opts), to_cell(m, opts));
    // The recipients may wrap between addresses, not inside one nor inside the envelope.
    let to_width = to
        .lines()
        .flat_map(|l| {
            if l.starts_with("RCPT") {
                vec![width_of(l)]
            } else {
                l.split_inclusive(", ")
                    .map(|a| width_of(a.trim_end()))
                    .collect()
            }
        })
        .max()
        .unwrap_or(0);
    let from_width = widest(&from);
    let cells = vec![
        Cell::new(&m.id),
        Cell::new(dir),
        Cell::new(from),
        Cell::new(to),
        Cell::new(fit(m.headers.subject.as_deref().unwrap_or("-"), 36, opts)),
        right(size),
        Cell::new(atts),
    ];
    MessageRow {
        cells,
        from_width,
        to_width,
    }
}

/// Renders a whole report (every row): the convenience for a report collected in memory.
pub fn render(report: &Report, opts: &TableOptions) -> String {
    let mut sink = TableSink::with_limit(None);
    sink.several_captures(report.captures.len() > 1);
    feed(&mut sink, report);
    sink.render(opts)
}

/// Feeds a collected report to a sink, session by session.
pub fn feed<S: Sink>(sink: &mut S, report: &Report) {
    let mut creds: HashMap<&str, Vec<Credential>> = HashMap::new();
    for c in &report.credentials {
        creds.entry(c.session.as_str()).or_default().push(c.clone());
    }
    let mut msgs: HashMap<&str, Vec<Message>> = HashMap::new();
    for m in &report.messages {
        msgs.entry(m.session.as_str()).or_default().push(m.clone());
    }
    for s in &report.sessions {
        let _ = sink.session(SessionRecord {
            session: s.clone(),
            credentials: creds.remove(s.id.as_str()).unwrap_or_default(),
            messages: msgs.remove(s.id.as_str()).unwrap_or_default(),
        });
    }
    for c in &report.captures {
        let _ = sink.capture(c);
    }
}
