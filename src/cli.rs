//! The command line's definition: the clap structs of the subcommands and their options,
//! and the mapping of the options onto the library's `Config`.

use clap::{Args, Parser, Subcommand, ValueEnum};
use pcapmail::analysis::Config;
use pcapmail::report::table::TableOptions;
use std::io::IsTerminal;
use std::path::PathBuf;

/// Reads packet captures (pcap, pcapng, gzip; Ethernet, Linux cooked SLL/SLL2, raw IP...)
/// and reports the SMTP and POP3 traffic in them: sessions, credentials, messages.
#[derive(Parser)]
#[command(name = "pcapmail", version, about, long_about = None)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    #[command(flatten)]
    pub(crate) display: Display,
}

/// How tables are drawn, for every subcommand (like ripgrep's and fd's options).
#[derive(Args, Clone, Copy)]
pub(crate) struct Display {
    /// Colour in tables: `auto` only on a terminal and without NO_COLOR.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto, global = true)]
    pub(crate) color: ColorChoice,
    /// Table width in columns [default: the terminal's width; when standard output is not a
    /// terminal, $COLUMNS if set, else unbounded]. A user name or secret is never cut: a
    /// credential too wide for the table is shown as a card.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(20..), global = true)]
    pub(crate) width: Option<u16>,
}

/// When to colour tables.
#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorChoice {
    Auto,
    Always,
    Never,
}

impl Display {
    /// The table options for standard output as it is now (terminal or not) and the
    /// environment (`NO_COLOR`, `COLUMNS`).
    pub(crate) fn table_options(&self) -> TableOptions {
        let tty = std::io::stdout().is_terminal();
        let env = |k: &str| std::env::var(k).ok();
        self.resolve(tty, terminal_width, env)
    }

    /// `table_options` with the terminal and the environment given, so it can be tested.
    fn resolve(
        &self,
        tty: bool,
        terminal_width: impl FnOnce() -> Option<u16>,
        env: impl Fn(&str) -> Option<String>,
    ) -> TableOptions {
        let no_color = env("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color,
        };
        // A terminal's own width wins over COLUMNS (shells often leave a stale COLUMNS);
        // when piped, COLUMNS lets `pcapmail analyze x | less` keep a chosen width.
        let width = self.width.or_else(|| {
            if tty {
                terminal_width()
            } else {
                env("COLUMNS")
                    .and_then(|c| c.trim().parse::<u16>().ok())
                    .filter(|&w| w > 0)
            }
        });
        TableOptions { width, color }
    }
}

/// The width of the terminal on standard output, as comfy-table measures it.
fn terminal_width() -> Option<u16> {
    comfy_table::Table::new().width()
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
        /// Table: show every row (by default each table shows its first 200 rows and says
        /// how many more there are).
        #[arg(long)]
        all: bool,
    },
    /// Credential audit: every credential, a summary, findings per server, hashcat lines.
    Creds(CredsArgs),
    /// Write every message as an .eml file, attachments into folders, and index.json.
    Extract(ExtractArgs),
    /// Show the reassembled dialogue of sessions, client and server lines marked.
    Transcript(TranscriptArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to standard
    /// output, e.g. `pcapmail completions bash > ~/.local/share/bash-completion/completions/pcapmail`.
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) to standard output, e.g. `pcapmail man > pcapmail.1`.
    Man,
}

#[derive(Args)]
pub(crate) struct CredsArgs {
    #[command(flatten)]
    pub(crate) input: Input,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CredsFormat::Table)]
    pub(crate) format: CredsFormat,
    /// Also write the crackable lines (CRAM-MD5: hashcat mode 10200, APOP: mode 20) to FILE.
    #[arg(long, value_name = "FILE", conflicts_with = "redact")]
    pub(crate) hashcat: Option<PathBuf>,
    /// Mask passwords, tokens and hashes (first and last character kept, or `***`).
    #[arg(long)]
    pub(crate) redact: bool,
    /// Every attempt, each on its own row (written as sessions end), instead of distinct
    /// credentials with their count.
    #[arg(long)]
    pub(crate) all: bool,
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
pub(crate) enum CredsFormat {
    Table,
    Json,
    Jsonl,
    Csv,
}

#[derive(Args)]
pub(crate) struct ExtractArgs {
    #[command(flatten)]
    pub(crate) input: Input,
    /// Output directory (created when missing).
    #[arg(short, long, value_name = "DIR")]
    pub(crate) output: PathBuf,
    /// Overwrite files of an earlier run in DIR (symlinks are replaced, never followed).
    #[arg(long)]
    pub(crate) force: bool,
}

#[derive(Args)]
pub(crate) struct TranscriptArgs {
    #[command(flatten)]
    pub(crate) input: Input,
    /// Only this session (an id from `analyze`, e.g. s2); may be repeated.
    #[arg(long = "session", value_name = "ID")]
    pub(crate) sessions: Vec<String>,
    /// Show message contents instead of a one-line summary.
    #[arg(long)]
    pub(crate) full: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TranscriptFormat::Text)]
    pub(crate) format: TranscriptFormat,
    /// Mask passwords, tokens, hashes and the lines that carry them.
    #[arg(long)]
    pub(crate) redact: bool,
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
pub(crate) enum TranscriptFormat {
    Text,
    Json,
}

#[derive(Copy, Clone, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    Table,
    Json,
    Jsonl,
}

#[derive(Args)]
pub(crate) struct Input {
    /// Capture files (pcap or pcapng, optionally gzip-compressed); `-` reads standard input.
    #[arg(required_unless_present = "files_from", value_name = "CAPTURE")]
    pub(crate) captures: Vec<PathBuf>,
    /// Also read the captures listed in FILE, one path per line (`-`: standard input).
    #[arg(long, value_name = "FILE")]
    pub(crate) files_from: Option<PathBuf>,
    /// Read all captures as one, in packet timestamp order (rotated files of tcpdump
    /// -C/-G/-W or dumpcap -b): a session that spans two files is one session.
    #[arg(long)]
    pub(crate) merge: bool,
    /// SMTP ports (comma separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "25,587,2525",
        help_heading = "Input"
    )]
    pub(crate) smtp_ports: Vec<u16>,
    /// POP3 ports (comma separated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "110",
        help_heading = "Input"
    )]
    pop3_ports: Vec<u16>,
    /// IMAP ports (comma separated; 993 is IMAPS, TLS from the first byte).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "143",
        help_heading = "Input"
    )]
    imap_ports: Vec<u16>,
    /// Do not recognise SMTP/POP3 by content on other ports.
    #[arg(long, help_heading = "Input")]
    pub(crate) no_detect: bool,
    /// TLS key log (SSLKEYLOGFILE format, as written by browsers, curl, Python, openssl
    /// s_client -keylogfile, friTap, eCapture) to decrypt TLS sessions with; repeatable.
    /// Keys embedded in a pcapng capture (Decryption Secrets Blocks) are used without it.
    /// Key material is never written to any output.
    #[arg(long, value_name = "FILE")]
    pub(crate) keylog: Vec<PathBuf>,
    /// Do not print warnings on standard error.
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Worker threads (default: the available cores; 1 when reading standard input, so
    /// that live records are not held back). Each file is split by connection across
    /// them. The output does not depend on it.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..), help_heading = "Input")]
    pub(crate) threads: Option<u16>,
    #[command(flatten)]
    pub(crate) limits: Limits,
}

/// Resource bounds against hostile captures. Every hit is counted in the capture's
/// counters (JSON `captures[].counters`); unset options keep the library defaults.
#[derive(Args)]
pub(crate) struct Limits {
    /// Connections tracked at once (live and recently closed); the least recently active
    /// is evicted first (about 0.9 KB each) [default: 250000; counter flow.evicted].
    #[arg(long, value_name = "N", help_heading = "Limits")]
    pub(crate) max_connections: Option<usize>,
    /// Out-of-order bytes buffered per connection direction before a hole is given up
    /// as a gap [default: 4194304; counter flow.direction_limit_hits].
    #[arg(long, value_name = "BYTES", help_heading = "Limits")]
    pub(crate) max_buffer: Option<usize>,
    /// Out-of-order bytes buffered over all connections [default: 268435456;
    /// counter flow.global_limit_hits].
    #[arg(long, value_name = "BYTES", help_heading = "Limits")]
    pub(crate) max_buffer_total: Option<usize>,
    /// Bytes of one message kept in memory; a larger message is hashed and MIME-decoded
    /// as it streams, and `extract` keeps it in a temporary file
    /// instead [default: 67108864; counter message.limit.data].
    #[arg(long, value_name = "BYTES", help_heading = "Limits")]
    pub(crate) max_message_memory: Option<usize>,
    /// Bytes of one protocol line buffered; longer lines are handled in pieces
    /// [default: 65536; counters smtp.limit.line, smtp.line_too_long].
    #[arg(long, value_name = "BYTES", help_heading = "Limits")]
    pub(crate) max_line: Option<usize>,
    /// Commands listed per session [default: 10000 SMTP, 20000 POP3;
    /// counters smtp.limit.commands, pop3.limit.command].
    #[arg(long, value_name = "N", help_heading = "Limits")]
    pub(crate) max_commands: Option<usize>,
    /// Recipients listed per SMTP transaction [default: 1000; counter smtp.limit.rcpt_to].
    #[arg(long, value_name = "N", help_heading = "Limits")]
    pub(crate) max_recipients: Option<usize>,
    /// MIME containers (multipart bodies, embedded messages) per message, a bound on
    /// nesting depth; beyond, only the top-level headers are decoded [default: 64;
    /// counter mime.limit.depth].
    #[arg(long, value_name = "N", help_heading = "Limits")]
    pub(crate) max_mime_depth: Option<usize>,
    /// MIME boundary delimiter lines per message; beyond, only the top-level headers are
    /// decoded [default: 10000; counter mime.limit.parts].
    #[arg(long, value_name = "N", help_heading = "Limits")]
    pub(crate) max_mime_parts: Option<usize>,
    /// Bytes held by IP fragments awaiting reassembly [default: 16777216;
    /// counter decode.fragment_limit_drops].
    #[arg(long, value_name = "BYTES", help_heading = "Limits")]
    pub(crate) max_fragment_bytes: Option<usize>,
}

impl Limits {
    pub(crate) fn apply(&self, c: &mut Config) {
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
        for m in [
            &mut c.smtp.message,
            &mut c.pop3.message,
            &mut c.imap.message,
        ] {
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
            c.imap.limits.max_line = n;
        }
        if let Some(n) = self.max_commands {
            c.smtp.limits.max_commands = n;
            c.pop3.limits.max_commands = n;
            c.imap.limits.max_commands = n;
        }
        if let Some(n) = self.max_recipients {
            c.smtp.limits.max_recipients = n;
        }
    }
}

impl Input {
    /// The captures to read: the arguments, then the lines of `--files-from`.
    pub(crate) fn paths(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut paths = self.captures.clone();
        if let Some(list) = &self.files_from {
            let text = if list.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(list).map_err(|e| {
                    std::io::Error::new(e.kind(), format!("{}: {e}", list.display()))
                })?
            };
            paths.extend(
                text.lines()
                    .map(|l| l.trim_end_matches('\r'))
                    .filter(|l| !l.trim().is_empty())
                    .map(PathBuf::from),
            );
        }
        Ok(paths)
    }

    pub(crate) fn config(&self) -> Config {
        let mut c = Config {
            smtp_ports: self.smtp_ports.clone(),
            pop3_ports: self.pop3_ports.clone(),
            imap_ports: self.imap_ports.clone(),
            detect: !self.no_detect,
            threads: self.threads.map(usize::from).unwrap_or_else(|| {
                if self.captures.iter().any(|p| p.as_os_str() == "-") {
                    1
                } else {
                    std::thread::available_parallelism().map_or(1, |n| n.get())
                }
            }),
            ..Config::default()
        };
        self.limits.apply(&mut c);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn display(color: ColorChoice, width: Option<u16>) -> Display {
        Display { color, width }
    }

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |k| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn auto_colour_only_on_a_terminal_without_no_color() {
        let d = display(ColorChoice::Auto, None);
        assert!(d.resolve(true, || Some(80), env(&[])).color);
        assert!(!d.resolve(false, || None, env(&[])).color);
        assert!(
            !d.resolve(true, || Some(80), env(&[("NO_COLOR", "1")]))
                .color
        );
        let always = display(ColorChoice::Always, None);
        assert!(
            always
                .resolve(false, || None, env(&[("NO_COLOR", "1")]))
                .color
        );
        let never = display(ColorChoice::Never, None);
        assert!(!never.resolve(true, || Some(80), env(&[])).color);
    }

    #[test]
    fn width_from_option_terminal_or_columns_when_piped() {
        let cols = [("COLUMNS", "132")];
        let auto = display(ColorChoice::Auto, None);
        assert_eq!(auto.resolve(true, || Some(80), env(&cols)).width, Some(80));
        assert_eq!(auto.resolve(false, || None, env(&cols)).width, Some(132));
        assert_eq!(auto.resolve(false, || None, env(&[])).width, None);
        assert_eq!(
            auto.resolve(false, || None, env(&[("COLUMNS", "x")])).width,
            None
        );
        let fixed = display(ColorChoice::Auto, Some(100));
        assert_eq!(
            fixed.resolve(true, || Some(80), env(&cols)).width,
            Some(100)
        );
        assert_eq!(fixed.resolve(false, || None, env(&cols)).width, Some(100));
    }

    #[test]
    fn help_lists_output_options_before_limits() {
        use clap::CommandFactory;
        let mut cmd = Cli::command();
        let help = cmd
            .find_subcommand_mut("creds")
            .unwrap()
            .render_help()
            .to_string();
        let at = |s: &str| {
            help.find(s)
                .unwrap_or_else(|| panic!("{s} missing:\n{help}"))
        };
        assert!(at("--hashcat") < at("Limits:"), "{help}");
        assert!(at("--format") < at("Input:"), "{help}");
        assert!(at("Input:") < at("Limits:"), "{help}");
        assert!(at("Limits:") < at("--max-connections"), "{help}");
    }
}
