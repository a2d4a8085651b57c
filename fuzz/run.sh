#!/usr/bin/env bash
# Runs each fuzz target for a set time: `fuzz/run.sh SECONDS [TARGET...]` (all targets by
# default), one after the other, single process each (-jobs=1 is the default of a plain
# run). Seeds come from fuzz/corpus/<target> (build them with fuzz/seeds.sh); findings go
# to fuzz/artifacts/<target>/; logs to fuzz/logs/<target>.log. Prints, per target, the
# time run and the number of executions, and exits non-zero if any target found a crash.
set -uo pipefail
secs=${1:?usage: fuzz/run.sh SECONDS [TARGET...]}
shift
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(capture decode flow smtp pop3 imap imap_framing sasl mime tls_record tls_handshake)
mkdir -p logs
cargo +nightly fuzz build -O >logs/build.log 2>&1 || { tail -20 logs/build.log; exit 2; }
status=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    start=$(date +%s)
    cargo +nightly fuzz run -O "$t" "corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -max_len=262144 \
        -print_final_stats=1 >"logs/$t.log" 2>&1
    rc=$?
    end=$(date +%s)
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "logs/$t.log" | grep -o '[0-9]*$' | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "logs/$t.log" | tail -1)
    if [ $rc -ne 0 ]; then status=1; verdict="FINDING (see logs/$t.log, artifacts/$t/)"; else verdict=ok; fi
    echo "$t: $((end - start)) s, ${runs:-?} execs, ${cov:-cov ?}, $verdict"
done
exit $status
