//! Throughput measurement (ignored by default; run in release):
//! `cargo test --release --test capture_throughput -- --ignored --nocapture`.
//! Writes a ~200 MB pcap to the temp directory once and times reading + decoding it.

mod common;

use common::pcapgen::{self, Link};
use pcapmail::capture::CaptureReader;
use pcapmail::decode::{Decoded, Decoder};
use std::io::Write;
use std::time::Instant;

fn bench_file() -> std::path::PathBuf {
    let p = std::env::temp_dir().join("pcapmail-bench-200mb.pcap");
    if p.exists() {
        return p;
    }
    let mut w = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
    w.write_all(&pcapgen::pcap_header(1, false, false)).unwrap();
    // A mix like mail traffic: many small segments (commands, ACKs) and full-size ones.
    let frames: Vec<Vec<u8>> = [0usize, 40, 200, 1460, 1460, 0, 600, 1460]
        .iter()
        .enumerate()
        .map(|(i, &n)| pcapgen::frame(Link::Ethernet, i % 4 == 3, &vec![b'a'; n]))
        .collect();
    let mut written = 0usize;
    let mut i = 0u32;
    while written < 200 << 20 {
        let f = &frames[i as usize % frames.len()];
        let rec = pcapgen::Rec {
            sec: 1_700_000_000 + i / 1000,
            frac: i % 1_000_000,
            data: f,
            orig: None,
        };
        let mut buf = Vec::with_capacity(16 + f.len());
        pcapgen::pcap_record(&mut buf, &rec, false);
        w.write_all(&buf).unwrap();
        written += buf.len();
        i += 1;
    }
    w.flush().unwrap();
    p
}

#[test]
#[ignore]
fn throughput() {
    let p = bench_file();
    let size = std::fs::metadata(&p).unwrap().len() as f64;
    for round in 0..3 {
        let t = Instant::now();
        let mut r = CaptureReader::open_mapped(&p).unwrap();
        let mut dec = Decoder::default();
        let mut payload = 0u64;
        while let Some(pk) = r.next_packet() {
            if let Decoded::Tcp(s) = dec.decode(pk.link_type, pk.data, pk.ts) {
                payload += s.payload.len() as u64;
            }
        }
        let dt = t.elapsed().as_secs_f64();
        let n = r.summary().packets as f64;
        println!(
            "mmap round {round}: {:.0} MB in {:.3} s = {:.0} MB/s, {:.1} Mpkt/s (payload {payload})",
            size / 1e6,
            dt,
            size / 1e6 / dt,
            n / 1e6 / dt
        );
    }
    // The same frames sliced by etherparse's lax slicer, for comparison with our decoder.
    let t = Instant::now();
    let mut r = CaptureReader::open_mapped(&p).unwrap();
    let mut payload = 0u64;
    while let Some(pk) = r.next_packet() {
        if let Ok(s) = etherparse::LaxSlicedPacket::from_ethernet(pk.data) {
            if let Some(etherparse::TransportSlice::Tcp(t)) = s.transport {
                payload += t.payload().len() as u64;
            }
        }
    }
    let dt = t.elapsed().as_secs_f64();
    println!(
        "mmap read + etherparse lax slicing: {:.0} MB/s (payload {payload})",
        size / 1e6 / dt
    );
    // Reading only (no decoding), and the streaming path over the same file.
    let t = Instant::now();
    let mut r = CaptureReader::open_mapped(&p).unwrap();
    while r.next_packet().is_some() {}
    let dt = t.elapsed().as_secs_f64();
    println!("mmap read only: {:.0} MB/s", size / 1e6 / dt);
    let t = Instant::now();
    let f = std::fs::File::open(&p).unwrap();
    let mut r = CaptureReader::from_read("bench".into(), Box::new(f)).unwrap();
    let mut dec = Decoder::default();
    while let Some(pk) = r.next_packet() {
        let _ = dec.decode(pk.link_type, pk.data, pk.ts);
    }
    let dt = t.elapsed().as_secs_f64();
    println!("stream read+decode: {:.0} MB/s", size / 1e6 / dt);
}
