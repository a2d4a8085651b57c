//! Times pcap-parser's streaming reader against pcapmail's own capture reader on one file:
//! both walk every frame and sum the captured bytes (no decoding), so the difference is
//! the container parsing alone. The numbers quoted in README.md come from this.
//!
//! `cargo run --release --example reader-compare -- FILE.pcap [ROUNDS]`
//!
//! The file should be a plain (not gzip) pcap or pcapng; it is read once before timing so
//! both readers start from the page cache.

use pcap_parser::{Block, PcapBlockOwned, PcapError};
use std::path::Path;
use std::time::Instant;

/// Frames and captured bytes through pcap-parser (1 MiB buffer, grown when a block does
/// not fit, as its documentation advises).
fn with_pcap_parser(path: &Path) -> (u64, u64) {
    let file = std::fs::File::open(path).expect("open");
    let mut reader = pcap_parser::create_reader(1 << 20, file).expect("pcap-parser reader");
    let (mut frames, mut bytes) = (0u64, 0u64);
    loop {
        match reader.next() {
            Ok((offset, block)) => {
                let len = match block {
                    PcapBlockOwned::Legacy(b) => Some(b.data.len()),
                    // pcapng block data includes the padding to 32 bits: the captured
                    // length is caplen (EPB), or at most the original length (SPB).
                    PcapBlockOwned::NG(Block::EnhancedPacket(b)) => Some(b.caplen as usize),
                    PcapBlockOwned::NG(Block::SimplePacket(b)) => {
                        Some(b.data.len().min(b.origlen as usize))
                    }
                    _ => None,
                };
                if let Some(len) = len {
                    frames += 1;
                    bytes += len as u64;
                }
                reader.consume(offset);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => reader.refill().expect("refill"),
            Err(e) => panic!("pcap-parser: {e:?}"),
        }
    }
    (frames, bytes)
}

/// Frames and captured bytes through `pcapmail::capture::CaptureReader` (streamed, as the
/// command line reads files).
fn with_pcapmail(path: &Path) -> (u64, u64) {
    let mut reader = pcapmail::capture::CaptureReader::open(path).expect("pcapmail reader");
    let (mut frames, mut bytes) = (0u64, 0u64);
    while let Some(p) = reader.next_packet() {
        frames += 1;
        bytes += p.data.len() as u64;
    }
    (frames, bytes)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: reader-compare FILE.pcap [ROUNDS]");
        std::process::exit(2);
    };
    let rounds: u32 = args.next().and_then(|r| r.parse().ok()).unwrap_or(3);
    let path = Path::new(&path);
    let size = std::fs::metadata(path).expect("metadata").len();
    let _ = std::fs::read(path); // warm the page cache
    type Reader = fn(&Path) -> (u64, u64);
    let readers: [(&str, Reader); 2] = [
        ("pcap-parser", with_pcap_parser),
        ("pcapmail", with_pcapmail),
    ];
    let mut seen = None;
    for (name, read) in readers {
        let mut best = f64::MAX;
        let mut counts = (0, 0);
        for _ in 0..rounds {
            let t = Instant::now();
            counts = read(path);
            best = best.min(t.elapsed().as_secs_f64());
        }
        println!(
            "{name:12} {} frames, {} bytes: best of {rounds} {:.3} s, {:.2} GB/s",
            counts.0,
            counts.1,
            best,
            size as f64 / best / 1e9
        );
        // Both must see the same frames, or the timing compares different work.
        if let Some(prev) = seen.replace(counts) {
            assert_eq!(prev, counts, "the readers disagree");
        }
    }
}
