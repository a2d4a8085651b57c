//! pcap and pcapng record parsing over a `Source` window, without allocation per packet.
//!
//! Every length read from the file is checked against a bound before any byte is requested,
//! so a lying length can neither allocate unbounded memory nor make the reader spin.

use super::source::Source;
use super::{CaptureSummary, Format, LinkType, PacketLoc};
use crate::model::{Ts, Warning};

/// Largest captured length accepted for one packet (libpcap's maximum snapshot length).
/// A larger length is taken as damage: real captures never exceed it.
pub const MAX_CAPLEN: usize = 256 * 1024;

/// Largest pcapng block accepted (non-packet blocks such as name resolution or decryption
/// secrets can legitimately be large, but not beyond this).
pub const MAX_BLOCK_LEN: usize = super::source::MAX_BLOCK;

/// Bytes needed to recognise a file and parse a pcap header.
pub(crate) const MAX_HEADER_PROBE: usize = 24;

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 0x0000_0001;
const PB: u32 = 0x0000_0002;
const SPB: u32 = 0x0000_0003;
const EPB: u32 = 0x0000_0006;
/// Decryption Secrets Block (pcapng draft, section 4.7).
const DSB: u32 = 0x0000_000A;
/// DSB secrets type of an NSS/SSLKEYLOGFILE key log ("TLSK").
const DSB_TLS_KEYLOG: u32 = 0x544c_534b;
/// Key log bytes kept from Decryption Secrets Blocks of one file (a key log line is about
/// 200 bytes: 80,000 TLS 1.3 sessions). Beyond it the secrets are dropped with a warning.
pub const MAX_DSB_SECRETS: usize = 16 * 1024 * 1024;
const BOM: u32 = 0x1A2B_3C4D;

/// Why the start of a file was not accepted.
pub(crate) enum HeaderError {
    NotACapture,
    Bad(String),
}

/// Per-format reading state.
pub(crate) enum FormatState {
    Pcap(PcapState),
    Pcapng(NgState),
}

pub(crate) struct PcapState {
    big_endian: bool,
    nano: bool,
    /// 16, or 24 for the "modified" (Kuznetzov) format with extra fields.
    rec_hdr: usize,
    link: LinkType,
    /// The header's snapshot length (0 when unset); a longer record is counted, not refused.
    snaplen: u32,
}

/// Interfaces one pcapng section may describe (an interface id is a u32, but no real capture
/// comes near this; a file that does is treated as damaged from there).
pub const MAX_INTERFACES: usize = 65_536;

pub(crate) struct NgState {
    /// Byte order of the current section.
    big_endian: bool,
    /// Interfaces of the current section (an SHB starts a new list); at most
    /// [`MAX_INTERFACES`].
    ifaces: Vec<Iface>,
    /// Link types already listed in the summary, one bit each: a file of interface blocks
    /// must not cost a list search per block.
    links_seen: Box<[u64; 1024]>,
    /// Timestamp of the previous packet, for simple packet blocks which have none.
    last_ts: Ts,
    /// TLS key log text from Decryption Secrets Blocks not yet taken by the reader's user.
    secrets: Vec<u8>,
    /// Key log bytes accepted so far (bounded by [`MAX_DSB_SECRETS`]).
    secrets_total: usize,
}

#[derive(Clone, Copy)]
struct Iface {
    link: LinkType,
    res: Resolution,
    /// `if_tsoffset`: seconds added to every timestamp.
    offset_secs: i64,
}

/// Timestamp units per second: 10^n or 2^n.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Resolution {
    Dec(u8),
    Bin(u8),
}

impl Resolution {
    fn finer_than_micro(self) -> bool {
        match self {
            Resolution::Dec(n) => n > 6,
            Resolution::Bin(n) => n > 19,
        }
    }

    /// Converts a raw timestamp to nanoseconds since the epoch.
    #[inline]
    fn to_ts(self, units: u64, offset_secs: i64) -> Ts {
        let (secs, nanos) = match self {
            // The two common cases without a runtime divisor.
            Resolution::Dec(6) => (units / 1_000_000, (units % 1_000_000) as u32 * 1000),
            Resolution::Dec(9) => (units / 1_000_000_000, (units % 1_000_000_000) as u32),
            Resolution::Dec(n) => {
                let d = 10u64.pow(n as u32);
                let frac = (units % d) as u128 * 1_000_000_000 / d as u128;
                (units / d, frac as u32)
            }
            Resolution::Bin(n) => {
                let frac = units & ((1u64 << n) - 1);
                (units >> n, ((frac as u128 * 1_000_000_000) >> n) as u32)
            }
        };
        let secs = i64::try_from(secs)
            .unwrap_or(i64::MAX)
            .saturating_add(offset_secs);
        Ts::from_parts(secs, nanos)
    }
}

#[inline]
fn u32_at(b: &[u8], at: usize, be: bool) -> u32 {
    let a = [b[at], b[at + 1], b[at + 2], b[at + 3]];
    if be {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}

#[inline]
fn u16_at(b: &[u8], at: usize, be: bool) -> u16 {
    let a = [b[at], b[at + 1]];
    if be {
        u16::from_be_bytes(a)
    } else {
        u16::from_le_bytes(a)
    }
}

/// Recognises the file from its first bytes. Returns the state, the format and the length of
/// the file header already consumed (pcapng: 0, the SHB is read as a block).
pub(crate) fn parse_file_header(head: &[u8]) -> Result<(FormatState, Format, usize), HeaderError> {
    if head.len() < 4 {
        return Err(HeaderError::NotACapture);
    }
    let magic = u32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let pcap = match magic {
        0xa1b2_c3d4 => Some((false, false, 16)),
        0xd4c3_b2a1 => Some((true, false, 16)),
        0xa1b2_3c4d => Some((false, true, 16)),
        0x4d3c_b2a1 => Some((true, true, 16)),
        0xa1b2_cd34 => Some((false, false, 24)),
        0x34cd_b2a1 => Some((true, false, 24)),
        _ => None,
    };
    if let Some((big_endian, nano, rec_hdr)) = pcap {
        if head.len() < 24 {
            return Err(HeaderError::Bad(format!(
                "pcap file header is {} bytes, 24 expected",
                head.len()
            )));
        }
        let major = u16_at(head, 4, big_endian);
        if major != 2 {
            return Err(HeaderError::Bad(format!(
                "unsupported pcap version {major}"
            )));
        }
        // The upper bits of the link-type field carry FCS information (libpcap 1.10).
        let link = LinkType(u32_at(head, 20, big_endian) & 0xffff);
        let st = PcapState {
            big_endian,
            nano,
            rec_hdr,
            link,
            snaplen: u32_at(head, 16, big_endian),
        };
        return Ok((FormatState::Pcap(st), Format::Pcap, 24));
    }
    if magic == SHB {
        if head.len() < 12 {
            return Err(HeaderError::Bad(
                "pcapng section header is truncated".into(),
            ));
        }
        let big_endian = match u32::from_le_bytes([head[8], head[9], head[10], head[11]]) {
            BOM => false,
            x if x.swap_bytes() == BOM => true,
            x => {
                return Err(HeaderError::Bad(format!(
                    "pcapng byte-order magic is {x:#010x}"
                )))
            }
        };
        let st = NgState {
            big_endian,
            ifaces: Vec::new(),
            links_seen: Box::new([0; 1024]),
            last_ts: Ts(0),
            secrets: Vec::new(),
            secrets_total: 0,
        };
        return Ok((FormatState::Pcapng(st), Format::Pcapng, 0));
    }
    Err(HeaderError::NotACapture)
}

impl FormatState {
    pub(crate) fn init_summary(&self, s: &mut CaptureSummary) {
        if let FormatState::Pcap(p) = self {
            s.link_types.push(p.link);
            s.nanosecond = p.nano;
        }
    }

    /// TLS key log text of the Decryption Secrets Blocks read since the last call.
    pub(crate) fn take_tls_secrets(&mut self) -> Option<Vec<u8>> {
        match self {
            FormatState::Pcapng(n) if !n.secrets.is_empty() => Some(std::mem::take(&mut n.secrets)),
            _ => None,
        }
    }

    /// Advances to the next packet; `None` at the end or at damage (recorded in `s`).
    #[inline]
    pub(crate) fn next(
        &mut self,
        src: &mut Source,
        pos: &mut u64,
        s: &mut CaptureSummary,
    ) -> Option<PacketLoc> {
        match self {
            FormatState::Pcap(p) => p.next(src, pos, s),
            FormatState::Pcapng(n) => n.next(src, pos, s),
        }
    }
}

/// Records damage at `offset` and ends the file.
#[cold]
fn damage(src: &Source, s: &mut CaptureSummary, offset: u64, message: String) -> Option<PacketLoc> {
    let message = match src.error() {
        Some(e) => format!("{message} (read error: {e})"),
        None => message,
    };
    s.warnings.push(Warning {
        offset: Some(offset),
        frame: Some(s.packets + 1),
        message,
    });
    s.file_bytes = offset;
    None
}

/// Clean end of input; a read error that ended the stream is still worth a warning.
#[cold]
fn end(src: &Source, s: &mut CaptureSummary, offset: u64) -> Option<PacketLoc> {
    if let Some(e) = src.error() {
        s.warnings.push(Warning {
            offset: Some(offset),
            frame: Some(s.packets + 1),
            message: format!("read error: {e}"),
        });
    }
    s.file_bytes = offset;
    None
}

impl PcapState {
    #[inline]
    fn next(
        &mut self,
        src: &mut Source,
        pos: &mut u64,
        s: &mut CaptureSummary,
    ) -> Option<PacketLoc> {
        let at = *pos;
        let hl = self.rec_hdr;
        let avail = src.fill(at, hl);
        if avail == 0 {
            return end(src, s, at);
        }
        if avail < hl {
            return damage(
                src,
                s,
                at,
                format!("truncated record header ({avail} of {hl} bytes)"),
            );
        }
        // The four fields as one 16-byte read (the modified format's extra 8 bytes follow);
        // byte by byte with a bounds check each they were ~50 instructions per record.
        let h: [u8; 16] = src.bytes(at, 16).try_into().unwrap_or([0; 16]);
        let field = |i: usize| {
            let b = [h[i], h[i + 1], h[i + 2], h[i + 3]];
            if self.big_endian {
                u32::from_be_bytes(b)
            } else {
                u32::from_le_bytes(b)
            }
        };
        let (ts_sec, ts_frac, caplen, orig_len) =
            (field(0), field(4), field(8) as usize, field(12));
        if caplen > MAX_CAPLEN {
            return damage(
                src,
                s,
                at,
                format!(
                    "record length {caplen} exceeds the {MAX_CAPLEN}-byte limit (damaged file?)"
                ),
            );
        }
        if caplen > self.snaplen as usize && self.snaplen != 0 {
            s.caplen_over_snaplen += 1;
        }
        let total = hl + caplen;
        // The window usually holds the whole record already: ask again only when not.
        let avail = if avail >= total {
            avail
        } else {
            src.fill(at, total)
        };
        if avail < total {
            return damage(
                src,
                s,
                at,
                format!(
                    "truncated record: {caplen} bytes announced, {} present",
                    avail - hl
                ),
            );
        }
        let nanos = if self.nano {
            ts_frac as i64
        } else {
            ts_frac as i64 * 1000
        };
        *pos = at + total as u64;
        Some(PacketLoc {
            data_pos: at + hl as u64,
            caplen,
            ts: Ts((ts_sec as i64) * 1_000_000_000 + nanos),
            link_type: self.link,
            orig_len,
        })
    }
}

impl NgState {
    fn next(
        &mut self,
        src: &mut Source,
        pos: &mut u64,
        s: &mut CaptureSummary,
    ) -> Option<PacketLoc> {
        loop {
            let at = *pos;
            let avail = src.fill(at, 12);
            if avail == 0 {
                return end(src, s, at);
            }
            if avail < 12 {
                return damage(
                    src,
                    s,
                    at,
                    format!("truncated block header ({avail} bytes)"),
                );
            }
            let h = src.bytes(at, 12);
            let mut be = self.big_endian;
            let btype = u32_at(h, 0, be);
            if btype == SHB {
                // A new section may switch byte order: the byte-order magic decides.
                be = match u32::from_le_bytes([h[8], h[9], h[10], h[11]]) {
                    BOM => false,
                    x if x.swap_bytes() == BOM => true,
                    x => {
                        return damage(
                            src,
                            s,
                            at,
                            format!("section header with byte-order magic {x:#010x}"),
                        )
                    }
                };
            }
            let len = u32_at(h, 4, be) as usize;
            if len < 12 || !len.is_multiple_of(4) || len > MAX_BLOCK_LEN {
                return damage(
                    src,
                    s,
                    at,
                    format!("block of type {btype:#x} has invalid length {len}"),
                );
            }
            let avail = src.fill(at, len);
            if avail < len {
                return damage(
                    src,
                    s,
                    at,
                    format!("truncated block of type {btype:#x}: {len} bytes announced, {avail} present"),
                );
            }
            let b = src.bytes(at, len);
            let trailer = u32_at(b, len - 4, be) as usize;
            if trailer != len {
                return damage(
                    src,
                    s,
                    at,
                    format!("block of type {btype:#x} length mismatch: {len} at the start, {trailer} at the end"),
                );
            }
            let body = &b[8..len - 4];
            match btype {
                SHB => {
                    if body.len() < 16 {
                        return damage(src, s, at, "section header block too short".into());
                    }
                    let major = u16_at(body, 4, be);
                    if major != 1 {
                        return damage(src, s, at, format!("unsupported pcapng version {major}"));
                    }
                    self.big_endian = be;
                    self.ifaces.clear();
                }
                IDB => {
                    if body.len() < 8 {
                        return damage(src, s, at, "interface description block too short".into());
                    }
                    if self.ifaces.len() >= MAX_INTERFACES {
                        return damage(
                            src,
                            s,
                            at,
                            format!("more than {MAX_INTERFACES} interfaces in one section"),
                        );
                    }
                    let link16 = u16_at(body, 0, be);
                    let link = LinkType(link16 as u32);
                    let mut iface = Iface {
                        link,
                        res: Resolution::Dec(6),
                        offset_secs: 0,
                    };
                    if let Err(m) = parse_idb_options(&body[8..], be, &mut iface) {
                        s.warn(Warning {
                            offset: Some(at),
                            frame: Some(s.packets + 1),
                            message: m,
                        });
                    }
                    if iface.res.finer_than_micro() {
                        s.nanosecond = true;
                    }
                    let (word, bit) = (link16 as usize / 64, 1u64 << (link16 % 64));
                    if self.links_seen[word] & bit == 0 {
                        self.links_seen[word] |= bit;
                        s.link_types.push(link);
                    }
                    self.ifaces.push(iface);
                }
                EPB | PB | SPB => {
                    // Packet blocks; PB is the obsolete predecessor of EPB (16-bit interface
                    // id followed by a 16-bit drop count).
                    let (if_id, units, caplen, orig_len, hdr) = match btype {
                        EPB | PB => {
                            if body.len() < 20 {
                                return damage(
                                    src,
                                    s,
                                    at,
                                    format!("packet block of {len} bytes is too short"),
                                );
                            }
                            let if_id = if btype == EPB {
                                u32_at(body, 0, be)
                            } else {
                                u16_at(body, 0, be) as u32
                            };
                            let units =
                                ((u32_at(body, 4, be) as u64) << 32) | u32_at(body, 8, be) as u64;
                            (
                                if_id,
                                Some(units),
                                u32_at(body, 12, be) as usize,
                                u32_at(body, 16, be),
                                20,
                            )
                        }
                        _ => {
                            if body.len() < 4 {
                                return damage(src, s, at, "simple packet block too short".into());
                            }
                            let orig = u32_at(body, 0, be);
                            // The captured length is whatever fits in the block.
                            let caplen = (orig as usize).min(body.len() - 4);
                            (0, None, caplen, orig, 4)
                        }
                    };
                    if caplen > MAX_CAPLEN {
                        return damage(
                            src,
                            s,
                            at,
                            format!("packet length {caplen} exceeds the {MAX_CAPLEN}-byte limit (damaged file?)"),
                        );
                    }
                    if hdr + caplen > body.len() {
                        return damage(
                            src,
                            s,
                            at,
                            format!(
                                "packet length {caplen} does not fit in its block of {len} bytes"
                            ),
                        );
                    }
                    let Some(iface) = self.ifaces.get(if_id as usize).copied() else {
                        return damage(
                            src,
                            s,
                            at,
                            format!(
                                "packet for interface {if_id}, but the section has {}",
                                self.ifaces.len()
                            ),
                        );
                    };
                    let ts = match units {
                        Some(u) => iface.res.to_ts(u, iface.offset_secs),
                        None => self.last_ts,
                    };
                    self.last_ts = ts;
                    *pos = at + len as u64;
                    return Some(PacketLoc {
                        data_pos: at + 8 + hdr as u64,
                        caplen,
                        ts,
                        link_type: iface.link,
                        orig_len,
                    });
                }
                DSB => self.secrets_block(body, be, at, s),
                // Everything else (statistics, name resolution, custom...) is skipped.
                _ => {}
            }
            *pos = at + len as u64;
            s.file_bytes = *pos;
        }
    }
}

impl NgState {
    /// Keeps the key log of a Decryption Secrets Block (other secrets types, e.g. WireGuard,
    /// are skipped). A damaged or oversized block is a warning, never the end of the file.
    #[cold]
    fn secrets_block(&mut self, body: &[u8], be: bool, at: u64, s: &mut CaptureSummary) {
        if body.len() < 8 {
            return;
        }
        let (kind, len) = (u32_at(body, 0, be), u32_at(body, 4, be) as usize);
        if kind != DSB_TLS_KEYLOG {
            return;
        }
        let warn = |s: &mut CaptureSummary, message: String| {
            s.warn(Warning {
                offset: Some(at),
                frame: Some(s.packets + 1),
                message,
            })
        };
        let Some(data) = body.get(8..8 + len) else {
            return warn(
                s,
                format!(
                    "decryption secrets block announces {len} bytes of secrets, more than it holds"
                ),
            );
        };
        if self.secrets_total + data.len() > MAX_DSB_SECRETS {
            return warn(
                s,
                format!("decryption secrets beyond {MAX_DSB_SECRETS} bytes ignored"),
            );
        }
        self.secrets_total += data.len() + 1;
        self.secrets.extend_from_slice(data);
        // Lines of two blocks must not run together.
        if !data.ends_with(b"\n") {
            self.secrets.push(b'\n');
        }
    }
}

/// Reads `if_tsresol` and `if_tsoffset` from IDB options. An invalid value keeps the
/// default and is reported; damaged option lists end the option walk, not the file.
fn parse_idb_options(mut o: &[u8], be: bool, iface: &mut Iface) -> Result<(), String> {
    while o.len() >= 4 {
        let code = u16_at(o, 0, be);
        let olen = u16_at(o, 2, be) as usize;
        if code == 0 {
            break;
        }
        let padded = (olen + 3) & !3;
        if 4 + padded > o.len() && 4 + olen > o.len() {
            return Err(format!("interface option {code} overruns its block"));
        }
        let v = &o[4..4 + olen];
        match code {
            9 if olen >= 1 => {
                let r = v[0];
                iface.res = if r & 0x80 == 0 {
                    if r > 19 {
                        return Err(format!(
                            "if_tsresol 10^-{r} is out of range; microseconds assumed"
                        ));
                    }
                    Resolution::Dec(r)
                } else {
                    let n = r & 0x7f;
                    if n > 63 {
                        return Err(format!(
                            "if_tsresol 2^-{n} is out of range; microseconds assumed"
                        ));
                    }
                    Resolution::Bin(n)
                };
            }
            14 if olen >= 8 => {
                let a = [v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]];
                iface.offset_secs = if be {
                    i64::from_be_bytes(a)
                } else {
                    i64::from_le_bytes(a)
                };
            }
            _ => {}
        }
        o = &o[(4 + padded).min(o.len())..];
    }
    Ok(())
}
