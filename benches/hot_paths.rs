//! Micro-benchmarks of the hot paths: packet decode, reassembly (in order and out of
//! order), line framing, message hashing with dot-unstuffing, base64 and MIME.
//!
//! `cargo bench --bench hot_paths` (criterion; `cargo test` does not build it).

#[path = "../tests/common/mailgen.rs"]
mod mailgen;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use pcapmail::capture::LinkType;
use pcapmail::decode::Decoder;
use pcapmail::flow::{ConnInfo, ConnStats, Decision, FlowConfig, FlowTable, Handler, SegmentStore};
use pcapmail::model::{Side, Ts};
use pcapmail::proto::lines::LineReader;
use pcapmail::proto::message::{MessageBuilder, MessageLimits};
use pcapmail::proto::mime::{self, MimeLimits};
use pcapmail::proto::{ChunkMeta, EndReason, StreamConsumer};

fn frame(payload: &[u8], seq: u32, sport: u16) -> Vec<u8> {
    let b = etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4([10, 0, 0, 1], [192, 0, 2, 1], 64)
        .tcp(sport, 25, seq, 64240)
        .ack(1);
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

fn decode(c: &mut Criterion) {
    let frames: Vec<Vec<u8>> = [0usize, 1448, 40, 1448]
        .iter()
        .map(|&n| frame(&vec![b'a'; n], 1, 1025))
        .collect();
    let bytes: usize = frames.iter().map(Vec::len).sum();
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(frames.len() as u64));
    let mut d = Decoder::default();
    g.bench_function("ethernet_ipv4_tcp_x4", |b| {
        b.iter(|| {
            for f in &frames {
                black_box(d.decode(LinkType::ETHERNET, black_box(f), Ts(0)));
            }
        })
    });
    g.throughput(Throughput::Bytes(bytes as u64));
    g.finish();
}

struct Sink(u64);
impl StreamConsumer for Sink {
    fn data(&mut self, _: Side, bytes: &[u8], _: ChunkMeta) {
        self.0 += bytes.len() as u64;
    }
    fn gap(&mut self, _: Side, _: u64, _: ChunkMeta) {}
    fn end(&mut self, _: EndReason, _: ChunkMeta) {}
}
struct FollowAll;
impl Handler for FollowAll {
    type Stream = Sink;
    fn classify(&mut self, _: &ConnInfo, _: &[u8], _: &[u8]) -> Decision<Sink> {
        Decision::Follow {
            stream: Sink(0),
            swap: false,
            skip_client: 0,
            skip_server: 0,
        }
    }
    fn finished(&mut self, _: &ConnInfo, _: &ConnStats, s: Sink) {
        black_box(s.0);
    }
}

fn reassembly(c: &mut Criterion) {
    const N: usize = 256;
    let payload = vec![b'x'; 1448];
    let mut g = c.benchmark_group("reassembly");
    g.throughput(Throughput::Bytes((N * payload.len()) as u64));
    // Segments of 64 connections interleaved, in order: the zero-copy fast path.
    let frames: Vec<Vec<u8>> = (0..N)
        .map(|i| frame(&payload, 1 + (i / 64 * 1448) as u32, 1024 + (i % 64) as u16))
        .collect();
    g.bench_function("flow_table_in_order_64_conns", |b| {
        b.iter(|| {
            let mut t = FlowTable::new(FlowConfig::default(), FollowAll);
            let mut d = Decoder::default();
            for (i, f) in frames.iter().enumerate() {
                if let pcapmail::decode::Decoded::Tcp(seg) =
                    d.decode(LinkType::ETHERNET, f, Ts(i as i64))
                {
                    let meta = ChunkMeta {
                        frame: i as u64 + 1,
                        ts: Ts(i as i64),
                    };
                    t.packet(&seg, meta);
                }
            }
            black_box(t.finish());
        })
    });
    // The out-of-order store: every other segment first, then the holes.
    g.bench_function("segment_store_out_of_order", |b| {
        b.iter(|| {
            let mut s = SegmentStore::new();
            for i in (1..N).step_by(2).chain((0..N).step_by(2)) {
                black_box(s.insert((i * 1448) as u64, &payload, 0, ChunkMeta::default()));
            }
            while s.pop_first().is_some() {}
        })
    });
    g.finish();
}

fn sample_message(attach: usize) -> Vec<u8> {
    let mut rng = mailgen::Rng(7);
    let mut m = b"From: a@x.test\r\nTo: b@x.test\r\nSubject: s\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
--B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"a.bin\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n"
        .to_vec();
    let data: Vec<u8> = (0..attach).map(|_| rng.next() as u8).collect();
    for line in mailgen::b64(&data).as_bytes().chunks(76) {
        m.extend_from_slice(line);
        m.extend_from_slice(b"\r\n");
    }
    m.extend_from_slice(b"--B--\r\n");
    m
}

fn lines_and_messages(c: &mut Criterion) {
    let msg = sample_message(256 << 10);
    let mut g = c.benchmark_group("message");
    g.throughput(Throughput::Bytes(msg.len() as u64));
    g.bench_function("line_framing", |b| {
        b.iter(|| {
            let mut r = LineReader::default();
            let mut n = 0usize;
            for chunk in msg.chunks(1448) {
                let mut input = chunk;
                while let Some(l) = r.next_line(&mut input, ChunkMeta::default()) {
                    n += l.bytes.len();
                }
            }
            black_box(n)
        })
    });
    let limits = MessageLimits::default();
    g.bench_function("framing_unstuffing_sha256_copy", |b| {
        b.iter(|| {
            let mut r = LineReader::default();
            let mut m = MessageBuilder::new(ChunkMeta::default(), &limits);
            for chunk in msg.chunks(1448) {
                let mut input = chunk;
                while let Some(l) = r.next_line(&mut input, ChunkMeta::default()) {
                    m.push_dotted_line(&l);
                }
            }
            black_box(m.size())
        })
    });
    g.bench_function("mime_parse_base64_attachment_sha256", |b| {
        b.iter(|| black_box(mime::parse(black_box(&msg), &MimeLimits::default())))
    });
    let b64 = mailgen::b64(&msg[..48 << 10]);
    g.throughput(Throughput::Bytes(b64.len() as u64));
    g.bench_function("sasl_base64_decode", |b| {
        b.iter(|| black_box(pcapmail::proto::sasl::decode_b64(black_box(b64.as_bytes()))))
    });
    g.finish();
}

criterion_group!(benches, decode, reassembly, lines_and_messages);
criterion_main!(benches);
