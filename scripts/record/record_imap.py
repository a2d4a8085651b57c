#!/usr/bin/env python3
"""Records the IMAP sample captures (samples/imap-*.pcap) against the lab's Dovecot on
127.0.0.1:143 with real clients, and merges their client-side truth into
samples/truth.json (same format as the SMTP/POP3 entries; see samples/README.md).

    record_imap.py SAMPLES_DIR [NAME ...]

Before each capture (outside it) the test mailbox is reset with imaplib: INBOX emptied
and refilled by APPEND with fixed messages, so FETCH hashes are stable between
recordings. The truth is what each client sent or received: the password it used, the
server's tagged reply, the literal octets it read (FETCH) or wrote (APPEND).
"""
import base64
import hashlib
import imaplib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import zlib
from email import message_from_bytes
from email.header import decode_header, make_header
from pathlib import Path

HOST, PORT = "127.0.0.1", 143
FILTER = "tcp port 143"
USERS = {"ana": ("ana@sample.test", "Ana-pw-1!"), "ben": ("ben@sample.test", "ben-Secret-22")}
CRLF = b"\r\n"


def msg(n, subject, body_lines, extra=b""):
    """A fixed message: headers + body, CRLF line endings."""
    head = (
        b"From: Ben <ben@sample.test>\r\nTo: Ana <ana@sample.test>\r\n"
        + b"Subject: " + subject.encode() + b"\r\n"
        + b"Message-ID: <imap-" + str(n).encode() + b"@sample.test>\r\n"
        + b"Date: Fri, 04 Dec 2026 12:00:00 +0000\r\nMIME-Version: 1.0\r\n" + extra
    )
    return head + b"\r\n" + b"".join(l + CRLF for l in body_lines)


M1 = msg(1, "IMAP message one", [b"Hello Ana,", b"", b"this is message one."],
         b"Content-Type: text/plain; charset=utf-8\r\n")
# Lines that look like IMAP responses inside a literal must stay content.
M2 = msg(2, "IMAP message two with lookalikes",
         [b"--b1", b"Content-Type: text/plain", b"", b"a1 OK not a reply", b"* BYE not either",
          b"{5}", b".", b"--b1", b"Content-Type: application/octet-stream; name=\"data.bin\"",
          b"Content-Disposition: attachment; filename=\"data.bin\"",
          b"Content-Transfer-Encoding: base64", b"",
          base64.b64encode(bytes(range(256)) * 4)[:76], b"--b1--"],
         b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n")
# Big enough for several 1000-byte ranges.
M3 = msg(3, "IMAP message three, long", [b"line %04d of a long message body" % i for i in range(90)],
         b"Content-Type: text/plain\r\n")
SENT = msg(10, "Sent copy via APPEND", [b"Uploaded with APPEND into Sent."],
           b"Content-Type: text/plain\r\n")
SENT2 = msg(11, "Second APPEND (LITERAL+)", [b"Uploaded with a non-synchronizing literal."],
            b"Content-Type: text/plain\r\n")


def subject(b):
    m = message_from_bytes(b)
    return str(make_header(decode_header(m["Subject"]))) if m["Subject"] else None


def mid(b):
    m = message_from_bytes(b)
    return m["Message-ID"].strip("<>") if m["Message-ID"] else None


def truth_msg(data, direction, uid=None, mailbox=None, partial=False, section=None):
    t = {"direction": direction, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
         "subject": subject(data) if not partial or b"\r\n\r\n" in data else None,
         "message_id": mid(data)}
    if uid is not None:
        t["imap_uid"] = uid
    if mailbox is not None:
        t["imap_mailbox"] = mailbox
    if partial:
        t["partial"] = True
    if section:
        t["section"] = section
    return t


def reset_mailbox(user, messages):
    """Outside the capture: empty INBOX, make sure Sent exists and is empty, refill INBOX."""
    login, pw = USERS[user]
    m = imaplib.IMAP4(HOST, PORT)
    m.login(login, pw)
    for box in ("INBOX", "Sent"):
        typ, data = m.select(box)
        if typ != "OK":
            m.create(box)
            typ, data = m.select(box)
        if int(data[0]) > 0:
            m.store("1:*", "+FLAGS", "\\Deleted")
            m.expunge()
    for b in messages:
        m.append("INBOX", None, None, b)
    m.logout()


class Capture:
    def __init__(self, path):
        self.proc = subprocess.Popen(["tcpdump", "-i", "lo", "-U", "-w", str(path), FILTER],
                                     stderr=subprocess.DEVNULL)
        # tcpdump writes the file header once the capture is active.
        for _ in range(100):
            if path.exists() and path.stat().st_size >= 24:
                break
            time.sleep(0.1)
        time.sleep(1.0)

    def stop(self):
        time.sleep(0.7)
        self.proc.send_signal(signal.SIGINT)  # only the process we started
        self.proc.wait(timeout=10)


def session(tool, creds, msgs, client_port, **extra):
    s = {"protocol": "imap", "server_port": PORT, "server_ip": HOST, "client_ip": HOST,
         "client_port": client_port,
         "ip_family": "ipv4", "client_tool": tool, "starttls": False,
         "credentials": creds, "messages": msgs}
    s.update(extra)
    return s


def banner_of(line):
    # Our banner is the greeting's text after "* OK ".
    return line.decode().rstrip("\r\n").split(" ", 2)[2]


# ---- imaplib -----------------------------------------------------------------------------

def cap_imaplib_login():
    """imaplib: wrong LOGIN, LOGIN (quoted password), SELECT, UID FETCH BODY.PEEK[],
    FETCH RFC822, FETCH BODY.PEEK[HEADER], APPEND to Sent, LOGOUT."""
    login, pw = USERS["ana"]
    m = imaplib.IMAP4(HOST, PORT)
    port = m.sock.getsockname()[1]
    banner = banner_of(m.welcome + b"\r\n")
    creds, msgs = [], []
    try:
        m.login(login, "wrong-password")
        creds.append({"mechanism": "IMAP-LOGIN", "username": login, "password": "wrong-password", "success": True})
    except imaplib.IMAP4.error:
        creds.append({"mechanism": "IMAP-LOGIN", "username": login, "password": "wrong-password", "success": False})
    typ, _ = m.login(login, pw)
    creds.append({"mechanism": "IMAP-LOGIN", "username": login, "password": pw, "success": typ == "OK"})
    m.select("INBOX")
    typ, data = m.uid("FETCH", "1:*", "(UID)")
    uids = [int(re.search(rb"UID (\d+)", d).group(1)) for d in data]
    typ, data = m.uid("FETCH", str(uids[0]), "(BODY.PEEK[])")
    msgs.append(truth_msg(data[0][1], "retrieved", uid=uids[0], mailbox="INBOX"))
    typ, data = m.fetch("2", "(UID RFC822)")
    uid2 = int(re.search(rb"UID (\d+)", data[0][0]).group(1))
    msgs.append(truth_msg(data[0][1], "retrieved", uid=uid2, mailbox="INBOX"))
    typ, data = m.fetch("2", "(BODY.PEEK[HEADER])")
    msgs.append(truth_msg(data[0][1], "retrieved", mailbox="INBOX", partial=True, section="BODY[HEADER]"))
    typ, data = m.append("Sent", "(\\Seen)", None, SENT)
    uidm = re.search(rb"APPENDUID \d+ (\d+)", data[0])
    msgs.append(truth_msg(SENT, "appended", uid=int(uidm.group(1)) if uidm else None, mailbox="Sent"))
    m.logout()
    return [session("python3 imaplib", creds, msgs, port, banner=banner)]


def cap_imaplib_auth_plain():
    """imaplib AUTHENTICATE PLAIN (no SASL-IR: the credentials follow the + ), FETCH 1."""
    login, pw = USERS["ana"]
    m = imaplib.IMAP4(HOST, PORT)
    port = m.sock.getsockname()[1]
    typ, _ = m.authenticate("PLAIN", lambda _: f"\0{login}\0{pw}".encode())
    creds = [{"mechanism": "PLAIN", "username": login, "password": pw, "success": typ == "OK"}]
    m.select("INBOX")
    typ, data = m.fetch("1", "(UID BODY.PEEK[])")
    uid = int(re.search(rb"UID (\d+)", data[0][0]).group(1))
    msgs = [truth_msg(data[0][1], "retrieved", uid=uid, mailbox="INBOX")]
    m.logout()
    return [session("python3 imaplib", creds, msgs, port, banner=banner_of(m.welcome + b"\r\n"))]


# ---- curl --------------------------------------------------------------------------------

def cap_curl(tmp):
    """curl imap:// with --login-options AUTH=PLAIN --sasl-ir, AUTH=LOGIN, AUTH=CRAM-MD5:
    each fetches one message (FETCH n BODY[])."""
    sessions = []
    login, pw = USERS["ana"]
    for i, (mech, sasl_ir) in enumerate([("PLAIN", True), ("LOGIN", False), ("CRAM-MD5", False)]):
        out = Path(tmp) / f"curl-{i}.eml"
        trace = Path(tmp) / f"curl-{i}.trace"
        args = ["curl", "-s", "--trace-ascii", str(trace), "-o", str(out), "-w", "%{local_port}",
                "-u", f"{login}:{pw}", "--login-options", f"AUTH={mech}",
                f"imap://{HOST}:{PORT}/INBOX;MAILINDEX={i + 1}"]
        if sasl_ir:
            args.insert(1, "--sasl-ir")
        port = int(subprocess.run(args, check=True, capture_output=True).stdout)
        t = trace.read_text(errors="replace")
        data = out.read_bytes()
        cred = {"mechanism": mech, "username": login, "password": pw, "success": True}
        if mech == "CRAM-MD5":
            ch = re.search(r"<= Recv header, \d+ bytes.*?\n0000: \+ (\S+)", t, re.S).group(1)
            cred.update({"password": None, "password_for_cracking": pw,
                         "challenge": base64.b64decode(ch).decode()})
        sessions.append(session(f"curl ({mech}{', --sasl-ir' if sasl_ir else ''})", [cred],
                                [truth_msg(data, "retrieved", mailbox="INBOX")], port))
    return sessions


# ---- raw socket ------------------------------------------------------------------------

class Raw:
    """A minimal literal-aware IMAP client over a socket, with optional COMPRESS."""

    def __init__(self):
        self.s = socket.create_connection((HOST, PORT))
        self.port = self.s.getsockname()[1]
        self.buf = b""
        self.z_in = self.z_out = None
        self.greeting = self.line()

    def send(self, b):
        if self.z_out:
            b = self.z_out.compress(b) + self.z_out.flush(zlib.Z_SYNC_FLUSH)
        self.s.sendall(b)

    def fill(self):
        d = self.s.recv(65536)
        if not d:
            raise EOFError
        self.buf += self.z_in.decompress(d) if self.z_in else d

    def line(self):
        while CRLF not in self.buf:
            self.fill()
        l, self.buf = self.buf.split(CRLF, 1)
        return l + CRLF

    def take(self, n):
        while len(self.buf) < n:
            self.fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def response(self, tag):
        """Reads until the tagged reply; returns (tagged line, [(line, [literal octets])])."""
        out = []
        while True:
            l = self.line()
            lits = []
            while (m := re.search(rb"~?\{(\d+)\+?\}\r\n$", l)):
                lit = self.take(int(m.group(1)))
                lits.append(lit)
                l = l + lit + self.line()
            if l.startswith(tag + b" "):
                return l, out
            out.append((l, lits))


def cap_raw():
    """Raw socket: LOGIN with a synchronizing literal password, ID, SELECT + FETCH pipelined,
    BODY.PEEK[]<0.1000> ranges of message 3 until the end, APPEND with LITERAL+, COMPRESS
    DEFLATE, FETCH under compression, IDLE/DONE, LOGOUT."""
    login, pw = USERS["ben"]
    c = Raw()
    creds, msgs = [], []
    c.send(b"a1 CAPABILITY\r\n")
    c.response(b"a1")
    c.send(b"a2 ID (\"name\" \"pcapmail-raw\" \"version\" \"1\")\r\n")
    c.response(b"a2")
    c.send(b"a3 LOGIN " + login.encode() + b" {%d}\r\n" % len(pw))
    assert c.line().startswith(b"+")
    c.send(pw.encode() + CRLF)
    tl, _ = c.response(b"a3")
    creds.append({"mechanism": "IMAP-LOGIN", "username": login, "password": pw,
                  "success": tl.split()[1] == b"OK", "password_as": "literal"})
    # Pipelined: both commands in one segment.
    c.send(b"a4 SELECT INBOX\r\na5 FETCH 1 (UID BODY.PEEK[])\r\n")
    c.response(b"a4")
    tl, out = c.response(b"a5")
    line, lits = out[0]
    uid = int(re.search(rb"UID (\d+)", line).group(1))
    msgs.append(truth_msg(lits[0], "retrieved", uid=uid, mailbox="INBOX"))
    # Ranges of message 3 from offset 0 until a short one: one rebuilt message.
    whole, off, n = b"", 0, 0
    while True:
        n += 1
        c.send(b"r%d FETCH 3 (UID BODY.PEEK[]<%d.1000>)\r\n" % (n, off))
        tl, out = c.response(b"r%d" % n)
        line, lits = out[0]
        uid3 = int(re.search(rb"UID (\d+)", line).group(1))
        whole += lits[0]
        off += len(lits[0])
        if len(lits[0]) < 1000:
            break
    msgs.append(truth_msg(whole, "retrieved", uid=uid3, mailbox="INBOX"))
    # APPEND with a non-synchronizing literal (LITERAL+).
    c.send(b"a6 APPEND Sent (\\Seen) {%d+}\r\n" % len(SENT2) + SENT2 + CRLF)
    tl, _ = c.response(b"a6")
    uidm = re.search(rb"APPENDUID \d+ (\d+)", tl)
    msgs.append(truth_msg(SENT2, "appended", uid=int(uidm.group(1)) if uidm else None, mailbox="Sent"))
    c.send(b"a7 COMPRESS DEFLATE\r\n")
    tl, _ = c.response(b"a7")
    assert tl.split()[1] == b"OK", tl
    c.z_in, c.z_out = zlib.decompressobj(-15), zlib.compressobj(6, zlib.DEFLATED, -15)
    c.buf = c.z_in.decompress(c.buf)
    c.send(b"a8 FETCH 2 (UID BODY.PEEK[])\r\n")
    tl, out = c.response(b"a8")
    line, lits = out[0]
    uid = int(re.search(rb"UID (\d+)", line).group(1))
    msgs.append(truth_msg(lits[0], "retrieved", uid=uid, mailbox="INBOX"))
    c.send(b"a9 IDLE\r\n")
    assert c.line().startswith(b"+")
    time.sleep(0.3)
    c.send(b"DONE\r\n")
    c.response(b"a9")
    c.send(b"a10 LOGOUT\r\n")
    c.response(b"a10")
    c.s.close()
    return [session("python3 raw socket", creds, msgs, c.port, banner=banner_of(c.greeting),
                    compressed=True)]


def cap_raw_auth():
    """Raw socket, one connection each: AUTHENTICATE PLAIN with SASL-IR, AUTHENTICATE LOGIN
    wrong then cancelled with *, LOGIN with quoted escapes failing."""
    sessions = []
    login, pw = USERS["ana"]
    c = Raw()
    ir = base64.b64encode(f"\0{login}\0{pw}".encode())
    c.send(b"a1 AUTHENTICATE PLAIN " + ir + CRLF)
    tl, _ = c.response(b"a1")
    c.send(b"a2 LOGOUT\r\n")
    c.response(b"a2")
    sessions.append(session("python3 raw socket", [{"mechanism": "PLAIN", "username": login, "password": pw,
                                                    "success": tl.split()[1] == b"OK"}], [], c.port,
                            banner=banner_of(c.greeting)))
    c = Raw()
    c.send(b"a1 AUTHENTICATE LOGIN\r\n")
    c.line()
    c.send(base64.b64encode(login.encode()) + CRLF)
    c.line()
    c.send(base64.b64encode(b"not-the-password") + CRLF)
    tl, _ = c.response(b"a1")
    c.send(b"a2 AUTHENTICATE PLAIN\r\n")
    c.line()
    c.send(b"*\r\n")
    c.response(b"a2")
    c.send(b"a3 LOGIN \"ana@sample.test\" \"q\\\"uo\\\\ted pw\"\r\n")
    tl3, _ = c.response(b"a3")
    c.send(b"a4 LOGOUT\r\n")
    c.response(b"a4")
    sessions.append(session("python3 raw socket", [
        {"mechanism": "LOGIN", "username": login, "password": "not-the-password",
         "success": tl.split()[1] == b"OK"},
        {"mechanism": "IMAP-LOGIN", "username": login, "password": "q\"uo\\ted pw",
         "success": tl3.split()[1] == b"OK"}], [], c.port, banner=banner_of(c.greeting)))
    return sessions


SAMPLES = [
    ("imap-login.pcap", cap_imaplib_login, "ana", [M1, M2, M3],
     "IMAP 143: python3 imaplib: LOGIN wrong password (NO), LOGIN (quoted), SELECT, UID FETCH "
     "BODY.PEEK[], FETCH RFC822, FETCH BODY.PEEK[HEADER] (partial), APPEND to Sent, LOGOUT"),
    ("imap-auth-plain.pcap", cap_imaplib_auth_plain, "ana", [M1, M2, M3],
     "IMAP 143: python3 imaplib AUTHENTICATE PLAIN (credentials after '+ '), FETCH 1 BODY.PEEK[]"),
    ("imap-curl.pcap", None, "ana", [M1, M2, M3],
     "IMAP 143: three curl sessions: AUTH=PLAIN with --sasl-ir, AUTH=LOGIN, AUTH=CRAM-MD5; "
     "each FETCH n BODY[]"),
    ("imap-raw-literals-compress.pcap", cap_raw, "ben", [M1, M2, M3],
     "IMAP 143: raw socket: LOGIN with a synchronizing literal password, ID, SELECT+FETCH "
     "pipelined, BODY.PEEK[]<o.1000> ranges rebuilding message 3, APPEND with LITERAL+, "
     "COMPRESS DEFLATE, FETCH under compression, IDLE/DONE, LOGOUT"),
    ("imap-raw-auth.pcap", cap_raw_auth, "ana", [M1, M2, M3],
     "IMAP 143: raw socket: session 1 AUTHENTICATE PLAIN with SASL-IR; session 2 AUTHENTICATE "
     "LOGIN wrong password (NO), AUTHENTICATE PLAIN cancelled with '*', LOGIN with quoted "
     "escapes (NO)"),
]


def pcap_facts(path):
    b = path.read_bytes()
    packets, off = 0, 24
    while off + 16 <= len(b):
        incl = int.from_bytes(b[off + 8:off + 12], "little")
        off += 16 + incl
        packets += 1
    return {"format": "pcap", "byte_order": "little-endian", "timestamp_precision": "microsecond",
            "magic": "0xa1b2c3d4", "link_type": "EN10MB", "link_type_number": 1,
            "uncompressed_size": len(b), "uncompressed_sha256": hashlib.sha256(b).hexdigest(),
            "compressed": None, "file_size": len(b), "packets": packets}


def main():
    out = Path(sys.argv[1])
    only = set(sys.argv[2:])
    truth_path = out / "truth.json"
    truth = json.loads(truth_path.read_text())
    tmp = Path("/tmp/pcapmail-imap-rec")
    tmp.mkdir(exist_ok=True)
    for name, fn, user, boxes, desc in SAMPLES:
        if only and name not in only:
            continue
        for u in USERS:
            reset_mailbox(u, boxes)
        path = out / name
        path.unlink(missing_ok=True)
        cap = Capture(path)
        try:
            if fn is None:
                sessions = cap_curl(tmp)  # one after the other: capture order
            else:
                sessions = fn()
        finally:
            cap.stop()
        entry = {"description": desc}
        entry.update(pcap_facts(path))
        entry["capture_command"] = f"tcpdump -i lo -U -w {name} '{FILTER}'"
        entry["capture_filter"] = FILTER
        entry["sessions"] = sessions
        truth[name] = entry
        print(f"{name}: {entry['packets']} packets, {len(sessions)} sessions")
    truth_path.write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
