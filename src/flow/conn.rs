//! One tracked connection: two directions (sequence tracking, out-of-order store, FIN and
//! ACK state) and the output side (probe buffer while undecided, then the stream).

use super::store::{PieceData, SegmentStore};
use super::{ConnInfo, ConnStats, Decision, DirStats, FlowConfig, FlowStats};
use crate::decode::TcpSegment;
use crate::model::{Endpoint, Side};
use crate::proto::{ChunkMeta, EndReason, StreamConsumer};
use std::fmt;

/// Shared table state a connection needs while processing a packet.
pub(crate) struct Ctx<'a> {
    pub cfg: &'a FlowConfig,
    pub mem: &'a mut usize,
    pub stats: &'a mut FlowStats,
}

impl Ctx<'_> {
    fn add_mem(&mut self, n: usize) {
        *self.mem += n;
        if *self.mem as u64 > self.stats.peak_buffered {
            self.stats.peak_buffered = *self.mem as u64;
        }
    }

    fn sub_mem(&mut self, n: usize) {
        *self.mem -= n;
    }
}

/// The 64-bit offset congruent to `seq - base` (mod 2^32) nearest to `reference`; negative
/// when it lies before the base.
pub(crate) fn unwrap_seq(base: u32, reference: u64, seq: u32) -> i64 {
    let rel = seq.wrapping_sub(base);
    let diff = rel.wrapping_sub(reference as u32) as i32 as i64;
    reference as i64 + diff
}

/// Drops `k` positions from the front of a run of captured bytes followed by missing ones.
fn trim(payload: &[u8], missing: u64, k: u64) -> (&[u8], u64) {
    if k <= payload.len() as u64 {
        (&payload[k as usize..], missing)
    } else {
        (&[], missing - (k - payload.len() as u64))
    }
}

/// Bookkeeping charged per probe event.
const EVENT_COST: usize = std::mem::size_of::<ProbeEvent>();

#[derive(Debug, Clone, Copy)]
struct ProbeEvent {
    dir: u8,
    gap: bool,
    len: u64,
    meta: ChunkMeta,
}

/// In-order output kept while the handler is undecided, replayed when it follows.
#[derive(Debug, Default)]
pub(crate) struct Probe {
    bytes: [Vec<u8>; 2],
    /// Bytes before the first gap of each direction (what `classify` sees).
    prefix: [usize; 2],
    gapped: [bool; 2],
    events: Vec<ProbeEvent>,
    /// The prefix grew since the last `classify`.
    pub fresh: bool,
    /// The global buffer limit prevented keeping some output: the connection must be ignored.
    pub overflow: bool,
}

impl Probe {
    fn push(&mut self, ev: ProbeEvent, bytes: &[u8], ctx: &mut Ctx<'_>) {
        if self.overflow {
            return;
        }
        let cost = bytes.len() + EVENT_COST;
        if *ctx.mem + cost > ctx.cfg.max_buffer_total {
            self.overflow = true;
            ctx.stats.global_limit_hits += 1;
            return;
        }
        ctx.add_mem(cost);
        let d = ev.dir as usize;
        if ev.gap {
            self.gapped[d] = true;
        } else {
            self.bytes[d].extend_from_slice(bytes);
            if !self.gapped[d] {
                self.prefix[d] = self.bytes[d].len();
                self.fresh = true;
            }
        }
        self.events.push(ev);
    }

    fn mem(&self) -> usize {
        self.bytes[0].len() + self.bytes[1].len() + self.events.len() * EVENT_COST
    }

    /// The prefixes of direction 0 and 1.
    pub fn prefixes(&self) -> (&[u8], &[u8]) {
        (
            &self.bytes[0][..self.prefix[0]],
            &self.bytes[1][..self.prefix[1]],
        )
    }

    /// A direction holds `probe_bytes`, or the event list is as long as it may get.
    pub fn full(&self, probe_bytes: usize) -> bool {
        self.bytes[0].len() >= probe_bytes
            || self.bytes[1].len() >= probe_bytes
            || self.events.len() >= probe_bytes / 8 + 16
    }
}

/// Where output goes.
pub(crate) enum Phase<S> {
    Undecided(Probe),
    Following(S),
}

/// The output side of a connection, shared by both directions.
pub(crate) struct Out<S> {
    pub phase: Phase<S>,
    /// Direction 0 is the server (the handler swapped the tentative roles).
    pub swapped: bool,
    /// Leading bytes still to discard, per direction index.
    skip: [u64; 2],
}

impl<S: StreamConsumer> Out<S> {
    fn side(&self, d: usize) -> Side {
        if (d == 0) != self.swapped {
            Side::Client
        } else {
            Side::Server
        }
    }

    fn data(
        &mut self,
        d: usize,
        bytes: &[u8],
        meta: ChunkMeta,
        st: &mut DirStats,
        ctx: &mut Ctx<'_>,
    ) {
        let mut bytes = bytes;
        if self.skip[d] > 0 {
            let k = self.skip[d].min(bytes.len() as u64);
            self.skip[d] -= k;
            st.skipped_bytes += k;
            bytes = &bytes[k as usize..];
        }
        if bytes.is_empty() {
            return;
        }
        let side = self.side(d);
        match &mut self.phase {
            Phase::Following(s) => {
                st.delivered_bytes += bytes.len() as u64;
                s.data(side, bytes, meta);
            }
            Phase::Undecided(p) => p.push(
                ProbeEvent {
                    dir: d as u8,
                    gap: false,
                    len: bytes.len() as u64,
                    meta,
                },
                bytes,
                ctx,
            ),
        }
    }

    fn gap(&mut self, d: usize, len: u64, meta: ChunkMeta, st: &mut DirStats, ctx: &mut Ctx<'_>) {
        let mut len = len;
        if self.skip[d] > 0 {
            let k = self.skip[d].min(len);
            self.skip[d] -= k;
            st.skipped_bytes += k;
            len -= k;
        }
        if len == 0 {
            return;
        }
        let side = self.side(d);
        match &mut self.phase {
            Phase::Following(s) => {
                st.gaps += 1;
                st.gap_bytes += len;
                s.gap(side, len, meta);
            }
            Phase::Undecided(p) => p.push(
                ProbeEvent {
                    dir: d as u8,
                    gap: true,
                    len,
                    meta,
                },
                &[],
                ctx,
            ),
        }
    }
}

/// One direction of a connection.
#[derive(Debug, Default)]
pub(crate) struct Dir {
    /// Sequence number of this side's SYN.
    pub isn: Option<u32>,
    /// Sequence number of stream offset 0.
    pub base: Option<u32>,
    /// Offset of the next position to deliver: everything before is delivered, gapped,
    /// skipped or before the start.
    pub next: u64,
    /// Highest offset acknowledged by the peer.
    pub acked: u64,
    /// Offset of the FIN (the stream's end).
    pub fin: Option<u64>,
    pub store: SegmentStore,
    pub stats: DirStats,
}

impl fmt::Display for Dir {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "next {} {}",
            self.next,
            self.store.display_from(self.next)
        )?;
        if let Some(fin) = self.fin {
            write!(f, " fin {}", fin)?;
        }
        if self.acked > 0 {
            write!(f, " acked {}", self.acked)?;
        }
        Ok(())
    }
}

impl Dir {
    fn offset(&self, seq: u32) -> Option<i64> {
        self.base.map(|b| unwrap_seq(b, self.next, seq))
    }

    /// The run at `off`: `payload` captured, then `missing` positions not captured.
    #[allow(clippy::too_many_arguments)]
    fn segment<S: StreamConsumer>(
        &mut self,
        d: usize,
        off: i64,
        payload: &[u8],
        missing: u64,
        meta: ChunkMeta,
        out: &mut Out<S>,
        ctx: &mut Ctx<'_>,
    ) {
        let (mut payload, mut missing) = (payload, missing);
        let total = payload.len() as u64 + missing;
        let mut off = off;
        if off < 0 {
            let k = (off.unsigned_abs()).min(total);
            self.stats.before_start_bytes += k;
            (payload, missing) = trim(payload, missing, k);
            off = 0;
        }
        let mut off = off as u64;
        if off < self.next {
            let k = (self.next - off).min(payload.len() as u64 + missing);
            self.stats.retransmitted_bytes += k;
            (payload, missing) = trim(payload, missing, k);
            off += k;
        }
        if payload.is_empty() && missing == 0 {
            return;
        }
        if off == self.next {
            // Fast path: straight from the packet up to the first buffered piece.
            let direct = match self.store.first_start() {
                None => payload.len(),
                Some(s) => (payload.len() as u64).min(s - self.next) as usize,
            };
            if direct > 0 {
                out.data(d, &payload[..direct], meta, &mut self.stats, ctx);
                self.next += direct as u64;
                off += direct as u64;
                payload = &payload[direct..];
            }
            if payload.is_empty() && missing > 0 && self.store.is_empty() {
                out.gap(d, missing, meta, &mut self.stats, ctx);
                self.next += missing;
                missing = 0;
            }
        }
        if !payload.is_empty() || missing > 0 {
            let o = self.store.insert(off, payload, missing, meta);
            ctx.add_mem(o.mem);
            self.stats.retransmitted_bytes += o.duplicate;
            if o.conflict {
                self.stats.overlap_conflicts += 1;
            }
            self.drain(d, out, ctx);
            self.enforce_limits(d, out, ctx);
        } else {
            self.drain(d, out, ctx);
        }
    }

    /// Delivers buffered pieces that start at the delivered point.
    fn drain<S: StreamConsumer>(&mut self, d: usize, out: &mut Out<S>, ctx: &mut Ctx<'_>) {
        while self.store.first_start() == Some(self.next) {
            let Some(p) = self.store.pop_first() else {
                break;
            };
            ctx.sub_mem(p.mem());
            match &p.data {
                PieceData::Bytes(b) => out.data(d, b, p.meta, &mut self.stats, ctx),
                PieceData::Missing(n) => out.gap(d, *n, p.meta, &mut self.stats, ctx),
            }
            self.next = p.end();
        }
    }

    fn gap_to<S: StreamConsumer>(
        &mut self,
        d: usize,
        to: u64,
        meta: ChunkMeta,
        out: &mut Out<S>,
        ctx: &mut Ctx<'_>,
    ) {
        if to > self.next {
            out.gap(d, to - self.next, meta, &mut self.stats, ctx);
            self.next = to;
        }
    }

    /// Gives up holes while a buffer limit is exceeded.
    fn enforce_limits<S: StreamConsumer>(&mut self, d: usize, out: &mut Out<S>, ctx: &mut Ctx<'_>) {
        let (mut hit_dir, mut hit_global) = (false, false);
        while let Some(p) = self.store.first() {
            let over_dir = self.store.mem() > ctx.cfg.max_buffer_per_direction;
            let over_global = *ctx.mem > ctx.cfg.max_buffer_total;
            if !over_dir && !over_global {
                break;
            }
            hit_dir |= over_dir;
            hit_global |= over_global;
            let (s, meta) = (p.start, p.meta);
            self.stats.limit_skips += 1;
            self.stats.limit_gap_bytes += s - self.next;
            self.gap_to(d, s, meta, out, ctx);
            self.drain(d, out, ctx);
        }
        ctx.stats.direction_limit_hits += hit_dir as u64;
        ctx.stats.global_limit_hits += hit_global as u64;
    }

    /// Reports a hole as a gap when something after it is already here (buffered data or
    /// the FIN) and the peer acknowledged the whole hole: the peer has those bytes, the
    /// capture lost them. An ACK inside the hole settles nothing yet: the receiver lacks
    /// the rest, which will be retransmitted (and may be captured), and one hole must stay
    /// one gap event rather than one per ACK.
    fn settle<S: StreamConsumer>(
        &mut self,
        d: usize,
        meta: ChunkMeta,
        out: &mut Out<S>,
        ctx: &mut Ctx<'_>,
    ) {
        while self.acked > self.next {
            let (hole_end, m) = match self.store.first() {
                Some(p) => (p.start, p.meta),
                None => match self.fin {
                    Some(f) if f > self.next => (f, meta),
                    _ => return,
                },
            };
            if self.acked < hole_end {
                return;
            }
            self.gap_to(d, hole_end, m, out, ctx);
            self.drain(d, out, ctx);
        }
    }

    /// Delivers everything buffered with gaps for the holes, and a gap up to a seen FIN.
    fn flush<S: StreamConsumer>(
        &mut self,
        d: usize,
        meta: ChunkMeta,
        out: &mut Out<S>,
        ctx: &mut Ctx<'_>,
    ) {
        loop {
            self.drain(d, out, ctx);
            match self.store.first() {
                Some(p) => {
                    let (s, m) = (p.start, p.meta);
                    self.gap_to(d, s, m, out, ctx);
                }
                None => break,
            }
        }
        if let Some(f) = self.fin {
            self.gap_to(d, f, meta, out, ctx);
        }
    }

    /// The stream is complete up to its FIN.
    fn done(&self) -> bool {
        matches!(self.fin, Some(f) if self.next >= f)
    }
}

/// What became of a decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    Undecided,
    Ignore,
    Follow,
}

/// A tracked (undecided or followed) connection.
pub(crate) struct Conn<S> {
    pub info: ConnInfo,
    /// Endpoint whose packets go to direction 0 (the tentative client).
    ep0: Endpoint,
    pub dirs: [Dir; 2],
    pub out: Out<S>,
    pub last_meta: ChunkMeta,
}

impl<S> fmt::Debug for Conn<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} -> {}: 0: {}; 1: {}",
            self.info.client, self.info.server, self.dirs[0], self.dirs[1]
        )
    }
}

impl<S: StreamConsumer> Conn<S> {
    pub fn new(info: ConnInfo) -> Self {
        Conn {
            info,
            ep0: info.client,
            dirs: [Dir::default(), Dir::default()],
            out: Out {
                phase: Phase::Undecided(Probe::default()),
                swapped: false,
                skip: [0; 2],
            },
            last_meta: ChunkMeta {
                frame: info.first_frame,
                ts: info.first_ts,
            },
        }
    }

    fn dir_of(&self, seg: &TcpSegment<'_>) -> usize {
        if seg.src == self.ep0.ip && seg.sport == self.ep0.port {
            0
        } else {
            1
        }
    }

    /// Direction index of the client (after any swap).
    fn client_dir(&self) -> usize {
        self.out.swapped as usize
    }

    /// The client's ISN, if its SYN was seen.
    pub fn client_isn(&self) -> Option<u32> {
        self.dirs[self.client_dir()].isn
    }

    pub fn undecided(&self) -> bool {
        matches!(self.out.phase, Phase::Undecided(_))
    }

    /// A pure SYN that does not belong to this connection (port reuse).
    pub fn superseded_by(&self, seg: &TcpSegment<'_>) -> bool {
        let dir = &self.dirs[self.dir_of(seg)];
        match (dir.isn, dir.base) {
            (Some(isn), _) => isn != seg.seq,
            (None, Some(base)) => base != seg.seq.wrapping_add(1),
            (None, None) => false,
        }
    }

    /// End reason for a connection superseded by a new one on the same tuple.
    pub fn superseded_reason(&self) -> EndReason {
        if self.dirs.iter().any(|d| d.stats.rst) {
            EndReason::Rst
        } else if self.dirs.iter().any(|d| d.stats.fin) {
            EndReason::Fin
        } else {
            EndReason::Timeout
        }
    }

    /// Both directions are complete up to their FIN.
    pub fn fin_done(&self) -> bool {
        self.dirs[0].done() && self.dirs[1].done()
    }

    /// Processes one packet of this connection.
    pub fn packet(&mut self, seg: &TcpSegment<'_>, meta: ChunkMeta, ctx: &mut Ctx<'_>) {
        let d = self.dir_of(seg);
        let o = 1 - d;
        let f = seg.flags;
        self.last_meta = meta;
        {
            let dir = &mut self.dirs[d];
            dir.stats.packets += 1;
            dir.stats.payload_bytes += seg.payload.len() as u64;
            if f.syn() {
                dir.stats.syn = true;
                if dir.base.is_none() {
                    dir.isn = Some(seg.seq);
                    dir.base = Some(seg.seq.wrapping_add(1));
                }
            }
            if f.fin() {
                dir.stats.fin = true;
            }
            if f.rst() {
                dir.stats.rst = true;
                return;
            }
        }
        if f.ack() {
            let peer = &mut self.dirs[o];
            if f.syn() && peer.base.is_none() {
                peer.isn = Some(seg.ack.wrapping_sub(1));
                peer.base = Some(seg.ack);
            }
            if let Some(off) = peer.offset(seg.ack) {
                if off > peer.acked as i64 && off as u64 <= peer.next + (1 << 30) {
                    peer.acked = off as u64;
                }
            }
            peer.settle(o, meta, &mut self.out, ctx);
        }
        let data_seq = if f.syn() {
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };
        let len = seg.payload.len() as u64 + seg.missing as u64;
        let dir = &mut self.dirs[d];
        if dir.base.is_none() && (len > 0 || f.fin()) {
            dir.base = Some(data_seq);
        }
        if let Some(off) = dir.offset(data_seq) {
            if len > 0 {
                dir.segment(
                    d,
                    off,
                    seg.payload,
                    seg.missing as u64,
                    meta,
                    &mut self.out,
                    ctx,
                );
            }
            if f.fin() && dir.fin.is_none() {
                let fo = off + len as i64;
                if fo >= 0 {
                    dir.fin = Some(fo as u64);
                }
            }
        }
        dir.settle(d, meta, &mut self.out, ctx);
    }

    /// Applies the handler's decision to an undecided connection.
    pub fn apply(&mut self, decision: Decision<S>, ctx: &mut Ctx<'_>) -> Applied {
        let (stream, swap, skip_client, skip_server) = match decision {
            Decision::Undecided => return Applied::Undecided,
            Decision::Ignore => return Applied::Ignore,
            Decision::Follow {
                stream,
                swap,
                skip_client,
                skip_server,
            } => (stream, swap, skip_client, skip_server),
        };
        let Phase::Undecided(probe) =
            std::mem::replace(&mut self.out.phase, Phase::Following(stream))
        else {
            return Applied::Follow;
        };
        ctx.sub_mem(probe.mem());
        if swap {
            self.out.swapped = true;
            std::mem::swap(&mut self.info.client, &mut self.info.server);
        }
        let ci = self.client_dir();
        self.out.skip[ci] = skip_client as u64;
        self.out.skip[1 - ci] = skip_server as u64;
        let mut pos = [0usize; 2];
        for e in &probe.events {
            let d = e.dir as usize;
            let st = &mut self.dirs[d].stats;
            if e.gap {
                self.out.gap(d, e.len, e.meta, st, ctx);
            } else {
                let b = &probe.bytes[d][pos[d]..pos[d] + e.len as usize];
                pos[d] += e.len as usize;
                self.out.data(d, b, e.meta, st, ctx);
            }
        }
        Applied::Follow
    }

    /// Frees the buffers of a connection that is dropped without output.
    pub fn release(&mut self, ctx: &mut Ctx<'_>) {
        for dir in &mut self.dirs {
            ctx.sub_mem(dir.store.mem());
            dir.store = SegmentStore::new();
        }
        if let Phase::Undecided(p) = &mut self.out.phase {
            ctx.sub_mem(p.mem());
            *p = Probe::default();
        }
    }

    /// Ends the connection. A followed one is flushed (gaps for holes) and its stream ended;
    /// returns what the handler's `finished` needs.
    pub fn close(
        mut self,
        reason: EndReason,
        meta: ChunkMeta,
        ctx: &mut Ctx<'_>,
    ) -> Option<(ConnInfo, ConnStats, S)> {
        if self.undecided() {
            self.release(ctx);
            return None;
        }
        let ci = self.client_dir();
        for d in [ci, 1 - ci] {
            self.dirs[d].flush(d, meta, &mut self.out, ctx);
        }
        let Phase::Following(mut stream) = self.out.phase else {
            return None;
        };
        stream.end(reason, meta);
        let stats = ConnStats {
            client: self.dirs[ci].stats,
            server: self.dirs[1 - ci].stats,
            first_frame: self.info.first_frame,
            last_frame: self.last_meta.frame,
            first_ts: self.info.first_ts,
            last_ts: self.last_meta.ts,
            end: reason,
            order: (0, 0),
        };
        Some((self.info, stats, stream))
    }
}

#[cfg(test)]
mod tests {
    use super::unwrap_seq;

    #[test]
    fn unwrap_nearest() {
        assert_eq!(unwrap_seq(100, 0, 100), 0);
        assert_eq!(unwrap_seq(100, 0, 150), 50);
        assert_eq!(unwrap_seq(100, 0, 90), -10);
        // Across 2^32.
        assert_eq!(unwrap_seq(u32::MAX - 9, 0, 5), 15);
        assert_eq!(unwrap_seq(u32::MAX - 9, 5, u32::MAX), 9);
        // Beyond 4 GiB of stream.
        let r = (1u64 << 32) + 1000;
        assert_eq!(unwrap_seq(0, r, 1500), (1i64 << 32) + 1500);
        assert_eq!(unwrap_seq(0, r, 500), (1i64 << 32) + 500);
        assert_eq!(unwrap_seq(0, r, u32::MAX), (1i64 << 32) - 1);
    }
}
