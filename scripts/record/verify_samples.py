#!/usr/bin/env python3
"""Independent check of samples/truth.json against the captures themselves.

For every capture, tshark reassembles each TCP stream (-z follow,tcp,raw); this script then
walks the SMTP / POP3 dialogue (pairing client commands with server replies in order) and
extracts credentials and message bytes, and compares them with truth.json: mechanisms, user
names, passwords, success, CRAM-MD5/APOP digests, message sizes and sha256.
Usage: verify_samples.py SAMPLES_DIR   (exit status 1 on any mismatch)"""
import base64
import hashlib
import hmac
import json
import re
import subprocess
import sys
from pathlib import Path


def streams(path, n):
    argv = ["tshark", "-r", str(path), "-q"]
    for i in range(n):
        argv += ["-z", f"follow,tcp,raw,{i}"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    res = {}
    for block in out.split("=" * 67)[1::2]:
        idx = int(re.search(r"Filter: tcp.stream eq (\d+)", block).group(1))
        cli, srv = bytearray(), bytearray()
        nodes = re.findall(r"Node \d: (\S+)", block)
        for line in block.splitlines():
            if re.fullmatch(r"\t?[0-9a-f]+", line):
                (srv if line.startswith("\t") else cli).extend(bytes.fromhex(line.strip()))
        res[idx] = (nodes, bytes(cli), bytes(srv))
    return [res[i] for i in sorted(res)]   # tshark prints the follow taps in reverse order


class Reader:
    def __init__(self, data):
        self.d, self.p = data, 0

    def line(self):
        e = self.d.find(b"\r\n", self.p)
        if e < 0:
            raise EOFError
        l, self.p = self.d[self.p:e], e + 2
        return l

    def take(self, n):
        b, self.p = self.d[self.p:self.p + n], self.p + n
        return b

    def until_dot(self):
        """DATA / multi-line body up to CRLF.CRLF, dot-unstuffed, without the '.' line."""
        lines = []
        while True:
            l = self.line()
            if l == b".":
                return b"".join(x + b"\r\n" for x in lines)
            lines.append(l[1:] if l.startswith(b".") else l)


def smtp_replies(srv):
    r, out = Reader(srv), []
    try:
        while True:
            lines = [r.line()]
            while lines[-1][3:4] == b"-":
                lines.append(r.line())
            out.append((int(lines[0][:3]), lines))
    except EOFError:
        return out


def b64d(b):
    return base64.b64decode(b)


def parse_smtp(cli, srv):
    reps = iter(smtp_replies(srv))
    next(reps)
    c = Reader(cli)
    creds, msgs, cur, bdat = [], [], None, bytearray()
    try:
        while True:
            line = c.line()
            verb = line.split(b" ")[0].upper()
            if verb == b"AUTH":
                parts = line.split(b" ")
                mech = parts[1].upper().decode()
                ir = parts[2] if len(parts) > 2 else None
                steps = [b64d(ir)] if ir else []
                code, lines = next(reps)
                chal = []
                while code == 334:
                    chal.append(b64d(lines[0][4:]) if len(lines[0]) > 4 else b"")
                    steps.append(b64d(c.line()))
                    code, lines = next(reps)
                e = {"mechanism": mech, "success": code == 235, "initial_response": ir is not None}
                if mech == "PLAIN":
                    _, e["username"], e["password"] = [x.decode() for x in steps[0].split(b"\0")]
                elif mech == "LOGIN":
                    e["username"], e["password"] = steps[0].decode(), steps[1].decode()
                elif mech == "CRAM-MD5":
                    u, d = steps[0].decode().split(" ")
                    e.update(username=u, password=None, challenge=chal[0].decode(), digest=d)
                creds.append(e)
            elif verb == b"MAIL":
                code, _ = next(reps)
                cur = {"mail_from": re.search(rb"<([^>]*)>", line).group(1).decode(), "rcpt_to": [],
                       "rcpt_rejected": []}
            elif verb == b"RCPT":
                code, _ = next(reps)
                a = re.search(rb"<([^>]*)>", line).group(1).decode()
                cur["rcpt_to" if code == 250 else "rcpt_rejected"].append(a)
            elif verb == b"DATA":
                code, _ = next(reps)
                if code == 354:
                    data = c.until_dot()
                    code, _ = next(reps)
                    msgs.append(dict(cur, data_command="DATA", accepted=code == 250, size=len(data),
                                     sha256=hashlib.sha256(data).hexdigest()))
            elif verb == b"BDAT":
                parts = line.split(b" ")
                bdat += c.take(int(parts[1]))
                code, _ = next(reps)
                if len(parts) > 2 and parts[2].upper() == b"LAST":
                    msgs.append(dict(cur, data_command="BDAT", accepted=code == 250, size=len(bdat),
                                     sha256=hashlib.sha256(bytes(bdat)).hexdigest()))
                    bdat = bytearray()
            elif verb == b"STARTTLS":
                code, _ = next(reps)
                if code == 220:
                    return creds, msgs, True
            else:
                next(reps)
    except (EOFError, StopIteration):
        pass
    return creds, msgs, False


POP_MULTI = {b"RETR", b"TOP", b"CAPA"}


def parse_pop3(cli, srv):
    s, c = Reader(srv), Reader(cli)
    greeting = s.line()
    creds, msgs, user = [], [], None
    try:
        while True:
            line = c.line()
            parts = line.split(b" ")
            verb = parts[0].upper()
            if verb == b"AUTH":
                mech, ir = parts[1].upper().decode(), parts[2] if len(parts) > 2 else None
                steps, chal = ([b64d(ir)] if ir else []), []
                r = s.line()
                while r.startswith(b"+ ") or r == b"+":
                    chal.append(b64d(r[2:]))
                    steps.append(b64d(c.line()))
                    r = s.line()
                e = {"mechanism": mech, "success": r.startswith(b"+OK")}
                if mech == "PLAIN":
                    _, e["username"], e["password"] = [x.decode() for x in steps[0].split(b"\0")]
                elif mech == "LOGIN":
                    e["username"], e["password"] = steps[0].decode(), steps[1].decode()
                elif mech == "CRAM-MD5":
                    u, d = steps[0].decode().split(" ")
                    e.update(username=u, password=None, challenge=chal[0].decode(), digest=d)
                creds.append(e)
                continue
            r = s.line()
            ok = r.startswith(b"+OK")
            if verb == b"USER":
                user = parts[1].decode()
            elif verb == b"PASS":
                creds.append({"mechanism": "USER", "username": user, "password": line[5:].decode(),
                              "success": ok})
            elif verb == b"APOP":
                ts = re.search(rb"<[^>]*>", greeting).group(0).decode()
                creds.append({"mechanism": "APOP", "username": parts[1].decode(), "password": None,
                              "success": ok, "timestamp": ts, "digest": parts[2].decode()})
            multi = ok and (verb in POP_MULTI or (verb in (b"LIST", b"UIDL") and len(parts) == 1))
            if multi:
                body = s.until_dot()
                if verb in (b"RETR", b"TOP"):
                    msgs.append({"number": int(parts[1]), "command": verb.decode(), "size": len(body),
                                 "sha256": hashlib.sha256(body).hexdigest()})
    except EOFError:
        pass
    return creds, msgs


CRED_KEYS = ("mechanism", "username", "password", "success")


def main():
    samples = Path(sys.argv[1])
    truth = json.loads((samples / "truth.json").read_text())
    bad = 0
    for name, t in truth.items():
        sess = t["sessions"]
        got = streams(samples / name, len(sess))
        errs = []
        if len(got) != len(sess):
            errs.append(f"{len(got)} streams, {len(sess)} sessions")
        for i, (s, (nodes, cli, srv)) in enumerate(zip(sess, got)):
            ep = f"{s['client_ip']}:{s['client_port']}".replace("::1:", "[::1]:")
            if nodes and nodes[0] not in (ep, f"{s['client_ip']}:{s['client_port']}"):
                errs.append(f"session {i}: node {nodes[0]} != {ep}")
            if s["protocol"] == "smtp":
                creds, msgs, tls = parse_smtp(cli, srv)
                if tls != s["starttls"]:
                    errs.append(f"session {i}: starttls {tls}")
                want_m = [{k: m[k] for k in ("mail_from", "rcpt_to", "rcpt_rejected", "data_command",
                                             "accepted", "size", "sha256")} for m in s["messages"]]
            else:
                creds, msgs = parse_pop3(cli, srv)
                want_m = [{k: m[k] for k in ("number", "command", "size", "sha256")} for m in s["messages"]]
            if msgs != want_m:
                errs.append(f"session {i}: messages\n  wire:  {msgs}\n  truth: {want_m}")
            want_c = [{k: c[k] for k in CRED_KEYS} for c in s["credentials"]]
            got_c = [{k: c[k] for k in CRED_KEYS} for c in creds]
            if got_c != want_c:
                errs.append(f"session {i}: credentials\n  wire:  {got_c}\n  truth: {want_c}")
            for c_t, c_w in zip(s["credentials"], creds):
                if c_t["mechanism"] == "CRAM-MD5":
                    d = hmac.new(c_t["password_for_cracking"].encode(), c_w["challenge"].encode(),
                                 hashlib.md5).hexdigest()
                    if not (d == c_w["digest"] == c_t["digest"] and c_w["challenge"] == c_t["challenge"]):
                        errs.append(f"session {i}: CRAM-MD5 digest mismatch")
                if c_t["mechanism"] == "APOP":
                    d = hashlib.md5((c_w["timestamp"] + c_t["password_for_cracking"]).encode()).hexdigest()
                    if not (d == c_w["digest"] == c_t["digest"] and c_w["timestamp"] == c_t["timestamp"]):
                        errs.append(f"session {i}: APOP digest mismatch")
                if "initial_response" in c_w and "initial_response" in c_t \
                        and c_w["initial_response"] != c_t["initial_response"]:
                    errs.append(f"session {i}: initial_response wire={c_w['initial_response']}")
        print(f"{'OK  ' if not errs else 'FAIL'} {name}: {len(sess)} sessions, "
              f"{sum(len(s['messages']) for s in sess)} messages")
        for e in errs:
            print("     ", e)
        bad += bool(errs)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
