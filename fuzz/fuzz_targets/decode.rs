//! Packet decoder: link layers, IPv4/IPv6 (extension headers, fragments with a bounded
//! reassembly pool), TCP. The input is a sequence of frames `[link][len lo][len hi][bytes]`.
#![no_main]
use libfuzzer_sys::fuzz_target;
use pcapmail::capture::LinkType;
use pcapmail::decode::{DecodeLimits, Decoded, Decoder};
use pcapmail::model::Ts;

const LINKS: [LinkType; 9] = [
    LinkType::NULL,
    LinkType::ETHERNET,
    LinkType::RAW,
    LinkType::LOOP,
    LinkType::LINUX_SLL,
    LinkType::IPV4,
    LinkType::IPV6,
    LinkType::LINUX_SLL2,
    LinkType(12345),
];

fuzz_target!(|data: &[u8]| {
    let mut dec = Decoder::new(DecodeLimits {
        max_fragment_datagrams: 4,
        max_datagram_bytes: 65_535,
        max_fragment_bytes: 8192,
        fragment_timeout_ns: 1_000_000_000,
    });
    let mut input = data;
    let mut t = 0i64;
    while input.len() >= 3 {
        let link = LINKS[input[0] as usize % LINKS.len()];
        // The high bits of the link byte move the clock (backwards too).
        t += (input[0] as i8 as i64 >> 3) * 100_000_000;
        let len = u16::from_le_bytes([input[1], input[2]]) as usize;
        input = &input[3..];
        let n = len.min(input.len());
        let (frame, rest) = input.split_at(n);
        input = rest;
        if let Decoded::Tcp(seg) = dec.decode(link, frame, Ts(t)) {
            assert!(seg.payload.len() <= 65_535 + 60);
        }
    }
    let c = dec.counters();
    let _ = c.pairs();
});
