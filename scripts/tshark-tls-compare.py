#!/usr/bin/env python3
"""Compares pcapmail with tshark on the TLS samples, both given the sample's key log:
credentials (tshark -z credentials) and messages (tshark --export-objects imf: count and
SHA-256 of each object). Prints a Markdown table. Run from the repository root after
`cargo build --release`.

  python3 scripts/tshark-tls-compare.py
"""
import hashlib
import json
import os
import re
import subprocess
import tempfile

S = "samples"
truth = json.load(open(os.path.join(S, "tls-truth.json")))
print("| sample | pcapmail credentials | tshark credentials | pcapmail messages (sha256 = truth) | tshark IMF objects |")
print("|---|---|---|---|---|")
for name, t in sorted(truth.items()):
    path = os.path.join(S, name)
    keys = t.get("keys")
    args = ["target/release/pcapmail", "analyze", "--format", "json", path]
    if keys:
        args[2:2] = ["--keylog", os.path.join(S, keys)]
    doc = json.loads(subprocess.run(args, capture_output=True, text=True).stdout)
    pc = ", ".join(f"{c['mechanism']} {c['username']}:{c['password']} {'ok' if c['success'] else 'fail'}"
                   for c in doc["credentials"])
    want = {m["sha256"] for m in t["sessions"][0]["messages"]}
    got = [m["sha256"] for m in doc["messages"]]
    pm = f"{len(got)} ({'yes' if set(got) == want else 'NO'})"
    kopt = ["-o", f"tls.keylog_file:{os.path.join(S, keys)}"] if keys else []
    # Ports 465/993/995 are decoded as the mail protocol inside TLS.
    dec = ["-d", "tls.port==465,smtp", "-d", "tls.port==995,pop", "-d", "tls.port==993,imap"]
    out = subprocess.run(["tshark", "-r", path, *kopt, *dec, "-q", "-z", "credentials"],
                         capture_output=True, text=True).stdout
    rows = [l.split() for l in out.splitlines() if re.match(r"^\s*\d+\s", l)]
    tc = ", ".join(f"{r[1]} {r[2]} (frame {r[0]})" for r in rows if len(r) > 2) or "none"
    with tempfile.TemporaryDirectory() as d:
        subprocess.run(["tshark", "-2", "-r", path, *kopt, *dec, "-q", "--export-objects", f"imf,{d}"],
                       capture_output=True)
        objs = [hashlib.sha256(open(os.path.join(d, f), "rb").read()).hexdigest() for f in os.listdir(d)]
    tm = f"{len(objs)}" + (f" ({'= truth' if set(objs) == want else 'differ'})" if objs else "")
    print(f"| {name} | {pc or 'none'} | {tc} | {pm} | {tm} |")
