//! The capture reader: pcap and pcapng variants, gzip, streaming, and damaged files.

mod common;

use common::pcapgen::{self, Ng, Rec};
use pcapmail::capture::{CaptureError, CaptureReader, Format, LinkType};
use pcapmail::model::Ts;
use std::io::{Read, Write};
use std::path::PathBuf;

/// Everything a reader yields, owned.
#[derive(Debug, PartialEq)]
struct P {
    frame: u64,
    ts: Ts,
    link: u32,
    data: Vec<u8>,
    orig: u32,
}

fn read_all(r: &mut CaptureReader) -> Vec<P> {
    let mut v = Vec::new();
    while let Some(p) = r.next_packet() {
        v.push(P {
            frame: p.frame,
            ts: p.ts,
            link: p.link_type.0,
            data: p.data.to_vec(),
            orig: p.orig_len,
        });
    }
    v
}

fn mem(bytes: &[u8]) -> CaptureReader {
    CaptureReader::from_bytes("mem".into(), bytes.to_vec()).unwrap()
}

/// A reader that returns at most `n` bytes per call, to exercise window refills.
struct Dribble<R>(R, usize);
impl<R: Read> Read for Dribble<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.1);
        self.0.read(&mut buf[..n])
    }
}

fn stream(bytes: &[u8], chunk: usize) -> CaptureReader {
    let r = Dribble(std::io::Cursor::new(bytes.to_vec()), chunk);
    CaptureReader::from_read("stream".into(), Box::new(r)).unwrap()
}

fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let p = std::env::temp_dir().join(format!("pcapmail-test-{}-{name}", std::process::id()));
    std::fs::write(&p, bytes).unwrap();
    p
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn three_records(nano: bool) -> Vec<(u32, u32, Vec<u8>)> {
    let f = if nano { 123_456_789 } else { 123_456 };
    vec![
        (1_700_000_000, f, b"first".to_vec()),
        (1_700_000_001, 0, vec![0xab; 300]),
        (1_700_000_002, f, b"third!".to_vec()),
    ]
}

fn pcap_of(be: bool, nano: bool) -> Vec<u8> {
    let recs = three_records(nano);
    let r: Vec<Rec> = recs
        .iter()
        .map(|(s, f, d)| Rec {
            sec: *s,
            frac: *f,
            data: d,
            orig: if d.len() == 300 { Some(1514) } else { None },
        })
        .collect();
    pcapgen::pcap(1, be, nano, &r)
}

#[test]
fn pcap_byte_orders_and_resolutions() {
    for be in [false, true] {
        for nano in [false, true] {
            let bytes = pcap_of(be, nano);
            for mut r in [mem(&bytes), stream(&bytes, 7)] {
                let ps = read_all(&mut r);
                assert_eq!(ps.len(), 3, "be={be} nano={nano}");
                let want_frac = if nano { 123_456_789 } else { 123_456_000 };
                assert_eq!(ps[0].ts, Ts::from_parts(1_700_000_000, want_frac));
                assert_eq!(ps[1].ts, Ts::from_parts(1_700_000_001, 0));
                assert_eq!(ps[0].data, b"first");
                assert_eq!(ps[1].data, vec![0xab; 300]);
                assert_eq!(ps[1].orig, 1514);
                assert_eq!(ps[2].data, b"third!");
                assert_eq!(ps.iter().map(|p| p.frame).collect::<Vec<_>>(), [1, 2, 3]);
                assert!(ps.iter().all(|p| p.link == 1));
                let s = r.summary();
                assert_eq!(s.format, Format::Pcap);
                assert!(!s.gzip);
                assert_eq!(s.nanosecond, nano);
                assert_eq!(s.link_types, vec![LinkType::ETHERNET]);
                assert_eq!(s.packets, 3);
                assert_eq!(s.bytes, 5 + 300 + 6);
                assert_eq!(s.file_bytes, bytes.len() as u64);
                assert_eq!(s.first, Some(ps[0].ts));
                assert_eq!(s.last, Some(ps[2].ts));
                assert!(damage(&s.warnings).is_empty(), "{:?}", s.warnings);
            }
        }
    }
}

/// A pcapng with two sections (the second in the other byte order), interfaces of
/// different link types and resolutions, EPB, SPB, PB and skipped blocks.
fn pcapng_sample(be: bool) -> Vec<u8> {
    let mut ng = Ng::new(be);
    ng.idb(1, None, None); // Ethernet, microseconds
    ng.idb(101, Some(9), None); // raw IP, nanoseconds
    ng.idb(276, Some(0x80 | 20), Some(100)); // SLL2, 2^-20 s, +100 s
    ng.block(4, &[0, 0, 0, 0]); // name resolution (end of records only)
    ng.epb(0, 1_700_000_000_123_456, b"eth-frame", None);
    ng.block(0x0BAD_BEEF & 0x7fff_ffff, b"unknown block type!"); // unknown type: skipped
    ng.epb(1, 1_700_000_001_000_000_007, b"raw-frame", Some(1500));
    ng.spb(b"simple"); // interface 0, previous packet's time
    ng.epb(2, (5u64 << 20) | (1 << 19), b"sll2", None); // 5.5 s + 100 s offset
    ng.block(5, &[0; 12]); // interface statistics
    ng.be = !be;
    ng.shb();
    ng.idb(113, Some(3), None); // SLL, milliseconds; interface 0 of the new section
    ng.pb(0, 1_700_000_002_500, b"old-pb");
    ng.out
}

#[test]
fn pcapng_sections_interfaces_and_blocks() {
    for be in [false, true] {
        let bytes = pcapng_sample(be);
        for mut r in [mem(&bytes), stream(&bytes, 5)] {
            let ps = read_all(&mut r);
            let got: Vec<(u64, u32, &[u8])> = ps
                .iter()
                .map(|p| (p.frame, p.link, p.data.as_slice()))
                .collect();
            assert_eq!(
                got,
                vec![
                    (1, 1, &b"eth-frame"[..]),
                    (2, 101, b"raw-frame"),
                    (3, 1, b"simple"),
                    (4, 276, b"sll2"),
                    (5, 113, b"old-pb"),
                ],
                "be={be}"
            );
            assert_eq!(ps[0].ts, Ts::from_parts(1_700_000_000, 123_456_000));
            assert_eq!(ps[1].ts, Ts::from_parts(1_700_000_001, 7));
            assert_eq!(ps[1].orig, 1500);
            assert_eq!(ps[2].ts, ps[1].ts, "SPB takes the previous packet's time");
            assert_eq!(ps[3].ts, Ts::from_parts(105, 500_000_000));
            assert_eq!(ps[4].ts, Ts::from_parts(1_700_000_002, 500_000_000));
            let s = r.summary();
            assert_eq!(s.format, Format::Pcapng);
            assert!(s.nanosecond);
            assert_eq!(
                s.link_types,
                vec![
                    LinkType::ETHERNET,
                    LinkType::RAW,
                    LinkType::LINUX_SLL2,
                    LinkType::LINUX_SLL
                ]
            );
            assert_eq!(s.packets, 5);
            assert_eq!(s.file_bytes, bytes.len() as u64);
            assert_eq!(s.first, Some(Ts::from_parts(105, 500_000_000)));
            assert_eq!(s.last, Some(Ts::from_parts(1_700_000_002, 500_000_000)));
            assert!(damage(&s.warnings).is_empty(), "{:?}", s.warnings);
        }
    }
}

#[test]
fn streaming_grows_its_window_for_a_large_block() {
    let mut ng = Ng::new(false);
    ng.idb(1, None, None);
    ng.epb(0, 1, b"before", None);
    ng.block(0x0000_0BAD, &vec![7u8; 3 << 20]); // a 3 MiB custom block: larger than the window
    ng.epb(0, 2, b"after", None);
    let mut r = stream(&ng.out, 1 << 16);
    let ps = read_all(&mut r);
    assert_eq!(ps.len(), 2);
    assert_eq!(ps[1].data, b"after");
    assert_eq!(ps[1].frame, 2);
    assert!(damage(&r.summary().warnings).is_empty());
}

#[test]
fn gzip_file_via_open_and_multi_member() {
    let plain = pcap_of(false, false);
    let p = temp_file("gz.pcap", &gzip(&plain));
    let mut r = CaptureReader::open(&p).unwrap();
    assert_eq!(read_all(&mut r).len(), 3);
    assert!(r.summary().gzip);
    assert_eq!(r.summary().file_bytes, plain.len() as u64);
    std::fs::remove_file(&p).unwrap();

    // Two gzip members: the first holds the header and one record, the second the rest.
    let cut = 24 + 16 + 5;
    let mut two = gzip(&plain[..cut]);
    two.extend_from_slice(&gzip(&plain[cut..]));
    let p = temp_file("gz2.pcap", &two);
    let mut r = CaptureReader::open(&p).unwrap();
    let ps = read_all(&mut r);
    assert_eq!(ps.len(), 3);
    assert_eq!(ps[2].data, b"third!");
    assert!(damage(&r.summary().warnings).is_empty());
    std::fs::remove_file(&p).unwrap();

    // Same through from_read (standard input).
    let mut r = stream(&two, 3);
    assert_eq!(read_all(&mut r).len(), 3);
    assert!(r.summary().gzip);
}

#[test]
fn plain_file_via_open_is_mapped() {
    let bytes = pcapng_sample(false);
    let p = temp_file("plain.pcapng", &bytes);
    let mut r = CaptureReader::open(&p).unwrap();
    assert_eq!(read_all(&mut r).len(), 5);
    assert!(!r.summary().gzip);
    std::fs::remove_file(&p).unwrap();
}

#[test]
fn truncated_last_record_keeps_earlier_packets() {
    let bytes = pcap_of(false, false);
    let cut = &bytes[..bytes.len() - 3];
    let last_rec = (24 + 16 + 5 + 16 + 300) as u64;
    for mut r in [mem(cut), stream(cut, 11)] {
        let ps = read_all(&mut r);
        assert_eq!(ps.len(), 2);
        let w = damage(&r.summary().warnings);
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(w[0].offset, Some(last_rec));
        assert_eq!(w[0].frame, Some(3));
        assert!(
            w[0].message.contains("truncated record"),
            "{}",
            w[0].message
        );
        assert!(r.next_packet().is_none(), "stays ended");
    }
    // Cut inside the record header.
    let cut = &bytes[..last_rec as usize + 9];
    let mut r = mem(cut);
    assert_eq!(read_all(&mut r).len(), 2);
    let w = damage(&r.summary().warnings);
    assert_eq!(w[0].offset, Some(last_rec));
    assert!(w[0].message.contains("header"));
}

#[test]
fn truncated_gzip_reports_the_read_error() {
    let gz = gzip(&pcap_of(false, false));
    let cut = &gz[..gz.len() - 12];
    let mut r = stream(cut, 1024);
    let n = read_all(&mut r).len();
    assert!(n <= 3);
    assert_eq!(
        damage(&r.summary().warnings).len(),
        1,
        "{:?}",
        r.summary().warnings
    );
}

#[test]
fn absurd_record_length_in_the_middle() {
    let mut bytes = pcap_of(true, false);
    let second = 24 + 16 + 5;
    bytes[second + 8..second + 12].copy_from_slice(&0x7fff_0000u32.to_be_bytes());
    let mut r = mem(&bytes);
    let ps = read_all(&mut r);
    assert_eq!(ps.len(), 1);
    let w = &r.summary().warnings;
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].offset, Some(second as u64));
    assert_eq!(w[0].frame, Some(2));
    assert!(w[0].message.contains("exceeds"), "{}", w[0].message);
}

#[test]
fn pcapng_damage() {
    let good = pcapng_sample(false);
    // Block offsets of the first section (little-endian in this sample).
    let mut offs = Vec::new();
    let mut at = 0;
    while offs.len() < 8 {
        offs.push(at);
        at += u32::from_le_bytes(good[at + 4..at + 8].try_into().unwrap()) as usize;
    }
    let epb1 = offs[7]; // shb idb idb idb nrb epb unknown epb
    assert_eq!(
        u32::from_le_bytes(good[epb1..epb1 + 4].try_into().unwrap()),
        6
    );

    // Trailing length disagrees with the leading one.
    let mut b = good.clone();
    let len = u32::from_le_bytes(b[epb1 + 4..epb1 + 8].try_into().unwrap()) as usize;
    b[epb1 + len - 4] ^= 0x40;
    let mut r = mem(&b);
    assert_eq!(read_all(&mut r).len(), 1);
    let w = &r.summary().warnings;
    assert_eq!(w.len(), 1);
    assert_eq!((w[0].offset, w[0].frame), (Some(epb1 as u64), Some(2)));
    assert!(w[0].message.contains("mismatch"), "{}", w[0].message);

    // The leading length points far beyond the end.
    let mut b = good.clone();
    b[epb1 + 4..epb1 + 8].copy_from_slice(&0x0100_0000u32.to_le_bytes());
    for mut r in [mem(&b), stream(&b, 64)] {
        assert_eq!(read_all(&mut r).len(), 1);
        let w = &r.summary().warnings;
        assert_eq!(w[0].offset, Some(epb1 as u64));
        assert!(w[0].message.contains("truncated block"), "{}", w[0].message);
    }

    // Garbage (an unaligned length) in the middle.
    let mut b = good[..epb1].to_vec();
    b.extend_from_slice(b"GARBAGE GARBAGE GARBAGE!");
    b.extend_from_slice(&good[epb1..]);
    let mut r = mem(&b);
    assert_eq!(read_all(&mut r).len(), 1);
    assert_eq!(r.summary().warnings[0].offset, Some(epb1 as u64));

    // A packet for an interface that was never described.
    let mut ng = Ng::new(false);
    ng.idb(1, None, None);
    ng.epb(3, 0, b"x", None);
    let mut r = mem(&ng.out);
    assert_eq!(read_all(&mut r).len(), 0);
    assert!(r.summary().warnings[0].message.contains("interface 3"));

    // A packet length larger than its block.
    let mut ng = Ng::new(true);
    ng.idb(1, None, None);
    let at = ng.out.len();
    ng.epb(0, 0, b"abcd", None);
    ng.out[at + 20..at + 24].copy_from_slice(&4000u32.to_be_bytes());
    let mut r = mem(&ng.out);
    assert_eq!(read_all(&mut r).len(), 0);
    assert!(r.summary().warnings[0].message.contains("does not fit"));
}

#[test]
fn not_a_capture_and_empty() {
    let html = b"<!DOCTYPE html><html><body>nope</body></html>";
    let p = temp_file("html.pcap", html);
    match CaptureReader::open(&p) {
        Err(CaptureError::NotACapture { first_bytes, .. }) => {
            assert!(first_bytes.starts_with("3c 21 44 4f"), "{first_bytes}");
            assert!(first_bytes.ends_with("|<!DOCTYPE html><|"), "{first_bytes}");
        }
        other => panic!("{:?}", other.err()),
    }
    std::fs::remove_file(&p).unwrap();

    let p = temp_file("empty.pcap", b"");
    assert!(matches!(
        CaptureReader::open(&p),
        Err(CaptureError::Empty { .. })
    ));
    std::fs::remove_file(&p).unwrap();

    assert!(matches!(
        CaptureReader::from_read("x".into(), Box::new(std::io::empty())),
        Err(CaptureError::Empty { .. })
    ));
    // gzip of something that is not a capture.
    assert!(matches!(
        CaptureReader::from_read(
            "x".into(),
            Box::new(std::io::Cursor::new(gzip(b"hello world")))
        ),
        Err(CaptureError::NotACapture { .. })
    ));
    // Three bytes: too short to be anything.
    assert!(matches!(
        CaptureReader::from_bytes("x".into(), vec![0xd4, 0xc3, 0xb2]),
        Err(CaptureError::NotACapture { .. })
    ));
    // A pcap magic with a cut header.
    assert!(matches!(
        CaptureReader::from_bytes("x".into(), pcap_of(false, false)[..20].to_vec()),
        Err(CaptureError::BadHeader { .. })
    ));
    // Missing file.
    assert!(matches!(
        CaptureReader::open(std::path::Path::new("/nonexistent/x.pcap")),
        Err(CaptureError::Io { .. })
    ));
}

#[test]
fn unknown_link_type_is_not_an_error() {
    let bytes = pcapgen::pcap(
        147,
        false,
        false,
        &[Rec {
            sec: 1,
            frac: 0,
            data: b"user0",
            orig: None,
        }],
    );
    let mut r = mem(&bytes);
    let ps = read_all(&mut r);
    assert_eq!(ps.len(), 1);
    assert_eq!(ps[0].link, 147);
    assert_eq!(r.summary().link_types[0].name(), "LINKTYPE_147");
}

#[test]
fn damaged_inputs_never_panic() {
    // Every prefix and a sweep of single-byte corruptions of both formats.
    for bytes in [pcap_of(false, true), pcapng_sample(true)] {
        for cut in 0..bytes.len() {
            if let Ok(mut r) = CaptureReader::from_bytes("x".into(), bytes[..cut].to_vec()) {
                read_all(&mut r);
            }
        }
        for at in 0..bytes.len() {
            let mut b = bytes.clone();
            b[at] ^= 0xa5;
            if let Ok(mut r) = CaptureReader::from_bytes("x".into(), b) {
                let n = read_all(&mut r).len() as u64;
                assert_eq!(n, r.summary().packets);
            }
        }
    }
}

#[test]
fn reader_and_decoder_are_send() {
    fn is_send<T: Send>() {}
    is_send::<CaptureReader>();
    is_send::<pcapmail::decode::Decoder>();
}

/// The warnings about damage, without the one saying that packets were cut by the snap
/// length (these captures have records shorter than on the wire on purpose).
fn damage(ws: &[pcapmail::model::Warning]) -> Vec<&pcapmail::model::Warning> {
    ws.iter()
        .filter(|w| !w.message.contains("snap length"))
        .collect()
}
