//! Writes one adversarial capture (see `scripts/adversarial/captures.rs`):
//! `cargo run --release --example adversarial -- KIND OUT [SIZE]` with KIND one of
//! syn-flood (SIZE connections), endless-line (SIZE bytes), endless-data (SIZE bytes),
//! b64-garbage, nested-mime (SIZE levels), nested-rfc822 (SIZE levels), pcapng-lying-block,
//! over-snaplen, gzip-bomb (SIZE zero bytes), overlap-conflict, time-backwards,
//! terminal-escapes. `-` as OUT writes to standard output.

#[path = "../scripts/adversarial/captures.rs"]
mod captures;

use std::io::{self, BufWriter, Write};

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: adversarial KIND OUT [SIZE]");
        std::process::exit(2);
    }
    let size: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let out: Box<dyn Write> = if args[1] == "-" {
        Box::new(io::stdout().lock())
    } else {
        Box::new(std::fs::File::create(&args[1])?)
    };
    let mut w = BufWriter::with_capacity(1 << 20, out);
    match args[0].as_str() {
        "syn-flood" => captures::syn_flood(&mut w, size.max(1))?,
        "endless-line" => captures::endless_line(&mut w, size.max(1))?,
        "endless-data" => captures::endless_data(&mut w, size.max(1))?,
        "b64-garbage" => captures::b64_garbage(&mut w)?,
        "nested-mime" => {
            captures::smtp_with_message(&mut w, &captures::nested_mime(size.max(1) as usize))?
        }
        "nested-rfc822" => {
            captures::smtp_with_message(&mut w, &captures::nested_rfc822(size.max(1) as usize))?
        }
        "pcapng-lying-block" => w.write_all(&captures::pcapng_lying_block(200 << 20))?,
        "over-snaplen" => captures::record_over_snaplen(&mut w)?,
        "gzip-bomb" => w.write_all(&captures::gzip_bomb(size.max(1)))?,
        "overlap-conflict" => captures::overlap_conflict(&mut w)?,
        "time-backwards" => captures::time_backwards(&mut w)?,
        "terminal-escapes" => captures::terminal_escapes(&mut w)?,
        k => {
            eprintln!("unknown kind {k}");
            std::process::exit(2);
        }
    }
    w.flush()
}
