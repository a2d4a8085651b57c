//! The terminal report: an overview, then sessions, credentials and messages as tables.

use crate::analysis::span;
use crate::model::{ProtocolDetail, Report, Session, Tls};
use crate::text::{cell, escape};
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{Cell, CellAlignment, ContentArrangement, Table};
use std::fmt::Write as _;

/// Rendering options.
#[derive(Debug, Clone, Copy)]
pub struct TableOptions {
    /// Total width in columns; None = the terminal's, or unbounded when not a terminal.
    pub width: Option<u16>,
}

fn new_table(opts: &TableOptions, header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.iter().map(Cell::new));
    if let Some(w) = opts.width {
        t.set_width(w);
    }
    t
}

fn right(s: impl ToString) -> Cell {
    Cell::new(s.to_string()).set_alignment(CellAlignment::Right)
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

fn time_of(s: &str) -> String {
    // "2026-11-25T12:57:35.123456Z" -> "2026-11-25 12:57:35"
    s.get(..19).unwrap_or(s).replacen('T', " ", 1)
}

fn tls_name(t: Tls) -> &'static str {
    match t {
        Tls::None => "none",
        Tls::Starttls => "STARTTLS",
        Tls::Implicit => "implicit",
    }
}

fn session_summary(s: &Session) -> String {
    match &s.detail {
        ProtocolDetail::Smtp(d) => {
            let helo = d.helo.as_deref().unwrap_or("-");
            format!("EHLO {}; {} txn", helo, d.transactions.len())
        }
        ProtocolDetail::Pop3(d) => format!(
            "RETR {}; DELE {}{}",
            d.retrieved.len(),
            d.deleted.len(),
            d.stat
                .map(|(n, o)| format!("; STAT {n}/{o}"))
                .unwrap_or_default()
        ),
    }
}

/// Renders the whole analyze report.
pub fn render(report: &Report, opts: &TableOptions) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Captures");
    let mut t = new_table(
        opts,
        &[
            "file",
            "format",
            "link types",
            "packets",
            "bytes",
            "first packet",
            "span",
            "warnings",
        ],
    );
    for c in &report.captures {
        let fmt = if c.gzip {
            format!("{} (gzip)", c.format)
        } else {
            c.format.clone()
        };
        t.add_row(vec![
            Cell::new(cell(&c.path, 60)),
            Cell::new(fmt),
            Cell::new(c.link_types.join(", ")),
            right(c.packets),
            right(bytes_h(c.bytes)),
            Cell::new(c.first.map(|t| time_of(&t.rfc3339())).unwrap_or("-".into())),
            right(
                span(c.first, c.last)
                    .map(|d| format!("{d:.3} s"))
                    .unwrap_or("-".into()),
            ),
            right(c.warnings.len()),
        ]);
    }
    let _ = writeln!(out, "{t}");
    let smtp = report
        .sessions
        .iter()
        .filter(|s| s.protocol == crate::model::Protocol::Smtp)
        .count();
    let pop3 = report.sessions.len() - smtp;
    let accepted = report
        .credentials
        .iter()
        .filter(|c| c.success == Some(true))
        .count();
    let _ = writeln!(
        out,
        "{} mail sessions ({} SMTP, {} POP3), {} credentials ({} accepted), {} messages\n",
        report.sessions.len(),
        smtp,
        pop3,
        report.credentials.len(),
        accepted,
        report.messages.len()
    );

    if !report.sessions.is_empty() {
        let _ = writeln!(out, "Sessions");
        let mut t = new_table(
            opts,
            &[
                "id",
                "proto",
                "client",
                "server",
                "start",
                "TLS",
                "banner",
                "summary",
                "bytes c→s / s→c",
                "gaps",
                "end",
            ],
        );
        for s in &report.sessions {
            t.add_row(vec![
                Cell::new(&s.id),
                Cell::new(s.protocol.name()),
                Cell::new(s.client.to_string()),
                Cell::new(s.server.to_string()),
                Cell::new(time_of(&s.start.rfc3339())),
                Cell::new(tls_name(s.tls)),
                Cell::new(cell(s.banner.as_deref().unwrap_or("-"), 40)),
                Cell::new(cell(&session_summary(s), 40)),
                right(format!(
                    "{} / {}",
                    bytes_h(s.bytes_client),
                    bytes_h(s.bytes_server)
                )),
                right(s.gaps),
                Cell::new(if s.complete {
                    s.close.clone()
                } else {
                    format!("{} (incomplete)", s.close)
                }),
            ]);
        }
        let _ = writeln!(out, "{t}\n");
    }

    if !report.credentials.is_empty() {
        let _ = writeln!(out, "Credentials");
        let mut t = new_table(
            opts,
            &[
                "session",
                "proto",
                "server",
                "mechanism",
                "username",
                "password / hash",
                "result",
                "frame",
            ],
        );
        for c in &report.credentials {
            let secret = c
                .password
                .as_deref()
                .or(c.token.as_deref())
                .or(c.hash.as_deref())
                .unwrap_or("-");
            let result = match c.success {
                Some(true) => "accepted",
                Some(false) => "rejected",
                None => "no reply",
            };
            t.add_row(vec![
                Cell::new(&c.session),
                Cell::new(c.protocol.name()),
                Cell::new(c.server.to_string()),
                Cell::new(&c.mechanism),
                Cell::new(cell(c.username.as_deref().unwrap_or("-"), 40)),
                Cell::new(cell(secret, 48)),
                Cell::new(result),
                right(c.frame),
            ]);
        }
        let _ = writeln!(out, "{t}\n");
    }

    if !report.messages.is_empty() {
        let _ = writeln!(out, "Messages");
        let mut t = new_table(
            opts,
            &[
                "id",
                "dir",
                "from",
                "to",
                "subject",
                "size",
                "attachments",
                "complete",
                "sha256",
            ],
        );
        for m in &report.messages {
            let from = m
                .mail_from
                .clone()
                .or_else(|| m.headers.from.clone())
                .unwrap_or_default();
            let to = match &m.rcpt_to {
                Some(r) => r.join(", "),
                None => m.headers.to.join(", "),
            };
            let dir = if m.partial {
                format!("{:?} (TOP)", m.direction).to_lowercase()
            } else {
                format!("{:?}", m.direction).to_lowercase()
            };
            let atts = m
                .attachments
                .iter()
                .map(|a| a.filename.as_deref().unwrap_or("(unnamed)"))
                .collect::<Vec<_>>()
                .join(", ");
            t.add_row(vec![
                Cell::new(&m.id),
                Cell::new(dir),
                Cell::new(cell(&from, 32)),
                Cell::new(cell(&to, 32)),
                Cell::new(cell(m.headers.subject.as_deref().unwrap_or("-"), 40)),
                right(bytes_h(m.size)),
                Cell::new(cell(&atts, 32)),
                Cell::new(if m.complete { "yes" } else { "no" }),
                Cell::new(m.sha256.get(..16).unwrap_or("")),
            ]);
        }
        let _ = writeln!(out, "{t}\n");
    }

    let findings: Vec<_> = report
        .sessions
        .iter()
        .flat_map(|s| s.findings.iter().map(move |f| (s, f)))
        .collect();
    if !findings.is_empty() {
        let _ = writeln!(out, "Findings");
        for (s, f) in findings {
            let _ = writeln!(
                out,
                "  {} {} {}: {}",
                s.id,
                s.server,
                f.code,
                escape(&f.detail)
            );
        }
        let _ = writeln!(out);
    }
    let warnings: Vec<_> = report
        .captures
        .iter()
        .flat_map(|c| c.warnings.iter().map(move |w| (c, w)))
        .collect();
    if !warnings.is_empty() {
        let _ = writeln!(out, "Warnings");
        for (c, w) in warnings {
            let at = w
                .offset
                .map(|o| format!(" at offset {o}"))
                .unwrap_or_default();
            let _ = writeln!(out, "  {}{}: {}", escape(&c.path), at, escape(&w.message));
        }
    }
    out
}
