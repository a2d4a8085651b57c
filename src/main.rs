//! The command line: parses arguments, runs the library, renders, sets the exit status.
//! The option definitions live in `cli`, the progress bar in `progress`, the messages about
//! captures on standard error in `diagnostics`; this file wires them to the library.

mod cli;
mod diagnostics;
mod output;
mod progress;

use clap::Parser;
use cli::{
    Cli, Command, CredsArgs, CredsFormat, ExtractArgs, Format, Input, TranscriptArgs,
    TranscriptFormat,
};
use diagnostics::{describe_failure, print_nothing_found, print_warnings};
use pcapmail::analysis::{self, Config};
use pcapmail::model::Report;
use pcapmail::report::{creds, extract, json, table, transcript};
use pcapmail::sink::{SessionRecord, Sink};
use pcapmail::tls::keylog::{KeyLog, KeyStore};
use progress::Progress;
use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let _ = DISPLAY.set(cli.display);
    match run(cli) {
        Ok(code) => code,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            // Reading errors are reported per capture; what is left is writing the output.
            eprintln!("pcapmail: cannot write the output: {e}");
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
            all,
        } => {
            // The records do not carry message bytes nor transcripts: do not keep them.
            let keep = Keep {
                data: false,
                dialogue: false,
            };
            let stdout = io::stdout();
            let mut out = io::BufWriter::new(stdout.lock());
            let failures = match format {
                Format::Json => {
                    let mut sink = json::DocumentSink::new()?;
                    let f = drive(&input, keep, redact, &mut sink)?;
                    sink.finish(&mut out)?;
                    f
                }
                Format::Jsonl => {
                    let mut sink = json::JsonlSink::new(&mut out);
                    drive(&input, keep, redact, &mut sink)?
                }
                Format::Table => {
                    let mut sink =
                        table::TableSink::with_limit((!all).then_some(table::DEFAULT_ROWS));
                    sink.several_captures(input.captures.len() > 1 || input.files_from.is_some());
                    let f = drive(&input, keep, redact, &mut sink)?;
                    out.write_all(sink.render(&table_options()).as_bytes())?;
                    f
                }
            };
            out.flush()?;
            Ok(exit_code(&failures))
        }
        Command::Transcript(args) => run_transcript(args),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "pcapmail", &mut io::stdout().lock());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(cmd).render(&mut io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

// ----- transcript ------------------------------------------------------------------------

fn run_transcript(args: TranscriptArgs) -> io::Result<ExitCode> {
    // Message bytes are kept only with --full.
    let keep = Keep {
        data: args.full,
        dialogue: true,
    };
    let opts = transcript::TranscriptOptions { full: args.full };
    let format = match args.format {
        TranscriptFormat::Text => transcript::TranscriptFormat::Text,
        TranscriptFormat::Json => transcript::TranscriptFormat::Json,
    };
    let stdout = io::stdout();
    let out = io::BufWriter::new(stdout.lock());
    let mut sink = transcript::TranscriptSink::new(out, format, opts, args.sessions.clone());
    let failures = drive(&args.input, keep, args.redact, &mut sink)?;
    let (unknown, known) = sink.finish()?;
    if !unknown.is_empty() {
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
    Ok(exit_code(&failures))
}

// ----- shared by the subcommands: running the analysis, progress, problems ---------------

/// What a subcommand needs kept beyond the records: message bytes, transcripts.
#[derive(Clone, Copy)]
struct Keep {
    data: bool,
    dialogue: bool,
}

/// Passes records on and remembers what the messages on standard error need.
struct Watch<'a> {
    inner: &'a mut dyn Sink,
    captures: Vec<pcapmail::model::CaptureInfo>,
    sessions: u64,
}

impl Sink for Watch<'_> {
    fn session(&mut self, r: SessionRecord) -> io::Result<()> {
        self.sessions += 1;
        self.inner.session(r)
    }
    fn capture(&mut self, info: &pcapmail::model::CaptureInfo) -> io::Result<()> {
        let mut c = info.clone();
        c.counters.clear();
        self.captures.push(c);
        self.inner.capture(info)
    }
    fn failure(&mut self, f: &pcapmail::sink::CaptureFailure) -> io::Result<()> {
        self.inner.failure(f)
    }
    fn renderer(&self) -> Option<Arc<dyn pcapmail::sink::Render>> {
        self.inner.renderer()
    }
    fn rendered(&mut self, r: pcapmail::sink::Rendered, id: &str) -> io::Result<()> {
        self.sessions += 1;
        self.inner.rendered(r, id)
    }
    fn reads_records(&self) -> bool {
        self.inner.reads_records()
    }
    fn session_ref(&mut self, r: &SessionRecord) -> io::Result<()> {
        self.sessions += 1;
        self.inner.session_ref(r)
    }
}

/// Indexes the `--keylog` files (see `tls::keylog`: a compact index, lines re-read on
/// lookup). A file that cannot be read stops the run; one without a usable line is warned
/// about.
fn load_keylogs(files: &[std::path::PathBuf], quiet: bool) -> io::Result<KeyStore> {
    let mut log = KeyLog::new();
    for f in files {
        let before = log.stats();
        log.add_file(f).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                pcapmail::text::escape(&e.to_string()).into_owned(),
            )
        })?;
        let after = log.stats();
        if after.indexed == before.indexed && !quiet {
            eprintln!(
                "pcapmail: warning: key log {} has no CLIENT_RANDOM or TLS 1.3 traffic secret line ({} lines not understood)",
                pcapmail::text::escape(&f.display().to_string()),
                after.bad - before.bad
            );
        }
    }
    Ok(KeyStore::new(log))
}

/// Runs the analysis of `input` into `sink` (redacting each record first with `redact`),
/// with a progress bar on a terminal, and tells on standard error what went wrong
/// (unreadable captures, warnings, no mail found).
fn drive(
    input: &Input,
    keep: Keep,
    redact: bool,
    sink: &mut dyn Sink,
) -> io::Result<Vec<analysis::Failure>> {
    let cfg = Config {
        keep_data: keep.data,
        keep_dialogue: keep.dialogue,
        interrupt: Some(interrupt_flag().clone()),
        keylog: load_keylogs(&input.keylog, input.quiet)?,
        ..input.config()
    };
    let owned = input.paths()?;
    if let Some(notice) = diagnostics::stdin_notice(&owned, io::stdin().is_terminal()) {
        eprintln!("{notice}");
    }
    let paths: Vec<&std::path::Path> = owned.iter().map(|p| p.as_path()).collect();
    let progress = Progress::new(&paths, !input.quiet && io::stderr().is_terminal());
    let mut redacting;
    let target: &mut dyn Sink = if redact {
        redacting = pcapmail::redact::RedactSink(sink);
        &mut redacting
    } else {
        sink
    };
    let mut watch = Watch {
        inner: target,
        captures: Vec::new(),
        sessions: 0,
    };
    let outcome = analysis::run(&paths, &cfg, input.merge, &mut watch, &|i, b| {
        progress.update(i, b)
    });
    progress.finish();
    let outcome = outcome?;
    for f in &outcome.failures {
        eprintln!("pcapmail: {}", describe_failure(f));
    }
    if !input.quiet {
        let report = Report {
            schema: pcapmail::model::SCHEMA,
            tool: Default::default(),
            captures: watch.captures,
            sessions: Vec::new(),
            credentials: Vec::new(),
            messages: Vec::new(),
        };
        print_warnings(&report);
        if watch.sessions == 0 {
            print_nothing_found(&report, &cfg);
        }
    }
    Ok(outcome.failures)
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

/// The table options of this run (`--color`, `--width`, the terminal, NO_COLOR, COLUMNS).
/// A process-wide value set once in `main`, so the subcommands need no extra argument.
fn table_options() -> table::TableOptions {
    DISPLAY.get().map_or_else(
        || {
            cli::Display {
                color: cli::ColorChoice::Auto,
                width: None,
            }
            .table_options()
        },
        |d| d.table_options(),
    )
}

static DISPLAY: OnceLock<cli::Display> = OnceLock::new();

fn run_creds(args: CredsArgs) -> io::Result<ExitCode> {
    let keep = Keep {
        data: false,
        dialogue: false,
    };
    let format = match args.format {
        CredsFormat::Table => creds::CredsFormat::Table,
        CredsFormat::Json => creds::CredsFormat::Json,
        CredsFormat::Jsonl => creds::CredsFormat::Jsonl,
        CredsFormat::Csv => creds::CredsFormat::Csv,
    };
    let stdout = io::stdout();
    let out = io::BufWriter::new(stdout.lock());
    let mut sink = creds::CredsSink::new(out, format, args.all, table_options())?;
    let failures = match &args.hashcat {
        Some(path) => {
            let mut hashcat = match output::HashcatSink::new(path) {
                Ok(h) => h,
                Err(message) => {
                    eprintln!("pcapmail: {message}");
                    return Ok(ExitCode::from(1));
                }
            };
            let mut tee = pcapmail::sink::Tee(&mut hashcat, &mut sink);
            let f = drive(&args.input, keep, args.redact, &mut tee)?;
            if let Err(message) = hashcat.finish() {
                eprintln!("pcapmail: {message}");
                return Ok(ExitCode::from(1));
            }
            f
        }
        None => drive(&args.input, keep, args.redact, &mut sink)?,
    };
    sink.finish()?;
    Ok(exit_code(&failures))
}

fn run_extract(args: ExtractArgs) -> io::Result<ExitCode> {
    let keep = Keep {
        data: true,
        dialogue: false,
    };
    let opts = extract::ExtractOptions { force: args.force };
    let mut sink = match extract::ExtractSink::new(&args.output, &opts) {
        Ok(s) => s,
        Err(e) => return Ok(extract_failed(e)),
    };
    // On an error the sink stopped the run; its own error says why (below).
    let failures = drive(&args.input, keep, false, &mut sink).unwrap_or_default();
    if sink.captures_read() == 0 && !failures.is_empty() {
        return Ok(exit_code(&failures));
    }
    match sink.finish() {
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
        Err(e) => Ok(extract_failed(e)),
    }
}

fn extract_failed(e: extract::ExtractError) -> ExitCode {
    eprintln!("pcapmail: {}", output::describe_extract_error(&e));
    match e {
        extract::ExtractError::Exists(_) => ExitCode::from(2),
        _ => ExitCode::from(1),
    }
}
