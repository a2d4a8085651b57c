//! The connection table: a hash map from the normalised 4-tuple to a slab of entries kept
//! on an LRU list (most recently active first) for idle timeouts and eviction.

use super::conn::{Applied, Conn, Ctx, Phase};
use super::{ConnInfo, FlowConfig, FlowStats, Handler};
use crate::decode::TcpSegment;
use crate::model::Endpoint;
use crate::proto::{ChunkMeta, EndReason};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;

const NIL: u32 = u32::MAX;

/// A connection's 4-tuple as integers, the smaller endpoint first (in the order of
/// `(IpAddr, u16)`: IPv4 first, then the address in network order, then the port). Built,
/// compared and hashed as `Endpoint`s (`IpAddr` through byte arrays; the derived hash a
/// discriminant, a length prefix, the bytes and the port per endpoint) it cost ~100
/// instructions per lookup; as integers the order is a few comparisons, equality four
/// words, and an IPv4 key two hasher rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConnKey {
    /// Addresses as (high, low) halves of a u128: an IPv4 address in the low bits.
    a: (u64, u64),
    b: (u64, u64),
    /// `a`'s port in the high half, `b`'s in the low.
    ports: u32,
    v6: bool,
}

impl ConnKey {
    /// The key of the connection between `x` and `y`, either way round.
    #[inline]
    pub(crate) fn new(x: IpAddr, xp: u16, y: IpAddr, yp: u16) -> ConnKey {
        let bits = |ip: IpAddr| match ip {
            IpAddr::V4(ip) => (false, u128::from(u32::from(ip))),
            IpAddr::V6(ip) => (true, u128::from(ip)),
        };
        let (xv6, xa) = bits(x);
        let (yv6, ya) = bits(y);
        let halves = |v: u128| ((v >> 64) as u64, v as u64);
        let (lo, hi) = if (xv6, xa, xp) <= (yv6, ya, yp) {
            ((xa, xp), (ya, yp))
        } else {
            ((ya, yp), (xa, xp))
        };
        ConnKey {
            a: halves(lo.0),
            b: halves(hi.0),
            ports: u32::from(lo.1) << 16 | u32::from(hi.1),
            // A packet's two addresses share their family.
            v6: xv6 | yv6,
        }
    }
}

impl Hash for ConnKey {
    #[inline]
    fn hash<S: Hasher>(&self, h: &mut S) {
        // Every bit of the key reaches the hasher without overlap (folding the ports into
        // the addresses' word made many connections of one client collide).
        if self.v6 {
            h.write_u64(self.a.0);
            h.write_u64(self.a.1);
            h.write_u64(self.b.0);
            h.write_u64(self.b.1);
        } else {
            h.write_u64(self.a.1 << 32 | self.b.1);
        }
        h.write_u32(self.ports);
    }
}

/// What is left of an ignored or closed connection: enough to recognise a new SYN.
#[derive(Debug, Clone, Copy)]
struct Tomb {
    syn_isn: Option<u32>,
    /// In the `closed` queue: the connection ended (FIN/RST), so the tombstone lingers
    /// `closed_linger_ns`, not the idle timeout.
    closing: bool,
}

enum Kind<S> {
    Free,
    Tomb(Tomb),
    Live(Box<Conn<S>>),
}

struct Node<S> {
    key: ConnKey,
    prev: u32,
    next: u32,
    last_ts: i64,
    kind: Kind<S>,
    /// Incremented each time the slot is given to another connection, so the `closed`
    /// queue can name an entry in 8 bytes instead of by its 40-byte key.
    gen: u32,
}

/// Tracks TCP connections, reassembles the followed ones and feeds their streams.
pub struct FlowTable<H: Handler> {
    cfg: FlowConfig,
    handler: H,
    stats: FlowStats,
    map: FxHashMap<ConnKey, u32>,
    nodes: Vec<Node<H::Stream>>,
    free: Vec<u32>,
    /// Most recently active entry.
    head: u32,
    /// Least recently active entry.
    tail: u32,
    entries: usize,
    /// Bytes buffered over all connections (out-of-order stores and probes).
    mem: usize,
    /// Latest capture time seen.
    now: i64,
    /// Frame of the packet being processed (orders ends within one clock value).
    cur_frame: u64,
    /// Tombstones of closed connections, oldest first: (entry, its generation, time
    /// queued). Entries whose node was reused or removed since are skipped when reached.
    closed: VecDeque<(u32, u32, i64)>,
}

/// [`ConnStats::order`](super::ConnStats::order) of the connections ended by [`FlowTable::finish`].
pub const END_ORDER: (i64, u64) = (i64::MAX, u64::MAX);

impl<H: Handler> FlowTable<H> {
    /// An empty table.
    pub fn new(config: FlowConfig, handler: H) -> Self {
        FlowTable {
            cfg: config,
            handler,
            stats: FlowStats::default(),
            map: FxHashMap::default(),
            nodes: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            entries: 0,
            mem: 0,
            now: i64::MIN,
            cur_frame: 0,
            closed: VecDeque::new(),
        }
    }

    /// The handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The handler, mutably.
    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    /// Counters so far.
    pub fn stats(&self) -> &FlowStats {
        &self.stats
    }

    /// The limits in use.
    pub fn config(&self) -> &FlowConfig {
        &self.cfg
    }

    /// Entries tracked now (live connections and tombstones).
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// Live (undecided or followed) connections tracked now.
    pub fn live_connections(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| matches!(n.kind, Kind::Live(_)))
            .count()
    }

    /// Bytes buffered now over all connections, with per-piece overhead.
    pub fn buffered(&self) -> usize {
        self.mem
    }

    /// Processes one TCP segment; `meta` is the frame number and time of its packet.
    #[inline]
    pub fn packet(&mut self, seg: &TcpSegment<'_>, meta: ChunkMeta) {
        self.packet_at(seg, meta, meta.ts);
    }

    /// [`advance`](Self::advance)`(now)` then [`packet`](Self::packet), with one pass over
    /// the expiry lists instead of two (a table that sees a share of the capture runs on
    /// the capture's clock, `now`, at least the packet's time).
    pub fn packet_at(&mut self, seg: &TcpSegment<'_>, meta: ChunkMeta, now: crate::model::Ts) {
        self.stats.packets += 1;
        let t = now.0.max(meta.ts.0);
        if t > self.now {
            self.now = t;
        }
        self.cur_frame = meta.frame;
        self.expire_idle();
        self.expire_closed();
        let src = Endpoint {
            ip: seg.src,
            port: seg.sport,
        };
        let dst = Endpoint {
            ip: seg.dst,
            port: seg.dport,
        };
        let key = ConnKey::new(seg.src, seg.sport, seg.dst, seg.dport);
        let pure_syn = seg.flags.syn() && !seg.flags.ack();
        let Some(&idx) = self.map.get(&key) else {
            self.create(key, src, dst, seg, meta);
            return;
        };
        self.touch(idx);
        match &self.nodes[idx as usize].kind {
            Kind::Tomb(t) => {
                if pure_syn && t.syn_isn != Some(seg.seq) {
                    self.remove(idx);
                    self.create(key, src, dst, seg, meta);
                } else {
                    self.stats.tombstone_packets += 1;
                    if (seg.flags.fin() || seg.flags.rst()) && !t.closing {
                        // An ignored connection ends: its tombstone need not wait for the
                        // idle timeout (on a long mixed capture those were most entries).
                        self.close_tomb(idx);
                    }
                }
            }
            Kind::Live(c) => {
                if pure_syn && c.superseded_by(seg) {
                    let (reason, last) = (c.superseded_reason(), c.last_meta);
                    self.stats.superseded += 1;
                    let order = (self.now, meta.frame);
                    self.end_live(idx, reason, last, false, order);
                    self.create(key, src, dst, seg, meta);
                } else {
                    self.process(idx, seg, meta);
                }
            }
            Kind::Free => {}
        }
    }

    /// Moves the table's clock to `ts` (if later) and expires idle entries, as a packet of
    /// another table would in a single-table run. Lets tables that each see a share of a
    /// capture (split by connection across threads) keep the same clock as one table.
    pub fn advance(&mut self, ts: crate::model::Ts) {
        if ts.0 > self.now {
            self.now = ts.0;
            self.expire_idle();
            self.expire_closed();
        }
    }

    /// Ends every open connection ([`EndReason::EndOfCapture`]) in order of first frame,
    /// flushing holes as gaps, and returns the handler and the counters.
    pub fn finish(mut self) -> (H, FlowStats) {
        let mut live: Vec<(u64, i64, u32, ChunkMeta)> = self
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| match &n.kind {
                Kind::Live(c) => {
                    Some((c.info.first_frame, c.info.first_ts.0, i as u32, c.last_meta))
                }
                _ => None,
            })
            .collect();
        live.sort_unstable_by_key(|&(f, t, i, _)| (f, t, i));
        for (_, _, idx, last) in live {
            self.end_live(idx, EndReason::EndOfCapture, last, false, END_ORDER);
        }
        debug_assert_eq!(self.mem, 0, "buffer accounting");
        (self.handler, self.stats)
    }

    fn create(
        &mut self,
        key: ConnKey,
        src: Endpoint,
        dst: Endpoint,
        seg: &TcpSegment<'_>,
        meta: ChunkMeta,
    ) {
        if self.entries >= self.cfg.max_connections.max(1) {
            self.evict_oldest();
        }
        self.stats.connections += 1;
        let f = seg.flags;
        let (client, server, handshake) = match (f.syn(), f.ack()) {
            (true, false) => (src, dst, true),
            (true, true) => (dst, src, true),
            _ => (src, dst, false),
        };
        let info = ConnInfo {
            client,
            server,
            handshake,
            first_frame: meta.frame,
            first_ts: meta.ts,
        };
        let mut conn = Box::new(Conn::new(info));
        let decision = self.handler.classify(&info, &[], &[]);
        let mut ctx = Ctx {
            cfg: &self.cfg,
            mem: &mut self.mem,
            stats: &mut self.stats,
        };
        match conn.apply(decision, &mut ctx) {
            Applied::Ignore => {
                self.stats.ignored += 1;
                let syn_isn = (f.syn() && !f.ack()).then_some(seg.seq);
                let idx = self.alloc(
                    key,
                    Kind::Tomb(Tomb {
                        syn_isn,
                        closing: false,
                    }),
                );
                if f.fin() || f.rst() {
                    self.close_tomb(idx);
                }
            }
            applied => {
                if applied == Applied::Follow {
                    self.stats.followed += 1;
                }
                let idx = self.alloc(key, Kind::Live(conn));
                self.process(idx, seg, meta);
            }
        }
    }

    /// Runs a packet through a live connection, then the classification and end checks.
    fn process(&mut self, idx: u32, seg: &TcpSegment<'_>, meta: ChunkMeta) {
        let Kind::Live(conn) = &mut self.nodes[idx as usize].kind else {
            return;
        };
        let mut ctx = Ctx {
            cfg: &self.cfg,
            mem: &mut self.mem,
            stats: &mut self.stats,
        };
        conn.packet(seg, meta, &mut ctx);
        let mut ignore = false;
        if let Phase::Undecided(p) = &mut conn.out.phase {
            if p.overflow {
                ctx.stats.probe_limit_ignored += 1;
                ignore = true;
            } else {
                if p.fresh {
                    p.fresh = false;
                    let (c, s) = p.prefixes();
                    let decision = self.handler.classify(&conn.info, c, s);
                    match conn.apply(decision, &mut ctx) {
                        Applied::Ignore => {
                            ctx.stats.ignored += 1;
                            ignore = true;
                        }
                        Applied::Follow => ctx.stats.followed += 1,
                        Applied::Undecided => {}
                    }
                }
                if let Phase::Undecided(p) = &conn.out.phase {
                    if !ignore && p.full(ctx.cfg.probe_bytes) {
                        ctx.stats.probe_exhausted += 1;
                        ignore = true;
                    }
                }
            }
        }
        if ignore {
            conn.release(&mut ctx);
            let syn_isn = conn.client_isn();
            self.nodes[idx as usize].kind = Kind::Tomb(Tomb {
                syn_isn,
                closing: false,
            });
            if seg.flags.fin() || seg.flags.rst() {
                self.close_tomb(idx);
            }
        } else if seg.flags.rst() {
            self.end_live(idx, EndReason::Rst, meta, true, (self.now, meta.frame));
        } else if conn.fin_done() {
            self.end_live(idx, EndReason::Fin, meta, true, (self.now, meta.frame));
        }
    }

    /// Ends a live connection; keeps a tombstone (closed by FIN/RST) or removes the entry.
    /// `order` becomes [`ConnStats::order`].
    fn end_live(
        &mut self,
        idx: u32,
        reason: EndReason,
        meta: ChunkMeta,
        keep_tomb: bool,
        order: (i64, u64),
    ) {
        let kind = std::mem::replace(&mut self.nodes[idx as usize].kind, Kind::Free);
        let Kind::Live(conn) = kind else {
            self.nodes[idx as usize].kind = kind;
            return;
        };
        let syn_isn = conn.client_isn();
        let undecided = conn.undecided();
        match reason {
            EndReason::Fin => self.stats.ended_fin += 1,
            EndReason::Rst => self.stats.ended_rst += 1,
            EndReason::Timeout => self.stats.timed_out += 1,
            EndReason::EndOfCapture => self.stats.ended_at_capture_end += 1,
            EndReason::Evicted => self.stats.evicted += 1,
        }
        if undecided {
            self.stats.undecided_at_end += 1;
        }
        let mut ctx = Ctx {
            cfg: &self.cfg,
            mem: &mut self.mem,
            stats: &mut self.stats,
        };
        if let Some((info, mut stats, stream)) = (*conn).close(reason, meta, &mut ctx) {
            stats.order = order;
            self.stats.add_dir(&stats.client);
            self.stats.add_dir(&stats.server);
            self.handler.finished(&info, &stats, stream);
        }
        if keep_tomb {
            let n = &mut self.nodes[idx as usize];
            n.kind = Kind::Tomb(Tomb {
                syn_isn,
                closing: true,
            });
            self.closed.push_back((idx, n.gen, self.now));
            self.bound_closed();
        } else {
            self.remove(idx);
        }
    }

    fn expire_idle(&mut self) {
        while self.tail != NIL {
            let idx = self.tail;
            let n = &self.nodes[idx as usize];
            if self.now.saturating_sub(n.last_ts) <= self.cfg.idle_timeout_ns {
                break;
            }
            match &n.kind {
                Kind::Live(c) => {
                    let last = c.last_meta;
                    // The moment it expired, whichever packet noticed it: the same in a
                    // table that sees every packet and in one that sees a share.
                    let at = n.last_ts.saturating_add(self.cfg.idle_timeout_ns);
                    self.end_live(idx, EndReason::Timeout, last, false, (at, u64::MAX));
                }
                _ => {
                    self.stats.tombstones_expired += 1;
                    self.remove(idx);
                }
            }
        }
    }

    /// Removes the tombstones of closed connections without a packet for
    /// `closed_linger_ns`.
    fn expire_closed(&mut self) {
        let linger = self.cfg.closed_linger_ns;
        while let Some(&(idx, gen, at)) = self.closed.front() {
            if self.now.saturating_sub(at) <= linger {
                break;
            }
            self.closed.pop_front();
            let n = &self.nodes[idx as usize];
            if n.gen != gen || !matches!(n.kind, Kind::Tomb(_)) {
                continue; // removed or reused since
            }
            if self.now.saturating_sub(n.last_ts) <= linger {
                // A late packet hit it: wait again from then.
                let last = n.last_ts;
                self.closed.push_back((idx, gen, last));
            } else {
                self.stats.tombstones_expired += 1;
                self.remove(idx);
            }
        }
    }

    /// Queues the tombstone of an ignored connection that ended (FIN/RST) for the closed
    /// linger.
    fn close_tomb(&mut self, idx: u32) {
        let n = &mut self.nodes[idx as usize];
        if let Kind::Tomb(t) = &mut n.kind {
            if !t.closing {
                t.closing = true;
                self.closed.push_back((idx, n.gen, self.now));
                self.bound_closed();
            }
        }
    }

    /// Honours `max_closed_tombstones`: the oldest closed tombstones go before their
    /// linger is over (queue entries of reused slots count too, so it may cut a little early).
    fn bound_closed(&mut self) {
        while self.closed.len() > self.cfg.max_closed_tombstones.max(1) {
            let Some((idx, gen, _)) = self.closed.pop_front() else {
                break;
            };
            let n = &self.nodes[idx as usize];
            if n.gen == gen && matches!(n.kind, Kind::Tomb(_)) {
                self.stats.tombstones_closed_limit += 1;
                self.remove(idx);
            }
        }
    }

    fn evict_oldest(&mut self) {
        let idx = self.tail;
        if idx == NIL {
            return;
        }
        match &self.nodes[idx as usize].kind {
            Kind::Live(c) => {
                let last = c.last_meta;
                let order = (self.now, self.cur_frame);
                self.end_live(idx, EndReason::Evicted, last, false, order);
            }
            _ => {
                self.stats.tombstones_evicted += 1;
                self.remove(idx);
            }
        }
    }

    fn alloc(&mut self, key: ConnKey, kind: Kind<H::Stream>) -> u32 {
        let mut node = Node {
            key,
            prev: NIL,
            next: NIL,
            last_ts: self.now,
            kind,
            gen: 0,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                node.gen = self.nodes[i as usize].gen.wrapping_add(1);
                self.nodes[i as usize] = node;
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        self.push_front(idx);
        self.map.insert(key, idx);
        self.entries += 1;
        if self.entries as u64 > self.stats.peak_entries {
            self.stats.peak_entries = self.entries as u64;
        }
        idx
    }

    fn remove(&mut self, idx: u32) {
        self.unlink(idx);
        let n = &mut self.nodes[idx as usize];
        n.kind = Kind::Free;
        let key = n.key;
        self.map.remove(&key);
        self.free.push(idx);
        self.entries -= 1;
    }

    fn touch(&mut self, idx: u32) {
        self.nodes[idx as usize].last_ts = self.now;
        if self.head != idx {
            self.unlink(idx);
            self.push_front(idx);
        }
    }

    fn push_front(&mut self, idx: u32) {
        let old = self.head;
        {
            let n = &mut self.nodes[idx as usize];
            n.prev = NIL;
            n.next = old;
        }
        if old != NIL {
            self.nodes[old as usize].prev = idx;
        } else {
            self.tail = idx;
        }
        self.head = idx;
    }

    fn unlink(&mut self, idx: u32) {
        let (p, nx) = {
            let n = &self.nodes[idx as usize];
            (n.prev, n.next)
        };
        if p != NIL {
            self.nodes[p as usize].next = nx;
        } else {
            self.head = nx;
        }
        if nx != NIL {
            self.nodes[nx as usize].prev = p;
        } else {
            self.tail = p;
        }
        let n = &mut self.nodes[idx as usize];
        n.prev = NIL;
        n.next = NIL;
    }
}
