//! Generators of adversarial captures, shared by `examples/adversarial.rs` (writes files,
//! for measurements by hand: `scripts/adversarial/gen.sh`) and the tests
//! `tests/adversarial_*.rs` (build them in memory or in a temp dir, at CI-friendly sizes).
//!
//! Everything is streamed to a `Write`, so a million connections or gigabytes of DATA never
//! sit in memory. Frames are Ethernet/IPv4/TCP without checksums (pcapmail does not check
//! them, as captures with offloading have wrong ones).
#![allow(dead_code)]

use std::io::{self, Write};

/// A classic pcap header (microseconds, Ethernet) with the given snap length.
pub fn pcap_header<W: Write>(w: &mut W, snaplen: u32) -> io::Result<()> {
    w.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
    w.write_all(&2u16.to_le_bytes())?;
    w.write_all(&4u16.to_le_bytes())?;
    w.write_all(&0i32.to_le_bytes())?;
    w.write_all(&0u32.to_le_bytes())?;
    w.write_all(&snaplen.to_le_bytes())?;
    w.write_all(&1u32.to_le_bytes())
}

/// One pcap record.
pub fn record<W: Write>(w: &mut W, ts_us: u64, frame: &[u8]) -> io::Result<()> {
    w.write_all(&((ts_us / 1_000_000) as u32).to_le_bytes())?;
    w.write_all(&((ts_us % 1_000_000) as u32).to_le_bytes())?;
    w.write_all(&(frame.len() as u32).to_le_bytes())?;
    w.write_all(&(frame.len() as u32).to_le_bytes())?;
    w.write_all(frame)
}

pub const SYN: u8 = 0x02;
pub const ACK: u8 = 0x10;
pub const PSH_ACK: u8 = 0x18;
pub const FIN_ACK: u8 = 0x11;

/// An Ethernet/IPv4/TCP frame.
#[allow(clippy::too_many_arguments)]
pub fn tcp_frame(
    src: [u8; 4],
    sport: u16,
    dst: [u8; 4],
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = Vec::with_capacity(54 + payload.len());
    f.extend_from_slice(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x00]);
    let total = (20 + 20 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0]);
    f.extend_from_slice(&total.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&ack.to_be_bytes());
    f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// A scripted TCP connection between 10.0.0.1 and 10.0.0.2 written as pcap records.
pub struct Conn<'w, W: Write> {
    pub w: &'w mut W,
    pub cport: u16,
    pub sport: u16,
    pub seq: [u32; 2],
    /// Capture time in microseconds of the next packet.
    pub ts: u64,
    pub step_us: u64,
}

pub const CLIENT: [u8; 4] = [10, 0, 0, 1];
pub const SERVER: [u8; 4] = [10, 0, 0, 2];

impl<'w, W: Write> Conn<'w, W> {
    /// Writes the three-way handshake.
    pub fn open(w: &'w mut W, cport: u16, sport: u16) -> io::Result<Self> {
        let mut c = Conn {
            w,
            cport,
            sport,
            seq: [1000, 5000],
            ts: 1_700_000_000_000_000,
            step_us: 1000,
        };
        c.raw(0, c.seq[0], SYN, b"")?;
        c.seq[0] += 1;
        c.raw(1, c.seq[1], SYN | ACK, b"")?;
        c.seq[1] += 1;
        c.raw(0, c.seq[0], ACK, b"")?;
        Ok(c)
    }

    /// One segment from side `d` (0 client, 1 server) at sequence number `seq`, without
    /// moving the side's cursor.
    pub fn raw(&mut self, d: usize, seq: u32, flags: u8, payload: &[u8]) -> io::Result<()> {
        let f = if d == 0 {
            tcp_frame(
                CLIENT,
                self.cport,
                SERVER,
                self.sport,
                seq,
                self.seq[1],
                flags,
                payload,
            )
        } else {
            tcp_frame(
                SERVER,
                self.sport,
                CLIENT,
                self.cport,
                seq,
                self.seq[0],
                flags,
                payload,
            )
        };
        record(self.w, self.ts, &f)?;
        self.ts += self.step_us;
        Ok(())
    }

    /// Sends `bytes` from side `d` in segments of at most 1448 bytes.
    pub fn send(&mut self, d: usize, bytes: &[u8]) -> io::Result<()> {
        for chunk in bytes.chunks(1448) {
            self.raw(d, self.seq[d], PSH_ACK, chunk)?;
            self.seq[d] = self.seq[d].wrapping_add(chunk.len() as u32);
        }
        Ok(())
    }

    /// Both FINs.
    pub fn close(&mut self) -> io::Result<()> {
        self.raw(0, self.seq[0], FIN_ACK, b"")?;
        self.seq[0] += 1;
        self.raw(1, self.seq[1], FIN_ACK, b"")?;
        self.seq[1] += 1;
        self.raw(0, self.seq[0], ACK, b"")
    }
}

/// `n` SYNs to port 25 from distinct (address, port) pairs, 10 µs apart (all within the
/// idle timeout, so only the connection limit bounds the table).
pub fn syn_flood<W: Write>(w: &mut W, n: u64) -> io::Result<()> {
    pcap_header(w, 65535)?;
    for i in 0..n {
        let src = [
            172,
            16 + (i >> 24) as u8 % 16,
            (i >> 16) as u8,
            (i >> 8) as u8,
        ];
        let sport = 1024 + (i % 60000) as u16;
        let f = tcp_frame(src, sport, SERVER, 25, i as u32, 0, SYN, b"");
        record(w, 1_700_000_000_000_000 + i * 10, &f)?;
    }
    Ok(())
}

/// An SMTP session whose client, after EHLO, sends `len` bytes without any line ending.
pub fn endless_line<W: Write>(w: &mut W, len: u64) -> io::Result<()> {
    pcap_header(w, 65535)?;
    let mut c = Conn::open(w, 40000, 25)?;
    c.send(1, b"220 mx.example ESMTP\r\n")?;
    c.send(0, b"EHLO client.example\r\n")?;
    c.send(1, b"250 mx.example\r\n")?;
    let block = vec![b'A'; 64 * 1448];
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        c.send(0, &block[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// An SMTP session that starts a DATA of `len` bytes (lines of 998 `x` + CRLF) and never
/// ends it: no `.` line, no FIN.
pub fn endless_data<W: Write>(w: &mut W, len: u64) -> io::Result<()> {
    pcap_header(w, 65535)?;
    let mut c = Conn::open(w, 40001, 25)?;
    c.send(1, b"220 mx.example ESMTP\r\n")?;
    c.send(0, b"EHLO client.example\r\n")?;
    c.send(1, b"250 mx.example\r\n")?;
    c.send(0, b"MAIL FROM:<a@example.org>\r\n")?;
    c.send(1, b"250 ok\r\n")?;
    c.send(0, b"RCPT TO:<b@example.org>\r\n")?;
    c.send(1, b"250 ok\r\n")?;
    c.send(0, b"DATA\r\n")?;
    c.send(1, b"354 go ahead\r\n")?;
    c.send(0, b"Subject: endless\r\n\r\n")?;
    let mut line = vec![b'x'; 998];
    line.extend_from_slice(b"\r\n");
    let block: Vec<u8> = line.iter().copied().cycle().take(1000 * 1448).collect();
    let mut left = len;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        c.send(0, &block[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// The bytes of `endless_data`'s message content as the dissector sees them (for checking
/// the hash): the header lines and then `len` bytes of the line pattern.
pub fn endless_data_content(len: u64) -> impl Iterator<Item = u8> {
    let mut line = vec![b'x'; 998];
    line.extend_from_slice(b"\r\n");
    b"Subject: endless\r\n\r\n"
        .to_vec()
        .into_iter()
        .chain(line.into_iter().cycle().take(len as usize))
}

/// SMTP AUTH exchanges whose payloads are not base64 or not of the mechanism's shape.
pub fn b64_garbage<W: Write>(w: &mut W) -> io::Result<()> {
    pcap_header(w, 65535)?;
    let mut c = Conn::open(w, 40002, 25)?;
    c.send(1, b"220 mx.example ESMTP\r\n")?;
    c.send(0, b"EHLO client.example\r\n")?;
    c.send(1, b"250-mx.example\r\n250 AUTH PLAIN LOGIN CRAM-MD5\r\n")?;
    c.send(0, b"AUTH PLAIN !!!not*base64$$$\r\n")?;
    c.send(1, b"535 5.7.8 bad\r\n")?;
    c.send(0, b"AUTH PLAIN AAAAAAAA\r\n")?; // decodes to zeros: no NUL-separated fields
    c.send(1, b"535 5.7.8 bad\r\n")?;
    c.send(0, b"AUTH LOGIN\r\n")?;
    c.send(1, b"334 VXNlcm5hbWU6\r\n")?;
    c.send(0, b"\xff\xfe\x1b[31m\r\n")?;
    c.send(1, b"334 UGFzc3dvcmQ6\r\n")?;
    c.send(0, b"====\r\n")?;
    c.send(1, b"535 5.7.8 bad\r\n")?;
    c.send(0, b"AUTH CRAM-MD5\r\n")?;
    c.send(1, b"334 %%%%\r\n")?;
    c.send(0, b"dXNlcg==\r\n")?; // no space: not "user digest"
    c.send(1, b"535 5.7.8 bad\r\n")?;
    c.send(0, b"QUIT\r\n")?;
    c.send(1, b"221 bye\r\n")?;
    c.close()
}

/// A message with `depth` nested multiparts (each level a new boundary).
pub fn nested_mime(depth: usize) -> Vec<u8> {
    let mut m = b"From: a@example.org\r\nSubject: deep\r\nMIME-Version: 1.0\r\n".to_vec();
    for i in 0..depth {
        m.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=\"b{i}\"\r\n\r\n--b{i}\r\n")
                .as_bytes(),
        );
    }
    m.extend_from_slice(b"Content-Type: text/plain\r\n\r\nbottom\r\n");
    for i in (0..depth).rev() {
        m.extend_from_slice(format!("--b{i}--\r\n").as_bytes());
    }
    m
}

/// A message with `depth` nested `message/rfc822` parts.
pub fn nested_rfc822(depth: usize) -> Vec<u8> {
    let mut m = Vec::new();
    for i in 0..depth {
        m.extend_from_slice(
            format!("Subject: level {i}\r\nContent-Type: message/rfc822\r\n\r\n").as_bytes(),
        );
    }
    m.extend_from_slice(b"Subject: bottom\r\n\r\nbody\r\n");
    m
}

/// An SMTP session that sends `message` (dot-stuffed here) with DATA.
pub fn smtp_with_message<W: Write>(w: &mut W, message: &[u8]) -> io::Result<()> {
    pcap_header(w, 65535)?;
    let mut c = Conn::open(w, 40003, 25)?;
    c.send(1, b"220 mx.example ESMTP\r\n")?;
    c.send(0, b"HELO client.example\r\n")?;
    c.send(1, b"250 mx.example\r\n")?;
    c.send(
        0,
        b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n",
    )?;
    c.send(1, b"250 ok\r\n250 ok\r\n354 go\r\n")?;
    let mut body = Vec::with_capacity(message.len() + 16);
    for line in message.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b".") {
            body.push(b'.');
        }
        body.extend_from_slice(line);
    }
    body.extend_from_slice(b".\r\n");
    c.send(0, &body)?;
    c.send(1, b"250 queued\r\n")?;
    c.send(0, b"QUIT\r\n")?;
    c.send(1, b"221 bye\r\n")?;
    c.close()
}

/// A pcapng section with an interface, one good packet, then a block whose length field
/// says `lie` bytes while the stream ends soon after.
pub fn pcapng_lying_block(lie: u32) -> Vec<u8> {
    let mut v = Vec::new();
    let block = |v: &mut Vec<u8>, t: u32, body: &[u8]| {
        let len = (12 + body.len()) as u32;
        v.extend_from_slice(&t.to_le_bytes());
        v.extend_from_slice(&len.to_le_bytes());
        v.extend_from_slice(body);
        v.extend_from_slice(&len.to_le_bytes());
    };
    let mut shb = Vec::new();
    shb.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
    shb.extend_from_slice(&1u16.to_le_bytes());
    shb.extend_from_slice(&0u16.to_le_bytes());
    shb.extend_from_slice(&(-1i64).to_le_bytes());
    block(&mut v, 0x0A0D_0D0A, &shb);
    block(&mut v, 1, &[1, 0, 0, 0, 0, 0, 4, 0]);
    let f = tcp_frame(CLIENT, 1, SERVER, 25, 1, 0, SYN, b"");
    let mut epb = vec![0u8; 20];
    epb[12..16].copy_from_slice(&(f.len() as u32).to_le_bytes());
    epb[16..20].copy_from_slice(&(f.len() as u32).to_le_bytes());
    epb.extend_from_slice(&f);
    while !epb.len().is_multiple_of(4) {
        epb.push(0);
    }
    block(&mut v, 6, &epb);
    // The liar: an EPB header announcing `lie` bytes, then 64 bytes and the end.
    v.extend_from_slice(&6u32.to_le_bytes());
    v.extend_from_slice(&lie.to_le_bytes());
    v.extend_from_slice(&[0u8; 64]);
    v
}

/// A pcap with snap length 64 whose records are longer (a full SMTP banner segment).
pub fn record_over_snaplen<W: Write>(w: &mut W) -> io::Result<()> {
    pcap_header(w, 64)?;
    let mut c = Conn::open(w, 40004, 25)?;
    c.send(
        1,
        b"220 mx.example ESMTP this banner makes the frame longer than 64 bytes\r\n",
    )?;
    c.send(0, b"QUIT\r\n")?;
    c.send(1, b"221 bye\r\n")?;
    c.close()
}

/// A gzip member holding a pcap header and then `zeros` zero bytes (zero-length records).
pub fn gzip_bomb(zeros: u64) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    pcap_header(&mut gz, 65535).expect("in memory");
    let block = vec![0u8; 1 << 20];
    let mut left = zeros;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        gz.write_all(&block[..n]).expect("in memory");
        left -= n as u64;
    }
    gz.finish().expect("in memory")
}

/// An SMTP session where the client's MAIL command arrives out of order and a second copy
/// of its middle segment carries different bytes (first arrival wins; the conflict is
/// counted and reported).
pub fn overlap_conflict<W: Write>(w: &mut W) -> io::Result<()> {
    pcap_header(w, 65535)?;
    let mut c = Conn::open(w, 40005, 25)?;
    c.send(1, b"220 mx.example ESMTP\r\n")?;
    c.send(0, b"HELO client.example\r\n")?;
    c.send(1, b"250 mx.example\r\n")?;
    let s = c.seq[0];
    let a = b"MAIL FROM:<";
    let b1 = b"alice@example.org>\r\n";
    let b2 = b"mallory@evil.test>\r\n";
    c.raw(0, s + a.len() as u32, PSH_ACK, b1)?;
    c.raw(0, s + a.len() as u32, PSH_ACK, b2)?;
    c.raw(0, s, PSH_ACK, a)?;
    c.seq[0] = s + (a.len() + b1.len()) as u32;
    c.send(1, b"250 ok\r\n")?;
    c.send(0, b"QUIT\r\n")?;
    c.send(1, b"221 bye\r\n")?;
    c.close()
}

/// A complete SMTP session whose packet timestamps jump backwards (by hours) every other
/// packet.
pub fn time_backwards<W: Write>(w: &mut W) -> io::Result<()> {
    pcap_header(w, 65535)?;
    let mut c = Conn::open(w, 40006, 25)?;
    let script: [(usize, &[u8]); 8] = [
        (1, b"220 mx.example ESMTP\r\n"),
        (0, b"HELO client.example\r\n"),
        (1, b"250 mx.example\r\n"),
        (0, b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"),
        (1, b"235 ok\r\n"),
        (0, b"MAIL FROM:<alice@example.org>\r\n"),
        (1, b"250 ok\r\n"),
        (0, b"QUIT\r\n"),
    ];
    for (i, (d, bytes)) in script.iter().enumerate() {
        if i % 2 == 1 {
            c.ts -= 7_200_000_000;
        } else {
            c.ts += 7_300_000_000;
        }
        c.send(*d, bytes)?;
    }
    c.send(1, b"221 bye\r\n")?;
    c.close()
}

/// An SMTP session whose banner, HELO name, addresses and subject carry terminal control
/// sequences, and whose attachment names try to climb out of a directory.
pub fn terminal_escapes<W: Write>(w: &mut W) -> io::Result<()> {
    pcap_header(w, 65535)?;
    let mut c = Conn::open(w, 40007, 25)?;
    c.send(
        1,
        b"220 \x1b[2J\x1b]0;pwned\x07mx.example\r\x1b[1A ESMTP\r\n",
    )?;
    c.send(0, b"EHLO \x1b[31mred\x1b[0m\x08\x08\r\n")?;
    c.send(1, b"250 ok\r\n")?;
    c.send(
        0,
        b"MAIL FROM:<\x1b[5ma@example.org>\r\nRCPT TO:<b\x9b2J@example.org>\r\nDATA\r\n",
    )?;
    c.send(1, b"250 ok\r\n250 ok\r\n354 go\r\n")?;
    c.send(
        0,
        b"Subject: =?utf-8?B?G1syShtdMDtwd25lZAc=?=\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"B\"\r\n\r\n\
--B\r\n\
Content-Type: application/octet-stream\r\n\
Content-Disposition: attachment; filename=\"../../../etc/\x1b[2Jpasswd\"\r\n\r\n\
x\r\n\
--B--\r\n.\r\n",
    )?;
    c.send(1, b"250 queued\r\n")?;
    c.send(0, b"QUIT\r\n")?;
    c.send(1, b"221 bye\r\n")?;
    c.close()
}

/// SMTPS (port 465) whose client sends a ClientHello header announcing a handshake message of
/// 2^24 - 1 bytes and then `len` bytes of handshake records that never complete it (an
/// endless handshake), followed by a record header of length 0xffff (over the TLS limit).
pub fn tls_endless_handshake<W: Write>(w: &mut W, len: u64) -> io::Result<()> {
    pcap_header(w, 65535)?;
    let mut c = Conn::open(w, 40100, 465)?;
    // Record 1: handshake, ClientHello of length 0xffffff (only its start fits).
    let mut first = vec![0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0xff, 0xff, 0xff];
    first.resize(5 + 0x4000, 0x41);
    c.send(0, &first)?;
    let mut rec = vec![0x16, 0x03, 0x03, 0x40, 0x00];
    rec.resize(5 + 0x4000, 0x42);
    let mut left = len;
    while left > 0 {
        c.send(0, &rec)?;
        left = left.saturating_sub(rec.len() as u64);
    }
    // A record header no peer may send: 65535 bytes of application data.
    let mut huge = vec![0x17, 0x03, 0x03, 0xff, 0xff];
    huge.resize(5 + 2000, 0x43);
    c.send(0, &huge)?;
    c.send(1, &[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x28])?;
    c.close()
}
