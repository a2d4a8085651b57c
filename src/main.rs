//! The command line: parses arguments, runs the library, renders, sets the exit status.

use clap::{Args, Parser, Subcommand, ValueEnum};
use pcapmail::analysis::{self, Config};
use pcapmail::model::Report;
use pcapmail::report::{creds, extract, json, table, transcript};
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

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
    /// Show the reassembled dialogue of sessions, client and server lines marked.
    Transcript(TranscriptArgs),
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

#[derive(Args)]
struct TranscriptArgs {
    #[command(flatten)]
    input: Input,
    /// Only this session (an id from `analyze`, e.g. s2); may be repeated.
    #[arg(long = "session", value_name = "ID")]
    sessions: Vec<String>,
    /// Show message contents instead of a one-line summary.
    #[arg(long)]
    full: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TranscriptFormat::Text)]
    format: TranscriptFormat,
    /// Mask passwords, tokens, hashes and the lines that carry them.
    #[arg(long)]
    redact: bool,
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
enum TranscriptFormat {
    Text,
    Json,
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
    #[command(flatten)]
    limits: Limits,
}

/// Resource bounds against hostile captures. Every hit is counted in the capture's
/// counters (JSON `captures[].counters`); unset options keep the library defaults.
#[derive(Args)]
#[command(next_help_heading = "Limits")]
struct Limits {
    /// Connections tracked at once (live and recently closed); the least recently active
    /// is evicted first (about 0.9 KB each) [default: 250000; counter flow.evicted].
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
            threads: self
                .threads
                .map(usize::from)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
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
        Command::Creds(args) => run_creds(args),
        Command::Extract(args) => run_extract(args),
        Command::Analyze {
            input,
            format,
            redact,
        } => {
            // The document does not carry message bytes: do not keep them.
            let (mut report, failures) = load(
                &input,
                Keep {
                    data: false,
                    dialogue: false,
                },
            );
            if redact {
                pcapmail::redact::redact(&mut report);
            }
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            match format {
                Format::Json => json::write_document(&mut out, &report)?,
                Format::Jsonl => json::write_lines(&mut out, &report)?,
                Format::Table => {
                    out.write_all(table::render(&report, &table_options()).as_bytes())?
                }
            }
            out.flush()?;
            Ok(exit_code(&failures))
        }
        Command::Transcript(args) => run_transcript(args),
    }
}

// ----- transcript ------------------------------------------------------------------------

fn run_transcript(args: TranscriptArgs) -> io::Result<ExitCode> {
    // Message bytes are shown only with --full.
    let (mut report, failures) = load(
        &args.input,
        Keep {
            data: args.full,
            dialogue: true,
        },
    );
    if args.redact {
        pcapmail::redact::redact(&mut report);
    }
    let sessions = match transcript::select(&report, &args.sessions) {
        Ok(s) => s,
        Err(unknown) => {
            let known: Vec<&str> = report.sessions.iter().map(|s| s.id.as_str()).collect();
            let known = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            };
            eprintln!(
                "pcapmail: no session {} in these captures (sessions: {known}; `pcapmail analyze` lists them)",
                unknown.join(", ")
            );
            return Ok(ExitCode::from(2));
        }
    };
    let opts = transcript::TranscriptOptions { full: args.full };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    match args.format {
        TranscriptFormat::Text => {
            out.write_all(transcript::render_text(&report, &sessions, &opts).as_bytes())?
        }
        TranscriptFormat::Json => transcript::write_json(&mut out, &report, &sessions, &opts)?,
    }
    out.flush()?;
    Ok(exit_code(&failures))
}

// ----- shared by the subcommands: running the analysis, progress, problems ---------------

/// Runs the analysis of `input` with a progress bar on a terminal, and tells on standard
/// error what went wrong (unreadable captures, warnings, no mail found).
/// What a subcommand needs kept beyond the records: message bytes, transcripts.
#[derive(Clone, Copy)]
struct Keep {
    data: bool,
    dialogue: bool,
}

fn load(input: &Input, keep: Keep) -> (Report, Vec<analysis::Failure>) {
    let cfg = Config {
        keep_data: keep.data,
        keep_dialogue: keep.dialogue,
        interrupt: Some(interrupt_flag().clone()),
        ..input.config()
    };
    let paths: Vec<&std::path::Path> = input.captures.iter().map(|p| p.as_path()).collect();
    let progress = Progress::new(&paths, !input.quiet && io::stderr().is_terminal());
    let (report, failures) =
        analysis::analyze_with_progress(&paths, &cfg, &|i, b| progress.update(i, b));
    progress.finish();
    for f in &failures {
        eprintln!("pcapmail: {}", describe_failure(f));
    }
    if !input.quiet {
        print_warnings(&report);
        print_nothing_found(&report, &cfg);
    }
    (report, failures)
}

/// Ctrl-C: the first stops reading and lets the report of what was read be written (with
/// an "interrupted" warning, exit status 130); a second one exits at once.
fn interrupt_flag() -> &'static Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let seen = flag.clone();
        let _ = ctrlc::set_handler(move || {
            if seen.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
        flag
    })
}

fn exit_code(failures: &[analysis::Failure]) -> ExitCode {
    if interrupt_flag().load(Ordering::SeqCst) {
        ExitCode::from(130)
    } else if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Colour only on a terminal and without NO_COLOR; the terminal's width when there is one.
fn table_options() -> table::TableOptions {
    let tty = io::stdout().is_terminal();
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    table::TableOptions {
        width: if tty {
            comfy_table::Table::new().width()
        } else {
            None
        },
        color: tty && !no_color,
    }
}

/// A progress bar on standard error, drawn only once a run has taken a moment (so short
/// runs print nothing): bytes read of the total with rate and ETA when every input is a
/// plain file, bytes read and rate otherwise (standard input, gzip).
struct Progress {
    enabled: bool,
    start: std::time::Instant,
    names: Vec<String>,
    total: Option<u64>,
    done: Vec<std::sync::atomic::AtomicU64>,
    bar: std::sync::Mutex<Option<indicatif::ProgressBar>>,
}

impl Progress {
    const DELAY: std::time::Duration = std::time::Duration::from_millis(300);

    fn new(paths: &[&std::path::Path], enabled: bool) -> Progress {
        let total = if enabled {
            paths
                .iter()
                .map(|p| plain_file_size(p))
                .sum::<Option<u64>>()
        } else {
            None
        };
        Progress {
            enabled,
            start: std::time::Instant::now(),
            names: paths
                .iter()
                .map(|p| pcapmail::text::escape(&p.display().to_string()).into_owned())
                .collect(),
            total,
            done: paths.iter().map(|_| Default::default()).collect(),
            bar: Default::default(),
        }
    }

    fn update(&self, file: usize, bytes: u64) {
        use std::sync::atomic::Ordering::Relaxed;
        if !self.enabled {
            return;
        }
        self.done[file].store(bytes, Relaxed);
        if self.start.elapsed() < Self::DELAY {
            return;
        }
        let Ok(mut bar) = self.bar.lock() else { return };
        let position = self.done.iter().map(|d| d.load(Relaxed)).sum();
        let bar = bar.get_or_insert_with(|| self.new_bar(position));
        bar.set_message(self.names[file].clone());
        bar.set_position(position);
    }

    const BAR: &str = "{msg} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}";
    const SPINNER: &str = "{spinner} {msg}: {bytes} read, {binary_bytes_per_sec}";

    fn new_bar(&self, position: u64) -> indicatif::ProgressBar {
        use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
        let template = if self.total.is_some() {
            Self::BAR
        } else {
            Self::SPINNER
        };
        // Started with what was read before it appeared, so the rate is not inflated.
        let bar = ProgressBar::with_draw_target(self.total, ProgressDrawTarget::stderr())
            .with_position(position)
            .with_elapsed(self.start.elapsed());
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.progress_chars("=> "));
        }
        // Keeps the spinner turning while standard input is slow.
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        bar
    }

    fn finish(&self) {
        if let Ok(Some(bar)) = self.bar.lock().as_deref() {
            bar.finish_and_clear();
        }
    }
}

/// The size of a plain, uncompressed capture file; None for standard input, pipes and
/// gzip files (whose decompressed size is not known in advance).
fn plain_file_size(path: &std::path::Path) -> Option<u64> {
    if path.as_os_str() == "-" {
        return None;
    }
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    let mut magic = [0u8; 2];
    let mut f = std::fs::File::open(path).ok()?;
    if io::Read::read_exact(&mut f, &mut magic).is_ok() && magic == [0x1f, 0x8b] {
        return None;
    }
    Some(meta.len())
}

/// A message about a capture that could not be read, with what to do about it.
fn describe_failure(f: &analysis::Failure) -> String {
    use pcapmail::capture::CaptureError;
    use pcapmail::text::escape;
    let path = escape(&f.path);
    match &f.error {
        CaptureError::Io { source, .. } => match source.kind() {
            io::ErrorKind::NotFound => format!("{path}: no such file (check the path)"),
            io::ErrorKind::PermissionDenied => format!(
                "{path}: permission denied (captures written by tcpdump as root are often readable \
                 only by root: run `sudo chown $USER {path}` or read it with sudo)"
            ),
            io::ErrorKind::IsADirectory => {
                format!("{path}: is a directory (give the capture files inside it)")
            }
            _ => format!("{path}: cannot read: {source}"),
        },
        CaptureError::NotACapture { first_bytes, .. } => {
            let kind = guess_content(first_bytes);
            format!(
                "{path}: not a pcap or pcapng capture{kind}; it starts with {first_bytes}. \
                 pcapmail reads pcap and pcapng files, optionally gzip-compressed \
                 (e.g. from `tcpdump -w FILE` or Wireshark); convert other formats with \
                 `editcap -F pcapng IN OUT`"
            )
        }
        CaptureError::Empty { .. } => {
            format!("{path}: the file is empty (0 bytes): nothing was captured into it")
        }
        CaptureError::BadHeader { message, .. } => format!(
            "{path}: looks like a capture but its file header is damaged or unsupported: {}",
            escape(message)
        ),
    }
}

/// What the first bytes of a file that is not a capture look like (from the `hex |text|`
/// preview of `CaptureError::NotACapture`).
fn guess_content(first_bytes: &str) -> &'static str {
    let bytes: Vec<u8> = first_bytes
        .split('|')
        .next()
        .unwrap_or("")
        .split_ascii_whitespace()
        .filter_map(|h| u8::from_str_radix(h, 16).ok())
        .collect();
    let starts = |m: &[u8]| bytes.starts_with(m);
    if starts(b"PK\x03\x04") {
        " (it looks like a ZIP archive: unpack it first)"
    } else if starts(b"BZh")
        || starts(&[0xfd, b'7', b'z', b'X', b'Z'])
        || starts(&[0x28, 0xb5, 0x2f, 0xfd])
    {
        " (it looks compressed with bzip2, xz or zstd: decompress it first; only gzip is read directly)"
    } else if starts(b"%PDF") {
        " (it looks like a PDF document)"
    } else if starts(b"<") {
        " (it looks like HTML or XML text)"
    } else if starts(b"{") || starts(b"[") {
        " (it looks like JSON text)"
    } else if !bytes.is_empty()
        && bytes
            .iter()
            .all(|&b| b == b'\n' || b == b'\r' || b == b'\t' || (0x20..0x7f).contains(&b))
    {
        " (it looks like text)"
    } else {
        ""
    }
}

fn print_warnings(report: &pcapmail::model::Report) {
    let mut unsupported = false;
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
            unsupported |= w.message.starts_with("unsupported link type");
        }
    }
    if unsupported {
        eprintln!(
            "pcapmail: hint: supported link types are EN10MB (Ethernet), LINUX_SLL, LINUX_SLL2, \
             RAW, IPV4, IPV6, NULL and LOOP; capture on an Ethernet or `any` interface \
             (tcpdump -i any) to get one of them"
        );
    }
}

/// Says why nothing is reported when the captures hold no packets or no mail session.
fn print_nothing_found(report: &pcapmail::model::Report, cfg: &analysis::Config) {
    if !report.sessions.is_empty() || report.captures.is_empty() {
        return;
    }
    let packets: u64 = report.captures.iter().map(|c| c.packets).sum();
    if packets == 0 {
        eprintln!("pcapmail: the capture holds no packets");
        return;
    }
    // No mail is a clean result: the port hint is for a person at a terminal; a script
    // reading stderr gets nothing from a clean run (CONTRACT.md, command line).
    if !io::stderr().is_terminal() {
        return;
    }
    let list = |p: &[u16]| p.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
    let content = if cfg.detect {
        ", and recognised SMTP/POP3 by content on every other port"
    } else {
        "; recognition by content on other ports is off (--no-detect)"
    };
    eprintln!(
        "pcapmail: no SMTP or POP3 session found in {packets} packet{}. Looked at SMTP ports {} \
         (SMTPS {}) and POP3 ports {} (POP3S {}){content}. If the mail runs on other ports, \
         name them with --smtp-ports/--pop3-ports (e.g. --smtp-ports 25,10025)",
        if packets == 1 { "" } else { "s" },
        list(&cfg.smtp_ports),
        list(&cfg.smtps_ports),
        list(&cfg.pop3_ports),
        list(&cfg.pop3s_ports),
    );
}

fn run_creds(args: CredsArgs) -> io::Result<ExitCode> {
    let (mut report, failures) = load(
        &args.input,
        Keep {
            data: false,
            dialogue: false,
        },
    );
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
        CredsFormat::Table => {
            out.write_all(creds::render_table(&report, &table_options()).as_bytes())?
        }
        CredsFormat::Json => creds::write_json(&mut out, &report)?,
        CredsFormat::Jsonl => creds::write_jsonl(&mut out, &report)?,
        CredsFormat::Csv => creds::write_csv(&mut out, &report)?,
    }
    out.flush()?;
    Ok(exit_code(&failures))
}

fn run_extract(args: ExtractArgs) -> io::Result<ExitCode> {
    let (report, failures) = load(
        &args.input,
        Keep {
            data: true,
            dialogue: false,
        },
    );
    if report.captures.is_empty() {
        return Ok(exit_code(&failures));
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
            Ok(exit_code(&failures))
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

#[cfg(test)]
mod tests {
    #[test]
    fn progress_templates_parse() {
        for t in [super::Progress::BAR, super::Progress::SPINNER] {
            assert!(indicatif::ProgressStyle::with_template(t).is_ok(), "{t}");
        }
    }
}
