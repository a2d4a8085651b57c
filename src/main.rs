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
    /// Worker threads (default: the available cores). Several files are read in
    /// parallel; a single file is split by connection. The output does not depend on it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
}

impl Input {
    fn config(&self) -> Config {
        Config {
            smtp_ports: self.smtp_ports.clone(),
            pop3_ports: self.pop3_ports.clone(),
            detect: !self.no_detect,
            threads: self
                .threads
                .map(usize::from)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            ..Config::default()
        }
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
            // The document does not carry message bytes: do not keep them.
            let cfg = Config {
                keep_data: false,
                ..input.config()
            };
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
            Ok(if failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}
