//! Reader → decoder end to end for every link type and format, fragments, IPv6 extension
//! headers, snaplen truncation and malformed headers.

mod common;

use common::pcapgen::{
    self, Link, Ng, Rec, ACK, DPORT, SEQ, SPORT, V4_DST, V4_SRC, V6_DST, V6_SRC, WIN,
};
use pcapmail::capture::{CaptureReader, LinkType};
use pcapmail::decode::{DecodeLimits, Decoded, Decoder, TcpFlags};
use pcapmail::model::Ts;
use std::net::IpAddr;

const LINKS: [Link; 11] = [
    Link::Ethernet,
    Link::Vlan,
    Link::QinQ,
    Link::Sll,
    Link::Sll2,
    Link::Raw,
    Link::Ipv4Only,
    Link::Ipv6Only,
    Link::NullLe,
    Link::NullBe,
    Link::Loop,
];

fn versions(link: Link) -> &'static [bool] {
    match link {
        Link::Ipv4Only => &[false],
        Link::Ipv6Only => &[true],
        _ => &[false, true],
    }
}

fn check_segment(d: Decoded, v6: bool, payload: &[u8], what: &str) {
    let Decoded::Tcp(seg) = d else {
        panic!("{what}: {d:?}")
    };
    let (src, dst): (IpAddr, IpAddr) = if v6 {
        (V6_SRC.into(), V6_DST.into())
    } else {
        (V4_SRC.into(), V4_DST.into())
    };
    assert_eq!(seg.src, src, "{what}");
    assert_eq!(seg.dst, dst, "{what}");
    assert_eq!((seg.sport, seg.dport), (SPORT, DPORT), "{what}");
    assert_eq!((seg.seq, seg.ack, seg.window), (SEQ, ACK, WIN), "{what}");
    assert_eq!(seg.flags, TcpFlags(TcpFlags::ACK | TcpFlags::PSH), "{what}");
    assert_eq!(seg.payload, payload, "{what}");
    assert_eq!(seg.missing, 0, "{what}");
}

#[test]
fn every_link_type_through_pcap() {
    let payload = b"EHLO client.example\r\n";
    for link in LINKS {
        for &v6 in versions(link) {
            let f = pcapgen::frame(link, v6, payload);
            for be in [false, true] {
                let bytes = pcapgen::pcap(
                    link.linktype(),
                    be,
                    false,
                    &[Rec {
                        sec: 10,
                        frac: 5,
                        data: &f,
                        orig: None,
                    }],
                );
                let mut r = CaptureReader::from_bytes("t".into(), bytes).unwrap();
                let mut dec = Decoder::new(DecodeLimits::default());
                let p = r.next_packet().unwrap();
                assert_eq!(p.link_type, LinkType(link.linktype()));
                let what = format!("{link:?} v6={v6} be={be}");
                check_segment(dec.decode(p.link_type, p.data, p.ts), v6, payload, &what);
                assert_eq!(dec.counters().tcp, 1);
            }
        }
    }
}

#[test]
fn every_link_type_through_one_pcapng() {
    // One interface per link type, all in one section, interleaved packets.
    let payload = b"+OK POP3 ready\r\n";
    let mut ng = Ng::new(false);
    let mut cases = Vec::new();
    for (i, link) in LINKS.iter().enumerate() {
        ng.idb(
            link.linktype() as u16,
            Some(if i % 2 == 0 { 6 } else { 9 }),
            None,
        );
    }
    for (i, &link) in LINKS.iter().enumerate() {
        for &v6 in versions(link) {
            ng.epb(
                i as u32,
                1_000 + i as u64,
                &pcapgen::frame(link, v6, payload),
                None,
            );
            cases.push((link, v6));
        }
    }
    let mut r = CaptureReader::from_bytes("t".into(), ng.out).unwrap();
    let mut dec = Decoder::default();
    let mut n = 0;
    while let Some(p) = r.next_packet() {
        let (link, v6) = cases[n];
        n += 1;
        assert_eq!(p.frame, n as u64);
        check_segment(
            dec.decode(p.link_type, p.data, p.ts),
            v6,
            payload,
            &format!("{link:?} v6={v6}"),
        );
    }
    assert_eq!(n, cases.len());
    assert_eq!(dec.counters().tcp, cases.len() as u64);
    // Ethernet appears once although three variants use it, NULL once for two.
    assert_eq!(r.summary().link_types.len(), 8);
}

#[test]
fn snaplen_truncated_payload_is_missing() {
    let payload = vec![b'x'; 1000];
    for v6 in [false, true] {
        let f = pcapgen::frame(Link::Ethernet, v6, &payload);
        let cut = &f[..f.len() - 400];
        let mut dec = Decoder::default();
        match dec.decode(LinkType::ETHERNET, cut, Ts(0)) {
            Decoded::Tcp(seg) => {
                assert_eq!(seg.payload, &payload[..600]);
                assert_eq!(seg.missing, 400);
            }
            d => panic!("{d:?}"),
        }
        assert_eq!(dec.counters().snaplen_truncated, 1);
        // Cut inside the TCP header: counted as truncated, reported as malformed.
        let hdr_end = f.len() - 1000;
        assert!(matches!(
            dec.decode(LinkType::ETHERNET, &f[..hdr_end - 5], Ts(0)),
            Decoded::Malformed(_)
        ));
        assert_eq!(dec.counters().truncated, 1);
        assert_eq!(dec.counters().malformed, 0);
    }
}

#[test]
fn ethernet_padding_is_not_payload() {
    let mut f = pcapgen::frame(Link::Ethernet, false, b"");
    f.extend_from_slice(&[0; 6]); // minimum frame size padding
    let mut dec = Decoder::default();
    check_segment(
        dec.decode(LinkType::ETHERNET, &f, Ts(0)),
        false,
        b"",
        "padding",
    );
}

#[test]
fn non_tcp_non_ip_unsupported_and_malformed() {
    let mut dec = Decoder::default();
    // UDP.
    let mut udp = Vec::new();
    etherparse::PacketBuilder::ethernet2([0; 6], [1; 6])
        .ipv4(V4_SRC, V4_DST, 5)
        .udp(53, 53)
        .write(&mut udp, b"dns")
        .unwrap();
    assert_eq!(dec.decode(LinkType::ETHERNET, &udp, Ts(0)), Decoded::NotTcp);
    // ARP.
    let mut arp = vec![0u8; 42];
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    assert_eq!(dec.decode(LinkType::ETHERNET, &arp, Ts(0)), Decoded::NotTcp);
    // Unknown link type.
    assert_eq!(
        dec.decode(LinkType(147), b"whatever", Ts(0)),
        Decoded::UnsupportedLink(LinkType(147))
    );
    // TCP data offset of 3 words.
    let mut bad = pcapgen::frame(Link::Raw, false, b"abc");
    bad[20 + 12] = 0x30;
    assert!(matches!(
        dec.decode(LinkType::RAW, &bad, Ts(0)),
        Decoded::Malformed(_)
    ));
    // TCP data offset beyond the segment.
    let mut bad = pcapgen::frame(Link::Raw, false, b"abc");
    bad[20 + 12] = 0xf0;
    assert!(matches!(
        dec.decode(LinkType::RAW, &bad, Ts(0)),
        Decoded::Malformed(_)
    ));
    // IPv4 header length below 20.
    let mut bad = pcapgen::frame(Link::Raw, false, b"abc");
    bad[0] = 0x44;
    assert!(matches!(
        dec.decode(LinkType::RAW, &bad, Ts(0)),
        Decoded::Malformed(_)
    ));
    // NULL with an unknown family.
    assert_eq!(
        dec.decode(LinkType::NULL, &[7, 0, 0, 0, 0x45], Ts(0)),
        Decoded::NotTcp
    );
    let c = dec.counters();
    assert_eq!(
        (
            c.frames,
            c.not_tcp,
            c.non_ip,
            c.unsupported_link,
            c.malformed
        ),
        (7, 1, 2, 1, 3)
    );
    let pairs = c.pairs();
    assert_eq!(pairs[0], ("frames", 7));
    assert!(pairs.iter().any(|&(n, v)| n == "malformed" && v == 3));
}

/// Splits a raw IPv4 TCP packet into fragments with the given (offset, len) in 8-byte units
/// of the IP payload; returns raw IPv4 fragments.
fn v4_fragments(packet: &[u8], pieces: &[(usize, usize)], id: u16) -> Vec<Vec<u8>> {
    let ihl = 20;
    let body = &packet[ihl..];
    pieces
        .iter()
        .map(|&(off, len)| {
            let start = off * 8;
            let end = (start + len * 8).min(body.len());
            let mut f = packet[..ihl].to_vec();
            f.extend_from_slice(&body[start..end]);
            let total = f.len() as u16;
            f[2..4].copy_from_slice(&total.to_be_bytes());
            f[4..6].copy_from_slice(&id.to_be_bytes());
            let more = if end < body.len() { 0x2000 } else { 0 };
            f[6..8].copy_from_slice(&(more | off as u16).to_be_bytes());
            f
        })
        .collect()
}

#[test]
fn ipv4_fragments_out_of_order_and_overlapping() {
    let payload: Vec<u8> = (0..200u8).collect();
    let pkt = pcapgen::ip_tcp(false, &payload); // 20 + 20 + 200 bytes
                                                // 220 bytes of IP payload: pieces of 64, 64, 64, 28 bytes, delivered 3, 1, 4(overlap), 2.
    let frags = v4_fragments(&pkt, &[(0, 8), (8, 8), (16, 8), (24, 4)], 7);
    let overlap = v4_fragments(&pkt, &[(4, 8)], 7).remove(0);
    let mut dec = Decoder::default();
    for (i, f) in [&frags[2], &frags[0], &overlap, &frags[3]]
        .into_iter()
        .enumerate()
    {
        assert_eq!(
            dec.decode(LinkType::RAW, f, Ts(i as i64)),
            Decoded::Fragment,
            "fragment {i}"
        );
    }
    check_segment(
        dec.decode(LinkType::RAW, &frags[1], Ts(9)),
        false,
        &payload,
        "reassembled",
    );
    let c = dec.counters().clone();
    // Two overlaps: the extra fragment over the first, and the last one over the extra.
    assert_eq!(
        (c.fragments, c.reassembled, c.tcp, c.fragment_overlaps),
        (4, 1, 1, 2)
    );

    // A later datagram with the same id reassembles again (the first was removed).
    for f in &frags[..3] {
        assert_eq!(dec.decode(LinkType::RAW, f, Ts(20)), Decoded::Fragment);
    }
    check_segment(
        dec.decode(LinkType::RAW, &frags[3], Ts(20)),
        false,
        &payload,
        "again",
    );
}

#[test]
fn fragment_limits_and_timeouts_are_counted() {
    let payload = vec![9u8; 100];
    let pkt = pcapgen::ip_tcp(false, &payload);
    let limits = DecodeLimits {
        max_fragment_datagrams: 2,
        max_datagram_bytes: 65_535,
        max_fragment_bytes: 1 << 20,
        fragment_timeout_ns: 1_000,
    };
    let mut dec = Decoder::new(limits);
    // Three datagrams started, only two fit: the oldest is dropped.
    for id in 1..=3 {
        let f = v4_fragments(&pkt, &[(0, 8)], id).remove(0);
        assert_eq!(dec.decode(LinkType::RAW, &f, Ts(0)), Decoded::Fragment);
    }
    assert_eq!(dec.counters().fragment_limit_drops, 1);
    // Completing id 1 is impossible now; id 3 completes.
    let tail = |id| v4_fragments(&pkt, &[(8, 8)], id).remove(0);
    assert_eq!(
        dec.decode(LinkType::RAW, &tail(1), Ts(0)),
        Decoded::Fragment
    );
    assert!(matches!(
        dec.decode(LinkType::RAW, &tail(3), Ts(0)),
        Decoded::Tcp(_)
    ));
    // Id 2 times out before its tail arrives.
    assert_eq!(
        dec.decode(LinkType::RAW, &tail(2), Ts(5_000)),
        Decoded::Fragment
    );
    assert!(dec.counters().fragment_timeouts >= 1);

    // A datagram larger than the per-datagram bound.
    let mut dec = Decoder::new(DecodeLimits {
        max_datagram_bytes: 64,
        ..DecodeLimits::default()
    });
    let frags = v4_fragments(&pkt, &[(0, 8), (8, 8)], 1);
    assert_eq!(
        dec.decode(LinkType::RAW, &frags[0], Ts(0)),
        Decoded::Fragment
    );
    assert_eq!(
        dec.decode(LinkType::RAW, &frags[1], Ts(0)),
        Decoded::Fragment
    );
    assert_eq!(dec.counters().fragment_limit_drops, 1);
    assert_eq!(dec.counters().reassembled, 0);

    // Contradicting ends.
    let mut dec = Decoder::default();
    let frags = v4_fragments(&pkt, &[(0, 8), (8, 8)], 1);
    let mut short_end = v4_fragments(&pkt, &[(8, 2)], 1).remove(0);
    short_end[6..8].copy_from_slice(&8u16.to_be_bytes()); // last fragment, ends at 80
    assert_eq!(
        dec.decode(LinkType::RAW, &frags[1], Ts(0)),
        Decoded::Fragment
    );
    assert_eq!(
        dec.decode(LinkType::RAW, &short_end, Ts(0)),
        Decoded::Fragment
    );
    assert_eq!(dec.counters().fragment_errors, 1);
}

/// Builds an IPv6 packet by hand: `exts` are (next-header value of the ext, bytes).
fn v6_with_exts(exts: &[(u8, Vec<u8>)], tcp_and_payload: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for (i, (_, bytes)) in exts.iter().enumerate() {
        let mut b = bytes.clone();
        b[0] = exts.get(i + 1).map_or(6, |e| e.0);
        body.extend_from_slice(&b);
    }
    body.extend_from_slice(tcp_and_payload);
    let mut p = vec![0x60, 0, 0, 0];
    p.extend_from_slice(&(body.len() as u16).to_be_bytes());
    p.push(exts.first().map_or(6, |e| e.0));
    p.push(64);
    p.extend_from_slice(&V6_SRC);
    p.extend_from_slice(&V6_DST);
    p.extend_from_slice(&body);
    p
}

#[test]
fn ipv6_extension_headers_and_fragments() {
    let payload = b"AUTH PLAIN AGpvZQBzZWNyZXQ=\r\n".to_vec();
    let tcp = pcapgen::ip_tcp(true, &payload)[40..].to_vec();
    let hop = (0u8, vec![0, 0, 1, 4, 0, 0, 0, 0]); // PadN option
    let dst = (60u8, vec![0, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let rt = (43u8, vec![0, 0, 0, 0, 0, 0, 0, 0]); // routing type 0, no segments left
    let atomic = (44u8, vec![0, 0, 0, 0, 0, 0, 0, 9]);
    let mut dec = Decoder::default();
    let p = v6_with_exts(&[hop.clone(), rt, dst.clone(), atomic], &tcp);
    check_segment(
        dec.decode(LinkType::RAW, &p, Ts(0)),
        true,
        &payload,
        "ext chain",
    );

    // Fragmented: unfragmentable part (hop-by-hop), fragment header, then dest opts + TCP.
    let mut frag_body = dst.1.clone();
    frag_body[0] = 6;
    frag_body.extend_from_slice(&tcp);
    let split = 24; // multiple of 8
    let mk = |off: usize, data: &[u8], more: bool| {
        let mut fh = vec![0u8; 8];
        fh[0] = 60; // next header after reassembly: destination options
        fh[2..4].copy_from_slice(&((off as u16) | more as u16).to_be_bytes());
        fh[4..8].copy_from_slice(&0xdead_beefu32.to_be_bytes());
        let mut body = hop.1.clone();
        body[0] = 44;
        body.extend_from_slice(&fh);
        body.extend_from_slice(data);
        let mut p = vec![0x60, 0, 0, 0];
        p.extend_from_slice(&(body.len() as u16).to_be_bytes());
        p.push(0);
        p.push(64);
        p.extend_from_slice(&V6_SRC);
        p.extend_from_slice(&V6_DST);
        p.extend_from_slice(&body);
        p
    };
    let second = mk(split, &frag_body[split..], false);
    let first = mk(0, &frag_body[..split], true);
    assert_eq!(dec.decode(LinkType::RAW, &second, Ts(0)), Decoded::Fragment);
    check_segment(
        dec.decode(LinkType::RAW, &first, Ts(0)),
        true,
        &payload,
        "v6 reassembled",
    );
    assert_eq!(dec.counters().reassembled, 1);

    // An extension header running past the payload length is malformed.
    let mut bad = v6_with_exts(&[hop], &tcp);
    bad[41] = 200;
    assert!(matches!(
        dec.decode(LinkType::RAW, &bad, Ts(0)),
        Decoded::Malformed(_)
    ));
    // UDP after extension headers is not TCP.
    let mut udp = v6_with_exts(&[(60, vec![0; 8])], &[0; 8]);
    udp[40] = 17;
    assert_eq!(dec.decode(LinkType::RAW, &udp, Ts(0)), Decoded::NotTcp);
}

#[test]
fn decoder_never_panics_on_corrupt_frames() {
    let mut dec = Decoder::new(DecodeLimits {
        max_fragment_bytes: 1 << 16,
        ..DecodeLimits::default()
    });
    for link in LINKS {
        let f = pcapgen::frame(link, link == Link::Ipv6Only, b"0123456789abcdef");
        let lt = LinkType(link.linktype());
        for cut in 0..f.len() {
            let _ = dec.decode(lt, &f[..cut], Ts(0));
        }
        for at in 0..f.len() {
            for x in [0x01u8, 0x20, 0x80, 0xff] {
                let mut g = f.clone();
                g[at] ^= x;
                let _ = dec.decode(lt, &g, Ts(at as i64));
            }
        }
    }
    let c = dec.counters();
    let outcomes =
        c.tcp + c.not_tcp + c.non_ip + c.unsupported_link + c.malformed + c.truncated + c.fragments;
    assert_eq!(outcomes, c.frames);
}

/// Issue 12, item 15: DLT 12 (DLT_RAW on most BSDs and Linux) and 14 (DLT_RAW on OpenBSD)
/// appear as link types in files written by some tools; libpcap and Wireshark read them as
/// raw IP, exactly like LINKTYPE_RAW (101).
#[test]
fn dlt_12_and_14_read_like_raw() {
    let payload = b"EHLO client.example\r\n";
    for lt in [12u32, 14] {
        for v6 in [false, true] {
            let f = pcapgen::frame(Link::Raw, v6, payload);
            let bytes = pcapgen::pcap(
                lt,
                false,
                false,
                &[Rec {
                    sec: 10,
                    frac: 5,
                    data: &f,
                    orig: None,
                }],
            );
            let mut r = CaptureReader::from_bytes("t".into(), bytes).unwrap();
            let mut dec = Decoder::new(DecodeLimits::default());
            let p = r.next_packet().unwrap();
            assert_eq!(p.link_type, LinkType(lt));
            assert_eq!(p.link_type.name(), "RAW", "DLT {lt}");
            let what = format!("DLT {lt} v6={v6}");
            check_segment(dec.decode(p.link_type, p.data, p.ts), v6, payload, &what);
        }
    }
}
