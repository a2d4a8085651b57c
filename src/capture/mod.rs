//! Capture files: pcap and pcapng (optionally gzip-compressed), from a path or standard
//! input, yielding link-layer frames with their timestamps and frame numbers.
//! Knows nothing of IP, TCP or mail.
//!
//! Records and blocks are parsed by hand over a byte window (see `format`), not with
//! pcap-parser's block parsers: those allocate an options `Vec` per enhanced packet block,
//! reject binary `if_tsresol` values, truncate seconds to 32 bits, and do not know the
//! obsolete Packet Block. Hand-written parsing also lets every damage report carry the
//! exact byte offset.

mod format;
mod source;

use crate::model::{Ts, Warning};
use format::FormatState;
use source::{Source, StreamBuf};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use format::{MAX_BLOCK_LEN, MAX_CAPLEN, MAX_DSB_SECRETS};

/// A data-link type (the pcap LINKTYPE_ number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u32);

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    pub const RAW: LinkType = LinkType(101);
    /// DLT_RAW as BSD and Linux number it (12) and OpenBSD (14): some writers put the DLT
    /// value in the file instead of LINKTYPE_RAW; libpcap and Wireshark read both as raw IP.
    pub const DLT_RAW: LinkType = LinkType(12);
    /// DLT_RAW on OpenBSD.
    pub const DLT_RAW_OPENBSD: LinkType = LinkType(14);
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);

    /// The libpcap name ("EN10MB", "LINUX_SLL", ...), or `LINKTYPE_<n>` when unknown.
    pub fn name(self) -> String {
        match self.0 {
            0 => "NULL".into(),
            1 => "EN10MB".into(),
            12 | 14 | 101 => "RAW".into(),
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

/// The container format of a capture file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Classic libpcap (including the nanosecond and "modified" variants).
    Pcap,
    /// pcapng.
    Pcapng,
}

impl Format {
    /// "pcap" or "pcapng", as used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Format::Pcap => "pcap",
            Format::Pcapng => "pcapng",
        }
    }
}

/// What has been read from one capture so far (final once `next_packet` returned `None`).
#[derive(Debug, Clone)]
pub struct CaptureSummary {
    /// The path as given ("-" for standard input).
    pub path: String,
    pub format: Format,
    /// The file was gzip-compressed.
    pub gzip: bool,
    /// Timestamps have sub-microsecond resolution (nanosecond pcap, or a pcapng interface
    /// with a finer `if_tsresol`).
    pub nanosecond: bool,
    /// Link types in order of first appearance (pcap: the header's; pcapng: per interface).
    pub link_types: Vec<LinkType>,
    /// Packets yielded.
    pub packets: u64,
    /// Sum of captured lengths of the packets yielded.
    pub bytes: u64,
    /// Bytes of the (decompressed) file consumed so far.
    pub file_bytes: u64,
    /// Earliest packet timestamp.
    pub first: Option<Ts>,
    /// Latest packet timestamp.
    pub last: Option<Ts>,
    /// Damage and oddities; damage ends the reading of the file (everything before is kept).
    pub warnings: Vec<Warning>,
    /// Packets whose timestamp is earlier than the previous packet's (reassembly and
    /// timeouts run on the latest time seen, so this is harmless but worth knowing).
    pub ts_backwards: u64,
    /// Warnings beyond [`MAX_WARNINGS`], counted only.
    pub warnings_dropped: u64,
    /// pcap records whose captured length exceeds the file's snapshot length (kept: the
    /// length is still below [`MAX_CAPLEN`]).
    pub caplen_over_snaplen: u64,
    /// Packets captured shorter than they were on the wire (the capture's snap length cut
    /// them). The first one is also a warning: the lost bytes become gaps in the sessions,
    /// and credentials or messages there may be incomplete.
    pub snaplen_cut: u64,
}

impl CaptureSummary {
    /// Oddities counted while reading, by name (`capture.<name>` in reports).
    pub fn counters(&self) -> [(&'static str, u64); 4] {
        [
            ("ts_backwards", self.ts_backwards),
            ("caplen_over_snaplen", self.caplen_over_snaplen),
            ("snaplen_cut", self.snaplen_cut),
            ("warnings_dropped", self.warnings_dropped),
        ]
    }

    /// Records a warning; past [`MAX_WARNINGS`] only counts it (`warnings_dropped`), so a
    /// file whose every block is odd cannot grow the list.
    pub fn warn(&mut self, w: Warning) {
        if self.warnings.len() < MAX_WARNINGS {
            self.warnings.push(w);
        } else {
            self.warnings_dropped += 1;
        }
    }
}

/// A capture file opened by path: a regular, non-empty file, or something else that can
/// only be streamed (a FIFO, a character device).
enum Opened {
    Regular(String, File),
    Other(String, File),
}

fn open_file(path: &Path) -> Result<Opened, CaptureError> {
    let name = path.display().to_string();
    let io_err = |source| CaptureError::Io {
        path: name.clone(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if !meta.is_file() {
        return Ok(Opened::Other(name, file));
    }
    if meta.len() == 0 {
        return Err(CaptureError::Empty { path: name });
    }
    Ok(Opened::Regular(name, file))
}

/// Why a capture could not be opened at all.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    /// The file is neither pcap nor pcapng (after gzip decompression, if compressed).
    #[error("{path}: not a pcap or pcapng file (starts with {first_bytes})")]
    NotACapture { path: String, first_bytes: String },
    /// The file is empty.
    #[error("{path}: empty file")]
    Empty { path: String },
    /// The magic number matched but the file header is damaged or unsupported.
    #[error("{path}: bad capture header: {message}")]
    BadHeader { path: String, message: String },
}

/// Reads one capture file frame by frame.
///
/// Plain files are memory-mapped and parsed in place; gzip files (recognised by their magic
/// bytes, not their name), standard input and other non-regular files are streamed through
/// a bounded window. Damage ends the file with a warning in the summary; it is never an
/// error once the header was read.
pub struct CaptureReader {
    src: Source,
    /// Absolute offset of the next record/block in the (decompressed) stream.
    pos: u64,
    state: FormatState,
    summary: CaptureSummary,
    done: bool,
    /// Timestamp of the previous packet.
    prev_ts: Ts,
    /// Compressed bytes read so far (gzip input only).
    compressed: Option<Arc<AtomicU64>>,
    /// Where decryption secrets go as soon as they are read (see `on_tls_secrets`).
    secrets_sink: Option<SecretsSink>,
}

/// Receives the key log text of Decryption Secrets Blocks as they are read.
pub type SecretsSink = Box<dyn FnMut(Vec<u8>) + Send>;

/// Warnings kept per capture; more are counted as `warnings_dropped`.
pub const MAX_WARNINGS: usize = 64;

/// A gzip stream that expands more than this many times is reported (possible
/// decompression bomb); reading goes on, memory stays bounded by the window.
pub const GZIP_RATIO_WARNING: u64 = 100;
/// ... once it has produced at least this many bytes.
const GZIP_RATIO_MIN_BYTES: u64 = 64 << 20;

/// Counts the bytes read through it.
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Where the next packet lies in the source and what the format layer knows about it.
pub(crate) struct PacketLoc {
    pub(crate) data_pos: u64,
    pub(crate) caplen: usize,
    pub(crate) ts: Ts,
    pub(crate) link_type: LinkType,
    pub(crate) orig_len: u32,
}

impl CaptureReader {
    /// Opens a file ("-" = standard input) and streams it through a bounded window;
    /// gzip is recognised by its magic bytes.
    pub fn open(path: &Path) -> Result<CaptureReader, CaptureError> {
        if path.as_os_str() == "-" {
            return CaptureReader::from_read(path.display().to_string(), Box::new(io::stdin()));
        }
        // Plain read() into the bounded window beats a memory map here (measured: 5.8-8.9
        // against 3.8-4.8 GB/s, the map paying a page fault per page) and keeps the
        // resident set flat whatever the file size. `open_mapped` remains for callers that
        // want zero-copy slices of the file.
        match open_file(path)? {
            Opened::Regular(name, file) | Opened::Other(name, file) => {
                CaptureReader::from_read(name, Box::new(file))
            }
        }
    }

    /// Opens a plain file through a read-only memory map (zero-copy). Gzip files and files
    /// that cannot be mapped are streamed as by `open`.
    pub fn open_mapped(path: &Path) -> Result<CaptureReader, CaptureError> {
        let (name, file) = match open_file(path)? {
            Opened::Regular(name, file) => (name, file),
            Opened::Other(name, file) => return CaptureReader::from_read(name, Box::new(file)),
        };
        let io_err = |source| CaptureError::Io {
            path: name.clone(),
            source,
        };
        // SAFETY: the map is read-only and private to this reader. A file truncated by
        // another process while mapped can fault (SIGBUS); that is the accepted cost of
        // zero-copy reading, as in every mmap-based capture tool.
        let map = match unsafe { memmap2::Mmap::map(&file) } {
            Ok(m) => m,
            // Some file systems cannot map: stream instead.
            Err(_) => return CaptureReader::from_read(name, Box::new(file)),
        };
        if map.starts_with(&[0x1f, 0x8b]) {
            drop(map);
            let file = File::open(path).map_err(io_err)?;
            return CaptureReader::from_read(name, Box::new(file));
        }
        #[cfg(unix)]
        {
            // Only a hint for read-ahead; failure changes nothing.
            let _ = map.advise(memmap2::Advice::Sequential);
        }
        CaptureReader::with_source(name, Source::Mapped(map), false)
    }

    /// Reads a capture from any byte stream (standard input, tests). A gzip stream is
    /// recognised by its magic bytes and decompressed (concatenated members included).
    pub fn from_read(
        name: String,
        mut r: Box<dyn Read + Send>,
    ) -> Result<CaptureReader, CaptureError> {
        let mut prefix = Vec::with_capacity(4);
        let got = read_up_to(&mut r, &mut prefix, 4).map_err(|source| CaptureError::Io {
            path: name.clone(),
            source,
        })?;
        if got == 0 {
            return Err(CaptureError::Empty { path: name });
        }
        if prefix.starts_with(&[0x1f, 0x8b]) {
            let count = Arc::new(AtomicU64::new(0));
            let chained = Counting {
                inner: io::Cursor::new(prefix).chain(r),
                count: count.clone(),
            };
            let mut gz: Box<dyn Read + Send> = Box::new(flate2::read::MultiGzDecoder::new(chained));
            let mut inner = Vec::with_capacity(4);
            let got = read_up_to(&mut gz, &mut inner, 4).map_err(|source| CaptureError::Io {
                path: name.clone(),
                source,
            })?;
            if got == 0 {
                return Err(CaptureError::Empty { path: name });
            }
            let mut reader =
                CaptureReader::with_source(name, Source::Stream(StreamBuf::new(gz, inner)), true)?;
            reader.compressed = Some(count);
            return Ok(reader);
        }
        CaptureReader::with_source(name, Source::Stream(StreamBuf::new(r, prefix)), false)
    }

    /// Reads a capture held in memory (tests, fuzzing). Gzip is not recognised here.
    pub fn from_bytes(name: String, bytes: Vec<u8>) -> Result<CaptureReader, CaptureError> {
        if bytes.is_empty() {
            return Err(CaptureError::Empty { path: name });
        }
        CaptureReader::with_source(name, Source::Owned(bytes), false)
    }

    fn with_source(
        name: String,
        mut src: Source,
        gzip: bool,
    ) -> Result<CaptureReader, CaptureError> {
        let avail = src.fill(0, format::MAX_HEADER_PROBE);
        let head = src.bytes(0, avail.min(format::MAX_HEADER_PROBE));
        let (state, format, header_len) = match format::parse_file_header(head) {
            Ok(x) => x,
            Err(format::HeaderError::NotACapture) => {
                return Err(CaptureError::NotACapture {
                    path: name,
                    first_bytes: preview(&head[..head.len().min(16)]),
                })
            }
            Err(format::HeaderError::Bad(message)) => {
                return Err(CaptureError::BadHeader {
                    path: name,
                    message,
                })
            }
        };
        let mut summary = CaptureSummary {
            path: name,
            format,
            gzip,
            nanosecond: false,
            link_types: Vec::new(),
            packets: 0,
            bytes: 0,
            file_bytes: header_len as u64,
            first: None,
            last: None,
            warnings: Vec::new(),
            ts_backwards: 0,
            warnings_dropped: 0,
            caplen_over_snaplen: 0,
            snaplen_cut: 0,
        };
        state.init_summary(&mut summary);
        Ok(CaptureReader {
            src,
            pos: header_len as u64,
            state,
            summary,
            done: false,
            prev_ts: Ts(i64::MIN),
            compressed: None,
            secrets_sink: None,
        })
    }

    /// Next frame, or `None` at the end of the file or at damage (then a warning is recorded
    /// in the summary and reading of this file stops; everything before is kept).
    /// The packet borrows the reader until the next call.
    #[inline]
    pub fn next_packet(&mut self) -> Option<Packet<'_>> {
        if self.done {
            return None;
        }
        let loc = match self
            .state
            .next(&mut self.src, &mut self.pos, &mut self.summary)
        {
            Some(loc) => loc,
            None => {
                self.done = true;
                self.check_ratio();
                return None;
            }
        };
        if let Some(sink) = self.secrets_sink.as_mut() {
            if let Some(text) = self.state.take_tls_secrets() {
                sink(text);
            }
        }
        let s = &mut self.summary;
        s.packets += 1;
        s.bytes += loc.caplen as u64;
        s.file_bytes = self.pos;
        if loc.ts < self.prev_ts {
            s.ts_backwards += 1;
        }
        self.prev_ts = loc.ts;
        if (loc.caplen as u64) < u64::from(loc.orig_len) {
            s.snaplen_cut += 1;
            if s.snaplen_cut == 1 {
                // A counter alone goes unnoticed, and what is missing changes what the
                // report means (e.g. a credential whose secret was cut off).
                let w = Warning {
                    offset: None,
                    frame: Some(s.packets),
                    message: format!(
                        "packets were cut by the capture's snap length (the first: frame {}, {} of {} bytes captured): the missing bytes are gaps in their sessions; credentials and messages there may be incomplete",
                        s.packets, loc.caplen, loc.orig_len
                    ),
                };
                s.warn(w);
            }
        }
        match s.first {
            Some(f) if f <= loc.ts => {}
            _ => s.first = Some(loc.ts),
        }
        match s.last {
            Some(l) if l >= loc.ts => {}
            _ => s.last = Some(loc.ts),
        }
        Some(Packet {
            frame: s.packets,
            ts: loc.ts,
            link_type: loc.link_type,
            data: self.src.bytes(loc.data_pos, loc.caplen),
            orig_len: loc.orig_len,
        })
    }

    /// Reports a gzip stream that expanded suspiciously (at the end of reading).
    #[cold]
    fn check_ratio(&mut self) {
        let Some(c) = &self.compressed else { return };
        let packed = c.load(Ordering::Relaxed).max(1);
        let out = self.summary.file_bytes;
        if out >= GZIP_RATIO_MIN_BYTES && out / packed > GZIP_RATIO_WARNING {
            self.summary.warnings.push(Warning {
                offset: None,
                frame: None,
                message: format!(
                    "gzip stream expanded {}:1 ({out} bytes from {packed}): possible decompression bomb",
                    out / packed
                ),
            });
        }
    }

    /// TLS key log text (SSLKEYLOGFILE format) from pcapng Decryption Secrets Blocks read
    /// since the last call, for `tls::keylog::KeyLog::add_bytes`. Writers put these blocks
    /// before the packets they decrypt, so taking them between packets is in time.
    /// At most `MAX_DSB_SECRETS` bytes per file are kept.
    pub fn take_tls_secrets(&mut self) -> Option<Vec<u8>> {
        self.state.take_tls_secrets()
    }

    /// Hands the key log text of every Decryption Secrets Block to `sink` as it is read,
    /// before the packet that follows the block is returned (instead of keeping it for
    /// [`CaptureReader::take_tls_secrets`]).
    pub fn on_tls_secrets(&mut self, sink: SecretsSink) {
        self.secrets_sink = Some(sink);
    }

    /// What has been read so far.
    pub fn summary(&self) -> &CaptureSummary {
        &self.summary
    }

    /// Gives up the summary (after reading).
    pub fn into_summary(self) -> CaptureSummary {
        self.summary
    }
}

/// Reads until `buf` holds `n` bytes or the stream ends.
fn read_up_to(r: &mut dyn Read, buf: &mut Vec<u8>, n: usize) -> io::Result<usize> {
    let mut tmp = [0u8; 16];
    while buf.len() < n {
        match r.read(&mut tmp[..n - buf.len()]) {
            Ok(0) => break,
            Ok(k) => buf.extend_from_slice(&tmp[..k]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(buf.len())
}

/// Hex and printable preview of the first bytes: `3c 21 44 4f  |<!DO|`.
fn preview(b: &[u8]) -> String {
    let hex: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    let text: String = b
        .iter()
        .map(|&c| {
            if (0x20..0x7f).contains(&c) {
                c as char
            } else {
                '.'
            }
        })
        .collect();
    format!("{} |{}|", hex.join(" "), text)
}
