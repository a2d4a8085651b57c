//! Link, network and transport decoding: from a frame to a TCP segment, zero-copy.
//!
//! Parsing is hand-written over byte slices: only the fields needed to reach TCP are read,
//! nothing is allocated on the path of an unfragmented packet, and every non-TCP packet is
//! recognised from one or two header bytes. IP fragments are reassembled in a bounded pool
//! (the only place that allocates, and it reuses its buffers).

use crate::capture::LinkType;
use crate::model::Ts;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// TCP header flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;

    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
    /// PSH flag.
    pub fn psh(self) -> bool {
        self.0 & Self::PSH != 0
    }
}

/// A decoded TCP segment; `payload` borrows the frame (or the defragmentation buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpSegment<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub window: u16,
    /// The captured payload.
    pub payload: &'a [u8],
    /// Payload bytes that the IP header says were sent but the capture does not hold
    /// (snaplen truncation). They follow `payload` in sequence space.
    pub missing: u32,
}

/// Bounds of IP fragment reassembly. Every limit hit is counted in [`DecodeCounters`].
#[derive(Debug, Clone, Copy)]
pub struct DecodeLimits {
    /// Datagrams being reassembled at once; the oldest is dropped to make room.
    pub max_fragment_datagrams: usize,
    /// Largest reassembled datagram (bytes after the IP header).
    pub max_datagram_bytes: usize,
    /// Bytes held by all datagrams being reassembled.
    pub max_fragment_bytes: usize,
    /// A datagram not completed within this much capture time (nanoseconds) is dropped.
    pub fragment_timeout_ns: i64,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_fragment_datagrams: 1024,
            // IPv4's total length is 16 bits; IPv6 without jumbograms likewise.
            max_datagram_bytes: 65_535,
            max_fragment_bytes: 16 << 20,
            // Linux's default ipfrag_time.
            fragment_timeout_ns: 30_000_000_000,
        }
    }
}

/// Counters of the decoder.
///
/// Every frame is counted once in exactly one of `tcp`, `not_tcp`, `non_ip`,
/// `unsupported_link`, `malformed`, `truncated` and `fragments`; the others count events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodeCounters {
    /// Frames given to the decoder.
    pub frames: u64,
    /// Frames that yielded a TCP segment (including ones that completed a datagram).
    pub tcp: u64,
    /// IP frames that are not TCP.
    pub not_tcp: u64,
    /// Frames without IP (ARP, LLC, ...).
    pub non_ip: u64,
    /// Frames of a link type the decoder does not know.
    pub unsupported_link: u64,
    /// Frames with impossible header fields.
    pub malformed: u64,
    /// Frames whose headers were cut by the snapshot length before reaching TCP payload.
    pub truncated: u64,
    /// TCP segments yielded with `missing > 0` (payload cut by the snapshot length).
    pub snaplen_truncated: u64,
    /// Fragments taken into reassembly that did not complete a datagram.
    pub fragments: u64,
    /// Datagrams reassembled from fragments.
    pub reassembled: u64,
    /// Fragments overlapping data already held (the first-arrived bytes are kept).
    pub fragment_overlaps: u64,
    /// Datagrams dropped because a reassembly limit was hit.
    pub fragment_limit_drops: u64,
    /// Datagrams dropped because they were not completed in time.
    pub fragment_timeouts: u64,
    /// Datagrams dropped because their fragments contradict each other.
    pub fragment_errors: u64,
}

impl DecodeCounters {
    /// (name, value) pairs in a fixed order, for reports.
    pub fn pairs(&self) -> [(&'static str, u64); 14] {
        [
            ("frames", self.frames),
            ("tcp", self.tcp),
            ("not_tcp", self.not_tcp),
            ("non_ip", self.non_ip),
            ("unsupported_link", self.unsupported_link),
            ("malformed", self.malformed),
            ("truncated", self.truncated),
            ("snaplen_truncated", self.snaplen_truncated),
            ("fragments", self.fragments),
            ("reassembled", self.reassembled),
            ("fragment_overlaps", self.fragment_overlaps),
            ("fragment_limit_drops", self.fragment_limit_drops),
            ("fragment_timeouts", self.fragment_timeouts),
            ("fragment_errors", self.fragment_errors),
        ]
    }
}

/// What a frame turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A TCP segment.
    Tcp(TcpSegment<'a>),
    /// Not TCP (another IP protocol, or no IP at all).
    NotTcp,
    /// An IP fragment held for reassembly (or dropped by a limit: see the counters).
    Fragment,
    /// The link type is not supported.
    UnsupportedLink(LinkType),
    /// Broken or snaplen-cut headers; the text says which.
    Malformed(&'static str),
}

/// Decodes frames down to TCP; holds IP reassembly state and counters.
pub struct Decoder {
    frag: Reassembler,
    counters: DecodeCounters,
}

/// Internal outcome, finer than [`Decoded`] for counting.
enum Out<'a> {
    Tcp(TcpSegment<'a>),
    NotTcp,
    NonIp,
    Fragment,
    Unsupported,
    Malformed(&'static str),
    Truncated(&'static str),
}

impl Decoder {
    /// A decoder with the given reassembly limits.
    pub fn new(limits: DecodeLimits) -> Decoder {
        Decoder {
            frag: Reassembler::new(limits),
            counters: DecodeCounters::default(),
        }
    }

    /// Decodes one frame. The segment borrows `data`, or the decoder when it completed a
    /// fragmented datagram (valid until the next call).
    #[inline]
    pub fn decode<'a>(&'a mut self, link: LinkType, data: &'a [u8], ts: Ts) -> Decoded<'a> {
        let c = &mut self.counters;
        c.frames += 1;
        match decode_link(&mut self.frag, c, link, data, ts) {
            Out::Tcp(seg) => {
                c.tcp += 1;
                if seg.missing > 0 {
                    c.snaplen_truncated += 1;
                }
                Decoded::Tcp(seg)
            }
            Out::NotTcp => {
                c.not_tcp += 1;
                Decoded::NotTcp
            }
            Out::NonIp => {
                c.non_ip += 1;
                Decoded::NotTcp
            }
            Out::Fragment => {
                c.fragments += 1;
                Decoded::Fragment
            }
            Out::Unsupported => {
                c.unsupported_link += 1;
                Decoded::UnsupportedLink(link)
            }
            Out::Malformed(m) => {
                c.malformed += 1;
                Decoded::Malformed(m)
            }
            Out::Truncated(m) => {
                c.truncated += 1;
                Decoded::Malformed(m)
            }
        }
    }

    /// The counters so far.
    pub fn counters(&self) -> &DecodeCounters {
        &self.counters
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new(DecodeLimits::default())
    }
}

#[inline(always)]
fn be16(d: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([d[at], d[at + 1]])
}

#[inline(always)]
fn be32(d: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
}

const ET_IPV4: u16 = 0x0800;
const ET_IPV6: u16 = 0x86dd;

/// Strips the link layer and dispatches on the network protocol.
#[inline]
fn decode_link<'a>(
    frag: &'a mut Reassembler,
    c: &mut DecodeCounters,
    link: LinkType,
    d: &'a [u8],
    ts: Ts,
) -> Out<'a> {
    match link {
        LinkType::ETHERNET => {
            if d.len() < 14 {
                return Out::Truncated("Ethernet header truncated");
            }
            ethertype(frag, c, be16(d, 12), &d[14..], ts)
        }
        LinkType::LINUX_SLL => {
            if d.len() < 16 {
                return Out::Truncated("Linux cooked (SLL) header truncated");
            }
            ethertype(frag, c, be16(d, 14), &d[16..], ts)
        }
        LinkType::LINUX_SLL2 => {
            if d.len() < 20 {
                return Out::Truncated("Linux cooked (SLL2) header truncated");
            }
            ethertype(frag, c, be16(d, 0), &d[20..], ts)
        }
        LinkType::RAW | LinkType::DLT_RAW | LinkType::DLT_RAW_OPENBSD => raw_ip(frag, c, d, ts),
        LinkType::IPV4 => ipv4(frag, c, d, ts),
        LinkType::IPV6 => ipv6(frag, c, d, ts),
        LinkType::NULL | LinkType::LOOP => {
            if d.len() < 4 {
                return Out::Truncated("loopback header truncated");
            }
            // NULL is in the capturing host's byte order, LOOP in network order; families
            // are small numbers, so a value with the low bytes empty is the other order.
            let mut fam = u32::from_be_bytes([d[0], d[1], d[2], d[3]]);
            if link == LinkType::NULL && fam & 0xffff == 0 {
                fam = fam.swap_bytes();
            }
            match fam {
                2 => ipv4(frag, c, &d[4..], ts),
                // BSD AF_INET6 values: NetBSD/OpenBSD 24, FreeBSD 28, Darwin 30.
                24 | 28 | 30 => ipv6(frag, c, &d[4..], ts),
                _ => Out::NonIp,
            }
        }
        _ => Out::Unsupported,
    }
}

/// Dispatches on an EtherType, stepping over VLAN tags (802.1Q, 802.1ad, QinQ) and PPPoE.
#[inline]
fn ethertype<'a>(
    frag: &'a mut Reassembler,
    c: &mut DecodeCounters,
    mut et: u16,
    mut d: &'a [u8],
    ts: Ts,
) -> Out<'a> {
    // A bound on stacked tags: real stacks have at most two or three.
    for _ in 0..8 {
        match et {
            ET_IPV4 => return ipv4(frag, c, d, ts),
            ET_IPV6 => return ipv6(frag, c, d, ts),
            0x8100 | 0x88a8 | 0x9100 | 0x9200 => {
                if d.len() < 4 {
                    return Out::Truncated("VLAN tag truncated");
                }
                et = be16(d, 2);
                d = &d[4..];
            }
            // PPPoE session: 6-byte header, then the PPP protocol number.
            0x8864 => {
                if d.len() < 8 {
                    return Out::Truncated("PPPoE header truncated");
                }
                return match be16(d, 6) {
                    0x0021 => ipv4(frag, c, &d[8..], ts),
                    0x0057 => ipv6(frag, c, &d[8..], ts),
                    _ => Out::NonIp,
                };
            }
            _ => return Out::NonIp,
        }
    }
    Out::Malformed("too many stacked VLAN tags")
}

/// Raw IP: the version nibble says which.
#[inline]
fn raw_ip<'a>(frag: &'a mut Reassembler, c: &mut DecodeCounters, d: &'a [u8], ts: Ts) -> Out<'a> {
    match d.first().map(|b| b >> 4) {
        Some(4) => ipv4(frag, c, d, ts),
        Some(6) => ipv6(frag, c, d, ts),
        Some(_) => Out::Malformed("raw IP packet with unknown IP version"),
        None => Out::Truncated("empty raw IP packet"),
    }
}

#[inline]
fn ipv4<'a>(frag: &'a mut Reassembler, c: &mut DecodeCounters, d: &'a [u8], ts: Ts) -> Out<'a> {
    if d.len() < 20 {
        return Out::Truncated("IPv4 header truncated");
    }
    if d[0] >> 4 != 4 {
        return Out::Malformed("IPv4 header with another IP version");
    }
    let ihl = ((d[0] & 0x0f) as usize) * 4;
    if ihl < 20 {
        return Out::Malformed("IPv4 header length below 20");
    }
    if d.len() < ihl {
        return Out::Truncated("IPv4 options truncated");
    }
    if d[9] != 6 {
        return Out::NotTcp;
    }
    let mut total = be16(d, 2) as usize;
    if total == 0 {
        // Segmentation offload seen on the sending host: the length is not filled in.
        total = d.len();
    }
    if total < ihl {
        return Out::Malformed("IPv4 total length shorter than its header");
    }
    // Captured bytes beyond the total length are link padding.
    let end = total.min(d.len());
    let src = IpAddr::V4(Ipv4Addr::new(d[12], d[13], d[14], d[15]));
    let dst = IpAddr::V4(Ipv4Addr::new(d[16], d[17], d[18], d[19]));
    let ff = be16(d, 6);
    let more = ff & 0x2000 != 0;
    let offset = ((ff & 0x1fff) as usize) * 8;
    if more || offset != 0 {
        if end < total {
            // A cut fragment cannot be reassembled.
            return Out::Truncated("IPv4 fragment truncated by snaplen");
        }
        let key = FragKey {
            src,
            dst,
            id: be16(d, 4) as u32,
        };
        return match frag.add(c, key, offset, &d[ihl..total], !more, Some(6), ts) {
            Some((buf, _)) => tcp(src, dst, buf, buf.len()),
            None => Out::Fragment,
        };
    }
    tcp(src, dst, &d[ihl..end], total - ihl)
}

#[inline]
fn ipv6<'a>(frag: &'a mut Reassembler, c: &mut DecodeCounters, d: &'a [u8], ts: Ts) -> Out<'a> {
    if d.len() < 40 {
        return Out::Truncated("IPv6 header truncated");
    }
    if d[0] >> 4 != 6 {
        return Out::Malformed("IPv6 header with another IP version");
    }
    let plen = be16(d, 4) as usize;
    // Zero: a jumbogram or segmentation offload; the capture says how long it is.
    let total = if plen == 0 { d.len() } else { 40 + plen };
    let end = total.min(d.len());
    let src = IpAddr::V6(Ipv6Addr::from(
        <[u8; 16]>::try_from(&d[8..24]).unwrap_or_default(),
    ));
    let dst = IpAddr::V6(Ipv6Addr::from(
        <[u8; 16]>::try_from(&d[24..40]).unwrap_or_default(),
    ));
    v6_chain(frag, c, src, dst, d[6], &d[40..end], total - 40, ts, true)
}

/// Walks IPv6 extension headers from next-header `nh` over `d` (captured bytes of a payload
/// of `wire` bytes) to TCP. Fragments go to the reassembler when `allow_frag`.
#[allow(clippy::too_many_arguments)]
fn v6_chain<'a>(
    frag: &'a mut Reassembler,
    c: &mut DecodeCounters,
    src: IpAddr,
    dst: IpAddr,
    mut nh: u8,
    d: &'a [u8],
    wire: usize,
    ts: Ts,
    allow_frag: bool,
) -> Out<'a> {
    let mut off = 0usize;
    // Each header is at least 8 bytes, so the walk ends; the bound only caps pathological
    // chains of tiny headers.
    for _ in 0..16 {
        match nh {
            6 => return tcp(src, dst, &d[off..], wire - off),
            // Hop-by-hop, routing, destination options, mobility, HIP, shim6.
            0 | 43 | 60 | 135 | 139 | 140 | 51 => {
                if d.len() < off + 8 {
                    return if wire < off + 8 {
                        Out::Malformed("IPv6 extension header beyond the payload length")
                    } else {
                        Out::Truncated("IPv6 extension header truncated")
                    };
                }
                let len = if nh == 51 {
                    (d[off + 1] as usize + 2) * 4
                } else {
                    (d[off + 1] as usize + 1) * 8
                };
                nh = d[off];
                off += len;
                if off > wire {
                    return Out::Malformed("IPv6 extension header beyond the payload length");
                }
                if off > d.len() {
                    return Out::Truncated("IPv6 extension header truncated");
                }
            }
            44 => {
                if d.len() < off + 8 {
                    return if wire < off + 8 {
                        Out::Malformed("IPv6 fragment header beyond the payload length")
                    } else {
                        Out::Truncated("IPv6 fragment header truncated")
                    };
                }
                let next = d[off];
                let fo = be16(d, off + 2);
                let id = be32(d, off + 4);
                off += 8;
                let foff = (fo & 0xfff8) as usize;
                let more = fo & 1 != 0;
                if foff == 0 && !more {
                    // An atomic fragment (RFC 6946): the whole datagram is here.
                    nh = next;
                    continue;
                }
                if !allow_frag {
                    return Out::Malformed("IPv6 fragment header inside a reassembled datagram");
                }
                if d.len() < wire {
                    return Out::Truncated("IPv6 fragment truncated by snaplen");
                }
                let key = FragKey { src, dst, id };
                let first_nh = if foff == 0 { Some(next) } else { None };
                return match frag.add(c, key, foff, &d[off..wire], !more, first_nh, ts) {
                    Some((buf, Some(inner))) => {
                        // `frag` is borrowed by `buf`; a nested fragment header is refused,
                        // so the walk needs no further reassembly.
                        v6_walk_reassembled(src, dst, inner, buf)
                    }
                    Some((_, None)) => {
                        Out::Malformed("IPv6 datagram reassembled without its first fragment")
                    }
                    None => Out::Fragment,
                };
            }
            // No next header, ESP, ICMPv6, UDP, ...: not TCP.
            _ => return Out::NotTcp,
        }
    }
    Out::Malformed("too many IPv6 extension headers")
}

/// The extension-header walk over a reassembled IPv6 datagram (no further fragments).
fn v6_walk_reassembled(src: IpAddr, dst: IpAddr, mut nh: u8, d: &[u8]) -> Out<'_> {
    let mut off = 0usize;
    for _ in 0..16 {
        match nh {
            6 => return tcp(src, dst, &d[off..], d.len() - off),
            0 | 43 | 60 | 135 | 139 | 140 | 51 => {
                if d.len() < off + 8 {
                    return Out::Malformed("IPv6 extension header beyond the payload length");
                }
                let len = if nh == 51 {
                    (d[off + 1] as usize + 2) * 4
                } else {
                    (d[off + 1] as usize + 1) * 8
                };
                nh = d[off];
                off += len;
                if off > d.len() {
                    return Out::Malformed("IPv6 extension header beyond the payload length");
                }
            }
            44 => return Out::Malformed("IPv6 fragment header inside a reassembled datagram"),
            _ => return Out::NotTcp,
        }
    }
    Out::Malformed("too many IPv6 extension headers")
}

/// Parses a TCP header from `d` (the captured part of an IP payload of `wire` bytes).
#[inline]
fn tcp(src: IpAddr, dst: IpAddr, d: &[u8], wire: usize) -> Out<'_> {
    if wire < 20 {
        return Out::Malformed("TCP segment shorter than a TCP header");
    }
    if d.len() < 20 {
        return Out::Truncated("TCP header truncated");
    }
    let hl = ((d[12] >> 4) as usize) * 4;
    if hl < 20 || hl > wire {
        return Out::Malformed("bad TCP header length");
    }
    if d.len() < hl {
        return Out::Truncated("TCP options truncated");
    }
    Out::Tcp(TcpSegment {
        src,
        dst,
        sport: be16(d, 0),
        dport: be16(d, 2),
        seq: be32(d, 4),
        ack: be32(d, 8),
        flags: TcpFlags(d[13]),
        window: be16(d, 14),
        payload: &d[hl..],
        missing: (wire - d.len()) as u32,
    })
}

/// Identifies a datagram being reassembled (IPv4: the 16-bit id; the protocol is always
/// TCP since only TCP fragments are kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FragKey {
    src: IpAddr,
    dst: IpAddr,
    id: u32,
}

/// One datagram being reassembled.
struct Datagram {
    key: FragKey,
    first: Ts,
    data: Vec<u8>,
    /// Received byte ranges, sorted and merged.
    have: Vec<(usize, usize)>,
    /// Length, once the last fragment was seen.
    total: Option<usize>,
    /// Next header of the first fragment (IPv6) or the protocol (IPv4).
    nh: Option<u8>,
}

/// A bounded IP fragment pool. First-arrived bytes win on overlaps (as Linux and Zeek do).
struct Reassembler {
    limits: DecodeLimits,
    /// In order of creation: the front is the oldest.
    list: Vec<Datagram>,
    bytes: usize,
    /// The last completed datagram; segments borrow it until the next call.
    done: Vec<u8>,
    /// Buffers kept for reuse (bounded).
    spare: Vec<Vec<u8>>,
}

const MAX_SPARE: usize = 16;

impl Reassembler {
    fn new(limits: DecodeLimits) -> Reassembler {
        Reassembler {
            limits,
            list: Vec::new(),
            bytes: 0,
            done: Vec::new(),
            spare: Vec::new(),
        }
    }

    fn remove(&mut self, i: usize) -> Datagram {
        let dg = self.list.remove(i);
        self.bytes -= dg.data.len();
        dg
    }

    fn recycle(&mut self, mut buf: Vec<u8>) {
        if self.spare.len() < MAX_SPARE {
            buf.clear();
            self.spare.push(buf);
        }
    }

    /// Adds a fragment at byte `offset`; returns the datagram and its first next-header
    /// when this completes it.
    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        c: &mut DecodeCounters,
        key: FragKey,
        offset: usize,
        bytes: &[u8],
        last: bool,
        nh: Option<u8>,
        ts: Ts,
    ) -> Option<(&[u8], Option<u8>)> {
        // Expire datagrams that waited too long (capture time).
        let timeout = self.limits.fragment_timeout_ns;
        let mut i = 0;
        while i < self.list.len() {
            if ts.0.saturating_sub(self.list[i].first.0) > timeout {
                let dg = self.remove(i);
                c.fragment_timeouts += 1;
                self.recycle(dg.data);
            } else {
                i += 1;
            }
        }
        let end = offset + bytes.len();
        let idx = self.list.iter().position(|d| d.key == key);
        if end > self.limits.max_datagram_bytes {
            c.fragment_limit_drops += 1;
            if let Some(i) = idx {
                let dg = self.remove(i);
                self.recycle(dg.data);
            }
            return None;
        }
        let mut idx = match idx {
            Some(i) => i,
            None => {
                if self.list.len() >= self.limits.max_fragment_datagrams.max(1) {
                    let dg = self.remove(0);
                    c.fragment_limit_drops += 1;
                    self.recycle(dg.data);
                }
                let data = self.spare.pop().unwrap_or_default();
                self.list.push(Datagram {
                    key,
                    first: ts,
                    data,
                    have: Vec::new(),
                    total: None,
                    nh: None,
                });
                self.list.len() - 1
            }
        };
        // Memory bound: evict the oldest other datagrams until this one fits.
        let grow = end.saturating_sub(self.list[idx].data.len());
        while self.bytes + grow > self.limits.max_fragment_bytes {
            if self.list.len() <= 1 {
                break;
            }
            let victim = if idx == 0 { 1 } else { 0 };
            let dg = self.remove(victim);
            c.fragment_limit_drops += 1;
            self.recycle(dg.data);
            if victim < idx {
                idx -= 1;
            }
        }
        if self.bytes + grow > self.limits.max_fragment_bytes {
            let dg = self.remove(idx);
            c.fragment_limit_drops += 1;
            self.recycle(dg.data);
            return None;
        }
        let dg = &mut self.list[idx];
        let seen_end = dg.have.last().map_or(0, |r| r.1);
        // A second, different end, or data beyond the end, contradicts earlier fragments.
        let contradicts = (last && (dg.total.is_some_and(|t| t != end) || end < seen_end))
            || dg.total.is_some_and(|t| end > t);
        if contradicts {
            let dg = self.remove(idx);
            c.fragment_errors += 1;
            self.recycle(dg.data);
            return None;
        }
        if last {
            dg.total = Some(end);
        }
        if offset == 0 {
            dg.nh = nh;
        }
        if dg.data.len() < end {
            dg.data.resize(end, 0);
            self.bytes += grow;
        }
        // Copy only the parts no earlier fragment covered.
        let mut cur = offset;
        let mut overlap = false;
        for &(s, e) in &dg.have {
            if e <= cur {
                continue;
            }
            if s >= end {
                break;
            }
            overlap = true;
            if s > cur {
                dg.data[cur..s].copy_from_slice(&bytes[cur - offset..s - offset]);
            }
            cur = cur.max(e);
        }
        if cur < end {
            dg.data[cur..end].copy_from_slice(&bytes[cur - offset..]);
        }
        if overlap {
            c.fragment_overlaps += 1;
        }
        insert_range(&mut dg.have, offset, end);
        let complete = matches!(dg.total, Some(t) if dg.have.len() == 1 && dg.have[0] == (0, t));
        if !complete {
            return None;
        }
        let dg = self.remove(idx);
        c.reassembled += 1;
        let old = std::mem::replace(&mut self.done, dg.data);
        self.recycle(old);
        let t = dg.total.unwrap_or(0);
        self.done.truncate(t);
        Some((&self.done, dg.nh))
    }
}

/// Inserts `[s, e)` into sorted, merged ranges.
fn insert_range(have: &mut Vec<(usize, usize)>, s: usize, e: usize) {
    if s >= e {
        return;
    }
    let mut ns = s;
    let mut ne = e;
    // Ranges touching or overlapping the new one merge into it.
    have.retain(|&(a, b)| {
        if b < ns || a > ne {
            true
        } else {
            ns = ns.min(a);
            ne = ne.max(b);
            false
        }
    });
    let pos = have.partition_point(|&(a, _)| a < ns);
    have.insert(pos, (ns, ne));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge() {
        let mut h = Vec::new();
        insert_range(&mut h, 8, 16);
        insert_range(&mut h, 0, 4);
        insert_range(&mut h, 24, 32);
        assert_eq!(h, vec![(0, 4), (8, 16), (24, 32)]);
        insert_range(&mut h, 4, 8);
        assert_eq!(h, vec![(0, 16), (24, 32)]);
        insert_range(&mut h, 10, 30);
        assert_eq!(h, vec![(0, 32)]);
    }
}
