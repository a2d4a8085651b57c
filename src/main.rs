//! The command line: parses arguments, runs the library, renders, sets the exit status.

use clap::{Args, Parser, Subcommand, ValueEnum};
use pcapmail::analysis::{self, Config};
use pcapmail::report::{json, table};
use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

/// Reads packet captures (pcap, pcapng, gzip; Ethernet, Linux cooked SLL/SLL2, raw IP...)
/// and reports the SMTP and POP3 traffic in them: sessions, credentials, messages.
#[derive(Parser)]
#[command(name = "pcapmail", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Report sessions, credentials and messages (a table on a terminal, or JSON).
    Analyze {
        #[command(flatten)]
        input: Input,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
    Jsonl,
}

#[derive(Args)]
struct Input {
    /// Capture files (pcap or pcapng, optionally gzip-compressed); `-` reads standard input.
    #[arg(required = true, value_name = "CAPTURE")]
    captures: Vec<PathBuf>,
    /// SMTP ports (comma separated).
    #[arg(long, value_delimiter = ',', default_value = "25,587,2525")]
    smtp_ports: Vec<u16>,
    /// POP3 ports (comma separated).
    #[arg(long, value_delimiter = ',', default_value = "110")]
    pop3_ports: Vec<u16>,
    /// Do not recognise SMTP/POP3 by content on other ports.
    #[arg(long)]
    no_detect: bool,
    /// Do not print warnings on standard error.
    #[arg(short, long)]
    quiet: bool,
    #[command(flatten)]
    limits: Limits,
}

/// Resource bounds against hostile captures. Every hit is counted in the capture's
/// counters (JSON `captures[].counters`); unset options keep the library defaults.
#[derive(Args)]
#[command(next_help_heading = "Limits")]
struct Limits {
    /// Connections tracked at once (live and recently closed); the least recently active
    /// is evicted first (about 2.2 KB each) [default: 250000; counter flow.evicted].
    #[arg(long, value_name = "N")]
    max_connections: Option<usize>,
    /// Out-of-order bytes buffered per connection direction before a hole is given up
    /// as a gap [default: 4194304; counter flow.direction_limit_hits].
    #[arg(long, value_name = "BYTES")]
    max_buffer: Option<usize>,
    /// Out-of-order bytes buffered over all connections [default: 268435456;
    /// counter flow.global_limit_hits].
    #[arg(long, value_name = "BYTES")]
    max_buffer_total: Option<usize>,
    /// Bytes of one message kept in memory for MIME decoding; a larger message is hashed
    /// without keeping it [default: 67108864; counter message.limit.data].
    #[arg(long, value_name = "BYTES")]
    max_message_memory: Option<usize>,
    /// Bytes of one protocol line buffered; longer lines are handled in pieces
    /// [default: 65536; counters smtp.limit.line, smtp.line_too_long].
    #[arg(long, value_name = "BYTES")]
    max_line: Option<usize>,
    /// Commands listed per session [default: 10000 SMTP, 20000 POP3;
    /// counters smtp.limit.commands, pop3.limit.command].
    #[arg(long, value_name = "N")]
    max_commands: Option<usize>,
    /// Recipients listed per SMTP transaction [default: 1000; counter smtp.limit.rcpt_to].
    #[arg(long, value_name = "N")]
    max_recipients: Option<usize>,
    /// MIME containers (multipart bodies, embedded messages) per message, a bound on
    /// nesting depth; beyond, only the top-level headers are decoded [default: 64;
    /// counter mime.limit.depth].
    #[arg(long, value_name = "N")]
    max_mime_depth: Option<usize>,
    /// MIME boundary delimiter lines per message; beyond, only the top-level headers are
    /// decoded [default: 10000; counter mime.limit.parts].
    #[arg(long, value_name = "N")]
    max_mime_parts: Option<usize>,
    /// Bytes held by IP fragments awaiting reassembly [default: 16777216;
    /// counter decode.fragment_limit_drops].
    #[arg(long, value_name = "BYTES")]
    max_fragment_bytes: Option<usize>,
}

impl Limits {
    fn apply(&self, c: &mut Config) {
        if let Some(n) = self.max_connections {
            c.flow.max_connections = n;
        }
        if let Some(n) = self.max_buffer {
            c.flow.max_buffer_per_direction = n;
        }
        if let Some(n) = self.max_buffer_total {
            c.flow.max_buffer_total = n;
        }
        if let Some(n) = self.max_fragment_bytes {
            c.decode.max_fragment_bytes = n;
        }
        for m in [&mut c.smtp.message, &mut c.pop3.message] {
            if let Some(n) = self.max_message_memory {
                m.keep_bytes = n;
            }
            if let Some(n) = self.max_mime_depth {
                m.mime.max_depth = n;
            }
            if let Some(n) = self.max_mime_parts {
                m.mime.max_parts = n;
            }
        }
        if let Some(n) = self.max_line {
            c.smtp.limits.max_line = n;
            c.pop3.limits.max_line = n;
        }
        if let Some(n) = self.max_commands {
            c.smtp.limits.max_commands = n;
            c.pop3.limits.max_commands = n;
        }
        if let Some(n) = self.max_recipients {
            c.smtp.limits.max_recipients = n;
        }
    }
}

impl Input {
    fn config(&self) -> Config {
        let mut c = Config {
            smtp_ports: self.smtp_ports.clone(),
            pop3_ports: self.pop3_ports.clone(),
            detect: !self.no_detect,
            ..Config::default()
        };
        self.limits.apply(&mut c);
        c
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pcapmail: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> io::Result<ExitCode> {
    match cli.command {
        Command::Analyze { input, format } => {
            let mut cfg = input.config();
            // Ctrl-C: stop reading, report what was read (a second Ctrl-C exits at once).
            let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let handler_flag = flag.clone();
            let _ = ctrlc::set_handler(move || {
                if handler_flag.swap(true, std::sync::atomic::Ordering::SeqCst) {
                    std::process::exit(130);
                }
            });
            cfg.interrupt = Some(flag.clone());
            let paths: Vec<&std::path::Path> = input.captures.iter().map(|p| p.as_path()).collect();
            let (report, failures) = analysis::analyze(&paths, &cfg);
            for f in &failures {
                eprintln!("pcapmail: {}: {}", f.path, f.error);
            }
            if !input.quiet {
                for c in &report.captures {
                    for w in &c.warnings {
                        let at = w
                            .offset
                            .map(|o| format!(" at offset {o}"))
                            .unwrap_or_default();
                        eprintln!(
                            "pcapmail: warning: {}{}: {}",
                            pcapmail::text::escape(&c.path),
                            at,
                            pcapmail::text::escape(&w.message)
                        );
                    }
                }
            }
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            match format {
                Format::Json => json::write_document(&mut out, &report)?,
                Format::Jsonl => json::write_lines(&mut out, &report)?,
                Format::Table => {
                    let width = None;
                    out.write_all(
                        table::render(&report, &table::TableOptions { width }).as_bytes(),
                    )?
                }
            }
            out.flush()?;
            Ok(if flag.load(std::sync::atomic::Ordering::SeqCst) {
                ExitCode::from(130)
            } else if failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
