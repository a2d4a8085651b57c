#!/usr/bin/env bash
# Writes the adversarial captures into a directory (default: ./adversarial-captures) at
# full size, for measurements by hand; the tests in tests/adversarial_*.rs build the same
# captures at CI sizes. Sizes can be overridden: FLOOD=1000000 DATA=2147483648 ...
#   scripts/adversarial/gen.sh [DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-adversarial-captures}
mkdir -p "$out"
cargo build --quiet --release --manifest-path "$root/Cargo.toml" --example adversarial
bin="${CARGO_TARGET_DIR:-$root/target}/release/examples/adversarial"
"$bin" syn-flood "$out/syn-flood.pcap" "${FLOOD:-1000000}"
"$bin" endless-line "$out/endless-line.pcap" "${LINE:-268435456}"
"$bin" endless-data "$out/endless-data.pcap" "${DATA:-2147483648}"
"$bin" b64-garbage "$out/b64-garbage.pcap"
"$bin" nested-mime "$out/nested-mime.pcap" "${DEPTH:-10000}"
"$bin" nested-rfc822 "$out/nested-rfc822.pcap" "${DEPTH:-10000}"
"$bin" pcapng-lying-block "$out/pcapng-lying-block.pcapng"
"$bin" over-snaplen "$out/over-snaplen.pcap"
"$bin" gzip-bomb "$out/gzip-bomb.pcap.gz" "${BOMB:-1073741824}"
"$bin" overlap-conflict "$out/overlap-conflict.pcap"
"$bin" time-backwards "$out/time-backwards.pcap"
"$bin" terminal-escapes "$out/terminal-escapes.pcap"
ls -l "$out"
