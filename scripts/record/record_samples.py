#!/usr/bin/env python3
"""Record the sample captures in samples/ against the local mail lab and write
samples/truth.json and samples/README.md.  Called by scripts/record-samples.sh (which sets up
and starts the lab first); run as root.  Usage: record_samples.py SAMPLES_DIR [NAME ...]
(with names: only those captures are re-recorded, truth.json entries for the others kept)."""
import base64
import email
import email.policy
import gzip
import hashlib
import hmac
import json
import os
import poplib
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import messages as M  # noqa: E402
from clients import (ACCOUNTS, RETRIEVED, EHLO_NAME, RawPOP3, RawSMTP, b64, cred, new_session,  # noqa: E402
                     pop_message, pop_msg_entry, run, sha, smtp_login_smtplib, smtp_msg,
                     smtp_send_smtplib)

FILTER = "tcp port 25 or tcp port 587 or tcp port 2525 or tcp port 110"
MAILROOT = Path("/var/mail-samples/sample.test")
V4, V6 = "127.0.0.1", "::1"
ANA, BEN, CYD = ACCOUNTS["ana"], ACCOUNTS["ben"], ACCOUNTS["cyd"]
WORK = Path(tempfile.mkdtemp(prefix="pcapmail-rec-"))


# ---------------------------------------------------------------- capture control -------
class Capture:
    def __init__(self, path, argv):
        self.path, self.argv = Path(path), argv

    def __enter__(self):
        if self.path.exists():
            self.path.unlink()
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        self.err = []
        while True:
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError(f"capture died: {self.argv}: {''.join(self.err)}")
            self.err.append(line)
            if "listening on" in line or line.startswith("File:"):
                break
        threading.Thread(target=lambda: self.err.extend(self.proc.stderr), daemon=True).start()
        time.sleep(0.7)
        return self

    def __exit__(self, *exc):
        time.sleep(0.7)
        self.proc.send_signal(signal.SIGINT)      # only the process we started
        self.proc.wait(timeout=20)
        return False


def tcpdump(path, iface="lo", extra=()):
    return ["tcpdump", "-i", iface, *extra, "-U", "-w", str(path), FILTER]


# ---------------------------------------------------------------- mailbox handling ------
def wait_queue_empty(timeout=60):
    for _ in range(timeout * 5):
        out = subprocess.run(["postqueue", "-j"], capture_output=True, text=True).stdout
        if not out.strip():
            return
        time.sleep(0.2)
    raise RuntimeError("postfix queue did not drain: " + out)


def reset_mailbox(user):
    wait_queue_empty()
    shutil.rmtree(MAILROOT / user, ignore_errors=True)


def count_mail(user):
    n = 0
    for sub in ("new", "cur"):
        d = MAILROOT / user / "Maildir" / sub
        if d.is_dir():
            n += len(list(d.iterdir()))
    return n


def deliver(user, msgs):
    """Deliver messages one by one (outside any capture) and wait until they are in the maildir."""
    addr = ACCOUNTS[user][0]
    for m in msgs:
        before = count_mail(user)
        with __import__("smtplib").SMTP(V4, 25, local_hostname="deliver.sample.test") as s:
            s.sendmail("ana@sample.test", [addr], m)
        for _ in range(300):
            if count_mail(user) > before:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"delivery to {user} timed out")
    wait_queue_empty()


def maildir_check(user, data):
    """Cross-check a retrieved message against the delivered maildir file (LF -> CRLF)."""
    for sub in ("cur", "new"):
        d = MAILROOT / user / "Maildir" / sub
        for f in d.iterdir() if d.is_dir() else []:
            if f.read_bytes().replace(b"\n", b"\r\n") == data:
                return True
    raise RuntimeError(f"retrieved message not found in maildir of {user}")


# ---------------------------------------------------------------- SMTP sessions ---------
def s_smtplib_auth_send(host, port, acct, mech, msgs, rcpts, initial_response_ok=True,
                        family="ipv4"):
    user, pw = acct
    s, c = smtp_login_smtplib(host, port, user, pw, mech, initial_response_ok)
    sess = new_session("smtp", port, family, "python3 smtplib", credentials=[c])
    for m in msgs:
        sess["messages"].append(smtp_send_smtplib(s, user, rcpts, m))
    s.quit()
    return sess


def msg(tag, frm, to, subject, body):
    return M.simple(f"{tag}@sample.test", frm, to, subject, body)


MSG_LOGIN = msg("auth-login-1", "Ana <ana@sample.test>", "Ben <ben@sample.test>",
                "AUTH LOGIN sample", "Hello Ben,\n\nthis message was sent after AUTH LOGIN on port 587.\n\n-- \nAna\n")
MSG_PLAIN1 = msg("auth-plain-1", "Ben <ben@sample.test>", "Cyd <cyd@sample.test>",
                 "AUTH PLAIN with initial response", "Sent after AUTH PLAIN <initial-response>.\n")
MSG_PLAIN2 = msg("auth-plain-2", "Cyd <cyd@sample.test>", "Ana <ana@sample.test>",
                 "AUTH PLAIN after empty 334", "Sent after AUTH PLAIN, 334, then the credentials.\n")


def cap_smtp_auth_login(out):
    return [s_smtplib_auth_send(V4, 587, ANA, "LOGIN", [MSG_LOGIN], ["ben@sample.test"],
                                initial_response_ok=False)]


def cap_smtp_auth_plain(out):
    s1 = s_smtplib_auth_send(V4, 25, BEN, "PLAIN", [MSG_PLAIN1], ["cyd@sample.test"])
    time.sleep(0.2)
    user, pw = CYD
    c = RawSMTP(V4, 25)
    c.cmd(f"EHLO {EHLO_NAME}", 250)
    code, lines = c.cmd("AUTH PLAIN", 334)
    assert lines == [b"334 "], lines
    c.cmd(b64(f"\0{user}\0{pw}"), 235)
    c.cmd(f"MAIL FROM:<{user}>", 250)
    c.cmd("RCPT TO:<ana@sample.test>", 250)
    c.data(MSG_PLAIN2)
    c.close()
    s2 = new_session("smtp", 25, "ipv4", "python3 raw socket",
                     credentials=[cred("PLAIN", user, pw, True, initial_response=False)],
                     messages=[smtp_msg(user, ["ana@sample.test"], [], MSG_PLAIN2)])
    return [s1, s2]


MSG_CRAM = msg("cram-md5-1", "Ben <ben@sample.test>", "Ana <ana@sample.test>",
               "CRAM-MD5 sample", "Sent after AUTH CRAM-MD5.\n")


def cap_smtp_cram(out):
    return [s_smtplib_auth_send(V4, 25, BEN, "CRAM-MD5", [MSG_CRAM], ["ana@sample.test"])]


MSG_FAILOK = msg("fail-then-ok-1", "Ana <ana@sample.test>", "Cyd <cyd@sample.test>",
                 "Second AUTH worked", "The first AUTH LOGIN failed with 535, the AUTH PLAIN after it worked.\n")


def cap_smtp_fail_ok(out):
    user, pw = ANA
    wrong = "wrong-Password-9"
    c = RawSMTP(V4, 587)
    c.cmd(f"EHLO {EHLO_NAME}", 250)
    c.cmd("AUTH LOGIN", 334)
    c.cmd(b64(user), 334)
    code, lines = c.cmd(b64(wrong))
    assert code == 535, lines
    c.cmd("AUTH PLAIN " + b64(f"\0{user}\0{pw}"), 235)
    c.cmd(f"MAIL FROM:<{user}>", 250)
    c.cmd("RCPT TO:<cyd@sample.test>", 250)
    c.data(MSG_FAILOK)
    c.close()
    return [new_session("smtp", 587, "ipv4", "python3 raw socket", credentials=[
        cred("LOGIN", user, wrong, False, initial_response=False, reply=lines[0].decode()),
        cred("PLAIN", user, pw, True, initial_response=True)],
        messages=[smtp_msg(user, ["cyd@sample.test"], [], MSG_FAILOK)])]


MSG_PIPE = msg("pipelining-1", "Ben <ben@sample.test>", "Ana <ana@sample.test>, <unknown@sample.test>",
               "Pipelined transaction", "MAIL, two RCPTs (one unknown) and DATA were sent in one segment.\n")


def cap_smtp_pipelining(out):
    c = RawSMTP(V4, 25)
    code, lines = c.cmd(f"EHLO {EHLO_NAME}", 250)
    assert b"250-PIPELINING" in lines
    c.send(b"MAIL FROM:<ben@sample.test>\r\nRCPT TO:<ana@sample.test>\r\n"
           b"RCPT TO:<unknown@sample.test>\r\nDATA\r\n")
    r_mail, r_ok, (rc, rej), r_data = c.reply(250), c.reply(250), c.reply(), c.reply(354)
    assert rc == 550, rej
    stuffed = MSG_PIPE  # no leading dots in this message
    c.send(stuffed + b".\r\n")
    c.reply(250)
    c.close()
    return [new_session("smtp", 25, "ipv4", "python3 raw socket (pipelined)",
                        messages=[smtp_msg("ben@sample.test", ["ana@sample.test"], ["unknown@sample.test"],
                                           MSG_PIPE, pipelined=True, rcpt_rejected_reply=rej[0].decode())])]


MSG_TWO1 = msg("two-1", "Cyd <cyd@sample.test>", "Ben <ben@sample.test>", "First of two",
               "First message of the session.\n")
MSG_TWO2 = msg("two-2", "Cyd <cyd@sample.test>", "Ana <ana@sample.test>, Ben <ben@sample.test>",
               "Second of two", "Second message of the session, after an RSET-aborted transaction.\n")


def cap_smtp_two(out):
    user, pw = CYD
    s, c = smtp_login_smtplib(V4, 587, user, pw, "PLAIN")
    m1 = smtp_send_smtplib(s, user, ["ben@sample.test"], MSG_TWO1)
    s.mail(user)
    s.rcpt("ana@sample.test")
    s.rset()
    m2 = smtp_send_smtplib(s, user, ["ana@sample.test", "ben@sample.test"], MSG_TWO2)
    s.quit()
    return [new_session("smtp", 587, "ipv4", "python3 smtplib", credentials=[c], messages=[m1, m2],
                        aborted_transactions=[{"mail_from": user, "rcpt_to": ["ana@sample.test"],
                                               "aborted_by": "RSET", "after_message": 1}])]


def cap_smtp_gbk(out):
    data, subj, mid, atts, hdr = M.gbk_attachment()
    user, pw = ANA
    s, c = smtp_login_smtplib(V4, 25, user, pw, "LOGIN", initial_response_ok=False)
    m = smtp_send_smtplib(s, user, ["ben@sample.test"], data)
    s.quit()
    assert m["subject"] == subj
    m.update(attachments=atts, **hdr)
    return [new_session("smtp", 25, "ipv4", "python3 smtplib", credentials=[c], messages=[m])]


MSG_DOT = msg("dot-stuffing-1", "Ben <ben@sample.test>", "Cyd <cyd@sample.test>", "Dot-stuffing", M.DOT_BODY)


def cap_smtp_dots(out):
    s = s_smtplib_auth_send(V4, 25, BEN, "PLAIN", [MSG_DOT], ["cyd@sample.test"])
    s["messages"][0]["body_lines_starting_with_dot"] = 5
    return [s]


MSG_TLS = msg("starttls-1", "Ana <ana@sample.test>", "Ben <ben@sample.test>", "Sent inside TLS",
              "This message travelled inside STARTTLS; a passive analyser cannot read it.\n")


def swaks(args, data):
    f = WORK / "swaks-data.eml"
    assert data.endswith(b"\r\n")
    f.write_bytes(data[:-2])    # swaks always sends "\r\n.\r\n" after the data it is given
    return run(["swaks", "--hide-all", "--helo", EHLO_NAME, "--data", f"@{f}", *args])


def cap_smtp_starttls(out):
    user, pw = ANA
    swaks(["--server", V4, "--port", "587", "-tls", "--auth", "LOGIN", "--auth-user", user,
           "--auth-password", pw, "--from", user, "--to", "ben@sample.test"], MSG_TLS)
    return [new_session("smtp", 587, "ipv4", "swaks -tls", starttls=True,
                        inside_tls={"credentials": [cred("LOGIN", user, pw, True)],
                                    "messages": [smtp_msg(user, ["ben@sample.test"], [], MSG_TLS)]},
                        note="only EHLO and STARTTLS are clear text; credentials and message are "
                             "encrypted (listed under inside_tls for reference, not recoverable)")]


MSG_2525 = msg("port-2525-1", "Cyd <cyd@sample.test>", "Ana <ana@sample.test>", "Port 2525",
               "Sent on the non-standard port 2525.\n")


def cap_smtp_2525(out):
    user, pw = CYD
    swaks(["--server", V4, "--port", "2525", "--auth", "LOGIN", "--auth-user", user,
           "--auth-password", pw, "--from", user, "--to", "ana@sample.test"], MSG_2525)
    return [new_session("smtp", 2525, "ipv4", "swaks", credentials=[cred("LOGIN", user, pw, True)],
                        messages=[smtp_msg(user, ["ana@sample.test"], [], MSG_2525)])]


MSG_BDAT1 = msg("bdat-1", "Ana <ana@sample.test>", "Ben <ben@sample.test>", "BDAT chunks",
                "This message is sent with BDAT in two chunks; the first chunk ends in the middle "
                "of a line.\n.this line starts with a dot and is NOT stuffed under BDAT\nEnd.\n")
MSG_BDAT2 = msg("bdat-2", "Ana <ana@sample.test>", "Cyd <cyd@sample.test>", "BDAT then BDAT 0 LAST",
                "One BDAT chunk with the whole message, then an empty BDAT 0 LAST.\n")


def cap_smtp_bdat(out):
    user, pw = ANA
    c = RawSMTP(V4, 25)
    code, lines = c.cmd(f"EHLO {EHLO_NAME}", 250)
    assert b"250 CHUNKING" in lines or b"250-CHUNKING" in lines, lines
    c.cmd("AUTH PLAIN " + b64(f"\0{user}\0{pw}"), 235)
    # transaction 1: two chunks, the split falls inside a line
    c.cmd(f"MAIL FROM:<{user}>", 250)
    c.cmd("RCPT TO:<ben@sample.test>", 250)
    cut = MSG_BDAT1.index(b"first chunk ends") + 10
    ch1, ch2 = MSG_BDAT1[:cut], MSG_BDAT1[cut:]
    c.send(f"BDAT {len(ch1)}\r\n".encode() + ch1)
    c.reply(250)
    c.send(f"BDAT {len(ch2)} LAST\r\n".encode())   # command and payload in separate segments
    time.sleep(0.05)
    c.send(ch2)
    c.reply(250)
    # transaction 2: one chunk, then BDAT 0 LAST
    c.cmd(f"MAIL FROM:<{user}>", 250)
    c.cmd("RCPT TO:<cyd@sample.test>", 250)
    c.send(f"BDAT {len(MSG_BDAT2)}\r\n".encode() + MSG_BDAT2)
    c.reply(250)
    c.cmd("BDAT 0 LAST", 250)
    c.close()
    return [new_session("smtp", 25, "ipv4", "python3 raw socket",
                        credentials=[cred("PLAIN", user, pw, True, initial_response=True)],
                        messages=[smtp_msg(user, ["ben@sample.test"], [], MSG_BDAT1, cmd="BDAT",
                                           chunks=[len(ch1), len(ch2)]),
                                  smtp_msg(user, ["cyd@sample.test"], [], MSG_BDAT2, cmd="BDAT",
                                           chunks=[len(MSG_BDAT2), 0])])]


MSG_V6 = msg("ipv6-1", "Ben <ben@sample.test>", "Ana <ana@sample.test>", "Over IPv6",
             "Sent over ::1 with curl.\n")


def cap_smtp_ipv6(out):
    user, pw = BEN
    f = WORK / "curl.eml"
    f.write_bytes(MSG_V6)
    run(["curl", "-sS", "--url", f"smtp://[::1]:587/{EHLO_NAME}", "--mail-from", user,
         "--mail-rcpt", "ana@sample.test", "--upload-file", str(f), "--user", f"{user}:{pw}",
         "--login-options", "AUTH=PLAIN"])
    return [new_session("smtp", 587, "ipv6", "curl",
                        credentials=[cred("PLAIN", user, pw, True, initial_response=False)],
                        messages=[smtp_msg(user, ["ana@sample.test"], [], MSG_V6)])]


MSG_SLL = msg("sll-1", "Cyd <cyd@sample.test>", "Ben <ben@sample.test>", "Linux cooked capture",
              "Recorded with tcpdump -i any -y LINUX_SLL.\n")


def cap_smtp_sll(out):
    return [s_smtplib_auth_send(V4, 587, CYD, "LOGIN", [MSG_SLL], ["ben@sample.test"],
                                initial_response_ok=False)]


MSG_NG1 = msg("pcapng-1", "Ana <ana@sample.test>", "Ben <ben@sample.test>", "pcapng interface lo",
              "Session on port 587, captured on interface lo (Ethernet).\n")
MSG_NG2 = msg("pcapng-2", "Ben <ben@sample.test>", "Ana <ana@sample.test>", "pcapng interface any",
              "Session on port 25, captured on interface any (Linux cooked v1).\n")


def cap_smtp_pcapng(out):
    s1 = s_smtplib_auth_send(V4, 587, ANA, "LOGIN", [MSG_NG1], ["ben@sample.test"],
                             initial_response_ok=False)
    s1["interface"] = "lo"
    time.sleep(0.3)
    s2 = s_smtplib_auth_send(V4, 25, BEN, "LOGIN", [MSG_NG2], ["ana@sample.test"],
                             initial_response_ok=False)
    s2["interface"] = "any"
    return [s1, s2]


# ---------------------------------------------------------------- POP3 ------------------
POP_M1 = msg("pop-1", "Ben <ben@sample.test>", "Ana <ana@sample.test>", "POP3 message one",
             "First message in the mailbox.\nIt has a few lines.\nBye.\n")
POP_M2 = msg("pop-2", "Cyd <cyd@sample.test>", "Ana <ana@sample.test>", "POP3 message two with dots",
             "Lines below start with dots, so the server dot-stuffs them in RETR:\n.one dot\n..two dots\n.\nend\n")
POP_M3 = msg("pop-3", "Ana <ana@sample.test>", "Ben <ben@sample.test>", "POP3 message three for TOP",
             "".join(f"Body line {i} of the TOP test message.\n" for i in range(1, 13)))


def retr_poplib(p, user, n, sess):
    resp, lines, octets = p.retr(n)
    data = pop_message(lines)
    maildir_check(user, data)
    sess["messages"].append(pop_msg_entry(n, data))
    return data


def cap_pop3_user_pass(out, user="ana", tool="python3 poplib"):
    addr, pw = ACCOUNTS[user]
    p = poplib.POP3(V4, 110, timeout=30)
    sess = new_session("pop3", 110, "ipv4", tool, banner=p.getwelcome().decode())
    caps = p.capa()
    p.user(addr)
    p.pass_(pw)
    sess["credentials"].append(cred("USER", addr, pw, True))
    stat = p.stat()
    lst = p.list()[1]
    uidl = p.uidl()[1]
    for n in (1, 2):
        retr_poplib(p, user, n, sess)
    p.dele(1)
    p.quit()
    sess.update(capa=sorted(caps), stat={"count": stat[0], "octets": stat[1]},
                list=[l.decode() for l in lst], uidl=[l.decode() for l in uidl], deleted=[1],
                commands=["CAPA", "USER", "PASS", "STAT", "LIST", "UIDL", "RETR 1", "RETR 2", "DELE 1", "QUIT"])
    for m in sess["messages"]:
        lo = dict(l.split(" ") for l in sess["list"])
        assert int(lo[str(m["number"])]) == m["size"], (lo, m)
    return [sess]


def cap_pop3_simple_poplib(out, user):
    """USER/PASS + RETR 1 + QUIT (for the link-type / timestamp variants)."""
    addr, pw = ACCOUNTS[user]
    p = poplib.POP3(V4, 110, timeout=30)
    sess = new_session("pop3", 110, "ipv4", "python3 poplib", banner=p.getwelcome().decode())
    p.user(addr)
    p.pass_(pw)
    sess["credentials"].append(cred("USER", addr, pw, True))
    p.stat()
    retr_poplib(p, user, 1, sess)
    p.quit()
    sess["commands"] = ["USER", "PASS", "STAT", "RETR 1", "QUIT"]
    return [sess]


def cap_pop3_fail(out):
    addr, pw = BEN
    wrong = "not-the-password"
    p = poplib.POP3(V4, 110, timeout=30)
    s1 = new_session("pop3", 110, "ipv4", "python3 poplib", banner=p.getwelcome().decode())
    p.user(addr)
    try:
        p.pass_(wrong)
        raise RuntimeError("wrong password accepted")
    except poplib.error_proto as e:
        err = e.args[0].decode()
    p.user(addr)
    p.pass_(pw)
    retr_poplib(p, "ben", 1, s1)
    p.quit()
    s1["credentials"] = [cred("USER", addr, wrong, False, reply=err), cred("USER", addr, pw, True)]
    s1["commands"] = ["USER", "PASS (wrong)", "USER", "PASS", "RETR 1", "QUIT"]
    time.sleep(0.2)
    p = poplib.POP3(V4, 110, timeout=30)
    s2 = new_session("pop3", 110, "ipv4", "python3 poplib", banner=p.getwelcome().decode())
    p.user(CYD[0])
    try:
        p.pass_("Cyd-guess-1")
        raise RuntimeError("wrong password accepted")
    except poplib.error_proto as e:
        err2 = e.args[0].decode()
    p.quit()
    s2["credentials"] = [cred("USER", CYD[0], "Cyd-guess-1", False, reply=err2)]
    s2["commands"] = ["USER", "PASS (wrong)", "QUIT"]
    return [s1, s2]


def raw_pop_retr(c, user, n, sess):
    r = c.cmd(f"RETR {n}")
    assert r.startswith(b"+OK"), r
    data = pop_message(c.multiline())
    maildir_check(user, data)
    sess["messages"].append(pop_msg_entry(n, data))


def cap_pop3_sasl(out, mech_variants):
    """Raw-socket POP3 AUTH sessions; mech_variants: list of (mech, user, initial_response)."""
    sessions = []
    for mech, user, ir in mech_variants:
        addr, pw = ACCOUNTS[user]
        c = RawPOP3(V4)
        sess = new_session("pop3", 110, "ipv4", "python3 raw socket", banner=c.greeting.decode())
        if mech == "PLAIN":
            tok = b64(f"\0{addr}\0{pw}")
            if ir:
                r = c.cmd(f"AUTH PLAIN {tok}")
            else:
                assert c.cmd("AUTH PLAIN") == b"+ "
                r = c.cmd(tok)
            sess["credentials"].append(cred("PLAIN", addr, pw, r.startswith(b"+OK"), initial_response=ir))
            sess["commands"] = ["AUTH PLAIN" + (" <ir>" if ir else ""), "RETR 1", "QUIT"]
        elif mech == "LOGIN":
            r = c.cmd("AUTH LOGIN")
            assert r.startswith(b"+ "), r
            assert base64.b64decode(r[2:]) == b"Username:", r
            r = c.cmd(b64(addr))
            assert base64.b64decode(r[2:]) == b"Password:", r
            r = c.cmd(b64(pw))
            sess["credentials"].append(cred("LOGIN", addr, pw, r.startswith(b"+OK"), initial_response=False))
            sess["commands"] = ["AUTH LOGIN", "RETR 1", "QUIT"]
        elif mech == "CRAM-MD5":
            r = c.cmd("AUTH CRAM-MD5")
            assert r.startswith(b"+ "), r
            chal = base64.b64decode(r[2:])
            digest = hmac.new(pw.encode(), chal, hashlib.md5).hexdigest()
            r = c.cmd(b64(f"{addr} {digest}"))
            sess["credentials"].append(cred("CRAM-MD5", addr, None, r.startswith(b"+OK"),
                                            password_for_cracking=pw, challenge=chal.decode(),
                                            digest=digest))
            sess["commands"] = ["AUTH CRAM-MD5", "RETR 1", "QUIT"]
        assert r.startswith(b"+OK"), r
        raw_pop_retr(c, user, 1, sess)
        assert c.cmd("QUIT").startswith(b"+OK")
        sessions.append(sess)
        time.sleep(0.2)
    return sessions


def cap_pop3_apop(out):
    addr, pw = CYD
    p = poplib.POP3(V4, 110, timeout=30)
    banner = p.getwelcome()
    ts = re.search(rb"<[^>]*>", banner).group(0)
    digest = hashlib.md5(ts + pw.encode()).hexdigest()
    p.apop(addr, pw)
    sess = new_session("pop3", 110, "ipv4", "python3 poplib (apop)", banner=banner.decode(),
                       credentials=[cred("APOP", addr, None, True, password_for_cracking=pw,
                                         timestamp=ts.decode(), digest=digest)])
    retr_poplib(p, "cyd", 1, sess)
    p.quit()
    sess["commands"] = ["APOP", "RETR 1", "QUIT"]
    return [sess]


def cap_pop3_top(out):
    addr, pw = BEN
    p = poplib.POP3(V4, 110, timeout=30)
    sess = new_session("pop3", 110, "ipv4", "python3 poplib", banner=p.getwelcome().decode())
    p.user(addr)
    p.pass_(pw)
    sess["credentials"].append(cred("USER", addr, pw, True))
    l2 = p.list(2).decode()
    u2 = p.uidl(2).decode()
    resp, lines, _ = p.top(2, 5)
    top = pop_message(lines)
    l1 = p.list(1).decode()
    resp, lines, _ = p.top(1, 0)
    top0 = pop_message(lines)
    p.quit()
    sess["list_single"] = {"2": l2, "1": l1}
    sess["uidl_single"] = {"2": u2}
    sess["messages"] = [pop_msg_entry(2, top, cmd="TOP", lines=5), pop_msg_entry(1, top0, cmd="TOP", lines=0)]
    sess["commands"] = ["USER", "PASS", "LIST 2", "UIDL 2", "TOP 2 5", "LIST 1", "TOP 1 0", "QUIT"]
    sess["note"] = "no RETR: messages[] holds the TOP responses (headers + blank line + n body lines)"
    return [sess]


def cap_pop3_large(out):
    sess = cap_pop3_simple_poplib(out, "cyd")
    sess[0]["messages"][0]["attachments"] = M.large()[3]
    return sess


# ---------------------------------------------------------------- file inspection -------
LINKTYPES = {1: "EN10MB", 113: "LINUX_SLL", 276: "LINUX_SLL2", 0: "NULL", 101: "RAW", 228: "IPV4"}


def open_any(path):
    return gzip.open(path, "rb") if str(path).endswith(".gz") else open(path, "rb")


def inspect(path):
    with open_any(path) as f:
        data = f.read()
    info = {}
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        lt = struct.unpack("<I", data[20:24])[0]
        info.update(format="pcap", byte_order="little-endian",
                    timestamp_precision="nanosecond" if magic == b"\x4d\x3c\xb2\xa1" else "microsecond",
                    magic="0x" + magic[::-1].hex(), link_type=LINKTYPES.get(lt, str(lt)), link_type_number=lt,
                    snaplen=struct.unpack("<I", data[16:20])[0])
    elif magic == b"\x0a\x0d\x0d\x0a":
        off, ifaces = 0, []
        while off < len(data):
            btype, blen = struct.unpack("<II", data[off:off + 8])
            if btype == 1:
                lt = struct.unpack("<H", data[off + 8:off + 10])[0]
                name, tsres, o = None, 6, off + 16
                while o < off + blen - 4:
                    code, ln = struct.unpack("<HH", data[o:o + 4])
                    if code == 0:
                        break
                    val = data[o + 4:o + 4 + ln]
                    if code == 2:
                        name = val.decode()
                    if code == 9:
                        tsres = val[0]
                    o += 4 + ((ln + 3) & ~3)
                ifaces.append({"id": len(ifaces), "name": name, "link_type": LINKTYPES.get(lt, str(lt)),
                               "link_type_number": lt, "if_tsresol": tsres})
            off += blen
        info.update(format="pcapng", interfaces=ifaces,
                    link_type="/".join(sorted({i["link_type"] for i in ifaces})))
    info["uncompressed_size"] = len(data)
    info["uncompressed_sha256"] = sha(data)
    return info


def packet_count(path):
    out = run(["capinfos", "-M", "-c", str(path)]).stdout
    return int(re.search(r"Number of packets:\s*(\d+)", out).group(1))


def syn_list(path):
    out = run(["tshark", "-r", str(path), "-Y", "tcp.flags.syn==1 && tcp.flags.ack==0", "-T", "fields",
               "-e", "frame.time_epoch", "-e", "frame.interface_id", "-e", "ip.src", "-e", "ipv6.src",
               "-e", "tcp.srcport", "-e", "ip.dst", "-e", "ipv6.dst", "-e", "tcp.dstport",
               "-e", "frame.number"]).stdout
    rows = []
    for line in out.splitlines():
        t, ifid, s4, s6, sp, d4, d6, dp, fn = line.split("\t")
        rows.append((float(t), int(ifid or 0), s4 or s6, int(sp), d4 or d6, int(dp), int(fn)))
    rows.sort()
    return rows


# ---------------------------------------------------------------- the capture list ------
SLL2 = ["-y", "LINUX_SLL2"]
CAPTURES = [
    # name, recorder argv builder, session fn, mailbox prep, description
    ("smtp-auth-login.pcap", lambda p: tcpdump(p), cap_smtp_auth_login, None,
     "SMTP submission (587): EHLO, AUTH LOGIN (no initial response), one message, QUIT"),
    ("smtp-auth-plain.pcap", lambda p: tcpdump(p), cap_smtp_auth_plain, None,
     "SMTP 25: session 1 AUTH PLAIN with initial response (smtplib); session 2 AUTH PLAIN, empty 334, "
     "credentials on the next line (raw socket); one message each"),
    ("smtp-cram-md5.pcap", lambda p: tcpdump(p), cap_smtp_cram, None,
     "SMTP 25: AUTH CRAM-MD5 (success), one message"),
    ("smtp-auth-fail-then-ok.pcap", lambda p: tcpdump(p), cap_smtp_fail_ok, None,
     "SMTP 587, one session: AUTH LOGIN wrong password (535), AUTH PLAIN right one (235), one message"),
    ("smtp-pipelining.pcap", lambda p: tcpdump(p), cap_smtp_pipelining, None,
     "SMTP 25 PIPELINING: MAIL, RCPT ana (250), RCPT unknown (550), DATA in one segment; message "
     "accepted for ana"),
    ("smtp-two-messages.pcap", lambda p: tcpdump(p), cap_smtp_two, None,
     "SMTP 587: AUTH PLAIN, message 1, MAIL+RCPT aborted by RSET, message 2 (two recipients)"),
    ("smtp-gbk-attachment.pcap", lambda p: tcpdump(p), cap_smtp_gbk, None,
     "SMTP 25: AUTH LOGIN; multipart message, GBK RFC 2047 subject, Big5 From name, ISO-8859-1 To "
     "name, GBK base64 text part, 3 base64 attachments (ASCII name, RFC 2231 UTF-8 name, RFC 2047 "
     "GBK name)"),
    ("smtp-dot-stuffing.pcap", lambda p: tcpdump(p), cap_smtp_dots, None,
     "SMTP 25: AUTH PLAIN; body with lines starting with '.', incl. a lone '.' line (sent as '..')"),
    ("smtp-starttls.pcap", lambda p: tcpdump(p), cap_smtp_starttls, None,
     "SMTP 587: EHLO, STARTTLS, TLS handshake, then encrypted EHLO/AUTH LOGIN/message"),
    ("smtp-port-2525.pcap", lambda p: tcpdump(p), cap_smtp_2525, None,
     "SMTP on non-standard port 2525: AUTH LOGIN, one message"),
    ("smtp-bdat.pcap", lambda p: tcpdump(p), cap_smtp_bdat, None,
     "SMTP 25 CHUNKING: AUTH PLAIN; message 1 as BDAT n + BDAT n LAST (split mid-line, a '.'-line "
     "not stuffed); message 2 as BDAT n + BDAT 0 LAST"),
    ("smtp-ipv6.pcap", lambda p: tcpdump(p), cap_smtp_ipv6, None,
     "SMTP 587 over IPv6 ::1: AUTH PLAIN (empty 334 then credentials), one message"),
    ("smtp-sll.pcap", lambda p: tcpdump(p, "any", ["-y", "LINUX_SLL"]), cap_smtp_sll, None,
     "SMTP 587, Linux cooked v1 (tcpdump -i any -y LINUX_SLL): AUTH LOGIN, one message"),
    ("pop3-sll2.pcap", lambda p: tcpdump(p, "any", SLL2), lambda o: cap_pop3_simple_poplib(o, "ana"),
     ("ana", [POP_M1]), "POP3, Linux cooked v2 (tcpdump -i any -y LINUX_SLL2): USER/PASS, STAT, RETR 1"),
    ("smtp-auth-login.pcapng",
     lambda p: ["dumpcap", "-q", "-i", "lo", "-f", "tcp port 587", "-i", "any", "-f", "tcp port 25",
                "-w", str(p)],
     cap_smtp_pcapng, None,
     "pcapng with 2 interfaces: lo (EN10MB, filter port 587) holds session 1, any (LINUX_SLL, filter "
     "port 25) holds session 2; AUTH LOGIN + one message each"),
    ("pop3-nanosecond.pcap", lambda p: tcpdump(p, "lo", ["--time-stamp-precision=nano"]),
     lambda o: cap_pop3_simple_poplib(o, "ben"), ("ben", [POP_M1]),
     "POP3 with nanosecond pcap magic (0xa1b23c4d): USER/PASS, STAT, RETR 1"),
    ("pop3-user-pass.pcap", lambda p: tcpdump(p), cap_pop3_user_pass, ("ana", [POP_M1, POP_M2]),
     "POP3: CAPA, USER/PASS, STAT, LIST, UIDL, RETR 1, RETR 2 (dot-stuffed lines), DELE 1, QUIT"),
    ("pop3-fail-pass.pcap", lambda p: tcpdump(p), cap_pop3_fail, ("ben", [POP_M1]),
     "POP3: session 1 wrong PASS (-ERR), USER/PASS again OK, RETR 1; session 2 wrong PASS only"),
    ("pop3-auth-plain.pcap", lambda p: tcpdump(p),
     lambda o: cap_pop3_sasl(o, [("PLAIN", "cyd", True), ("PLAIN", "cyd", False)]), ("cyd", [POP_M1]),
     "POP3: session 1 AUTH PLAIN with initial response, session 2 AUTH PLAIN after '+ '; RETR 1 each"),
    ("pop3-auth-login.pcap", lambda p: tcpdump(p), lambda o: cap_pop3_sasl(o, [("LOGIN", "cyd", False)]),
     ("cyd", [POP_M1]), "POP3: AUTH LOGIN (Username:/Password: challenges), RETR 1"),
    ("pop3-cram-md5.pcap", lambda p: tcpdump(p), lambda o: cap_pop3_sasl(o, [("CRAM-MD5", "cyd", False)]),
     ("cyd", [POP_M1]), "POP3: AUTH CRAM-MD5, RETR 1"),
    ("pop3-apop.pcap", lambda p: tcpdump(p), cap_pop3_apop, ("cyd", [POP_M2]),
     "POP3: APOP with the banner timestamp, RETR 1"),
    ("pop3-top.pcap", lambda p: tcpdump(p), cap_pop3_top, ("ben", [POP_M1, POP_M3]),
     "POP3: USER/PASS, LIST 2, UIDL 2, TOP 2 5, LIST 1, TOP 1 0 (single-line vs multi-line replies)"),
    ("pop3-large.pcap.gz", lambda p: tcpdump(p), cap_pop3_large, ("cyd", ["LARGE"]),
     "POP3: USER/PASS, RETR 1 of a ~3.6 MB message; gzip -9 -n compressed"),
]
GZ_COPIES = {"smtp-auth-plain.pcap.gz": "smtp-auth-plain.pcap"}


def capture_cmd_str(argv):
    return " ".join(a if re.fullmatch(r"[\w./=:@-]+", a) else repr(a) for a in argv)


def record(entry, samples):
    name, mk, fn, prep, desc = entry
    gz = name.endswith(".gz")
    out = samples / name
    raw = WORK / name[:-3] if gz else out
    sent = {}
    if prep:
        user, msgs = prep
        msgs = [M.large()[0] if m == "LARGE" else m for m in msgs]
        reset_mailbox(user)
        deliver(user, msgs)
        sent = {sha(m): m for m in msgs}
    argv = mk(raw)
    print(f"== {name}: {capture_cmd_str(argv)}", flush=True)
    with Capture(raw, argv):
        sessions = fn(raw)
    if gz:
        out.write_bytes(subprocess.run(["gzip", "-9", "-n", "-c", str(raw)], check=True,
                                       capture_output=True).stdout)
    st = samples.stat()          # tcpdump drops privileges and leaves its files owned by 'tcpdump'
    for f in {raw, out}:
        os.chown(f, st.st_uid, st.st_gid)
        os.chmod(f, 0o644)
    syns = syn_list(raw)
    if len(syns) != len(sessions):
        raise RuntimeError(f"{name}: {len(syns)} SYNs for {len(sessions)} sessions: {syns}")
    info = inspect(out)
    if info["format"] == "pcapng":
        ids = run(["tshark", "-r", str(raw), "-T", "fields", "-e", "frame.interface_id"]).stdout.split()
        for i in info["interfaces"]:
            i["packets"] = ids.count(str(i["id"]))
    for s in sessions:          # POP3: retrieved = headers added on delivery + the message sent
        for m in s["messages"] if s["protocol"] == "pop3" else []:
            if m["command"] != "RETR":
                continue
            src = [b for b in sent.values() if M.header_mid(b) == m["message_id"]]
            assert len(src) == 1, m
            assert RETRIEVED[m["sha256"]].endswith(src[0]), m
            m["delivered_message"] = {"size": len(src[0]), "sha256": sha(src[0]),
                                      "note": "bytes sent via SMTP before the capture; the "
                                              "retrieved message ends with them"}
    for s, (t, ifid, src, sport, dst, dport, fn_) in zip(sessions, syns):
        assert dport == s["server_port"], (name, dport, s["server_port"])
        s.update(client_ip=src, client_port=sport, server_ip=dst, first_frame=fn_)
        if info["format"] == "pcapng":
            s["interface_id"] = ifid
    entry_truth = {"description": desc, **info, "compressed": "gzip" if gz else None,
                   "file_size": out.stat().st_size, "packets": packet_count(raw),
                   "capture_command": capture_cmd_str(argv).replace(str(raw), name[:-3] if gz else name),
                   "capture_filter": FILTER if argv[0] == "tcpdump" else
                   "per interface: lo 'tcp port 587', any 'tcp port 25'",
                   "sessions": sessions}
    if gz:
        entry_truth["capture_command"] += " ; gzip -9 -n"
    return entry_truth


README_HEAD = """# Sample captures

Real SMTP/POP3 traffic recorded on loopback against Postfix 3.7 (SMTP 25, 587, 2525; SASL via
Dovecot) and Dovecot 2.3 (POP3 110) from the team's mail lab script (`mail-lab.sh`, not shipped), with real clients
(Python 3.11 smtplib/poplib, raw-socket Python clients for what a library cannot do, swaks
20201014, curl 7.88), captured with tcpdump 4.99.3 / libpcap 1.10.3 and dumpcap 4.0.17.
Re-create everything with `scripts/record-samples.sh` (as root; it rewrites this file and
`truth.json`). All accounts and passwords are fake lab accounts.

## Ground truth: `truth.json`

An object keyed by file name. Per file: `format` (pcap/pcapng), `link_type` (pcap name; for
pcapng `interfaces[]` with name, link type and packet count), `timestamp_precision`/`magic`,
`packets`, `file_size`, `compressed` (`gzip` or null; `uncompressed_size`/`uncompressed_sha256`
describe the inner capture), `capture_command`, and `sessions[]` in capture order (= order of
the SYNs = tshark `tcp.stream` order) with `protocol`, `client_ip`/`client_port`,
`server_ip`/`server_port`, `ip_family`, `client_tool`, `starttls`, `credentials[]` and
`messages[]`.

- `credentials[]`: `mechanism` (SASL name upper-case: PLAIN, LOGIN, CRAM-MD5; or USER for
  POP3 USER/PASS, APOP), `username`, `password` (null for CRAM-MD5 and APOP; the password is
  then in `password_for_cracking`, with `challenge`/`timestamp` and `digest` so the hash can
  be recomputed), `success`, and for SMTP `initial_response` (was the first SASL response on
  the AUTH line).
- SMTP `messages[]`: one per transaction that carried data: `mail_from`, `rcpt_to` (accepted),
  `rcpt_rejected`, `data_command` (DATA/BDAT), `accepted`, `size` and `sha256` of the message
  bytes = what the client sent after DATA, dot-stuffing removed, without the final `.` line,
  CRLF as on the wire (BDAT: the concatenated chunk payloads), `subject` (decoded, UTF-8),
  `message_id` (without `<>`), `attachments[]` (`filename` decoded, `size` and `sha256` of
  the decoded content). Transactions aborted by RSET are in `aborted_transactions[]`.
- POP3 `messages[]`: one per RETR (or TOP in `pop3-top.pcap`): `number`, `command`, `size`,
  `sha256` of what the server sent after the `+OK` line, dot-unstuffed, without the final `.`
  line. A retrieved message = the headers Postfix/Dovecot added on delivery (Return-Path,
  Delivered-To, Received) + the message that was sent; `delivered_message` gives size/sha256
  of the latter.
- `smtp-starttls.pcap`: only EHLO/STARTTLS are readable; what went inside TLS is listed under
  `inside_tls` for reference and must NOT be expected in the analysis output.

The truth is computed from what the clients sent/received, and independently re-checked
against the captures by `scripts/record/verify_samples.py` (tshark reassembly + an SMTP/POP3
walk). SMTP message bytes are fixed (fixed Date/Message-ID/bodies) and identical on every
re-recording; POP3 messages contain Received headers with time and queue id, UIDLs contain the
UIDVALIDITY, APOP/CRAM-MD5 challenges are random, and client ports change, so a re-recording
changes those values (and truth.json with them).

## Files

| file | contents | how it was made | link type | format | packets | bytes |
|---|---|---|---|---|---|---|
"""

README_TAIL = """
Capture filter everywhere (tcpdump): `tcp port 25 or tcp port 587 or tcp port 2525 or tcp port 110`.

## Notes and surprises

- `tcpdump -i any` in tcpdump 4.99.3 / libpcap 1.10 defaults to **LINUX_SLL2** (276), while
  dumpcap/tshark `-i any` default to **LINUX_SLL** (v1, 113); the SLL file was therefore made
  with an explicit `-y LINUX_SLL`. On `any`, loopback packets appear once (not twice): libpcap
  drops the outgoing copy on lo.
- Loopback MTU is 65536, so segments are large (the 3.6 MB RETR takes only ~150 packets) and
  there is no loss, reordering or retransmission in these files.
- dumpcap writes pcapng with nanosecond `if_tsresol` (9) on both interfaces; the pcapng file
  uses a different capture filter per interface, so each session is in the file exactly once
  (session 1 on interface 0 `lo`/EN10MB, session 2 on interface 1 `any`/LINUX_SLL).
- Python smtplib sends lower-case verbs (`ehlo`, `mail FROM:<..> size=N`, `rcpt`, `data`,
  `quit`; but `AUTH` upper-case); swaks, curl and the raw clients send upper-case verbs.
- swaks always appends `\\r\\n.\\r\\n` to the data file, so it is fed the message without its
  last CRLF (otherwise the message gains an empty line).
- Dovecot delays a failed authentication by 1 s (`auth_failure_delay`); Postfix answers a
  failed AUTH with `535 5.7.8 Error: authentication failed: (reason unavailable)` and accepts a
  second AUTH in the same session.
- In `smtp-bdat.pcap` the first `BDAT n` command and its payload share one segment, the
  `BDAT n LAST` command and its payload are sent as two segments, and the first chunk ends in
  the middle of a line; a body line starting with `.` is not stuffed under BDAT.
- Not made: nothing from the list was left out. Not covered by these files (real-network
  effects): loss, retransmission, reordering, VLAN, IPv4 fragments, mid-session starts.
"""


def write_readme(samples, truth):
    rows = []
    for name, t in truth.items():
        link = t["link_type"] if t["format"] == "pcap" else ", ".join(
            f"if{i['id']} {i['name']}: {i['link_type']}" for i in t["interfaces"])
        fmt = t["format"] + (" (ns)" if t.get("timestamp_precision") == "nanosecond" else "") + \
            (" + gzip" if t["compressed"] else "")
        tools = sorted({s["client_tool"] for s in t["sessions"]})
        how = f"{', '.join(tools)}; `{t['capture_command']}`"
        how = how.replace(f" '{FILTER}'", "")
        rows.append(f"| `{name}` | {t['description']} | {how} | {link} | {fmt} | {t['packets']} | "
                    f"{t['file_size']} |")
    (samples / "README.md").write_text(README_HEAD + "\n".join(rows) + "\n" + README_TAIL)


def main():
    samples = Path(sys.argv[1]).resolve()
    only = set(sys.argv[2:])
    samples.mkdir(parents=True, exist_ok=True)
    truth_path = samples / "truth.json"
    truth = json.loads(truth_path.read_text()) if only and truth_path.exists() else {}
    for u in ACCOUNTS:
        reset_mailbox(u)
    for entry in CAPTURES:
        if only and entry[0] not in only:
            continue
        truth[entry[0]] = record(entry, samples)
        time.sleep(0.3)
    for gz, src in GZ_COPIES.items():
        if only and src not in only:
            continue
        data = (samples / src).read_bytes()
        (samples / gz).write_bytes(subprocess.run(["gzip", "-9", "-n", "-c", str(samples / src)],
                                                  check=True, capture_output=True).stdout)
        t = json.loads(json.dumps(truth[src]))
        t.update(compressed="gzip", file_size=(samples / gz).stat().st_size,
                 description=f"gzip -9 -n copy of {src}: " + t["description"],
                 capture_command=t["capture_command"] + " ; gzip -9 -n")
        assert t["uncompressed_sha256"] == sha(data)
        truth[gz] = t
    order = [c[0] for c in CAPTURES] + list(GZ_COPIES)
    truth = {k: truth[k] for k in order if k in truth}
    truth_path.write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n")
    write_readme(samples, truth)
    shutil.rmtree(WORK, ignore_errors=True)
    print("wrote", truth_path)


if __name__ == "__main__":
    main()
