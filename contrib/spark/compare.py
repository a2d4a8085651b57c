#!/usr/bin/env python3
"""Compares the Spark job's Parquet tables with a local pcapmail run over the same files.

    compare.py --pcapmail BIN --spark-out OUT [--threads 2] [--local-jsonl FILE] FILE...

Runs `pcapmail analyze --format jsonl --threads N` locally over FILE... (all in one run, the
paths on standard input with --files-from when the binary has it; a rotated group that the
job reads with --merge is run the same way, with --merge, by the same grouping rule), reads
OUT/parquet/{captures,sessions,credentials,messages} with pyarrow and compares the two as
multisets, record by record, on every field pcapmail wrote, except what may differ between
two correct runs:
  - ids (`id`, a credential's or message's `session`, a transaction's `message`): they are
    unique per run, and a Spark task is a run of its own, so `s1` of one task is not `s1` of
    another. Each reference is replaced by what it points at: a session by its key
    (capture, protocol, client, server, start; community_id too when present) and a message
    by its SHA-256 and its session's key. So a credential must belong to the same session,
    and a transaction must carry the same message bytes, in both outputs.
  - POP3 `uidl` pairs [number, "uid"] are compared as strings (Spark keeps a mixed tuple
    as array<string>, see gen_spark_schema.py);
  - fields the job adds (`group`, `*_ts`, `error`, `exit_status`);
  - capture `counters` are not part of the equality: they are compared on their own and
    differences printed as notes (with --merge some flow counters depend on --threads, and
    the local run uses 2 threads where each Spark task uses 1; flow.peak_* always do).
Exits 1 when they differ (printing the first differences), 0 when equal; prints one line of
counts and the local run's wall time as JSON on the last line.
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pcapmail_spark import group_files  # noqa: E402

JOB_FIELDS = {"group", "error", "exit_status", "type"}
TABLES = {"capture": "captures", "session": "sessions", "credential": "credentials", "message": "messages"}


def strip_none(v):
    if isinstance(v, dict):
        return {k: strip_none(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [strip_none(x) for x in v]
    return v


def norm_path(p):
    if p is None:
        return p
    if p.startswith("file://"):
        return p[7:]
    if p.startswith("file:"):
        return p[5:]
    return p


def session_key(s):
    return [norm_path(s.get("capture")), s.get("protocol"), s["client"]["ip"], s["client"]["port"],
            s["server"]["ip"], s["server"]["port"], s.get("start"), s.get("community_id")]


def canonical(records_by_scope):
    """records_by_scope: {scope: [record]} -> {type: Counter(canonical json)}."""
    out = {t: collections.Counter() for t in TABLES}
    for recs in records_by_scope.values():
        sessions, messages = {}, {}
        for r in recs:
            if r["type"] == "session":
                sessions[r["id"]] = session_key(r)
        for r in recs:
            if r["type"] == "message":
                messages[r["id"]] = [r.get("sha256"), sessions.get(r.get("session"))]
        for r in recs:
            t = r["type"]
            if t not in out:
                continue
            r = {k: v for k, v in r.items() if k not in JOB_FIELDS and not k.endswith("_ts")}
            if t == "capture":
                r["path"] = norm_path(r.get("path"))
                # compared on their own (counter_diffs): not part of "the same records"
                r.pop("counters", None)
            elif t == "session":
                r.pop("id", None)
                r["capture"] = norm_path(r.get("capture"))
                # POP3 uidl [[number, "uid"]]: a mixed tuple is array<string> in Spark
                if "uidl" in r:
                    r["uidl"] = [[str(x) for x in e] for e in r["uidl"]]
                trs = [dict(tr) for tr in r.get("transactions") or []]
                for tr in trs:
                    if tr.get("message") is not None:
                        tr["message"] = messages.get(tr["message"], ["missing", tr["message"]])
                if "transactions" in r:
                    r["transactions"] = trs
            elif t == "credential":
                r["session"] = sessions.get(r.get("session"), ["missing", r.get("session")])
            elif t == "message":
                r.pop("id", None)
                r["session"] = sessions.get(r.get("session"), ["missing", r.get("session")])
            out[t][json.dumps(r, sort_keys=True, ensure_ascii=False)] += 1
    return out


def counter_diffs(local, spark):
    """Capture counters that differ, by capture path (flow.peak_* left out: they measure the run)."""
    def by_path(scopes):
        out = {}
        for recs in scopes.values():
            for r in recs:
                if r["type"] == "capture":
                    out[norm_path(r.get("path"))] = {k: v for k, v in (r.get("counters") or {}).items()
                                                     if not k.startswith("flow.peak_")}
        return out
    lp, sp = by_path(local), by_path(spark)
    notes = []
    for p in sorted(set(lp) & set(sp)):
        for k in sorted(set(lp[p]) | set(sp[p])):
            if lp[p].get(k) != sp[p].get(k):
                notes.append(f"{p} {k}: local {lp[p].get(k)}, spark {sp[p].get(k)}")
    return notes


def read_parquet(out_dir):
    import pyarrow.parquet as pq

    by_group = collections.defaultdict(list)
    for t, table in TABLES.items():
        path = os.path.join(out_dir, "parquet", table)
        for row in pq.read_table(path).to_pylist():
            if t == "capture" and isinstance(row.get("counters"), list):
                row["counters"] = dict(row["counters"])
            row = strip_none(row)
            row["type"] = t
            by_group[row.get("group")].append(row)
    return by_group


def features(binary):
    h = subprocess.run([binary, "analyze", "--help"], capture_output=True, text=True).stdout
    return {"files_from": "--files-from" in h, "merge": "--merge" in h}


def run_local(binary, files, threads, feats, extra=()):
    cmd = [binary, "analyze", "--format", "jsonl", "-q", "--threads", str(threads), *extra]
    stdin = None
    if feats["files_from"]:
        cmd += ["--files-from", "-"]
        stdin = "".join(f + "\n" for f in files)
    else:
        cmd += ["--", *files]
    t0 = time.time()
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    secs = time.time() - t0
    if p.returncode not in (0, 1):
        sys.exit(f"local run failed ({p.returncode}): {p.stderr[-2000:]}")
    # a field written as null and a field left out are the same to a Parquet table
    # split on "\n" only: str.splitlines() also splits on U+2028, U+0085 ..., which JSON
    # strings may hold unescaped (a decoded subject)
    return [strip_none(json.loads(l)) for l in p.stdout.split("\n") if l.strip()], secs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pcapmail", required=True)
    ap.add_argument("--spark-out", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--group-regex")
    ap.add_argument("--no-group", action="store_true")
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    feats = features(a.pcapmail)
    files = [os.path.abspath(f) for f in a.files]
    groups = group_files([(f, os.path.getsize(f)) for f in files],
                         re.compile(a.group_regex) if a.group_regex else None, a.no_group)
    merged = [g for g in groups if len(g[1]) > 1] if feats["merge"] else []
    merged_files = {f for g in merged for f in g[1]}
    singles = [f for f in sorted(files) if f not in merged_files]
    local, local_secs = {}, 0.0
    if singles:
        local["all"], secs = run_local(a.pcapmail, singles, a.threads, feats)
        local_secs += secs
    for key, members, _ in merged:
        local[key], secs = run_local(a.pcapmail, members, a.threads, feats, ["--merge"])
        local_secs += secs
    # A file pcapmail could not read: a capture record with `error` (newer pcapmail) or no
    # capture record at all (older); the job writes one with `error` in both cases.
    local_caps = {norm_path(r.get("path")) for recs in local.values() for r in recs
                  if r["type"] == "capture" and "error" not in r}
    local = {g: [r for r in recs if not (r["type"] == "capture" and "error" in r)] for g, recs in local.items()}
    spark = read_parquet(a.spark_out)
    failed = [r for recs in spark.values() for r in recs if r["type"] == "capture" and "error" in r]
    failed_paths = {norm_path(r.get("path")) for r in failed}
    unread = set(files) - local_caps
    ok_failures = failed_paths == unread
    if not ok_failures:
        print(f"files with an error record in Spark's output: {sorted(failed_paths)}; "
              f"files the local run has no capture record for: {sorted(unread)}")
    spark = {g: [r for r in recs if not (r["type"] == "capture" and "error" in r)] for g, recs in spark.items()}
    lc, sc = canonical(local), canonical(spark)
    equal = ok_failures
    for t in TABLES:
        if lc[t] != sc[t]:
            equal = False
            only_l, only_s = lc[t] - sc[t], sc[t] - lc[t]
            print(f"{t}: {sum(only_l.values())} only in the local run, {sum(only_s.values())} only in Spark's output")
            for r in list(only_l)[:2]:
                print(f"  local only: {r[:600]}")
            for r in list(only_s)[:2]:
                print(f"  spark only: {r[:600]}")
    counter_notes = counter_diffs(local, spark)
    for n in counter_notes[:10]:
        print(f"note: counter differs (not a failure): {n}")
    msgs = [json.loads(m) for m in lc["message"].elements()]
    summary = {
        "equal": equal,
        "files": len(files),
        "groups": len(groups),
        "captures": sum(sc["capture"].values()),
        "failed_files": len(failed),
        "sessions": sum(sc["session"].values()),
        "credentials": sum(sc["credential"].values()),
        "messages": sum(sc["message"].values()),
        "distinct_sha256": len({m.get("sha256") for m in msgs}),
        "local_seconds": round(local_secs, 2),
        "local_threads": a.threads,
        "counter_diffs": len(counter_notes),
        "files_from": feats["files_from"],
        "merge": feats["merge"],
    }
    print(json.dumps(summary))
    sys.exit(0 if equal else 1)


if __name__ == "__main__":
    main()
