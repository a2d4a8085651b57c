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

/// What a subcommand needs kept beyond the records: message bytes, transcripts.
#[derive(Clone, Copy)]
struct Keep {
    data: bool,
    dialogue: bool,
}

/// Runs the analysis of `input` with a progress bar on a terminal, and tells on standard
/// error what went wrong (unreadable captures, warnings, no mail found).
fn load(input: &Input, keep: Keep) -> (Report, Vec<analysis::Failure>) {
    let cfg = Config {
        keep_data: keep.data,
        keep_dialogue: keep.dialogue,
        interrupt: Some(interrupt_flag().clone()),
        ..input.config()
    };
    if let Some(notice) = diagnostics::stdin_notice(&input.captures, io::stdin().is_terminal()) {
        eprintln!("{notice}");
    }
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
    let (mut report, failures) = load(
        &args.input,
        Keep {
            data: false,
            dialogue: false,
        },
    );
    if let Some(path) = &args.hashcat {
        if let Err(message) = output::write_hashcat(path, &report) {
            eprintln!("pcapmail: {message}");
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
            eprintln!("pcapmail: {}", output::describe_extract_error(&e));
            Ok(ExitCode::from(2))
        }
        Err(e) => {
            eprintln!("pcapmail: {}", output::describe_extract_error(&e));
            Ok(ExitCode::from(1))
        }
    }
}
