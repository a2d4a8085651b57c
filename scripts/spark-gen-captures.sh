#!/usr/bin/env bash
# Generates a set of captures for scripts/spark-e2e.sh with examples/gen-capture.rs:
#
#   scripts/spark-gen-captures.sh DIR [COUNT] [TOTAL_MB]
#
# COUNT (default 100) captures of about TOTAL_MB/COUNT MB each (default 3000 MB in all,
# 0.4 to 1.6 times that mean), mail share from 5 % to 100 %, each with its
# own seed; three rotated sets named like `tcpdump -C` (ringA.pcap, ringA.pcap1, ...) and like
# `dumpcap -b` (ringB_00001_20261201120000.pcap, ...), and two gzip-compressed files, so the
# job's grouping and gzip paths are exercised. Keep DIR out of the repository (e.g. /tmp).
set -euo pipefail
dir=${1:?usage: $0 DIR [COUNT] [TOTAL_MB]}
count=${2:-100}
total=${3:-3000}
repo=$(cd "$(dirname "$0")/.." && pwd)
(cd "$repo" && cargo build --release --quiet --example gen-capture)
gen=${CARGO_TARGET_DIR:-$repo/target}/release/examples/gen-capture
mkdir -p "$dir"
mean=$(( total / count ))
[ "$mean" -ge 1 ] || mean=1
mails=(5 10 10 20 50 100)
for i in $(seq 1 "$count"); do
  case $i in
    1) name=ringA.pcap ;;
    2|3|4) name=ringA.pcap$((i - 1)) ;;
    5|6|7) name=$(printf 'ringB_%05d_2026120112%02d00.pcap' $((i - 4)) $((i * 5))) ;;
    *) name=$(printf 'cap%03d.pcap' "$i") ;;
  esac
  size=$(( mean * (2 + (i * 3) % 7) / 5 ))
  [ "$size" -ge 1 ] || size=1
  out="$dir/$name"
  [ -s "$out" ] || [ -s "$out.gz" ] || "$gen" --size-mb "$size" --mail-percent "${mails[$((i % 6))]}" \
    --concurrent 200 --loss 0.0005 --reorder 0.005 --duplicate 0.002 --seed "$i" -o "$out" 2>/dev/null
  if [ "$i" -eq 9 ] || [ "$i" -eq 10 ]; then
    [ -s "$out.gz" ] || gzip -1 "$out"
  fi
done
du -sh "$dir" >&2
ls "$dir" | wc -l >&2
