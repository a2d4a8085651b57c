//! Writes a synthetic but protocol-correct Ethernet pcap of a requested size for
//! benchmarks: many concurrent TCP connections mixing SMTP sessions (AUTH LOGIN/PLAIN,
//! messages with base64 attachments), POP3 sessions (USER/PASS, RETR) and non-mail traffic
//! (HTTP downloads, TLS-like bulk on 443, DNS over UDP), with optional loss and reordering.
//!
//! `cargo run --release --example gen-capture -- --size-mb 1024 --mail-percent 10 -o /tmp/x.pcap`

use std::io::{BufWriter, Write};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

const MSS: usize = 1448;

/// One scripted TCP connection: a list of (from_client, bytes) application writes.
struct Conn {
    client: ([u8; 4], u16),
    server: ([u8; 4], u16),
    writes: Vec<(bool, Vec<u8>)>,
    /// Index of the next write, and offset inside it.
    next: usize,
    off: usize,
    seq: [u32; 2],
    state: u8, // 0: SYN, 1: SYN-ACK, 2: ACK, 3: data, 4: FIN c, 5: FIN s, 6: done
    pending_swap: Option<Vec<u8>>,
}

fn b64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(data.len() * 4 / 3 + 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        s.push(T[(n >> 18) as usize & 63] as char);
        s.push(T[(n >> 12) as usize & 63] as char);
        s.push(if c.len() > 1 {
            T[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        s.push(if c.len() > 2 {
            T[n as usize & 63] as char
        } else {
            '='
        });
    }
    s
}

fn message(rng: &mut Rng, n: u64, attach: usize) -> Vec<u8> {
    let mut m = format!(
        "From: Sender {n} <sender{n}@example.test>\r\nTo: rcpt{n}@example.test\r\nSubject: Report {n}\r\n\
Message-ID: <gen-{n}@example.test>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"b{n}\"\r\n\r\n--b{n}\r\nContent-Type: text/plain\r\n\r\n\
Hello,\r\n.this line starts with a dot\r\nregards\r\n--b{n}\r\nContent-Type: application/octet-stream\r\n\
Content-Disposition: attachment; filename=\"data{n}.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    )
    .into_bytes();
    let data: Vec<u8> = (0..attach).map(|_| rng.next() as u8).collect();
    let enc = b64(&data);
    for line in enc.as_bytes().chunks(76) {
        m.extend_from_slice(line);
        m.extend_from_slice(b"\r\n");
    }
    m.extend_from_slice(format!("--b{n}--\r\n").as_bytes());
    m
}

fn dot_stuff(m: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(m.len() + 16);
    let mut at_start = true;
    for &b in m {
        if at_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_start = b == b'\n';
    }
    out
}

fn smtp(rng: &mut Rng, n: u64) -> Vec<(bool, Vec<u8>)> {
    let mut w: Vec<(bool, Vec<u8>)> = Vec::new();
    let mut s = |c: bool, t: &str| w.push((c, t.as_bytes().to_vec()));
    s(false, "220 mx.example.test ESMTP ready\r\n");
    s(true, &format!("EHLO client{n}.example.test\r\n"));
    s(
        false,
        "250-mx.example.test\r\n250-PIPELINING\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n",
    );
    if n % 2 == 0 {
        s(true, "AUTH LOGIN\r\n");
        s(false, "334 VXNlcm5hbWU6\r\n");
        s(true, &format!("{}\r\n", b64(format!("user{n}").as_bytes())));
        s(false, "334 UGFzc3dvcmQ6\r\n");
        s(true, &format!("{}\r\n", b64(format!("pw-{n}").as_bytes())));
    } else {
        s(
            true,
            &format!(
                "AUTH PLAIN {}\r\n",
                b64(format!("\0user{n}\0pw-{n}").as_bytes())
            ),
        );
    }
    s(false, "235 2.7.0 Authentication successful\r\n");
    s(true, &format!("MAIL FROM:<sender{n}@example.test>\r\n"));
    s(false, "250 2.1.0 Ok\r\n");
    s(true, &format!("RCPT TO:<rcpt{n}@example.test>\r\n"));
    s(false, "250 2.1.5 Ok\r\n");
    s(true, "DATA\r\n");
    s(false, "354 End data with <CR><LF>.<CR><LF>\r\n");
    let size = 2_000 + rng.below(150_000) as usize;
    let mut body = dot_stuff(&message(rng, n, size));
    body.extend_from_slice(b".\r\n");
    w.push((true, body));
    w.push((false, b"250 2.0.0 Ok: queued\r\n".to_vec()));
    w.push((true, b"QUIT\r\n".to_vec()));
    w.push((false, b"221 2.0.0 Bye\r\n".to_vec()));
    w
}

fn pop3(rng: &mut Rng, n: u64) -> Vec<(bool, Vec<u8>)> {
    let mut w: Vec<(bool, Vec<u8>)> = Vec::new();
    let mut s = |c: bool, t: &str| w.push((c, t.as_bytes().to_vec()));
    s(
        false,
        "+OK POP3 ready <1896.697170952@pop.example.test>\r\n",
    );
    s(true, &format!("USER user{n}\r\n"));
    s(false, "+OK\r\n");
    s(true, &format!("PASS pw-{n}\r\n"));
    s(false, "+OK Logged in.\r\n");
    s(true, "STAT\r\n");
    s(false, "+OK 1 1000\r\n");
    s(true, "RETR 1\r\n");
    let size = 5_000 + rng.below(300_000) as usize;
    let mut body = b"+OK message follows\r\n".to_vec();
    body.extend_from_slice(&dot_stuff(&message(rng, n, size)));
    body.extend_from_slice(b".\r\n");
    w.push((false, body));
    w.push((true, b"QUIT\r\n".to_vec()));
    w.push((false, b"+OK Logging out.\r\n".to_vec()));
    w
}

fn http(rng: &mut Rng, n: u64) -> Vec<(bool, Vec<u8>)> {
    let size = 50_000 + rng.below(2_000_000) as usize;
    let mut resp = format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n").into_bytes();
    resp.extend((0..size).map(|i| (i as u64 ^ n) as u8));
    vec![
        (
            true,
            format!("GET /file{n} HTTP/1.1\r\nHost: www.example.test\r\n\r\n").into_bytes(),
        ),
        (false, resp),
    ]
}

fn tls(rng: &mut Rng, _n: u64) -> Vec<(bool, Vec<u8>)> {
    let up = 500 + rng.below(5_000) as usize;
    let down = 20_000 + rng.below(1_500_000) as usize;
    let mut hello = vec![0x16, 0x03, 0x01, 0x02, 0x00];
    hello.extend((0..up).map(|_| rng.next() as u8));
    vec![
        (true, hello),
        (false, (0..down).map(|i| (i * 7) as u8).collect()),
    ]
}

struct Writer<W: Write> {
    out: W,
    ts_us: u64,
    written: u64,
    packets: u64,
}

impl<W: Write> Writer<W> {
    fn packet(&mut self, frame: &[u8]) {
        self.ts_us += 7;
        let sec = (self.ts_us / 1_000_000) as u32 + 1_764_000_000;
        let usec = (self.ts_us % 1_000_000) as u32;
        let len = frame.len() as u32;
        for v in [sec, usec, len, len] {
            self.out.write_all(&v.to_le_bytes()).unwrap();
        }
        self.out.write_all(frame).unwrap();
        self.written += 16 + frame.len() as u64;
        self.packets += 1;
    }
}

fn tcp_frame(c: &Conn, from_client: bool, flags: u8, payload: &[u8]) -> Vec<u8> {
    use etherparse::PacketBuilder;
    let (src, dst) = if from_client {
        (c.client, c.server)
    } else {
        (c.server, c.client)
    };
    let (seq, ack) = if from_client {
        (c.seq[0], c.seq[1])
    } else {
        (c.seq[1], c.seq[0])
    };
    let mut b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
        .ipv4(src.0, dst.0, 64)
        .tcp(src.1, dst.1, seq, 64240);
    if flags & 0x02 != 0 {
        b = b.syn();
    }
    if flags & 0x10 != 0 {
        b = b.ack(ack);
    }
    if flags & 0x01 != 0 {
        b = b.fin();
    }
    if flags & 0x08 != 0 {
        b = b.psh();
    }
    let mut v = Vec::with_capacity(b.size(payload.len()));
    b.write(&mut v, payload).unwrap();
    v
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut size_mb = 100u64;
    let mut mail_percent = 10u64;
    let mut out_path = String::from("/tmp/pcapmail-gen.pcap");
    let mut concurrent = 500usize;
    let mut loss = 0.0f64;
    let mut reorder = 0.0f64;
    let mut seed = 1u64;
    let mut i = 1;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--size-mb" => size_mb = v.parse().unwrap(),
            "--mail-percent" => mail_percent = v.parse().unwrap(),
            "-o" | "--out" => out_path = v,
            "--concurrent" => concurrent = v.parse().unwrap(),
            "--loss" => loss = v.parse().unwrap(),
            "--reorder" => reorder = v.parse().unwrap(),
            "--seed" => seed = v.parse().unwrap(),
            other => {
                eprintln!(
                    "unknown argument {other}; see the doc comment of examples/gen-capture.rs"
                );
                std::process::exit(2);
            }
        }
        i += 2;
    }
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let file = std::fs::File::create(&out_path).unwrap();
    let mut w = Writer {
        out: BufWriter::with_capacity(1 << 20, file),
        ts_us: 0,
        written: 24,
        packets: 0,
    };
    // pcap header, microseconds, Ethernet
    let hdr: [u32; 6] = [0xa1b2_c3d4, 0x0004_0002, 0, 0, 65535, 1];
    for (k, v) in hdr.iter().enumerate() {
        if k == 1 {
            w.out.write_all(&2u16.to_le_bytes()).unwrap();
            w.out.write_all(&4u16.to_le_bytes()).unwrap();
        } else {
            w.out.write_all(&v.to_le_bytes()).unwrap();
        }
    }
    let target = size_mb * 1024 * 1024;
    let mut conns: Vec<Conn> = Vec::new();
    let mut n = 0u64;
    let (mut mail_bytes, mut other_bytes) = (0u64, 0u64);
    while w.written < target {
        while conns.len() < concurrent {
            n += 1;
            // Keep mail at roughly mail_percent of the bytes.
            let want_mail = (mail_bytes * 100) < (mail_bytes + other_bytes) * mail_percent;
            let (port, writes) = if want_mail || n == 1 {
                if rng.below(3) == 0 {
                    (110, pop3(&mut rng, n))
                } else {
                    (if n % 5 == 0 { 587 } else { 25 }, smtp(&mut rng, n))
                }
            } else {
                match rng.below(3) {
                    0 => (80, http(&mut rng, n)),
                    _ => (443, tls(&mut rng, n)),
                }
            };
            let total: u64 = writes.iter().map(|(_, b)| b.len() as u64).sum();
            if port == 25 || port == 587 || port == 110 {
                mail_bytes += total
            } else {
                other_bytes += total
            }
            let c = (n % 60000) as u16;
            conns.push(Conn {
                client: ([10, (n >> 16) as u8, (n >> 8) as u8, n as u8], 1024 + c),
                server: ([192, 0, 2, (port % 250) as u8 + 1], port),
                writes,
                next: 0,
                off: 0,
                seq: [rng.next() as u32, rng.next() as u32],
                state: 0,
                pending_swap: None,
            });
        }
        // DNS noise: one UDP query now and then.
        if rng.below(50) == 0 {
            use etherparse::PacketBuilder;
            let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 3])
                .ipv4([10, 0, 0, 9], [192, 0, 2, 53], 64)
                .udp(5353, 53);
            let payload = [0u8; 40];
            let mut v = Vec::new();
            b.write(&mut v, &payload).unwrap();
            w.packet(&v);
        }
        let k = rng.below(conns.len() as u64) as usize;
        let c = &mut conns[k];
        match c.state {
            0 => {
                let f = tcp_frame(c, true, 0x02, &[]);
                w.packet(&f);
                c.seq[0] = c.seq[0].wrapping_add(1);
                c.state = 1;
            }
            1 => {
                let f = tcp_frame(c, false, 0x12, &[]);
                w.packet(&f);
                c.seq[1] = c.seq[1].wrapping_add(1);
                c.state = 2;
            }
            2 => {
                let f = tcp_frame(c, true, 0x10, &[]);
                w.packet(&f);
                c.state = 3;
            }
            3 => {
                if let Some(f) = c.pending_swap.take() {
                    w.packet(&f);
                    continue;
                }
                if c.next >= c.writes.len() {
                    c.state = 4;
                    continue;
                }
                let (from_client, ref data) = c.writes[c.next];
                let end = (c.off + MSS).min(data.len());
                let chunk = data[c.off..end].to_vec();
                let f = tcp_frame(c, from_client, 0x18, &chunk);
                let idx = if from_client { 0 } else { 1 };
                c.seq[idx] = c.seq[idx].wrapping_add(chunk.len() as u32);
                c.off = end;
                if c.off >= data.len() {
                    c.next += 1;
                    c.off = 0;
                }
                if rng.chance(loss) {
                    // lost on the capture path
                } else if rng.chance(reorder) && c.next < c.writes.len() {
                    c.pending_swap = Some(f);
                    continue;
                } else {
                    w.packet(&f);
                }
                if rng.below(2) == 0 {
                    let a = tcp_frame(c, !from_client, 0x10, &[]);
                    w.packet(&a);
                }
            }
            4 => {
                let f = tcp_frame(c, true, 0x11, &[]);
                w.packet(&f);
                c.seq[0] = c.seq[0].wrapping_add(1);
                c.state = 5;
            }
            5 => {
                let f = tcp_frame(c, false, 0x11, &[]);
                w.packet(&f);
                c.seq[1] = c.seq[1].wrapping_add(1);
                c.state = 6;
            }
            _ => {
                let f = tcp_frame(c, true, 0x10, &[]);
                w.packet(&f);
                conns.swap_remove(k);
            }
        }
    }
    w.out.flush().unwrap();
    eprintln!(
        "wrote {} ({} packets, {:.1} MiB, {} connections, mail {:.1}% of payload bytes)",
        out_path,
        w.packets,
        w.written as f64 / 1048576.0,
        n,
        100.0 * mail_bytes as f64 / (mail_bytes + other_bytes).max(1) as f64
    );
}
