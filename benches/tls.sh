#!/usr/bin/env bash
# Throughput of decrypting TLS mail: one real SMTPS session (Postfix, TLS 1.3
# TLS_AES_256_GCM_SHA384, a message of MSG_KB KiB, key log from the client) repeated to
# about SIZE_MB, then `pcapmail analyze --format jsonl` with and without the key log, next to
# tshark reading the same file with the key log (`-o tls.keylog_file`, SMTP IMF export
# counted). Prints a Markdown table: seconds, MB/s of capture, peak RSS.
#
#   benches/tls.sh [SIZE_MB]      (as root: records with the shared mail lab the first time)
#
# Environment: BENCH_DIR (default /tmp), MSG_KB (default 1024), NO_PEERS=1 (skip tshark).
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-200}
dir=${BENCH_DIR:-/tmp}
msg_kb=${MSG_KB:-1024}
one=$dir/pcapmail-tls-one-$msg_kb.pcap
keys=$dir/pcapmail-tls-one-$msg_kb.keys
big=$dir/pcapmail-tls-$size-$msg_kb.pcap
if [ ! -s "$one" ] || [ ! -s "$keys" ]; then
  lab=../shared/tools/mail-lab.sh
  [ -f "$lab" ] || lab=/work/shared/tools/mail-lab.sh
  # The daemons must not hold our standard output open.
  (cd "$(dirname "$lab")" && bash ./mail-lab.sh setup && bash ./mail-lab.sh start) >/dev/null 2>&1 </dev/null
  python3 benches/tls_capture.py record "$one" "$keys" "$msg_kb"
fi
if [ ! -s "$big" ]; then
  per=$(stat -c %s "$one")
  copies=$(( size * 1000000 / per + 1 ))
  python3 benches/tls_capture.py replicate "$one" "$big" "$copies"
fi
cargo build --release --quiet --bin pcapmail
mb=$(python3 -c "import os;print(os.path.getsize('$big')/1e6)")
row() {
  local name=$1; shift
  local t
  /usr/bin/time -o /tmp/pcapmail-tls-time -f '%e %M' "$@" >/tmp/pcapmail-tls-out 2>/dev/null
  t=$(tail -1 /tmp/pcapmail-tls-time)
  local secs=${t% *} rss=${t#* }
  printf '| %s | %.2f | %.0f | %.0f MiB |\n' "$name" "$secs" "$(python3 -c "print($mb/$secs)")" "$((rss / 1024))"
}
echo "capture: $big ($mb MB, $(python3 -c "print(round($mb))") MB of SMTPS with ${msg_kb} KiB messages)"
echo
echo '| run | seconds | MB/s | peak RSS |'
echo '|---|---|---|---|'
row "pcapmail, key log (decrypts)" target/release/pcapmail analyze --format jsonl --threads 1 --keylog "$keys" "$big"
row "pcapmail, key log, 2 threads" target/release/pcapmail analyze --format jsonl --threads 2 --keylog "$keys" "$big"
row "pcapmail, no key log (tls_info only)" target/release/pcapmail analyze --format jsonl --threads 1 "$big"
msgs=$(target/release/pcapmail analyze --format jsonl --keylog "$keys" "$big" | grep -c '"type":"message"')
echo
echo "messages decrypted by pcapmail: $msgs"
if [ -z "${NO_PEERS:-}" ] && command -v tshark >/dev/null; then
  out=$(mktemp -d)
  row "tshark, key log, IMF export" tshark -r "$big" -o "tls.keylog_file:$keys" -q --export-objects "imf,$out"
  echo "messages exported by tshark: $(ls "$out" | wc -l)"
  rm -rf "$out"
fi
