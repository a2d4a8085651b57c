//! One file split by connection across worker threads.

use super::run::{Done, Mark, PacketSource, Prepared, RenderCtx, Reorder, END_MARK};
use super::{Config, Finished, MailHandler};
use crate::capture::LinkType;
use crate::decode::{Decoded, Decoder, TcpFlags, TcpSegment};
use crate::flow::FlowTable;
use crate::model::Ts;
use crate::proto::ChunkMeta;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::mpsc;

/// A connection's normalised 4-tuple (compared and hashed as integers).
type Key = crate::flow::ConnKey;

/// From a worker to the reader.
enum Note {
    /// The handler ignored this connection while processing `frame`, with the capture
    /// clock at `now`: its table keeps a tombstone, which needs no payload.
    Ignored {
        key: Key,
        /// The connection's [`sym_hash`].
        h: u64,
        frame: u64,
        now: Ts,
    },
    /// A worker evicted tombstones (the connection limit was hit): forget them all.
    Reset,
}

/// The worker side of the ignored-connection feedback, held by its handler.
pub(super) struct IgnoredTx {
    tx: mpsc::Sender<Note>,
    frame: u64,
    now: Ts,
}

impl IgnoredTx {
    pub(super) fn ignored(&self, info: &crate::flow::ConnInfo) {
        let (c, v) = (info.client, info.server);
        let _ = self.tx.send(Note::Ignored {
            key: Key::new(c.ip, c.port, v.ip, v.port),
            h: sym_hash(&c.ip, c.port, &v.ip, v.port),
            frame: self.frame,
            now: self.now,
        });
    }
}

/// Payload of connections the workers ignored is not copied to them: their tables hold
/// a tombstone, which looks at flags and sequence numbers only. The reader forgets a
/// connection, and sends its payload again, whenever the worker's tombstone may be
/// gone: on a pure SYN (it may start a new connection), on a FIN or RST (the tombstone
/// then lingers only the closed-connection time, or less under the closed bound), after
/// the idle timeout (on the same clock as the worker's table), and when a worker evicted
/// tombstones. A note that
/// crosses a SYN dispatched after the ignoring frame is dropped (`syn_frames` keeps the
/// last SYN frame per hash slot; a collision only drops a note).
///
/// An entry is otherwise only dropped when its connection is seen again, so a connection
/// that goes silent without FIN or RST would stay: the map is cleared when it holds more
/// entries than the flow tables may (`max`). Clearing only sends payload that could have
/// been left out; the output does not change.
struct Ignored {
    map: rustc_hash::FxHashMap<Key, Ts>,
    syn_frames: Vec<u64>,
    timeout: i64,
    max: usize,
}

const SYN_SLOTS: usize = 1 << 16;

impl Ignored {
    fn note(&mut self, n: Note) {
        match n {
            Note::Ignored { key, h, frame, now } => {
                if self.syn_frames[h as usize % SYN_SLOTS] <= frame {
                    if self.map.len() >= self.max {
                        self.map.clear();
                    }
                    self.map.insert(key, now);
                }
            }
            Note::Reset => self.map.clear(),
        }
    }

    /// Whether the segment's payload can be left out. `now` is the capture clock
    /// including this segment.
    #[inline]
    fn skip_payload(&mut self, seg: &TcpSegment<'_>, h: u64, frame: u64, now: Ts) -> bool {
        let pure_syn = seg.flags.syn() && !seg.flags.ack();
        if pure_syn {
            self.syn_frames[h as usize % SYN_SLOTS] = frame;
        }
        if self.map.is_empty() || (seg.payload.is_empty() && !pure_syn) {
            return false;
        }
        let key = Key::new(seg.src, seg.sport, seg.dst, seg.dport);
        if pure_syn || seg.flags.fin() || seg.flags.rst() {
            self.map.remove(&key);
            return false;
        }
        let Some(last) = self.map.get_mut(&key) else {
            return false;
        };
        if now.0.saturating_sub(last.0) > self.timeout {
            self.map.remove(&key);
            return false;
        }
        *last = now;
        true
    }
}

/// Segments per batch, and payload bytes per batch, before it is sent.
const BATCH_SEGS: usize = 1024;
const BATCH_BYTES: usize = 256 << 10;
/// Batches queued per worker: bounds the memory in flight and lets the reader run ahead.
const QUEUE: usize = 4;

/// A TCP segment with its payload in the batch's byte buffer.
struct Rec {
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    missing: u32,
    off: u32,
    len: u32,
    frame: u64,
    ts: Ts,
    /// Latest capture time over all TCP segments up to this one (the clock a single
    /// flow table would have).
    now: Ts,
}

#[derive(Default)]
struct Batch {
    recs: Vec<Rec>,
    bytes: Vec<u8>,
    /// The capture clock when the batch was sent.
    now: Ts,
    /// The frame of the last packet read when the batch was sent (this batch's
    /// segments, and every earlier one of the worker's, are at or before it).
    upto: u64,
}

/// From a worker to the reader after each batch: the connections that ended, and the
/// worker's mark (no connection of this worker that ends later can sort before it).
struct Out {
    worker: usize,
    done: Vec<Done>,
    mark: Mark,
}

/// Every this many packets all workers get their batch, full or not, so that every
/// worker's mark moves on and finished sessions are not held back by a quiet worker.
const FLUSH_EVERY: u64 = 1 << 15;

/// Takes what the workers have finished and releases, in order, what no worker can still
/// precede. Returns false once `emit` has refused a record.
fn drain(
    rx: &mpsc::Receiver<Out>,
    block: bool,
    reorder: &mut Reorder,
    marks: &mut [Mark],
    emit: &mut dyn FnMut(Done) -> bool,
    ok: &mut bool,
) -> bool {
    let mut got = false;
    loop {
        let msg = if block {
            match rx.recv() {
                Ok(m) => m,
                Err(_) => break,
            }
        } else {
            match rx.try_recv() {
                Ok(m) => m,
                Err(_) => break,
            }
        };
        got = true;
        for f in msg.done {
            reorder.push(f);
        }
        marks[msg.worker] = msg.mark;
    }
    if got {
        let low = marks.iter().copied().min().unwrap_or(END_MARK);
        while let Some(f) = reorder.pop_upto(low) {
            if *ok && !emit(f) {
                *ok = false;
            }
        }
    }
    *ok
}

/// The worker of a connection: a symmetric hash of its two endpoints.
#[inline]
fn sym_hash(a: &IpAddr, ap: u16, b: &IpAddr, bp: u16) -> u64 {
    #[inline]
    fn ep(ip: &IpAddr, port: u16) -> u64 {
        let x = match ip {
            IpAddr::V4(a) => u32::from(*a) as u64,
            IpAddr::V6(a) => {
                let v = u128::from(*a);
                (v as u64) ^ ((v >> 64) as u64).rotate_left(29)
            }
        };
        (x ^ ((port as u64) << 40)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
    let h = ep(a, ap) ^ ep(b, bp);
    (h ^ (h >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9)
}

/// How connections are shared out: `remote` worker threads get `REMOTE_UNITS` each, the
/// reader's own table `local` units (0: the reader only reads and dispatches).
#[derive(Clone, Copy)]
struct Shares {
    remote: usize,
    local: usize,
}

/// Hash units of one worker thread.
const REMOTE_UNITS: usize = 5;

impl Shares {
    /// With few threads the reader also keeps a table of its own, so that N threads keep
    /// N cores busy instead of N + 1 threads sharing them. Its share is smaller: reading,
    /// decoding, dispatching and writing the records cost it about a fifth of one
    /// thread's work (N = 2: 3/8 of the connections; 3: 1/6; 4: 1/16; more: none). With
    /// two threads 3/8 was measured against 1/3, 7/17 and 4/9: the best on mostly
    /// non-mail traffic (where reading is most of the work) and as good as any on short
    /// sessions.
    fn for_threads(n: usize) -> Shares {
        let local = match n {
            2 => 3,
            3 => 2,
            4 => 1,
            _ => 0,
        };
        Shares {
            remote: if local > 0 { n - 1 } else { n },
            local,
        }
    }

    /// The worker of hash `h`, or None for the reader's own table.
    #[inline]
    fn route(self, h: u64) -> Option<usize> {
        let total = self.local + REMOTE_UNITS * self.remote;
        let x = ((h >> 32) as usize * total) >> 32;
        x.checked_sub(self.local).map(|r| r / REMOTE_UNITS)
    }
}

/// Reads the whole source, hands every finished connection to `emit` in output order;
/// returns the count of connections that were not mail and the summed flow counters.
#[allow(clippy::too_many_arguments)]
pub(super) fn run(
    src: &mut dyn PacketSource,
    decoder: &mut Decoder,
    unsupported: &mut BTreeSet<LinkType>,
    cfg: &Config,
    n: usize,
    render: Option<&RenderCtx<'_>>,
    progress: &(dyn Fn(usize, u64) + Sync),
    interrupted_at: &mut Option<u64>,
    emit: &mut dyn FnMut(Done) -> bool,
) -> (u64, Vec<(&'static str, u64)>) {
    // A worker's finished sessions leave it as records rendered there when the sink
    // allows it: the reading thread then only numbers and writes them.
    let ready = |done: Vec<Finished>, home: &mpsc::Sender<Box<Prepared>>| -> Vec<Done> {
        match render {
            Some(ctx) => done.into_iter().map(|f| ctx.prepare(f, home)).collect(),
            None => done.into_iter().map(Done::raw).collect(),
        }
    };
    let ready = &ready;
    let mut flow_cfg = cfg.flow.clone();
    flow_cfg.max_connections = (flow_cfg.max_connections / n).max(1);
    flow_cfg.max_buffer_total = (flow_cfg.max_buffer_total / n).max(1);
    flow_cfg.max_closed_tombstones = (flow_cfg.max_closed_tombstones / n).max(1);
    let shares = Shares::for_threads(n);
    // The reader's own table: its connections are processed in place (no copy, no queue).
    let mut local = (shares.local > 0).then(|| {
        FlowTable::new(
            flow_cfg.clone(),
            MailHandler {
                cfg,
                finished: Vec::new(),
                not_mail: 0,
                ignored: None,
            },
        )
    });
    let n = shares.remote;
    std::thread::scope(|scope| {
        let (back_tx, back_rx) = mpsc::channel::<Batch>();
        let (note_tx, note_rx) = mpsc::channel::<Note>();
        let (out_tx, out_rx) = mpsc::channel::<Out>();
        let mut txs = Vec::with_capacity(n);
        let mut handles = Vec::with_capacity(n);
        for worker in 0..n {
            let out = out_tx.clone();
            let (tx, rx) = mpsc::sync_channel::<Batch>(QUEUE);
            txs.push(tx);
            let back = back_tx.clone();
            let notes = note_tx.clone();
            let flow_cfg = flow_cfg.clone();
            handles.push(scope.spawn(move || {
                // Records this worker built come back here to be freed once written.
                let (home, returned) = mpsc::channel::<Box<Prepared>>();
                let handler = MailHandler {
                    cfg,
                    finished: Vec::new(),
                    not_mail: 0,
                    ignored: Some(IgnoredTx {
                        tx: notes.clone(),
                        frame: 0,
                        now: Ts(i64::MIN),
                    }),
                };
                let mut table = FlowTable::new(flow_cfg, handler);
                let mut evicted = 0;
                for mut b in rx {
                    for r in &b.recs {
                        if let Some(t) = &mut table.handler_mut().ignored {
                            t.frame = r.frame;
                            t.now = r.now;
                        }
                        let seg = TcpSegment {
                            src: r.src,
                            dst: r.dst,
                            sport: r.sport,
                            dport: r.dport,
                            seq: r.seq,
                            ack: r.ack,
                            flags: TcpFlags(r.flags),
                            window: r.window,
                            payload: &b.bytes[r.off as usize..(r.off + r.len) as usize],
                            missing: r.missing,
                        };
                        let meta = ChunkMeta {
                            frame: r.frame,
                            ts: r.ts,
                        };
                        table.packet_at(&seg, meta, r.now);
                    }
                    table.advance(b.now);
                    let done = std::mem::take(&mut table.handler_mut().finished);
                    let _ = out.send(Out {
                        worker,
                        done: ready(done, &home),
                        mark: (b.now.0, b.upto),
                    });
                    if table.stats().tombstones_evicted != evicted {
                        evicted = table.stats().tombstones_evicted;
                        let _ = notes.send(Note::Reset);
                    }
                    while let Ok(r) = returned.try_recv() {
                        drop(r);
                    }
                    b.recs.clear();
                    b.bytes.clear();
                    // The reader may be gone already; the batch is then dropped.
                    let _ = back.send(b);
                }
                let (handler, stats) = table.finish();
                let _ = out.send(Out {
                    worker,
                    done: ready(handler.finished, &home),
                    mark: END_MARK,
                });
                (handler.not_mail, stats.counters())
            }));
        }
        drop(back_tx);
        drop(note_tx);
        drop(out_tx);
        let mut reorder = Reorder::default();
        let mut marks: Vec<Mark> = vec![(i64::MIN, 0); n];
        let mut ok = true;
        let mut ignored = Ignored {
            map: Default::default(),
            syn_frames: vec![0; SYN_SLOTS],
            timeout: cfg.flow.idle_timeout_ns,
            max: cfg.flow.max_connections,
        };
        let mut batches: Vec<Batch> = (0..n).map(|_| Batch::default()).collect();
        let mut now = Ts(i64::MIN);
        let mut upto = 0u64;
        let mut count = 0u64;
        let send =
            |w: usize, batches: &mut Vec<Batch>, now: Ts, upto: u64, ignored: &mut Ignored| {
                while let Ok(n) = note_rx.try_recv() {
                    ignored.note(n);
                }
                let fresh = back_rx.try_recv().unwrap_or_default();
                let mut b = std::mem::replace(&mut batches[w], fresh);
                b.now = now;
                b.upto = upto;
                // A worker only hangs up by panicking; its panic is raised at the join.
                let _ = txs[w].send(b);
            };
        while let Some(pkt) = src.next_pkt() {
            let (frame, ts) = (pkt.frame, pkt.ts);
            upto = frame;
            count += 1;
            if count.is_multiple_of(super::INTERRUPT_CHECK_EVERY) && cfg.interrupted() {
                *interrupted_at = Some(frame & ((1 << super::run::FILE_SHIFT) - 1));
                break;
            }
            match decoder.decode(pkt.link_type, pkt.data, pkt.ts) {
                Decoded::Tcp(seg) => {
                    if ts > now {
                        now = ts;
                    }
                    let h = sym_hash(&seg.src, seg.sport, &seg.dst, seg.dport);
                    match shares.route(h) {
                        None => {
                            if let Some(t) = &mut local {
                                // On the run's clock, as the workers' tables are.
                                t.packet_at(&seg, ChunkMeta { frame, ts }, now);
                                for f in t.handler_mut().finished.drain(..) {
                                    reorder.push(Done::raw(f));
                                }
                            }
                        }
                        Some(w) => {
                            let payload = if ignored.skip_payload(&seg, h, frame, now) {
                                &[][..]
                            } else {
                                seg.payload
                            };
                            let b = &mut batches[w];
                            let off = b.bytes.len() as u32;
                            b.bytes.extend_from_slice(payload);
                            b.recs.push(Rec {
                                src: seg.src,
                                dst: seg.dst,
                                sport: seg.sport,
                                dport: seg.dport,
                                seq: seg.seq,
                                ack: seg.ack,
                                flags: seg.flags.0,
                                window: seg.window,
                                missing: seg.missing,
                                off,
                                len: payload.len() as u32,
                                frame,
                                ts,
                                now,
                            });
                            if b.recs.len() >= BATCH_SEGS || b.bytes.len() >= BATCH_BYTES {
                                send(w, &mut batches, now, upto, &mut ignored);
                                if !drain(&out_rx, false, &mut reorder, &mut marks, emit, &mut ok) {
                                    break;
                                }
                            }
                        }
                    }
                }
                Decoded::UnsupportedLink(lt) => {
                    unsupported.insert(lt);
                }
                _ => {}
            }
            if count.is_multiple_of(super::PROGRESS_EVERY) {
                src.report_progress(progress);
            }
            if count.is_multiple_of(FLUSH_EVERY) {
                for w in 0..n {
                    send(w, &mut batches, now, upto, &mut ignored);
                }
                if !drain(&out_rx, false, &mut reorder, &mut marks, emit, &mut ok) {
                    break;
                }
            }
        }
        for w in 0..n {
            send(w, &mut batches, now, upto, &mut ignored);
        }
        let mut not_mail = 0;
        let mut counters: Vec<(&'static str, u64)> = Vec::new();
        if let Some(mut t) = local.take() {
            // The capture's last segments may have gone to workers: the reader's table must
            // still see the clock they set, as one table would (an idle connection of its
            // own times out there rather than ending with the capture).
            t.advance(now);
            let (handler, stats) = t.finish();
            for f in handler.finished {
                reorder.push(Done::raw(f));
            }
            not_mail += handler.not_mail;
            counters = stats.counters();
        }
        drop(txs);
        drain(&out_rx, true, &mut reorder, &mut marks, emit, &mut ok);
        for h in handles {
            let (nm, c) = match h.join() {
                Ok(r) => r,
                Err(p) => std::panic::resume_unwind(p),
            };
            not_mail += nm;
            if counters.is_empty() {
                counters = c;
            } else {
                for (acc, (_, v)) in counters.iter_mut().zip(c) {
                    acc.1 += v;
                }
            }
        }
        (not_mail, counters)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The share of each table over hashes of many real-looking connections.
    fn shares_seen(n: usize) -> (Shares, Vec<f64>) {
        let s = Shares::for_threads(n);
        let mut counts = vec![0u64; s.remote + 1];
        let total = 200_000u32;
        for i in 0..total {
            let client = IpAddr::from([10, 0, (i >> 8) as u8, i as u8]);
            let server = IpAddr::from([192, 0, 2, 25]);
            let h = sym_hash(&client, 40_000 + (i % 20_000) as u16, &server, 25);
            match s.route(h) {
                Some(w) => counts[w] += 1,
                None => counts[s.remote] += 1,
            }
        }
        (s, counts.iter().map(|&c| c as f64 / total as f64).collect())
    }

    /// The workers now drop an ignored connection's tombstone soon after its FIN or RST, so
    /// the reader must send that connection's payload again from then on (a later
    /// connection on the same ports without a SYN in the capture gets its bytes).
    #[test]
    fn ignored_payload_is_sent_again_after_fin_or_rst() {
        for end in [TcpFlags::FIN | TcpFlags::ACK, TcpFlags::RST] {
            let mut ig = Ignored {
                map: Default::default(),
                syn_frames: vec![0; SYN_SLOTS],
                timeout: 600_000_000_000,
                max: 1000,
            };
            let seg = |flags: u8, payload: &'static [u8]| TcpSegment {
                src: IpAddr::from([10, 0, 0, 1]),
                dst: IpAddr::from([10, 0, 0, 2]),
                sport: 40_000,
                dport: 8080,
                seq: 1,
                ack: 1,
                flags: TcpFlags(flags),
                window: 0,
                payload,
                missing: 0,
            };
            let s = seg(TcpFlags::ACK, b"GET /");
            let h = sym_hash(&s.src, s.sport, &s.dst, s.dport);
            let key = Key::new(s.src, s.sport, s.dst, s.dport);
            ig.note(Note::Ignored {
                key,
                h,
                frame: 1,
                now: Ts(0),
            });
            assert!(ig.skip_payload(&s, h, 2, Ts(1)));
            assert!(!ig.skip_payload(&seg(end, b"x"), h, 3, Ts(2)));
            assert!(!ig.skip_payload(&s, h, 4, Ts(3)));
        }
    }

    /// Connections that go silent without FIN or RST must not pile up in the reader's map.
    #[test]
    fn ignored_map_is_bounded_by_the_connection_limit() {
        let mut ig = Ignored {
            map: Default::default(),
            syn_frames: vec![0; SYN_SLOTS],
            timeout: 600_000_000_000,
            max: 1000,
        };
        for i in 0..5000u32 {
            let client = IpAddr::from([10, 1, (i >> 8) as u8, i as u8]);
            let server = IpAddr::from([192, 0, 2, 80]);
            ig.note(Note::Ignored {
                key: Key::new(client, 40_000, server, 80),
                h: sym_hash(&client, 40_000, &server, 80),
                frame: u64::from(i) + 1,
                now: Ts(i64::from(i)),
            });
            assert!(ig.map.len() <= 1000, "{} entries", ig.map.len());
        }
        assert!(!ig.map.is_empty());
    }

    #[test]
    fn two_threads_reader_keeps_three_eighths() {
        let (s, seen) = shares_seen(2);
        assert_eq!((s.remote, s.local), (1, 3));
        assert!((seen[0] - 5.0 / 8.0).abs() < 0.01, "{seen:?}");
        assert!((seen[1] - 3.0 / 8.0).abs() < 0.01, "{seen:?}");
    }

    #[test]
    fn four_threads_share_out_sixteenths_and_eight_leave_reader_none() {
        let (s, seen) = shares_seen(4);
        assert_eq!((s.remote, s.local), (3, 1));
        for w in &seen[..3] {
            assert!((w - 5.0 / 16.0).abs() < 0.01, "{seen:?}");
        }
        assert!((seen[3] - 1.0 / 16.0).abs() < 0.01, "{seen:?}");
        let (s, seen) = shares_seen(8);
        assert_eq!((s.remote, s.local), (8, 0));
        assert_eq!(seen[8], 0.0);
        for w in &seen[..8] {
            assert!((w - 1.0 / 8.0).abs() < 0.01, "{seen:?}");
        }
    }
}
