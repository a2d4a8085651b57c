//! Test support for the flow tests: a recording stream consumer, a scriptable handler and
//! a packet builder.
#![allow(dead_code)]

use pcapmail::decode::{TcpFlags, TcpSegment};
use pcapmail::flow::{ConnInfo, ConnStats, Decision, FlowConfig, FlowStats, FlowTable, Handler};
use pcapmail::model::{Endpoint, Side, Ts};
use pcapmail::proto::{ChunkMeta, EndReason, StreamConsumer};
use std::net::{IpAddr, Ipv4Addr};

pub const SYN: u8 = TcpFlags::SYN;
pub const ACK: u8 = TcpFlags::ACK;
pub const FIN: u8 = TcpFlags::FIN;
pub const RST: u8 = TcpFlags::RST;
pub const PSH: u8 = TcpFlags::PSH;

/// One call made to the stream consumer (frame numbers instead of full metas).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ev {
    Data(Side, Vec<u8>, u64),
    Gap(Side, u64, u64),
    End(EndReason, u64),
}

/// Records every call.
#[derive(Debug, Default)]
pub struct Rec {
    pub events: Vec<Ev>,
    pub metas: Vec<ChunkMeta>,
}

impl StreamConsumer for Rec {
    fn data(&mut self, from: Side, bytes: &[u8], meta: ChunkMeta) {
        assert!(!bytes.is_empty(), "empty data call");
        assert!(
            !matches!(self.events.last(), Some(Ev::End(..))),
            "call after end"
        );
        self.events.push(Ev::Data(from, bytes.to_vec(), meta.frame));
        self.metas.push(meta);
    }
    fn gap(&mut self, from: Side, len: u64, meta: ChunkMeta) {
        assert!(len > 0, "empty gap");
        assert!(
            !matches!(self.events.last(), Some(Ev::End(..))),
            "call after end"
        );
        self.events.push(Ev::Gap(from, len, meta.frame));
        self.metas.push(meta);
    }
    fn end(&mut self, reason: EndReason, meta: ChunkMeta) {
        assert!(
            !matches!(self.events.last(), Some(Ev::End(..))),
            "end twice"
        );
        self.events.push(Ev::End(reason, meta.frame));
        self.metas.push(meta);
    }
}

impl Rec {
    /// The bytes of one side, concatenated.
    pub fn bytes(&self, side: Side) -> Vec<u8> {
        let mut v = Vec::new();
        for e in &self.events {
            if let Ev::Data(s, b, _) = e {
                if *s == side {
                    v.extend_from_slice(b);
                }
            }
        }
        v
    }

    /// One side drawn as text: data as is, gaps as `[gap N]`.
    pub fn text(&self, side: Side) -> String {
        let mut s = String::new();
        for e in &self.events {
            match e {
                Ev::Data(x, b, _) if *x == side => s.push_str(&String::from_utf8_lossy(b)),
                Ev::Gap(x, n, _) if *x == side => s.push_str(&format!("[gap {n}]")),
                _ => {}
            }
        }
        s
    }

    /// Gap lengths of one side.
    pub fn gaps(&self, side: Side) -> Vec<u64> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Ev::Gap(s, n, _) if *s == side => Some(*n),
                _ => None,
            })
            .collect()
    }

    /// (frame, bytes) of the data calls of one side.
    pub fn chunks(&self, side: Side) -> Vec<(u64, Vec<u8>)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Ev::Data(s, b, f) if *s == side => Some((*f, b.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn end(&self) -> Option<(EndReason, u64)> {
        match self.events.last() {
            Some(Ev::End(r, f)) => Some((*r, *f)),
            _ => None,
        }
    }
}

pub type Classify = Box<dyn FnMut(&ConnInfo, &[u8], &[u8]) -> Decision<Rec>>;

/// A handler whose classification is a closure; finished connections are kept.
pub struct H {
    pub classify: Classify,
    pub calls: Vec<(ConnInfo, Vec<u8>, Vec<u8>)>,
    pub done: Vec<(ConnInfo, ConnStats, Rec)>,
}

impl Handler for H {
    type Stream = Rec;
    fn classify(&mut self, info: &ConnInfo, c: &[u8], s: &[u8]) -> Decision<Rec> {
        self.calls.push((*info, c.to_vec(), s.to_vec()));
        (self.classify)(info, c, s)
    }
    fn finished(&mut self, info: &ConnInfo, stats: &ConnStats, stream: Rec) {
        self.done.push((*info, *stats, stream));
    }
}

pub fn handler(f: impl FnMut(&ConnInfo, &[u8], &[u8]) -> Decision<Rec> + 'static) -> H {
    H {
        classify: Box::new(f),
        calls: Vec::new(),
        done: Vec::new(),
    }
}

pub fn follow(swap: bool, skip_client: usize, skip_server: usize) -> Decision<Rec> {
    Decision::Follow {
        stream: Rec::default(),
        swap,
        skip_client,
        skip_server,
    }
}

/// Follows every connection from the first packet.
pub fn follow_all() -> H {
    handler(|_, _, _| follow(false, 0, 0))
}

pub fn client() -> Endpoint {
    Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        port: 40000,
    }
}

pub fn server() -> Endpoint {
    Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        port: 25,
    }
}

/// A segment from `from` (client or server of the default pair).
pub fn seg(from: Side, seq: u32, ack: Option<u32>, flags: u8, payload: &[u8]) -> TcpSegment<'_> {
    let (s, d) = match from {
        Side::Client => (client(), server()),
        Side::Server => (server(), client()),
    };
    seg_between(s, d, seq, ack, flags, payload)
}

pub fn seg_between(
    s: Endpoint,
    d: Endpoint,
    seq: u32,
    ack: Option<u32>,
    flags: u8,
    payload: &[u8],
) -> TcpSegment<'_> {
    TcpSegment {
        src: s.ip,
        dst: d.ip,
        sport: s.port,
        dport: d.port,
        seq,
        ack: ack.unwrap_or(0),
        flags: TcpFlags(flags | if ack.is_some() { ACK } else { 0 }),
        window: 65535,
        payload,
        missing: 0,
    }
}

/// A table fed with frames numbered from 1, 1 ms apart (unless a time is given).
pub struct Feed {
    pub table: FlowTable<H>,
    pub frame: u64,
}

pub const MS: i64 = 1_000_000;

impl Feed {
    pub fn new(h: H) -> Feed {
        Feed::with(FlowConfig::default(), h)
    }
    pub fn with(cfg: FlowConfig, h: H) -> Feed {
        Feed {
            table: FlowTable::new(cfg, h),
            frame: 0,
        }
    }
    /// Feeds a segment as the next frame (time: frame number in ms); returns the frame.
    pub fn send(&mut self, s: &TcpSegment<'_>) -> u64 {
        let ts = Ts((self.frame as i64 + 1) * MS);
        self.send_at(s, ts)
    }
    /// Feeds a segment as the next frame at time `ts`; returns the frame.
    pub fn send_at(&mut self, s: &TcpSegment<'_>, ts: Ts) -> u64 {
        self.frame += 1;
        self.table.packet(
            s,
            ChunkMeta {
                frame: self.frame,
                ts,
            },
        );
        self.frame
    }
    pub fn finish(self) -> (H, FlowStats) {
        self.table.finish()
    }
}

/// Client ISN and server ISN used by the handshake helper.
pub const CISN: u32 = 1000;
pub const SISN: u32 = 5000;

/// SYN, SYN-ACK, ACK with the default ISNs.
pub fn handshake(f: &mut Feed, cisn: u32, sisn: u32) {
    f.send(&seg(Side::Client, cisn, None, SYN, b""));
    f.send(&seg(
        Side::Server,
        sisn,
        Some(cisn.wrapping_add(1)),
        SYN,
        b"",
    ));
    f.send(&seg(
        Side::Client,
        cisn.wrapping_add(1),
        Some(sisn.wrapping_add(1)),
        0,
        b"",
    ));
}
