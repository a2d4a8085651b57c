//! What the command line tells on standard error about the captures: why one could not be
//! read, the warnings met while reading, and why nothing was found.

use pcapmail::analysis;
use std::io;
use std::io::IsTerminal;
use std::path::PathBuf;

/// What to say before waiting on standard input when it is a terminal (a user who typed
/// `pcapmail analyze -` would otherwise face a silent wait); None when no capture is `-` or
/// standard input is a pipe or file.
pub(crate) fn stdin_notice(captures: &[PathBuf], stdin_is_terminal: bool) -> Option<&'static str> {
    (stdin_is_terminal && captures.iter().any(|p| p.as_os_str() == "-")).then_some(
        "pcapmail: reading a capture from standard input, which is this terminal: pipe one in \
         instead (e.g. `tcpdump -U -w - | pcapmail analyze -`); Ctrl-D ends the input, \
         Ctrl-C stops",
    )
}

/// A message about a capture that could not be read, with what to do about it.
pub(crate) fn describe_failure(f: &analysis::Failure) -> String {
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

pub(crate) fn print_warnings(report: &pcapmail::model::Report) {
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
pub(crate) fn print_nothing_found(report: &pcapmail::model::Report, cfg: &analysis::Config) {
    if !report.sessions.is_empty() || report.captures.is_empty() {
        return;
    }
    let packets: u64 = report.captures.iter().map(|c| c.packets).sum();
    if packets == 0 {
        for c in &report.captures {
            eprintln!(
                "pcapmail: {}: the capture holds no packets (only its file header: the capture \
                 was stopped before the first packet, or its filter matched nothing)",
                pcapmail::text::escape(&c.path)
            );
        }
        return;
    }
    // No mail is a clean result: the port hint is for a person at a terminal; a script
    // reading stderr gets nothing from a clean run.
    if !std::io::stderr().is_terminal() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_notice_only_for_dash_on_a_terminal() {
        let dash = [PathBuf::from("a.pcap"), PathBuf::from("-")];
        let file = [PathBuf::from("a.pcap")];
        assert!(stdin_notice(&dash, true).is_some_and(|m| m.contains("standard input")));
        assert_eq!(stdin_notice(&dash, false), None);
        assert_eq!(stdin_notice(&file, true), None);
    }
}
