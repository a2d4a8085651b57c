#!/usr/bin/env bash
# Streaming and scale: peak RSS and time of every view on all-mail captures of short
# sessions at several sizes (issue "Streaming"): analyze (jsonl, json, table), creds,
# extract, transcript. Prints a Markdown table. Captures are generated into BENCH_DIR
# (default /tmp) and reused; they are never committed.
#
#   benches/streaming.sh [SIZE_MB ...]      default: 200 2000
#   benches/streaming.sh --live [N]         live pipe latency over N sessions (default 100)
#
# Environment: BENCH_DIR, CONCURRENT (connections open at once, default 2000),
# THREADS (default 1), VIEWS (default "jsonl json table creds extract transcript"), PROTOCOLS (mail protocols of the capture, default smtp,pop3; e.g.
# imap or smtp,pop3,imap), CARGO_TARGET_DIR, EXTRACT_DIR (where `extract` writes; default a
# folder in /dev/shm when that tmpfs has room for about twice the capture, else in the
# temporary folder: on this VM's ext4, without a journal, creating hundreds of thousands of
# files right after deleting an earlier run's is dominated by the kernel's scan for
# recently deleted inodes, `recently_deleted` in ext4_create, which measures the file
# system, not pcapmail; the script prints where it wrote).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${BENCH_DIR:-/tmp}
tdir=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet --bin pcapmail --example gen-capture
pcapmail=$tdir/release/pcapmail
gen=$tdir/release/examples/gen-capture
concurrent=${CONCURRENT:-2000}
threads=${THREADS:-1}
protocols=${PROTOCOLS:-smtp,pop3}
# The default keeps the historical capture names (and reuses captures made before IMAP).
suffix=$([ "$protocols" = smtp,pop3 ] || echo "-${protocols//,/-}")
[ -x /usr/bin/time ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >/dev/null

if [ "${1:-}" = "--live" ]; then
  n=${2:-100}
  exec python3 benches/live_latency.py "$pcapmail" "$gen" "$n"
fi

sizes=${*:-200 2000}
tmp=$(mktemp -d)
xdir=""
trap 'rm -rf "$tmp" ${xdir:+"$xdir"}' EXIT
echo "| size | sessions | view | seconds | MB/s | peak RSS MiB |"
echo "|---|---|---|---|---|---|"
for mb in $sizes; do
  cap=$dir/pcapmail-stream-$mb-$concurrent$suffix.pcap
  if [ ! -s "$cap" ]; then
    "$gen" --size-mb "$mb" --mail-percent 100 --protocols "$protocols" --concurrent "$concurrent" \
      --max-attachment 4000 --seed 5 -o "$cap.part" >/dev/null
    mv "$cap.part" "$cap"
  fi
  bytes=$(stat -c %s "$cap")
  sessions=""
  for view in ${VIEWS:-jsonl json table creds extract transcript}; do
    case $view in
      jsonl) args=(analyze --format jsonl) ;;
      json) args=(analyze --format json) ;;
      table) args=(analyze) ;;
      creds) args=(creds) ;;
      extract)
        xroot=${EXTRACT_DIR:-}
        if [ -z "$xroot" ]; then
          shm=$(df -k --output=avail /dev/shm 2>/dev/null | tail -1 || echo 0)
          if [ "${shm:-0}" -gt $((bytes / 1024 * 2)) ]; then xroot=/dev/shm; else xroot=$tmp; fi
        fi
        xdir=$xroot/pcapmail-bench-extract-$$
        rm -rf "$xdir"
        echo "extract writes to $xdir" >&2
        args=(extract -o "$xdir") ;;
      transcript) args=(transcript) ;;
    esac
    t0=$(date +%s.%N)
    /usr/bin/time -f '%M' -o "$tmp/rss" "$pcapmail" "${args[@]}" --threads "$threads" -q "$cap" >"$tmp/out"
    t1=$(date +%s.%N)
    if [ "$view" = jsonl ]; then
      sessions=$(grep -c '"type":"session"' "$tmp/out" || true)
    fi
    rm -f "$tmp/out"
    [ "$view" != extract ] || rm -rf "$xdir"
    awk -v mb="$mb" -v s="$sessions" -v v="$view" -v t0="$t0" -v t1="$t1" -v b="$bytes" \
      -v rss="$(tail -1 "$tmp/rss")" \
      'BEGIN { t = t1 - t0; printf "| %s MB | %s | %s | %.2f | %.0f | %.0f |\n", mb, s, v, t, b / 1e6 / t, rss / 1024 }'
  done
done
