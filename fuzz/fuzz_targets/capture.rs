//! Capture reader: pcap, pcapng and gzip-compressed input, streamed (as from stdin or a
//! gzip file) and from memory.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pcapmail::capture::CaptureReader;

fn drain(mut r: CaptureReader) {
    let mut n = 0u64;
    while let Some(p) = r.next_packet() {
        assert!(p.data.len() <= pcapmail::capture::MAX_CAPLEN);
        n += 1;
    }
    let s = r.summary();
    assert_eq!(s.packets, n);
}

fuzz_target!(|data: &[u8]| {
    // Streamed: the path taken by stdin, pipes and gzip (sniffed by magic).
    let cursor = std::io::Cursor::new(data.to_vec());
    if let Ok(r) = CaptureReader::from_read("fuzz".into(), Box::new(cursor)) {
        drain(r);
    }
    // In memory: the slice path.
    if let Ok(r) = CaptureReader::from_bytes("fuzz".into(), data.to_vec()) {
        drain(r);
    }
});
