//! The command line: parses arguments, runs the library, renders, sets the exit status.

use clap::{Args, Parser, Subcommand, ValueEnum};
use pcapmail::analysis::{self, Config};
use pcapmail::model::Report;
use pcapmail::report::{creds, extract, json, table};
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
        /// Mask passwords, tokens, hashes and secret-bearing command arguments.
        #[arg(long)]
        redact: bool,
    },
    /// Credential audit: every credential, a summary, findings per server, hashcat lines.
    Creds(CredsArgs),
    /// Write every message as an .eml file, attachments into folders, and index.json.
    Extract(ExtractArgs),
}

#[derive(Args)]
struct CredsArgs {
    #[command(flatten)]
    input: Input,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CredsFormat::Table)]
    format: CredsFormat,
    /// Also write the crackable lines (CRAM-MD5: hashcat mode 10200, APOP: mode 20) to FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "redact")]
    hashcat: Option<PathBuf>,
    /// Mask passwords, tokens and hashes (first and last character kept, or `***`).
    #[arg(long)]
    redact: bool,
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
enum CredsFormat {
    Table,
    Json,
    Jsonl,
    Csv,
}

#[derive(Args)]
struct ExtractArgs {
    #[command(flatten)]
    input: Input,
    /// Output directory (created when missing).
    #[arg(short, long, value_name = "DIR")]
    output: PathBuf,
    /// Overwrite files of an earlier run in DIR (symlinks are replaced, never followed).
    #[arg(long)]
    force: bool,
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
}

impl Input {
    fn config(&self) -> Config {
        Config {
            smtp_ports: self.smtp_ports.clone(),
            pop3_ports: self.pop3_ports.clone(),
            detect: !self.no_detect,
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
        Command::Creds(args) => run_creds(args),
        Command::Extract(args) => run_extract(args),
        Command::Analyze {
            input,
            format,
            redact,
        } => {
            let cfg = input.config();
            let paths: Vec<&std::path::Path> = input.captures.iter().map(|p| p.as_path()).collect();
            let (mut report, failures) = analysis::analyze(&paths, &cfg);
            if redact {
                pcapmail::redact::redact(&mut report);
            }
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

/// Reads the captures of `input`; prints failures and (unless `-q`) capture warnings.
fn load(input: &Input) -> (Report, Vec<analysis::Failure>) {
    let cfg = input.config();
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
    (report, failures)
}

fn status(failures: &[analysis::Failure]) -> ExitCode {
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn run_creds(args: CredsArgs) -> io::Result<ExitCode> {
    let (mut report, failures) = load(&args.input);
    if let Some(path) = &args.hashcat {
        let mut text = String::new();
        for line in creds::hashcat_lines(&report) {
            text.push_str(line);
            text.push('\n');
        }
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let written = opts
            .open(path)
            .and_then(|mut f| f.write_all(text.as_bytes()));
        if let Err(e) = written {
            eprintln!("pcapmail: {}: {e}", path.display());
            return Ok(ExitCode::from(1));
        }
    }
    if args.redact {
        pcapmail::redact::redact(&mut report);
    }
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match args.format {
        CredsFormat::Table => out.write_all(creds::render_table(&report, None).as_bytes())?,
        CredsFormat::Json => creds::write_json(&mut out, &report)?,
        CredsFormat::Jsonl => creds::write_jsonl(&mut out, &report)?,
        CredsFormat::Csv => creds::write_csv(&mut out, &report)?,
    }
    out.flush()?;
    Ok(status(&failures))
}

fn run_extract(args: ExtractArgs) -> io::Result<ExitCode> {
    let (report, failures) = load(&args.input);
    if report.captures.is_empty() {
        return Ok(status(&failures));
    }
    let opts = extract::ExtractOptions { force: args.force };
    match extract::extract(&report, &args.output, &opts) {
        Ok(outcome) => {
            if !args.input.quiet {
                for w in &outcome.warnings {
                    eprintln!("pcapmail: warning: {w}");
                }
            }
            let dir = pcapmail::text::escape(&args.output.display().to_string()).into_owned();
            println!(
                "{} messages and {} attachments written to {dir} (index: {})",
                outcome.messages_written,
                outcome.attachments_written,
                extract::INDEX_NAME
            );
            Ok(status(&failures))
        }
        Err(e @ extract::ExtractError::Exists(_)) => {
            eprintln!("pcapmail: {}", pcapmail::text::escape(&e.to_string()));
            Ok(ExitCode::from(2))
        }
        Err(e) => {
            eprintln!("pcapmail: {}", pcapmail::text::escape(&e.to_string()));
            Ok(ExitCode::from(1))
        }
    }
}
