//! Test helper: writes pcap and pcapng bytes and builds TCP frames for every supported link
//! type (with etherparse's PacketBuilder, an implementation independent of ours).
#![allow(dead_code)]

use etherparse::{LinuxSllPacketType, PacketBuilder, VlanId};

/// One record for a pcap file.
pub struct Rec<'a> {
    pub sec: u32,
    /// Microseconds or nanoseconds, per the file's magic.
    pub frac: u32,
    pub data: &'a [u8],
    /// Length on the wire (defaults to the data length when `None`).
    pub orig: Option<u32>,
}

fn put32(out: &mut Vec<u8>, v: u32, be: bool) {
    out.extend_from_slice(&if be { v.to_be_bytes() } else { v.to_le_bytes() });
}

fn put16(out: &mut Vec<u8>, v: u16, be: bool) {
    out.extend_from_slice(&if be { v.to_be_bytes() } else { v.to_le_bytes() });
}

/// A pcap file header.
pub fn pcap_header(link: u32, be: bool, nano: bool) -> Vec<u8> {
    let mut out = Vec::new();
    put32(&mut out, if nano { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }, be);
    put16(&mut out, 2, be);
    put16(&mut out, 4, be);
    put32(&mut out, 0, be);
    put32(&mut out, 0, be);
    put32(&mut out, 262_144, be);
    put32(&mut out, link, be);
    out
}

/// Appends one pcap record.
pub fn pcap_record(out: &mut Vec<u8>, r: &Rec, be: bool) {
    put32(out, r.sec, be);
    put32(out, r.frac, be);
    put32(out, r.data.len() as u32, be);
    put32(out, r.orig.unwrap_or(r.data.len() as u32), be);
    out.extend_from_slice(r.data);
}

/// A whole pcap file.
pub fn pcap(link: u32, be: bool, nano: bool, recs: &[Rec]) -> Vec<u8> {
    let mut out = pcap_header(link, be, nano);
    for r in recs {
        pcap_record(&mut out, r, be);
    }
    out
}

/// A pcapng writer (one byte order for the whole file unless `set_be` is called before a
/// new section).
pub struct Ng {
    pub be: bool,
    pub out: Vec<u8>,
}

impl Ng {
    pub fn new(be: bool) -> Ng {
        let mut ng = Ng {
            be,
            out: Vec::new(),
        };
        ng.shb();
        ng
    }

    /// Appends a block of type `t` with `body` (padded to 4 bytes).
    pub fn block(&mut self, t: u32, body: &[u8]) {
        let be = self.be;
        let pad = (4 - body.len() % 4) % 4;
        let len = (12 + body.len() + pad) as u32;
        put32(&mut self.out, t, be);
        put32(&mut self.out, len, be);
        self.out.extend_from_slice(body);
        self.out.resize(self.out.len() + pad, 0);
        put32(&mut self.out, len, be);
    }

    /// A section header block (starts a new interface list).
    pub fn shb(&mut self) {
        let be = self.be;
        let mut b = Vec::new();
        put32(&mut b, 0x1A2B_3C4D, be);
        put16(&mut b, 1, be);
        put16(&mut b, 0, be);
        b.extend_from_slice(&[0xff; 8]); // section length unknown
        self.block(0x0A0D_0D0A, &b);
    }

    /// An interface description block with optional if_tsresol and if_tsoffset.
    pub fn idb(&mut self, link: u16, tsresol: Option<u8>, tsoffset: Option<i64>) {
        let be = self.be;
        let mut b = Vec::new();
        put16(&mut b, link, be);
        put16(&mut b, 0, be);
        put32(&mut b, 262_144, be);
        // An if_name option first, so options are walked, not just read at a fixed place.
        put16(&mut b, 2, be);
        put16(&mut b, 5, be);
        b.extend_from_slice(b"eth0\0\0\0\0");
        if let Some(r) = tsresol {
            put16(&mut b, 9, be);
            put16(&mut b, 1, be);
            b.extend_from_slice(&[r, 0, 0, 0]);
        }
        if let Some(o) = tsoffset {
            put16(&mut b, 14, be);
            put16(&mut b, 8, be);
            b.extend_from_slice(&if be { o.to_be_bytes() } else { o.to_le_bytes() });
        }
        put16(&mut b, 0, be);
        put16(&mut b, 0, be);
        self.block(1, &b);
    }

    /// An enhanced packet block with a raw timestamp in interface units, plus an option
    /// (epb_flags) so options after the data are skipped correctly.
    pub fn epb(&mut self, if_id: u32, units: u64, data: &[u8], orig: Option<u32>) {
        let be = self.be;
        let mut b = Vec::new();
        put32(&mut b, if_id, be);
        put32(&mut b, (units >> 32) as u32, be);
        put32(&mut b, units as u32, be);
        put32(&mut b, data.len() as u32, be);
        put32(&mut b, orig.unwrap_or(data.len() as u32), be);
        b.extend_from_slice(data);
        b.resize(b.len() + (4 - data.len() % 4) % 4, 0);
        put16(&mut b, 2, be);
        put16(&mut b, 4, be);
        put32(&mut b, 1, be);
        put16(&mut b, 0, be);
        put16(&mut b, 0, be);
        self.block(6, &b);
    }

    /// A simple packet block (interface 0, no timestamp).
    pub fn spb(&mut self, data: &[u8]) {
        let be = self.be;
        let mut b = Vec::new();
        put32(&mut b, data.len() as u32, be);
        b.extend_from_slice(data);
        self.block(3, &b);
    }

    /// An obsolete packet block.
    pub fn pb(&mut self, if_id: u16, units: u64, data: &[u8]) {
        let be = self.be;
        let mut b = Vec::new();
        put16(&mut b, if_id, be);
        put16(&mut b, 0, be);
        put32(&mut b, (units >> 32) as u32, be);
        put32(&mut b, units as u32, be);
        put32(&mut b, data.len() as u32, be);
        put32(&mut b, data.len() as u32, be);
        b.extend_from_slice(data);
        self.block(2, &b);
    }
}

/// The TCP fields every test frame carries, so decoded segments can be compared exactly.
pub const SPORT: u16 = 49_152;
pub const DPORT: u16 = 25;
pub const SEQ: u32 = 0x0102_0304;
pub const ACK: u32 = 0x0a0b_0c0d;
pub const WIN: u16 = 29_200;
pub const V4_SRC: [u8; 4] = [192, 0, 2, 1];
pub const V4_DST: [u8; 4] = [198, 51, 100, 2];
pub const V6_SRC: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
pub const V6_DST: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

/// An IPv4 or IPv6 packet carrying a TCP segment with PSH|ACK and `payload`.
pub fn ip_tcp(v6: bool, payload: &[u8]) -> Vec<u8> {
    let b = if v6 {
        PacketBuilder::ipv6(V6_SRC, V6_DST, 64)
    } else {
        PacketBuilder::ipv4(V4_SRC, V4_DST, 64)
    };
    let b = b.tcp(SPORT, DPORT, SEQ, WIN).ack(ACK).psh();
    let mut out = Vec::new();
    b.write(&mut out, payload).unwrap();
    out
}

/// Link-layer variants the tests build frames for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Ethernet,
    Vlan,
    QinQ,
    Sll,
    Sll2,
    Raw,
    Ipv4Only,
    Ipv6Only,
    NullLe,
    NullBe,
    Loop,
}

impl Link {
    /// The LINKTYPE_ number.
    pub fn linktype(self) -> u32 {
        match self {
            Link::Ethernet | Link::Vlan | Link::QinQ => 1,
            Link::Sll => 113,
            Link::Sll2 => 276,
            Link::Raw => 101,
            Link::Ipv4Only => 228,
            Link::Ipv6Only => 229,
            Link::NullLe | Link::NullBe => 0,
            Link::Loop => 108,
        }
    }
}

/// A frame of link type `link` carrying TCP over IPv4 or IPv6 with `payload`.
pub fn frame(link: Link, v6: bool, payload: &[u8]) -> Vec<u8> {
    let src_mac = [2, 0, 0, 0, 0, 1];
    let dst_mac = [2, 0, 0, 0, 0, 2];
    let eth_like = |b: etherparse::PacketBuilderStep<etherparse::VlanHeader>| {
        let b = if v6 {
            b.ipv6(V6_SRC, V6_DST, 64)
        } else {
            b.ipv4(V4_SRC, V4_DST, 64)
        };
        let mut out = Vec::new();
        b.tcp(SPORT, DPORT, SEQ, WIN)
            .ack(ACK)
            .psh()
            .write(&mut out, payload)
            .unwrap();
        out
    };
    match link {
        Link::Ethernet => {
            let b = PacketBuilder::ethernet2(src_mac, dst_mac);
            let b = if v6 {
                b.ipv6(V6_SRC, V6_DST, 64)
            } else {
                b.ipv4(V4_SRC, V4_DST, 64)
            };
            let mut out = Vec::new();
            b.tcp(SPORT, DPORT, SEQ, WIN)
                .ack(ACK)
                .psh()
                .write(&mut out, payload)
                .unwrap();
            out
        }
        Link::Vlan => eth_like(
            PacketBuilder::ethernet2(src_mac, dst_mac).single_vlan(VlanId::try_new(10).unwrap()),
        ),
        Link::QinQ => eth_like(
            PacketBuilder::ethernet2(src_mac, dst_mac)
                .double_vlan(VlanId::try_new(100).unwrap(), VlanId::try_new(200).unwrap()),
        ),
        Link::Sll => {
            let b = PacketBuilder::linux_sll(LinuxSllPacketType::HOST, 6, [2, 0, 0, 0, 0, 1, 0, 0]);
            let b = if v6 {
                b.ipv6(V6_SRC, V6_DST, 64)
            } else {
                b.ipv4(V4_SRC, V4_DST, 64)
            };
            let mut out = Vec::new();
            b.tcp(SPORT, DPORT, SEQ, WIN)
                .ack(ACK)
                .psh()
                .write(&mut out, payload)
                .unwrap();
            out
        }
        Link::Sll2 => {
            let mut out = Vec::new();
            out.extend_from_slice(&(if v6 { 0x86ddu16 } else { 0x0800 }).to_be_bytes());
            out.extend_from_slice(&[0, 0]); // reserved
            out.extend_from_slice(&3u32.to_be_bytes()); // interface index
            out.extend_from_slice(&1u16.to_be_bytes()); // ARPHRD_ETHER
            out.push(0); // packet type: host
            out.push(6); // address length
            out.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0, 0]);
            out.extend_from_slice(&ip_tcp(v6, payload));
            out
        }
        Link::Raw | Link::Ipv4Only | Link::Ipv6Only => ip_tcp(v6, payload),
        Link::NullLe | Link::NullBe | Link::Loop => {
            // FreeBSD's AF_INET6 (28) for IPv6 in NULL; Darwin's (30) for LOOP.
            let fam: u32 = match (link, v6) {
                (_, false) => 2,
                (Link::Loop, true) => 30,
                _ => 28,
            };
            let mut out = if link == Link::NullLe {
                fam.to_le_bytes().to_vec()
            } else {
                fam.to_be_bytes().to_vec()
            };
            out.extend_from_slice(&ip_tcp(v6, payload));
            out
        }
    }
}
