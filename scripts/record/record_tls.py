#!/usr/bin/env python3
"""Record the TLS samples (samples/tls-*.pcap with their key logs samples/tls-*.keys) against
the shared mail lab, with real clients writing key logs, and the client-side truth
samples/tls-truth.json.

Usage: record_tls.py SAMPLES_DIR [NAME ...]   (as root; the lab must be running)

Each capture holds one TCP connection on its own port filter; a capture that holds more
(another user of the lab on the same port) is recorded again.
"""
import base64
import hashlib
import imaplib
import json
import os
import poplib
import signal
import smtplib
import ssl
import subprocess
import sys
import time

HOST = "127.0.0.1"
ANA = ("ana@sample.test", "Ana-pw-1!")
BEN = ("ben@sample.test", "ben-Secret-22")
CYD = ("cyd@sample.test", "cyd#pop-3")

# OpenSSL's SSL_OP_NO_ENCRYPT_THEN_MAC (not exported by Python's ssl module).
OP_NO_ENCRYPT_THEN_MAC = 1 << 19


def message(subject):
    """A fixed message (CRLF line ends), so its hash is stable across recordings."""
    return (
        "From: Ana <ana@sample.test>\r\n"
        "To: Ben <ben@sample.test>\r\n"
        f"Subject: {subject}\r\n"
        "Date: Fri, 04 Dec 2026 12:00:00 +0000\r\n"
        f"Message-ID: <{hashlib.sha1(subject.encode()).hexdigest()[:16]}@sample.test>\r\n"
        "\r\n"
        f"Body of {subject}.\r\n"
        "Second line.\r\n"
    ).encode()


def ctx(keys, max_version=None, ciphers=None, no_etm=False):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    c.keylog_filename = keys
    if max_version:
        c.maximum_version = max_version
    if ciphers:
        c.set_ciphers(ciphers)
    if no_etm:
        c.options |= OP_NO_ENCRYPT_THEN_MAC
    return c


def smtp_session(keys, port, implicit, mech, user, subject, **tls):
    c = ctx(keys, **tls)
    if implicit:
        s = smtplib.SMTP_SSL(HOST, port, context=c, timeout=20)
    else:
        s = smtplib.SMTP(HOST, port, timeout=20)
        s.ehlo("client.sample.test")
        s.starttls(context=c)
    s.ehlo("client.sample.test")
    s.user, s.password = user
    code, _ = s.auth(mech, getattr(s, "auth_" + mech.lower().replace("-", "_")))
    msg = message(subject)
    s.sendmail(user[0], ["ben@sample.test"], msg)
    version, cipher = s.sock.version(), s.sock.cipher()[0]
    s.quit()
    return {
        "protocol": "smtp",
        "server_port": port,
        "tls": "implicit" if implicit else "starttls",
        "tls_version": version,
        "openssl_cipher": cipher,
        "credentials": [{"mechanism": mech, "username": user[0], "password": user[1],
                         "success": code == 235}],
        "messages": [{"direction": "sent", "size": len(msg),
                      "sha256": hashlib.sha256(msg).hexdigest(), "subject": subject}],
    }


def pop3_session(keys, port, implicit, user, **tls):
    c = ctx(keys, **tls)
    if implicit:
        p = poplib.POP3_SSL(HOST, port, context=c, timeout=20)
    else:
        p = poplib.POP3(HOST, port, timeout=20)
        p.stls(context=c)
    p.user(user[0])
    ok = p.pass_(user[1]).startswith(b"+OK")
    n, _ = p.stat()
    msgs = []
    if n:
        _, lines, _ = p.retr(1)
        data = b"\r\n".join(lines) + b"\r\n"
        msgs.append({"direction": "retrieved", "pop3_number": 1, "size": len(data),
                     "sha256": hashlib.sha256(data).hexdigest()})
    version, cipher = p.sock.version(), p.sock.cipher()[0]
    p.quit()
    return {
        "protocol": "pop3",
        "server_port": port,
        "tls": "implicit" if implicit else "starttls",
        "tls_version": version,
        "openssl_cipher": cipher,
        "credentials": [{"mechanism": "USER", "username": user[0], "password": user[1],
                         "success": ok}],
        "messages": msgs,
    }


def imap_session(keys, port, implicit, user, **tls):
    c = ctx(keys, **tls)
    if implicit:
        m = imaplib.IMAP4_SSL(HOST, port, ssl_context=c, timeout=20)
    else:
        m = imaplib.IMAP4(HOST, port, timeout=20)
        m.starttls(ssl_context=c)
    typ, _ = m.login(*user)
    m.select("INBOX")
    version, cipher = m.sock.version(), m.sock.cipher()[0]
    m.logout()
    return {
        "protocol": "imap",
        "server_port": port,
        "tls": "implicit" if implicit else "starttls",
        "tls_version": version,
        "openssl_cipher": cipher,
        "credentials": [{"mechanism": "IMAP-LOGIN", "username": user[0], "password": user[1],
                         "success": typ == "OK"}],
        "messages": [],
    }


def s_client_smtps(keys, port, suites, user, subject):
    """openssl s_client on SMTPS with a TLS 1.3 suite, and a KeyUpdate ('k') mid-session."""
    msg = message(subject)
    auth = base64.b64encode(b"\0" + user[0].encode() + b"\0" + user[1].encode()).decode()
    script = [
        "EHLO client.sample.test", f"AUTH PLAIN {auth}", "k",
        f"MAIL FROM:<{user[0]}>", "rcpt TO:<ben@sample.test>", "DATA",
        msg.decode().rstrip("\r\n").replace("\r\n", "\n"), ".", "quit",
    ]
    # Command letters (k = KeyUpdate) work only without -quiet/-ign_eof; a line starting
    # with Q or R would quit or renegotiate, hence "rcpt" and "quit" in lower case.
    p = subprocess.Popen(
        ["openssl", "s_client", "-connect", f"{HOST}:{port}", "-tls1_3", "-ciphersuites", suites,
         "-keylogfile", keys, "-crlf"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    for line in script:
        p.stdin.write((line + "\n").encode())
        p.stdin.flush()
        time.sleep(0.4)
    p.stdin.close()
    out = p.stdout.read().decode(errors="replace")
    p.wait(timeout=20)
    return {
        "protocol": "smtp",
        "server_port": port,
        "tls": "implicit",
        "tls_version": "TLSv1.3",
        "openssl_cipher": suites,
        "key_update": True,
        "credentials": [{"mechanism": "PLAIN", "username": user[0], "password": user[1],
                         "success": "235 " in out}],
        "messages": [{"direction": "sent", "size": len(msg),
                      "sha256": hashlib.sha256(msg).hexdigest(), "subject": subject,
                      "accepted": "250 2.0.0" in out}],
    }


def curl_smtp(keys, port, user, subject):
    msg = message(subject)
    env = dict(os.environ, SSLKEYLOGFILE=keys)
    r = subprocess.run(
        ["curl", "-sS", f"smtp://{HOST}:{port}", "--ssl-reqd", "-k", "--mail-from", user[0],
         "--mail-rcpt", "ben@sample.test", "-u", f"{user[0]}:{user[1]}",
         "--login-options", "AUTH=PLAIN", "-T", "-"],
        input=msg, env=env, capture_output=True, timeout=30)
    return {
        "protocol": "smtp",
        "server_port": port,
        "tls": "starttls",
        "client_tool": "curl",
        # Without --login-options curl would pick CRAM-MD5 (no password on the wire).
        "credentials": [{"mechanism": "PLAIN", "username": user[0], "password": user[1],
                         "success": r.returncode == 0}],
        "messages": [{"direction": "sent", "size": len(msg),
                      "sha256": hashlib.sha256(msg).hexdigest(), "subject": subject,
                      "note": "curl may add nothing: the bytes are sent as given"}],
    }


SAMPLES = {
    "tls-smtp-starttls-tls13.pcap": (
        "SMTP 587 STARTTLS, TLS 1.3 TLS_AES_256_GCM_SHA384, AUTH PLAIN, one message",
        "python3 smtplib", 587,
        lambda k: smtp_session(k, 587, False, "PLAIN", ANA, "tls13 starttls")),
    "tls-smtp-starttls-tls12-gcm.pcap": (
        "SMTP 587 STARTTLS, TLS 1.2 ECDHE-RSA-AES128-GCM-SHA256, AUTH LOGIN, one message",
        "python3 smtplib", 587,
        lambda k: smtp_session(k, 587, False, "LOGIN", ANA, "tls12 gcm",
                               max_version=ssl.TLSVersion.TLSv1_2,
                               ciphers="ECDHE-RSA-AES128-GCM-SHA256")),
    "tls-smtps-465-tls12-chacha.pcap": (
        "SMTPS 465, TLS 1.2 ECDHE-RSA-CHACHA20-POLY1305, AUTH PLAIN, one message",
        "python3 smtplib", 465,
        lambda k: smtp_session(k, 465, True, "PLAIN", BEN, "tls12 chacha",
                               max_version=ssl.TLSVersion.TLSv1_2,
                               ciphers="ECDHE-RSA-CHACHA20-POLY1305")),
    "tls-smtps-465-tls13-chacha-keyupdate.pcap": (
        "SMTPS 465, TLS 1.3 TLS_CHACHA20_POLY1305_SHA256, AUTH PLAIN, KeyUpdate, one message",
        "openssl s_client", 465,
        lambda k: s_client_smtps(k, 465, "TLS_CHACHA20_POLY1305_SHA256", BEN, "tls13 chacha")),
    "tls-pop3-stls-tls12-cbc-etm.pcap": (
        "POP3 110 STLS, TLS 1.2 ECDHE-RSA-AES256-SHA (CBC, encrypt-then-MAC), USER/PASS, RETR 1",
        "python3 poplib", 110,
        lambda k: pop3_session(k, 110, False, BEN, max_version=ssl.TLSVersion.TLSv1_2,
                               ciphers="ECDHE-RSA-AES256-SHA")),
    "tls-pop3s-995-tls12-cbc-mte.pcap": (
        "POP3S 995, TLS 1.2 ECDHE-RSA-AES128-SHA256 (CBC, MAC-then-encrypt), USER/PASS, RETR 1",
        "python3 poplib", 995,
        lambda k: pop3_session(k, 995, True, BEN, max_version=ssl.TLSVersion.TLSv1_2,
                               ciphers="ECDHE-RSA-AES128-SHA256", no_etm=True)),
    "tls-pop3s-995-tls13.pcap": (
        "POP3S 995, TLS 1.3 TLS_AES_256_GCM_SHA384, USER/PASS, RETR 1",
        "python3 poplib", 995,
        lambda k: pop3_session(k, 995, True, BEN)),
    "tls-imap-starttls-tls13.pcap": (
        "IMAP 143 STARTTLS, TLS 1.3, LOGIN, SELECT",
        "python3 imaplib", 143,
        lambda k: imap_session(k, 143, False, CYD)),
    "tls-imaps-993-tls12-gcm384.pcap": (
        "IMAPS 993, TLS 1.2 ECDHE-RSA-AES256-GCM-SHA384, LOGIN, SELECT",
        "python3 imaplib", 993,
        lambda k: imap_session(k, 993, True, CYD, max_version=ssl.TLSVersion.TLSv1_2,
                               ciphers="ECDHE-RSA-AES256-GCM-SHA384")),
    "tls-smtp-starttls-curl.pcap": (
        "SMTP 587 STARTTLS with curl (SSLKEYLOGFILE), AUTH PLAIN, one message",
        "curl", 587,
        lambda k: curl_smtp(k, 587, ANA, "curl starttls")),
}


def streams(pcap):
    out = subprocess.run(["tshark", "-r", pcap, "-T", "fields", "-e", "tcp.stream"],
                         capture_output=True, text=True).stdout.split()
    return len(set(out))


def record(dir_, name):
    desc, tool, port, run = SAMPLES[name]
    pcap = os.path.join(dir_, name)
    keys = pcap.rsplit(".", 1)[0] + ".keys"
    for attempt in range(3):
        for f in (pcap, keys):
            if os.path.exists(f):
                os.remove(f)
        cmd = ["tcpdump", "-i", "lo", "-U", "-s", "0", "-w", pcap, f"tcp port {port}"]
        td = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        session = run(keys)
        time.sleep(1.0)
        td.send_signal(signal.SIGINT)
        td.wait(timeout=10)
        if streams(pcap) == 1:
            break
        print(f"{name}: other connections on port {port}, recording again", file=sys.stderr)
    session.setdefault("client_tool", tool)
    session["ip_family"] = "ipv4"
    return {
        "description": desc,
        "keys": os.path.basename(keys),
        "capture_command": " ".join(cmd[:-1] + [f"'{cmd[-1]}'"]),
        "sessions": [session],
    }


def main():
    dir_ = sys.argv[1]
    names = sys.argv[2:] or list(SAMPLES)
    truth_path = os.path.join(dir_, "tls-truth.json")
    truth = json.load(open(truth_path)) if os.path.exists(truth_path) else {}
    for n in names:
        truth[n] = record(dir_, n)
        print(n, json.dumps(truth[n]["sessions"][0].get("tls_version")))
    # The pcapng with the key log embedded (Decryption Secrets Block).
    src = os.path.join(dir_, "tls-smtp-starttls-tls13.pcap")
    dst = os.path.join(dir_, "tls-smtp-starttls-tls13-dsb.pcapng")
    subprocess.run(["editcap", "--inject-secrets",
                    "tls," + src.replace(".pcap", ".keys"), src, dst], check=True)
    truth["tls-smtp-starttls-tls13-dsb.pcapng"] = dict(
        truth["tls-smtp-starttls-tls13.pcap"],
        description="tls-smtp-starttls-tls13.pcap with its key log embedded as a pcapng "
                    "Decryption Secrets Block",
        keys=None,
        capture_command="editcap --inject-secrets tls,tls-smtp-starttls-tls13.keys "
                        "tls-smtp-starttls-tls13.pcap tls-smtp-starttls-tls13-dsb.pcapng")
    with open(truth_path, "w") as f:
        json.dump(dict(sorted(truth.items())), f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
