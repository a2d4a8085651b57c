#!/usr/bin/env python3
"""Captures for the TLS decryption benchmark (benches/tls.sh).

  tls_capture.py record OUT.pcap OUT.keys SIZE_KB   (root; the mail lab must be running)
      one SMTPS (465) session, TLS 1.3 TLS_AES_256_GCM_SHA384, AUTH PLAIN, one message of
      SIZE_KB KiB (base64 lines like an attachment), recorded with tcpdump on lo; the
      client (Python ssl) writes the key log.
  tls_capture.py replicate IN.pcap OUT.pcap COPIES
      the connection of IN.pcap repeated COPIES times, each with its own client port and
      shifted in time (the copies share the client random, so one key log line set
      decrypts them all). TCP checksums are left as they are (pcapmail does not check them).
"""
import base64
import os
import signal
import smtplib
import ssl
import struct
import subprocess
import sys
import time


def record(pcap, keys, size_kb):
    body = base64.encodebytes(os.urandom(size_kb * 768)).replace(b"\n", b"\r\n")
    msg = (b"From: Ana <ana@sample.test>\r\nTo: Ben <ben@sample.test>\r\n"
           b"Subject: tls benchmark\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + body)
    for f in (pcap, keys):
        if os.path.exists(f):
            os.remove(f)
    td = subprocess.Popen(["tcpdump", "-i", "lo", "-B", "65536", "-s", "0", "-w", pcap, "tcp port 465"],
                          stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    c.keylog_filename = keys
    s = smtplib.SMTP_SSL("127.0.0.1", 465, context=c, timeout=60)
    s.ehlo("client.sample.test")
    s.login("ana@sample.test", "Ana-pw-1!")
    s.sendmail("ana@sample.test", ["ben@sample.test"], msg)
    print(s.sock.version(), s.sock.cipher()[0], len(msg), "bytes", file=sys.stderr)
    s.quit()
    time.sleep(1.0)
    td.send_signal(signal.SIGINT)
    td.wait(timeout=10)


def replicate(src, dst, copies):
    data = open(src, "rb").read()
    magic = data[:4]
    endian = "<" if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    link = struct.unpack(endian + "I", data[20:24])[0]
    assert link == 1, "Ethernet captures only"
    recs = []
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, orig = struct.unpack(endian + "IIII", data[off:off + 16])
        recs.append((sec, frac, data[off + 16:off + 16 + incl], orig))
        off += 16 + incl
    span = recs[-1][0] - recs[0][0] + 1
    with open(dst, "wb") as out:
        out.write(data[:24])
        for i in range(copies):
            port = 10000 + i % 50000
            for sec, frac, pkt, orig in recs:
                p = bytearray(pkt)
                ihl = (p[14] & 0x0F) * 4
                t = 14 + ihl
                sport, dport = struct.unpack(">HH", p[t:t + 4])
                if sport != 465:
                    p[t:t + 2] = struct.pack(">H", port)
                if dport != 465:
                    p[t + 2:t + 4] = struct.pack(">H", port)
                out.write(struct.pack(endian + "IIII", sec + i * span, frac, len(p), orig))
                out.write(p)


if __name__ == "__main__":
    if sys.argv[1] == "record":
        record(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        replicate(sys.argv[2], sys.argv[3], int(sys.argv[4]))
