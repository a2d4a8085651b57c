"""Mail clients used while recording: thin raw-socket SMTP/POP3 clients (for the cases a
library cannot produce) plus helpers around smtplib/poplib/swaks/curl. Every function returns
a "session" dict that becomes part of samples/truth.json (client/server addresses are filled
in later from the capture's SYN packets)."""
import base64
import email
import email.header
import email.policy
import hashlib
import hmac
import os
import poplib
import smtplib
import socket
import subprocess
import tempfile
import time

CRLF = b"\r\n"
EHLO_NAME = "client.sample.test"
ACCOUNTS = {
    "ana": ("ana@sample.test", "Ana-pw-1!"),
    "ben": ("ben@sample.test", "ben-Secret-22"),
    "cyd": ("cyd@sample.test", "cyd#pop-3"),
}


def sha(b):
    return hashlib.sha256(b).hexdigest()


def b64(s):
    if isinstance(s, str):
        s = s.encode()
    return base64.b64encode(s).decode()


def new_session(protocol, port, family="ipv4", tool="", **kw):
    s = {"protocol": protocol, "server_port": port, "ip_family": family, "client_tool": tool,
         "starttls": False, "credentials": [], "messages": []}
    s.update(kw)
    return s


def cred(mech, user, password, success, **kw):
    c = {"mechanism": mech, "username": user, "password": password, "success": success}
    c.update(kw)
    return c


def header_info(msg_bytes):
    m = email.message_from_bytes(msg_bytes, policy=email.policy.default)
    subj = m["Subject"]
    mid = m["Message-ID"]
    return (str(subj) if subj is not None else None,
            str(mid).strip().strip("<>") if mid is not None else None)


def smtp_msg(mail_from, accepted, rejected, data, cmd="DATA", **kw):
    subject, mid = header_info(data)
    m = {"mail_from": mail_from, "rcpt_to": accepted, "rcpt_rejected": rejected,
         "data_command": cmd, "accepted": True, "size": len(data), "sha256": sha(data),
         "subject": subject, "message_id": mid, "attachments": []}
    m.update(kw)
    return m


# ----------------------------------------------------------------------------------------
class RawSMTP:
    """Line-level SMTP client on a plain socket; every reply is checked against `expect`."""

    def __init__(self, host, port):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.connect((host, port))
        self.f = self.sock.makefile("rb")
        self.reply(220)

    def reply(self, expect=None):
        lines = []
        while True:
            line = self.f.readline()
            if not line:
                raise IOError("connection closed")
            lines.append(line.rstrip(b"\r\n"))
            if line[3:4] != b"-":
                break
        code = int(lines[0][:3])
        if expect is not None and code != expect:
            raise RuntimeError(f"expected {expect}, got {lines}")
        return code, lines

    def send(self, data):
        self.sock.sendall(data)

    def cmd(self, line, expect=None):
        self.send(line.encode() + CRLF)
        return self.reply(expect)

    def data(self, msg):
        """DATA with dot-stuffing done here; msg is CRLF text ending in CRLF."""
        self.cmd("DATA", 354)
        stuffed = b"\r\n".join((b"." + l if l.startswith(b".") else l) for l in msg.split(b"\r\n"))
        self.send(stuffed + b".\r\n")
        return self.reply(250)

    def close(self):
        self.cmd("QUIT", 221)
        self.sock.close()


def smtp_login_smtplib(host, port, user, pw, mech, initial_response_ok=True):
    """smtplib with a chosen SASL mechanism; returns (smtp, credential dict)."""
    s = smtplib.SMTP(host, port, local_hostname=EHLO_NAME, timeout=30)
    s.ehlo()
    s.user, s.password = user, pw
    extra = {}
    if mech == "CRAM-MD5":
        def authobj(challenge=None):
            if challenge is None:
                return None
            extra["challenge"] = challenge.decode()
            resp = s.auth_cram_md5(challenge)
            extra["response"] = resp
            return resp
        s.auth("CRAM-MD5", authobj, initial_response_ok=False)
        return s, cred("CRAM-MD5", user, None, True, password_for_cracking=pw,
                       challenge=extra["challenge"],
                       digest=extra["response"].split(" ", 1)[1], initial_response=False)
    if mech == "LOGIN":
        s.auth("LOGIN", s.auth_login, initial_response_ok=initial_response_ok)
    elif mech == "PLAIN":
        s.auth("PLAIN", s.auth_plain, initial_response_ok=initial_response_ok)
    return s, cred(mech, user, pw, True, initial_response=initial_response_ok)


def smtp_send_smtplib(s, mail_from, rcpts, msg):
    refused = s.sendmail(mail_from, rcpts, msg)
    assert not refused, refused
    return smtp_msg(mail_from, rcpts, [], msg)


# ----------------------------------------------------------------------------------------
class RawPOP3:
    def __init__(self, host, port=110):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.connect((host, port))
        self.f = self.sock.makefile("rb")
        self.greeting = self.line()
        assert self.greeting.startswith(b"+OK"), self.greeting

    def line(self):
        l = self.f.readline()
        if not l:
            raise IOError("closed")
        return l.rstrip(b"\r\n")

    def send_line(self, s):
        self.sock.sendall((s if isinstance(s, bytes) else s.encode()) + CRLF)

    def cmd(self, s):
        self.send_line(s)
        return self.line()

    def multiline(self):
        out = []
        while True:
            l = self.line()
            if l == b".":
                return out
            out.append(l[1:] if l.startswith(b"..") else l)


def pop_message(lines):
    """poplib/raw RETR lines (unstuffed, without CRLF) -> exact message bytes."""
    return b"".join(l + CRLF for l in lines)


RETRIEVED = {}   # sha256 -> bytes of every POP3 message/TOP response seen by the clients


def pop_msg_entry(number, data, cmd="RETR", **kw):
    RETRIEVED[sha(data)] = data
    subject, mid = header_info(data)
    e = {"number": number, "command": cmd, "size": len(data), "sha256": sha(data),
         "subject": subject, "message_id": mid}
    e.update(kw)
    return e


# ----------------------------------------------------------------------------------------
def run(argv, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{argv} failed: {r.returncode}\n{r.stdout}\n{r.stderr}")
    return r
