//! The terminal report, read top to bottom: an overview (captures, time span, sessions by
//! protocol, warnings), then sessions, credentials, messages and findings as tables that
//! fit the width. Long values are cut visibly (`…`); the JSON document has them whole.
//! Every string that comes from a capture goes through `text::escape` / `text::cell`.

use crate::model::{Message, Protocol, ProtocolDetail, Report, Session, Tls, Ts};
use crate::text::{cell, escape};
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{
    Cell, CellAlignment, Color, ColumnConstraint, ContentArrangement, Row, Table, Width,
};
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

/// A right-aligned cell (numbers).
pub(crate) fn right(s: impl ToString) -> Cell {
    Cell::new(s.to_string()).set_alignment(CellAlignment::Right)
}

fn colored(s: impl ToString, color: Color, opts: &TableOptions) -> Cell {
    let c = Cell::new(s.to_string());
    if opts.color {
        c.fg(color)
    } else {
        c
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
    } else {
        format!(
            "{}h {:02}m",
            (secs / 3600.0) as u64,
            ((secs % 3600.0) / 60.0) as u64
        )
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The overview: what was read and what was found, as aligned "key  value" lines.
fn overview(report: &Report, out: &mut String) {
    let mut rows: Vec<(&str, String)> = Vec::new();
    for c in &report.captures {
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
                plural(c.packets as usize, "packet", "packets"),
                bytes_h(c.bytes)
            ),
        ));
    }
    let first = report.captures.iter().filter_map(|c| c.first).min();
    let last = report.captures.iter().filter_map(|c| c.last).max();
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
    // One count per protocol; SMTP and POP3 always (the line reads the same as before
    // IMAP existed), later protocols when present.
    let counts: Vec<String> = Protocol::ALL
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (
                i,
                p,
                report.sessions.iter().filter(|s| s.protocol == *p).count(),
            )
        })
        .filter(|&(i, _, n)| i < 2 || n > 0)
        .map(|(_, p, n)| format!("{n} {}", p.name().to_uppercase()))
        .collect();
    let tls = report
        .sessions
        .iter()
        .filter(|s| s.tls != Tls::None)
        .count();
    let mut sessions = counts.join(", ");
    if tls > 0 {
        let _ = write!(sessions, " ({tls} with TLS)");
    }
    rows.push(("mail sessions", sessions));
    let accepted = report
        .credentials
        .iter()
        .filter(|c| c.success == Some(true))
        .count();
    rows.push((
        "credentials",
        format!("{} ({accepted} accepted)", report.credentials.len()),
    ));
    rows.push(("messages", report.messages.len().to_string()));
    let findings: usize = report.sessions.iter().map(|s| s.findings.len()).sum();
    rows.push(("findings", findings.to_string()));
    let warnings: usize = report.captures.iter().map(|c| c.warnings.len()).sum();
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

/// What happened in a session, in a few words.
fn session_summary(s: &Session, report: &Report) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut mechanisms: Vec<&str> = Vec::new();
    for c in report.credentials.iter().filter(|c| c.session == s.id) {
        if !mechanisms.contains(&c.mechanism.as_str()) {
            mechanisms.push(&c.mechanism);
        }
    }
    let mechanisms = cell(&mechanisms.join(", "), 24);
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
                .count();
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
                parts.push(mechanisms);
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
                parts.push(mechanisms);
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
            let fetched = report.messages.iter().filter(|m| m.session == s.id).count();
            if fetched > 0 {
                parts.push(plural(fetched, "message", "messages"));
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
        let _ = write!(state, ", {}", plural(s.gaps as usize, "gap", "gaps"));
    }
    state
}

/// Start times to the second; without the date when the whole report is one day (the
/// overview gives it).
fn start_time(t: Ts, report: &Report) -> String {
    let day = |t: Ts| datetime(t).get(..10).map(str::to_string);
    let first = report.captures.iter().filter_map(|c| c.first).min();
    let last = report.captures.iter().filter_map(|c| c.last).max();
    match (first, last) {
        (Some(f), Some(l)) if day(f) == day(l) => clock(t),
        _ => datetime(t),
    }
}

fn sessions_table(report: &Report, opts: &TableOptions, out: &mut String) {
    let mut t = new_table(
        opts,
        &[
            "id",
            "proto",
            "client → server",
            "start",
            "TLS",
            "activity",
            "state",
        ],
    );
    let ep_width = report
        .sessions
        .iter()
        .map(|s| {
            s.client
                .to_string()
                .len()
                .max(s.server.to_string().len() + 2)
        })
        .max()
        .unwrap_or(0);
    keep_width(&mut t, 2, ep_width);
    for s in &report.sessions {
        let tls = match s.tls {
            Tls::None if s.starttls_offered => colored("none (offered)", Color::Yellow, opts),
            Tls::None => Cell::new("none"),
            Tls::Starttls => Cell::new("STARTTLS"),
            Tls::Implicit => Cell::new("implicit"),
        };
        add(
            &mut t,
            vec![
                Cell::new(&s.id),
                Cell::new(s.protocol.name().to_uppercase()),
                Cell::new(format!("{}\n→ {}", s.client, s.server)),
                Cell::new(start_time(s.start, report)),
                tls,
                Cell::new(session_summary(s, report)),
                Cell::new(session_state(s)),
            ],
            3,
        );
    }
    let _ = writeln!(out, "Sessions\n{t}\n");
}

fn credentials_table(report: &Report, opts: &TableOptions, out: &mut String) {
    // Narrow: without the server (the session table has it).
    let dropped: &[usize] = if narrow(opts) { &[1] } else { &[] };
    let mut t = new_table(
        opts,
        &without(
            vec![
                "session",
                "server",
                "mechanism",
                "username",
                "secret",
                "result",
                "frame",
            ],
            dropped,
        ),
    );
    if dropped.is_empty() {
        let server_width = report
            .credentials
            .iter()
            .map(|c| c.server.to_string().len())
            .max()
            .unwrap_or(0);
        keep_width(&mut t, 1, server_width);
    }
    for c in &report.credentials {
        let secret = c
            .password
            .as_deref()
            .or(c.token.as_deref())
            .or(c.hash.as_deref())
            .unwrap_or("-");
        let result = match c.success {
            Some(true) => colored("accepted", Color::Green, opts),
            Some(false) => colored("rejected", Color::Red, opts),
            None => colored("no reply", Color::Yellow, opts),
        };
        let row = vec![
            Cell::new(&c.session),
            Cell::new(c.server.to_string()),
            Cell::new(cell(&c.mechanism, 16)),
            Cell::new(cell(c.username.as_deref().unwrap_or("-"), 32)),
            Cell::new(cell(secret, 40)),
            result,
            right(c.frame),
        ];
        add(&mut t, without(row, dropped), 2);
    }
    let _ = writeln!(out, "Credentials\n{t}\n");
}

fn message_row(m: &Message) -> Vec<Cell> {
    let from = m
        .mail_from
        .as_deref()
        .or(m.headers.from.as_deref())
        .unwrap_or("-");
    let from = if from.is_empty() { "<>" } else { from };
    let to = match &m.rcpt_to {
        Some(r) => r.join(", "),
        None => m.headers.to.join(", "),
    };
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
            .map(|a| cell(a.filename.as_deref().unwrap_or("(unnamed)"), 24))
            .collect();
        cell(&names.join(", "), 32)
    };
    vec![
        Cell::new(&m.id),
        Cell::new(dir),
        Cell::new(cell(from, 28)),
        Cell::new(cell(if to.is_empty() { "-" } else { &to }, 28)),
        Cell::new(cell(m.headers.subject.as_deref().unwrap_or("-"), 36)),
        right(size),
        Cell::new(atts),
    ]
}

fn messages_table(report: &Report, opts: &TableOptions, out: &mut String) {
    // Narrow: without the direction (the protocol tells) and the recipients.
    let dropped: &[usize] = if narrow(opts) { &[1, 3] } else { &[] };
    let mut t = new_table(
        opts,
        &without(
            vec!["id", "dir", "from", "to", "subject", "size", "attachments"],
            dropped,
        ),
    );
    for m in &report.messages {
        add(&mut t, without(message_row(m), dropped), 2);
    }
    let _ = writeln!(out, "Messages\n{t}\n");
}

fn findings_table(report: &Report, opts: &TableOptions, out: &mut String) {
    let mut t = new_table(opts, &["session", "finding", "detail"]);
    let mut any = false;
    for s in &report.sessions {
        for f in &s.findings {
            any = true;
            let color = if f.code.starts_with("cleartext") {
                Color::Red
            } else {
                Color::Yellow
            };
            add(
                &mut t,
                vec![
                    Cell::new(&s.id),
                    colored(cell(&f.code, 32), color, opts),
                    Cell::new(cell(&f.detail, 100)),
                ],
                2,
            );
        }
    }
    if any {
        let _ = writeln!(out, "Findings\n{t}\n");
    }
}

fn warnings_list(report: &Report, out: &mut String) {
    let mut any = false;
    for c in &report.captures {
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

/// Renders the whole analyze report.
pub fn render(report: &Report, opts: &TableOptions) -> String {
    let mut out = String::new();
    overview(report, &mut out);
    if report.sessions.is_empty() {
        out.push_str("No SMTP or POP3 session was found.\n\n");
    } else {
        sessions_table(report, opts, &mut out);
    }
    if !report.credentials.is_empty() {
        credentials_table(report, opts, &mut out);
    }
    if !report.messages.is_empty() {
        messages_table(report, opts, &mut out);
    }
    findings_table(report, opts, &mut out);
    warnings_list(report, &mut out);
    // One trailing newline.
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}
