#!/usr/bin/env bash
# Throughput and memory of `pcapmail analyze --format json` on generated captures, next to
# tshark (SMTP/POP3 dissection, `-q -z credentials`) and tcpflow on the same file in the
# same run. Prints one Markdown table per capture: seconds, MB/s, packets/s, CPU seconds,
# peak RSS, and the ratio of pcapmail's speed to each peer.
#
#   benches/run.sh [SIZE_MB]          captures of SIZE_MB (default 1024): "mixed"
#                                     (~10 % mail), "mail" (all SMTP/POP3, sessions of
#                                     ~100 KB), "short" (all SMTP/POP3, sessions of ~5 KB:
#                                     AUTH and one message each, POP3 RETR and TOP; the
#                                     fixed cost per session) and "imap" (all IMAP)
#   benches/run.sh --smoke            CI smoke test: 4 MB captures, debug build, no peers,
#                                     no timing assertions; checks that 1 and 2 threads
#                                     give the same sessions
#
# Environment: BENCH_DIR (captures, default /tmp; reused while their parameters stay the
# same), SCENARIOS (default "mixed mail short imap"), THREADS (default "1 2"), CONCURRENT (default
# 2000 connections open at once), NO_PEERS=1 (skip tshark/tcpflow; they are installed from
# apt when missing), CARGO_TARGET_DIR. MB are 10^6 bytes of capture file.
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=""
if [ "${1:-}" = "--smoke" ]; then
  smoke=1
  shift
fi
size=${1:-1024}
profile=release
if [ -n "$smoke" ]; then
  size=4
  profile=dev
  NO_PEERS=1
  CONCURRENT=${CONCURRENT:-100}
fi
dir=${BENCH_DIR:-/tmp}
scenarios=${SCENARIOS:-mixed mail short imap}
threads=${THREADS:-1 2}
concurrent=${CONCURRENT:-2000}
tdir=${CARGO_TARGET_DIR:-target}
outdir=$tdir/$([ "$profile" = dev ] && echo debug || echo release)
cargo build --profile "$profile" --quiet --bin pcapmail --example gen-capture
pcapmail=$outdir/pcapmail
gen=$outdir/examples/gen-capture

if [ -z "${NO_PEERS:-}" ]; then
  missing=""
  command -v tshark >/dev/null || missing="$missing tshark"
  command -v tcpflow >/dev/null || missing="$missing tcpflow"
  [ -x /usr/bin/time ] || missing="$missing time"
  if [ -n "$missing" ]; then
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null
  fi
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# measure NAME CMD... : runs CMD with stdout to $tmp/out, appends "name secs cpu rss_kb" to
# $tmp/results. Timed with /usr/bin/time when present (peak RSS), else bash's clock.
measure() {
  local name=$1; shift
  local t0 t1
  t0=$(date +%s.%N)
  if [ -x /usr/bin/time ]; then
    if ! /usr/bin/time -f '%U %S %M' -o "$tmp/time" "$@" >"$tmp/out" 2>"$tmp/err"; then
      echo "$name failed: $(tail -3 "$tmp/err")" >&2
      return 1
    fi
  else
    "$@" >"$tmp/out" 2>"$tmp/err" || { echo "$name failed: $(tail -3 "$tmp/err")" >&2; return 1; }
    echo "0 0 0" >"$tmp/time"
  fi
  t1=$(date +%s.%N)
  read -r u s rss < <(tail -1 "$tmp/time")
  echo "$name|$t0|$t1|$u|$s|$rss" >>"$tmp/results"
}

for sc in $scenarios; do
  protocols=smtp,pop3
  profile_args=()
  case $sc in
    mixed) mail=10 ;;
    mail) mail=100 ;;
    short) mail=100; profile_args=(--profile short) ;;
    imap) mail=100; protocols=imap ;;
    *) echo "unknown scenario $sc (mixed, mail, short, imap)" >&2; exit 2 ;;
  esac
  gen_args=(${profile_args[@]+"${profile_args[@]}"} --size-mb "$size" --mail-percent "$mail" --protocols "$protocols" --concurrent "$concurrent" \
    --loss 0.0005 --reorder 0.005 --duplicate 0.002 --fragment 0.0005 --seed 1)
  # v3: "mixed" follows the bytes written (before, a third of it was mail); the others are
  # the same files as v2.
  version=v2
  [ "$sc" = mixed ] && version=v3
  cap="$dir/pcapmail-bench-${sc}-${size}mb-c${concurrent}-${version}.pcap"
  if [ ! -s "$cap" ]; then
    "$gen" "${gen_args[@]}" -o "$cap.part" 2>"$tmp/gen" && mv "$cap.part" "$cap"
    cat "$tmp/gen" >&2
  fi
  bytes=$(stat -c %s "$cap")
  : >"$tmp/results"
  cat "$cap" >/dev/null # warm the page cache
  for t in $threads; do
    measure "pcapmail --threads $t" "$pcapmail" analyze --format json --threads "$t" "$cap"
    cp "$tmp/out" "$tmp/pcapmail-$t.json"
  done
  # Packets and sessions from pcapmail's own report; threads must not change the result.
  python3 - "$tmp" $threads >"$tmp/info" <<'PY'
import json, sys
tmp, threads = sys.argv[1], sys.argv[2:]
docs = []
for t in threads:
    d = json.load(open(f"{tmp}/pcapmail-{t}.json"))
    for c in d["captures"]:
        # Per-worker peaks depend on the split by design; the ignored-connection counters
        # depend on when a worker's note reaches the reader (records never do).
        for k in list(c.get("counters", {})):
            if k.startswith("flow.worker_peak_") or k in (
                "flow.tombstone_packets", "flow.ignored",
                "flow.ended_at_capture_end", "flow.undecided_at_end"):
                c["counters"].pop(k, None)
    docs.append(d)
for t, d in zip(threads[1:], docs[1:]):
    if d != docs[0]:
        sys.exit(f"pcapmail with {t} threads differs from {threads[0]} thread(s)")
d = docs[0]
print(d["captures"][0]["packets"], len(d["sessions"]), len(d["credentials"]), len(d["messages"]))
PY
  read -r pkts nsess ncred nmsg <"$tmp/info"
  if [ -n "$smoke" ]; then
    [ "$nsess" -gt 0 ] || { echo "smoke: no sessions found in $cap" >&2; exit 1; }
    echo "smoke $sc: $pkts packets, $nsess sessions, $ncred credentials, $nmsg messages; threads $threads agree"
    rm -f "$cap"
    continue
  fi
  # The floor: reading the file from the page cache.
  measure "cat (page cache)" sh -c 'cat "$1" >/dev/null' cat "$cap"
  if [ -z "${NO_PEERS:-}" ]; then
    measure "tshark -q -z credentials" tshark -n -r "$cap" -q -z credentials || true
    flows=$(mktemp -d "$dir/pcapmail-bench-tcpflow.XXXXXX")
    measure "tcpflow (mail ports)" tcpflow -r "$cap" -o "$flows" \
      "tcp port 25 or tcp port 587 or tcp port 110 or tcp port 143" || true
    rm -rf "$flows"
  fi
  python3 - "$tmp/results" "$cap" "$bytes" "$pkts" "$sc" "$nsess" "$ncred" "$nmsg" "$tmp/rates" <<'PY'
import sys
path, cap, size, pkts, sc, ns, nc, nm, rates = sys.argv[1:]
size, pkts, nm = int(size), int(pkts), int(nm)
rows = []
for line in open(path):
    name, t0, t1, u, s, rss = line.rstrip("\n").split("|")
    secs = float(t1) - float(t0)
    rows.append((name, secs, float(u) + float(s), int(rss)))
print(f"\n{sc}: {cap} ({size/1e6:.0f} MB, {pkts} packets; pcapmail found {ns} sessions, "
      f"{nc} credentials, {nm} messages)\n")
peers = [r for r in rows if not r[0].startswith("pcapmail")]
head = "| tool | seconds | MB/s | packets/s | messages/s | CPU s | peak RSS MiB |"
sep = "|---|---|---|---|---|---|---|"
for p in peers:
    head += f" × {p[0].split()[0]} |"
    sep += "---|"
print(head)
print(sep)
for name, secs, cpu, rss in rows:
    line = (f"| {name} | {secs:.2f} | {size/secs/1e6:.0f} | {pkts/secs/1e3:.0f}k "
            f"| {nm/secs:.0f} | {cpu:.2f} | {rss/1024:.0f} |")
    for p in peers:
        r = p[1] / secs
        line += (f" {r:.1f} |" if r >= 1 else f" {r:.2f} |") if name.startswith("pcapmail") else " |"
    print(line)
    if name.startswith("pcapmail"):
        with open(rates, "a") as f:
            f.write(f"{sc}|{name}|{secs}|{cpu}|{size}|{nm}\n")
one = [r for r in rows if r[0] == "pcapmail --threads 1"]
if one and int(ns) > 0:
    cpu = one[0][2]
    print(f"\npcapmail, one thread: {cpu / int(ns) * 1e6:.0f} µs of CPU per session, "
          f"{cpu / max(nm, 1) * 1e6:.0f} µs per message, {cpu / pkts * 1e9:.0f} ns per packet "
          f"(everything included: reading, reassembly, dissection, hashing, JSON)")
PY
done

# The issue's IMAP target: IMAP within 20 % of the SMTP/POP3 rate ("imap" against "mail").
if [ -s "$tmp/rates" ]; then
  python3 - "$tmp/rates" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    sc, name, secs, cpu, size, nm = line.rstrip("\n").split("|")
    rows[(sc, name)] = (float(secs), float(cpu), int(size), int(nm))
names = sorted({n for (sc, n) in rows if (("mail", n) in rows and ("imap", n) in rows)})
if names:
    print("\nIMAP (\"imap\") against SMTP/POP3 (\"mail\"), same size:\n")
    print("| pcapmail | mail MB/s | imap MB/s | imap/mail (wall) | imap/mail (per CPU s) "
          "| mail messages/s | imap messages/s |")
    print("|---|---|---|---|---|---|---|")
    for n in names:
        m, i = rows[("mail", n)], rows[("imap", n)]
        print(f"| {n.removeprefix('pcapmail ')} | {m[2]/m[0]/1e6:.0f} | {i[2]/i[0]/1e6:.0f} "
              f"| {(i[2]/i[0])/(m[2]/m[0]):.2f} | {(i[2]/i[1])/(m[2]/m[1]):.2f} "
              f"| {m[3]/m[0]:.0f} | {i[3]/i[0]:.0f} |")
PY
fi
