//! Capture files: pcap and pcapng (optionally gzip-compressed), from a path or standard
//! input, yielding link-layer frames with their timestamps and frame numbers.
//! Knows nothing of IP, TCP or mail.

use crate::model::Ts;

/// A data-link type (the pcap LINKTYPE_ number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u32);

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    pub const RAW: LinkType = LinkType(101);
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// The libpcap name ("EN10MB", "LINUX_SLL", ...), or "LINKTYPE_<n>" when unknown.
    pub fn name(self) -> String {
        match self.0 {
            0 => "NULL".into(),
            1 => "EN10MB".into(),
            101 => "RAW".into(),
            108 => "LOOP".into(),
            113 => "LINUX_SLL".into(),
            228 => "IPV4".into(),
            229 => "IPV6".into(),
            276 => "LINUX_SLL2".into(),
            n => format!("LINKTYPE_{n}"),
        }
    }
}

/// One captured frame. Borrows the reader's buffer until the next call.
#[derive(Debug, Clone, Copy)]
pub struct Packet<'a> {
    /// 1-based frame number in this capture file.
    pub frame: u64,
    pub ts: Ts,
    pub link_type: LinkType,
    /// The captured bytes (possibly fewer than `orig_len`: snaplen).
    pub data: &'a [u8],
    /// The length of the frame on the wire.
    pub orig_len: u32,
}
