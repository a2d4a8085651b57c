//! TCP connections and stream reassembly: passive, two-sided, with bounded memory.
//!
//! A [`FlowTable`] receives decoded [`TcpSegment`]s in capture order and hands ordered
//! bytes, explicit gaps and the end of each connection to a [`StreamConsumer`] chosen by a
//! [`Handler`].
//!
//! # Connections and roles
//! Connections are keyed by the normalised 4-tuple. The SYN sender is the client; when only
//! the SYN-ACK is seen its sender is the server; when neither is seen (the capture started
//! mid-connection) the sender of the first packet is the *tentative* client and
//! [`ConnInfo::handshake`] is false: the handler may correct the roles with
//! [`Decision::Follow`]`{ swap: true, .. }`.
//!
//! A pure SYN on a tuple whose connection has ended (FIN/RST, kept as a small tombstone), or
//! with an ISN different from the tracked one, starts a new connection; a still-open old
//! connection is then ended (reason `Fin`/`Rst` if one was seen, else `Timeout`) and counted
//! as superseded.
//!
//! # Sequence numbers
//! Each direction converts sequence numbers once to 64-bit offsets relative to its base
//! (ISN + 1 when the SYN or SYN-ACK was seen, else the first sequence number of a segment
//! carrying payload or FIN). A 32-bit value is unwrapped to the offset nearest the
//! direction's delivered point, so streams longer than 4 GiB and wrap-around across 2^32
//! need no serial arithmetic afterwards. Bytes before the base (a capture that starts
//! mid-stream) are ignored and counted ([`DirStats::before_start_bytes`]), not gaps.
//!
//! # Overlap policy
//! **First arrival wins** (as in Zeek): a position is delivered once, with the bytes of the
//! first packet that carried it. Bytes at or before the delivered point are retransmissions
//! (keep-alive probes included) and are dropped and counted; a later copy of a buffered
//! position with different bytes counts an [`DirStats::overlap_conflicts`] (conflicts can
//! only be seen while the first copy is still buffered, i.e. out of order).
//!
//! # Gap policy
//! A hole that never fills becomes one explicit [`StreamConsumer::gap`] call, never silently
//! skipped:
//! - at the connection end (both FINs, RST, idle timeout, eviction, end of capture): the
//!   buffered data is flushed with gaps between, and a hole before a seen FIN is a gap;
//! - when a buffer limit is hit: the first hole is given up and the data after it delivered,
//!   repeatedly, until the store fits ([`DirStats::limit_gap_bytes`]);
//! - when the peer has acknowledged positions of the hole and data (or the FIN) after the
//!   hole is already buffered: the acknowledged part of the hole was received by the peer,
//!   so the capture lost it;
//! - snaplen truncation ([`TcpSegment::missing`]): the positions after the captured bytes.
//!
//! Every position of a direction up to its delivered point is accounted for exactly once as
//! delivered, gap or skipped (`delivered_bytes + gap_bytes + skipped_bytes`).
//!
//! # Memory
//! Out-of-order data is bounded per direction ([`FlowConfig::max_buffer_per_direction`])
//! and globally ([`FlowConfig::max_buffer_total`], which also covers the probe buffers of
//! undecided connections). Each stored segment is charged its bytes plus
//! [`PIECE_OVERHEAD`]. The table holds at most [`FlowConfig::max_connections`] entries,
//! live connections and tombstones together; the least recently active entry is evicted
//! first. Idle entries expire after [`FlowConfig::idle_timeout_ns`] of capture time (an LRU
//! list is checked on every packet: amortised O(1)). In-order data on a connection with
//! nothing buffered is delivered straight from the packet, without copying or allocating.
//!
//! # Determinism
//! Connections are ended in capture order of their last activity (timeouts, evictions) or
//! of their first frame ([`FlowTable::finish`]); hash-map order never shows.

mod conn;
mod store;
mod table;

pub use store::{InsertOutcome, Piece, PieceData, SegmentStore, PIECE_OVERHEAD};
pub(crate) use table::ConnKey;
pub use table::{FlowTable, END_ORDER};

use crate::model::{Endpoint, Ts};
use crate::proto::{EndReason, StreamConsumer};

#[allow(unused_imports)] // for doc links
use crate::decode::TcpSegment;

/// Limits and timeouts of a [`FlowTable`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowConfig {
    /// A connection (or tombstone) without packets for this long, in capture time, is ended
    /// with [`EndReason::Timeout`]. Default: 10 minutes.
    pub idle_timeout_ns: i64,
    /// How long the tombstone of a connection closed by FIN/RST (followed, or ignored as not
    /// mail) is kept after its last packet, in capture time: it absorbs the last ACK and
    /// late retransmissions, which would otherwise start a new connection. Zeek's `tcp_close_delay` is the same idea
    /// (5 s). Kept short so that memory follows the connections open at once, not the
    /// connections closed in the last idle timeout. Default: 5 seconds.
    pub closed_linger_ns: i64,
    /// Tombstones of closed connections kept for `closed_linger_ns` at most; beyond, the
    /// oldest goes early (counter `flow.tombstones_closed_limit`). At 16,384 the linger is
    /// cut only above ~3,300 closes per second of capture time, to ~1.2 s at 14,000/s;
    /// the tombstones then cost ~2.5 MB whatever the rate. Default: 16,384.
    pub max_closed_tombstones: usize,
    /// Out-of-order bytes buffered per direction before the first hole is given up.
    /// Default: 4 MiB.
    pub max_buffer_per_direction: usize,
    /// Out-of-order and probe bytes buffered over all connections. Default: 256 MiB.
    pub max_buffer_total: usize,
    /// Entries tracked at once: live connections and tombstones (ignored or closed
    /// connections) together. Default: 250,000: a followed connection costs about 0.9 KB
    /// before any payload (measured on a 1 M SYN flood to port 25; the dissector is only
    /// created on the first byte), so the default bounds a flood at roughly 215 MB.
    pub max_connections: usize,
    /// In-order bytes per direction kept for [`Handler::classify`] while undecided; when a
    /// direction holds this many (the last segment may overshoot) and the handler is still
    /// undecided, the connection is ignored. The number of buffered data/gap events is also
    /// capped (`probe_bytes / 8 + 16`), so headers-only captures cannot grow it. Default: 4096.
    pub probe_bytes: usize,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            idle_timeout_ns: 600 * 1_000_000_000,
            closed_linger_ns: 5 * 1_000_000_000,
            max_closed_tombstones: 16_384,
            max_buffer_per_direction: 4 << 20,
            max_buffer_total: 256 << 20,
            max_connections: 250_000,
            probe_bytes: 4096,
        }
    }
}

/// What is known about a connection's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnInfo {
    /// The client (tentative while undecided when `handshake` is false).
    pub client: Endpoint,
    /// The server.
    pub server: Endpoint,
    /// Roles are known from a SYN or SYN-ACK.
    pub handshake: bool,
    /// Frame number of the first packet seen.
    pub first_frame: u64,
    /// Time of the first packet seen.
    pub first_ts: Ts,
}

/// The handler's answer to [`Handler::classify`].
#[derive(Debug)]
pub enum Decision<S> {
    /// Ask again when more in-order payload arrives (until `probe_bytes` in a direction,
    /// then the connection is ignored).
    Undecided,
    /// Not interesting: buffers are dropped, a tombstone makes later packets cost one lookup.
    Ignore,
    /// Deliver the connection to `stream`.
    Follow {
        /// The consumer of the connection's bytes.
        stream: S,
        /// The tentative roles were wrong: exchange client and server.
        swap: bool,
        /// Leading client bytes to discard (roles after `swap`), e.g. a proxy preamble.
        skip_client: usize,
        /// Leading server bytes to discard (roles after `swap`).
        skip_server: usize,
    },
}

/// Decides which connections to follow and receives them when they are over.
pub trait Handler {
    /// The consumer of a followed connection.
    type Stream: StreamConsumer;

    /// Called when a connection is first seen (empty prefixes) and again whenever more
    /// in-order payload arrived while undecided. The prefixes are the first in-order bytes
    /// of each direction under the tentative roles in `info` (up to the first gap).
    fn classify(
        &mut self,
        info: &ConnInfo,
        client_prefix: &[u8],
        server_prefix: &[u8],
    ) -> Decision<Self::Stream>;

    /// A followed connection is over; its stream's `end` has been called. `info` has the
    /// corrected roles.
    fn finished(&mut self, info: &ConnInfo, stats: &ConnStats, stream: Self::Stream);
}

/// Counters of one direction of a connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DirStats {
    /// Packets sent by this side.
    pub packets: u64,
    /// Captured payload bytes in those packets (all copies).
    pub payload_bytes: u64,
    /// Bytes handed to the stream's `data`.
    pub delivered_bytes: u64,
    /// `gap` calls made to the stream.
    pub gaps: u64,
    /// Bytes reported in those gaps.
    pub gap_bytes: u64,
    /// Part of `gap_bytes` given up because a buffer limit was hit.
    pub limit_gap_bytes: u64,
    /// Times a hole was given up because a buffer limit was hit.
    pub limit_skips: u64,
    /// Bytes at or before the delivered point that arrived again (retransmissions,
    /// keep-alives, overlaps) plus buffered positions that arrived again; dropped.
    pub retransmitted_bytes: u64,
    /// Segments whose bytes differed from the first arrival at the same positions.
    pub overlap_conflicts: u64,
    /// Bytes before the direction's base (sent before the capture started); dropped.
    pub before_start_bytes: u64,
    /// Leading bytes discarded on the handler's request (`skip_client`/`skip_server`).
    pub skipped_bytes: u64,
    /// A SYN was seen from this side (for the server: the SYN-ACK).
    pub syn: bool,
    /// A FIN was seen from this side.
    pub fin: bool,
    /// A RST was seen from this side.
    pub rst: bool,
}

/// Counters of a finished connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnStats {
    /// What the client sent.
    pub client: DirStats,
    /// What the server sent.
    pub server: DirStats,
    /// First frame of the connection.
    pub first_frame: u64,
    /// Last frame of the connection.
    pub last_frame: u64,
    /// Time of the first frame.
    pub first_ts: Ts,
    /// Time of the last frame.
    pub last_ts: Ts,
    /// Why it ended.
    pub end: EndReason,
    /// When it ended, as `(capture clock, frame)`: the clock (latest packet time so far)
    /// and frame of the packet that ended it (FIN, RST, a new SYN on the tuple, an eviction);
    /// for the idle timeout the moment it expired with frame `u64::MAX`; `END_ORDER` at the
    /// end of the capture. Ordering finished connections by `(order, first_frame)` gives the
    /// same sequence whether one table sees every packet or several tables each see a share
    /// on the same clock, and a connection that ends later never sorts before one that was
    /// already reported: records can be written as connections end, deterministically.
    pub order: (i64, u64),
}

/// Whole-table counters. Byte counters are summed over followed connections when they end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowStats {
    /// TCP segments seen.
    pub packets: u64,
    /// Connections created (followed, ignored or undecided).
    pub connections: u64,
    /// Connections the handler followed.
    pub followed: u64,
    /// Connections the handler ignored (`Decision::Ignore`).
    pub ignored: u64,
    /// Connections ignored because the handler was still undecided after `probe_bytes`.
    pub probe_exhausted: u64,
    /// Connections ignored because their probe buffer would exceed `max_buffer_total`.
    pub probe_limit_ignored: u64,
    /// Connections that ended (any reason) while the handler was still undecided; also
    /// counted under their end reason.
    pub undecided_at_end: u64,
    /// Connections ended by FIN in both directions (followed or undecided).
    pub ended_fin: u64,
    /// Connections ended by RST (followed or undecided).
    pub ended_rst: u64,
    /// Connections ended by the idle timeout.
    pub timed_out: u64,
    /// Connections evicted to honour `max_connections`.
    pub evicted: u64,
    /// Connections still open at the end of the capture.
    pub ended_at_capture_end: u64,
    /// Open connections replaced by a new SYN on the same tuple.
    pub superseded: u64,
    /// Packets that hit a tombstone (ignored or closed connection).
    pub tombstone_packets: u64,
    /// Tombstones removed by the idle timeout.
    pub tombstones_expired: u64,
    /// Tombstones evicted to honour `max_connections`.
    pub tombstones_evicted: u64,
    /// Tombstones of closed connections removed before their linger was over, to honour
    /// `max_closed_tombstones`.
    pub tombstones_closed_limit: u64,
    /// Times a direction's out-of-order buffer hit `max_buffer_per_direction`.
    pub direction_limit_hits: u64,
    /// Times the global buffer hit `max_buffer_total`.
    pub global_limit_hits: u64,
    /// Most entries (connections and tombstones) tracked at once by this table. Reported as
    /// `flow.worker_peak_entries`: a run split across workers (`--threads`) sums the
    /// workers' own peaks, reached at different moments, so unlike every other counter it
    /// depends on the number of workers (it is an upper bound of the run's peak).
    pub peak_entries: u64,
    /// Most bytes buffered at once by this table (out-of-order and probe, with overhead).
    /// Reported as `flow.worker_peak_buffered`, summed over workers like `peak_entries`.
    pub peak_buffered: u64,
    /// Bytes delivered to streams.
    pub delivered_bytes: u64,
    /// Gap calls made to streams.
    pub gaps: u64,
    /// Bytes reported as gaps.
    pub gap_bytes: u64,
    /// Part of `gap_bytes` given up at a buffer limit.
    pub limit_gap_bytes: u64,
    /// Retransmitted or overlapping bytes dropped.
    pub retransmitted_bytes: u64,
    /// Segments that disagreed with the first arrival.
    pub overlap_conflicts: u64,
    /// Bytes before a direction's base, dropped.
    pub before_start_bytes: u64,
    /// Bytes discarded on the handler's request.
    pub skipped_bytes: u64,
}

impl FlowStats {
    /// All counters as `(name, value)` pairs, in a fixed order.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("packets", self.packets),
            ("connections", self.connections),
            ("followed", self.followed),
            ("ignored", self.ignored),
            ("probe_exhausted", self.probe_exhausted),
            ("probe_limit_ignored", self.probe_limit_ignored),
            ("undecided_at_end", self.undecided_at_end),
            ("ended_fin", self.ended_fin),
            ("ended_rst", self.ended_rst),
            ("timed_out", self.timed_out),
            ("evicted", self.evicted),
            ("ended_at_capture_end", self.ended_at_capture_end),
            ("superseded", self.superseded),
            ("tombstone_packets", self.tombstone_packets),
            ("tombstones_expired", self.tombstones_expired),
            ("tombstones_evicted", self.tombstones_evicted),
            ("tombstones_closed_limit", self.tombstones_closed_limit),
            ("direction_limit_hits", self.direction_limit_hits),
            ("global_limit_hits", self.global_limit_hits),
            // `worker_`: the sum of per-worker peaks, the only counters that depend on
            // `--threads` (a peak of a sum is not the sum of peaks).
            ("worker_peak_entries", self.peak_entries),
            ("worker_peak_buffered", self.peak_buffered),
            ("delivered_bytes", self.delivered_bytes),
            ("gaps", self.gaps),
            ("gap_bytes", self.gap_bytes),
            ("limit_gap_bytes", self.limit_gap_bytes),
            ("retransmitted_bytes", self.retransmitted_bytes),
            ("overlap_conflicts", self.overlap_conflicts),
            ("before_start_bytes", self.before_start_bytes),
            ("skipped_bytes", self.skipped_bytes),
        ]
    }

    fn add_dir(&mut self, d: &DirStats) {
        self.delivered_bytes += d.delivered_bytes;
        self.gaps += d.gaps;
        self.gap_bytes += d.gap_bytes;
        self.limit_gap_bytes += d.limit_gap_bytes;
        self.retransmitted_bytes += d.retransmitted_bytes;
        self.overlap_conflicts += d.overlap_conflicts;
        self.before_start_bytes += d.before_start_bytes;
        self.skipped_bytes += d.skipped_bytes;
    }
}
