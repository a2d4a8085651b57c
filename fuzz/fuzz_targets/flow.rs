//! Reassembler: random segment sequences (flags, sequence jumps, overlaps, snaplen cuts,
//! time going backwards) over a few connections, with tiny buffer and connection limits.
//! Checks the accounting invariants of the flow layer and that every consumer sees a
//! well-formed event sequence (nothing after `end`, one `end`).
#![no_main]
use libfuzzer_sys::fuzz_target;
use pcapmail::decode::{TcpFlags, TcpSegment};
use pcapmail::flow::{ConnInfo, ConnStats, Decision, FlowConfig, FlowTable, Handler};
use pcapmail::model::{Side, Ts};
use pcapmail::proto::smtp::{SmtpConfig, SmtpDissector};
use pcapmail::proto::{ChunkMeta, EndReason, StreamConsumer};
use std::net::{IpAddr, Ipv4Addr};

struct Checked {
    ended: bool,
    bytes: [u64; 2],
    gaps: [u64; 2],
    smtp: Box<SmtpDissector>,
}

impl StreamConsumer for Checked {
    fn data(&mut self, from: Side, bytes: &[u8], meta: ChunkMeta) {
        assert!(!self.ended, "data after end");
        assert!(!bytes.is_empty(), "empty data event");
        self.bytes[from as usize] += bytes.len() as u64;
        self.smtp.data(from, bytes, meta);
    }
    fn gap(&mut self, from: Side, len: u64, meta: ChunkMeta) {
        assert!(!self.ended, "gap after end");
        assert!(len > 0, "empty gap event");
        self.gaps[from as usize] += len;
        self.smtp.gap(from, len, meta);
    }
    fn end(&mut self, reason: EndReason, meta: ChunkMeta) {
        assert!(!self.ended, "two ends");
        self.ended = true;
        self.smtp.end(reason, meta);
    }
}

struct H {
    finished: u64,
}

impl Handler for H {
    type Stream = Checked;
    fn classify(&mut self, info: &ConnInfo, c: &[u8], s: &[u8]) -> Decision<Checked> {
        let follow = |swap| Decision::Follow {
            stream: Checked {
                ended: false,
                bytes: [0; 2],
                gaps: [0; 2],
                smtp: Box::new(SmtpDissector::new(&SmtpConfig::default())),
            },
            swap,
            skip_client: c.len().min(1) * (c.first() == Some(&b'!')) as usize,
            skip_server: 0,
        };
        if info.server.port == 25 {
            return follow(false);
        }
        if !info.handshake && info.client.port == 25 {
            return follow(true);
        }
        match (c.first(), s.first()) {
            (Some(b'E'), _) | (_, Some(b'2')) => follow(false),
            (Some(b'I'), _) => Decision::Ignore,
            _ => Decision::Undecided,
        }
    }
    fn finished(&mut self, _info: &ConnInfo, stats: &ConnStats, stream: Checked) {
        assert!(stream.ended, "finished without end");
        for (i, d) in [stats.client, stats.server].iter().enumerate() {
            assert!(d.delivered_bytes >= stream.bytes[i] || stream.bytes[i] == 0);
            assert_eq!(d.gap_bytes, stream.gaps[i]);
        }
        self.finished += 1;
    }
}

fuzz_target!(|data: &[u8]| {
    let cfg = FlowConfig {
        idle_timeout_ns: 5_000_000_000,
        closed_linger_ns: 1_000_000_000,
        max_closed_tombstones: 2,
        max_buffer_per_direction: 2048,
        max_buffer_total: 6000,
        max_connections: 3,
        probe_bytes: 64,
    };
    let mut table = FlowTable::new(cfg, H { finished: 0 });
    let cli = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let srv = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2));
    // Sequence cursors per (connection, direction).
    let mut seqs = [[1000u32, 5000u32]; 8];
    let mut t: i64 = 1_000_000_000_000;
    let mut frame = 0;
    let mut input = data;
    static POOL: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let payload_pool = POOL.get_or_init(|| (0..=255u8).cycle().take(70_000).collect());
    while input.len() >= 8 {
        let h = &input[..8];
        input = &input[8..];
        let flags = TcpFlags(h[0] & 0x1f);
        let dir = (h[1] & 1) as usize;
        let conn = ((h[1] >> 1) & 7) as usize;
        // Time: forward by default, sometimes a jump past the idle timeout, or backwards.
        t += match h[1] >> 6 {
            0 => 1_000_000,
            1 => 10_000_000_000,
            2 => -2_000_000_000,
            _ => 0,
        };
        let delta = i16::from_le_bytes([h[2], h[3]]) as i32;
        let len = (u16::from_le_bytes([h[4], h[5]]) & 0x0fff) as usize;
        let missing = if h[6] & 0x80 != 0 {
            (h[6] & 0x7f) as u32
        } else {
            0
        };
        let seq = seqs[conn][dir].wrapping_add(delta as u32);
        // Payload: from the input when there is enough of it (conflicting copies), else a
        // fixed pattern shifted by the sequence number (consistent copies).
        let payload: &[u8] = if h[7] & 1 == 1 && input.len() >= len {
            let (p, rest) = input.split_at(len);
            input = rest;
            p
        } else {
            let off = (seq as usize) % 256;
            &payload_pool[off..off + len]
        };
        seqs[conn][dir] = seq.wrapping_add(len as u32);
        let sport = 40000 + conn as u16;
        let dport = if h[7] & 2 == 0 { 25 } else { 8025 };
        let (src, dst, sp, dp) = if dir == 0 {
            (cli, srv, sport, dport)
        } else {
            (srv, cli, dport, sport)
        };
        let seg = TcpSegment {
            src,
            dst,
            sport: sp,
            dport: dp,
            seq,
            ack: seqs[conn][1 - dir],
            flags,
            window: 1024,
            payload,
            missing,
        };
        frame += 1;
        table.packet(&seg, ChunkMeta { frame, ts: Ts(t) });
        assert!(
            table.buffered() <= 6000 + 4096 + 2 * 4096,
            "global buffer bound"
        );
        assert!(table.entries() <= 3);
    }
    let (h, stats) = table.finish();
    assert!(h.finished <= stats.connections);
    let _ = stats.counters();
});
