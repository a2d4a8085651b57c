#!/usr/bin/env bash
# End-to-end test of contrib/spark/pcapmail_spark.py on a real Spark standalone cluster on
# this machine:
#
#   scripts/spark-e2e.sh CAPTURE_DIR OUT_DIR
#
# 1. installs what it needs: a headless JRE (openjdk-17-jre-headless from apt, when no
#    Java 17+ is there), pyspark and pyarrow (pinned) in a virtual environment
#    ($SPARK_VENV, default /tmp/pcapmail-spark-venv), the pcapmail binary
#    (cargo build --release, unless $PCAPMAIL names one);
# 2. starts a standalone master and two workers (1 core, $WORKER_MEMORY each) on
#    127.0.0.1 only, on free ports; logs and work dirs under OUT_DIR/cluster;
# 3. submits the job over every file under CAPTURE_DIR (the binary and the Spark schema
#    shipped with --files), writing OUT_DIR/spark;
# 4. stops the cluster (always, by trap, by the process ids it started);
# 5. runs `pcapmail analyze --format jsonl --threads 2` locally over the same files and
#    compares (contrib/spark/compare.py: same captures, sessions, credentials and messages
#    with their SHA-256, in any order; ids replaced by what they point at).
# Exits non-zero unless the records are equal; prints one line of counts at the end.
#
# Environment: PCAPMAIL (binary), SPARK_VENV, PYSPARK_VERSION (4.0.1), PYARROW_VERSION,
# WORKER_MEMORY (768m), EXECUTOR_MEMORY (512m), LOCAL_THREADS (2), JOB_ARGS (extra
# arguments for the job, e.g. "--group-regex ...").
set -euo pipefail
if [ $# -ne 2 ]; then
  echo "usage: $0 CAPTURE_DIR OUT_DIR" >&2
  exit 2
fi
repo=$(cd "$(dirname "$0")/.." && pwd)
capdir=$(realpath "$1")
out=$(realpath -m "$2")
[ -d "$capdir" ] || { echo "spark-e2e: $capdir is not a directory" >&2; exit 2; }
pyspark_version=${PYSPARK_VERSION:-4.0.1}
pyarrow_version=${PYARROW_VERSION:-21.0.0}
venv=${SPARK_VENV:-/tmp/pcapmail-spark-venv}
worker_mem=${WORKER_MEMORY:-768m}
executor_mem=${EXECUTOR_MEMORY:-512m}
local_threads=${LOCAL_THREADS:-2}

log() { echo "spark-e2e: $*" >&2; }

# --- 1. what it needs ------------------------------------------------------------------
java_ok() {
  command -v java >/dev/null &&
    java -version 2>&1 | head -1 | grep -Eq 'version "(1[7-9]|2[0-9])'
}
if ! java_ok; then
  log "installing openjdk-17-jre-headless"
  DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends openjdk-17-jre-headless >/dev/null
fi
java_ok || { log "no Java 17+ after installing"; exit 1; }
if [ ! -x /usr/bin/time ]; then
  # the job measures each pcapmail process's peak RSS with GNU time
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends time >/dev/null ||
    log "no /usr/bin/time: peak RSS per task will include the Python worker's"
fi
if ! "$venv/bin/python" -c "import pyspark, pyarrow, sys; sys.exit(pyspark.__version__ != '$pyspark_version' or pyarrow.__version__ != '$pyarrow_version')" 2>/dev/null; then
  log "installing pyspark==$pyspark_version pyarrow==$pyarrow_version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "pyspark==$pyspark_version" "pyarrow==$pyarrow_version"
fi
pcapmail=${PCAPMAIL:-}
if [ -z "$pcapmail" ]; then
  (cd "$repo" && cargo build --release --quiet --bin pcapmail)
  pcapmail=${CARGO_TARGET_DIR:-$repo/target}/release/pcapmail
fi
pcapmail=$(realpath "$pcapmail")

# every file, as the job lists the directory (names starting with . or _ skipped): files
# that are not captures must come out as capture records with an error
mapfile -t files < <(find "$capdir" -type f ! -name '.*' ! -name '_*' | sort)
[ ${#files[@]} -gt 0 ] || { log "no files under $capdir"; exit 2; }

export SPARK_HOME
SPARK_HOME=$("$venv/bin/python" -c 'import pyspark, os; print(os.path.dirname(pyspark.__file__))')
export PYSPARK_PYTHON="$venv/bin/python" PYSPARK_DRIVER_PYTHON="$venv/bin/python"
export SPARK_LOCAL_IP=127.0.0.1 SPARK_MASTER_HOST=127.0.0.1 SPARK_DAEMON_MEMORY=256m
export SPARK_NO_DAEMONIZE=1

rm -rf "$out/spark" "$out/cluster"
mkdir -p "$out/cluster"
free_port() { "$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mport=$(free_port); mui=$(free_port)

# --- 2. the cluster ------------------------------------------------------------------------
pids=()
stop_cluster() {
  local p
  for p in "${pids[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  pids=()
}
trap stop_cluster EXIT
trap 'exit 130' INT TERM

"$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.master.Master \
  --host 127.0.0.1 --port "$mport" --webui-port "$mui" >"$out/cluster/master.log" 2>&1 &
pids+=($!)
master=spark://127.0.0.1:$mport
for i in 1 2; do
  mkdir -p "$out/cluster/worker$i"
  "$SPARK_HOME/bin/spark-class" org.apache.spark.deploy.worker.Worker \
    --host 127.0.0.1 --port "$(free_port)" --webui-port "$(free_port)" --cores 1 --memory "$worker_mem" \
    --work-dir "$out/cluster/worker$i" "$master" >"$out/cluster/worker$i.log" 2>&1 &
  pids+=($!)
done
# wait until both workers have registered
for _ in $(seq 120); do
  n=$(grep -c 'Registering worker' "$out/cluster/master.log" 2>/dev/null || true)
  [ "${n:-0}" -ge 2 ] && break
  sleep 0.5
done
[ "${n:-0}" -ge 2 ] || { log "workers did not register"; tail -20 "$out/cluster/"*.log >&2; exit 1; }
# every socket the cluster listens on must be on loopback
if command -v ss >/dev/null; then
  bad=$(ss -Hltnp 2>/dev/null | grep -E "pid=($(IFS='|'; echo "${pids[*]}"))," | awk '{print $4}' | grep -Ev '^(127\.|\[::1\]|\[::ffff:127\.)' || true)
  [ -z "$bad" ] || { log "cluster listens beyond loopback: $bad"; exit 1; }
fi
log "cluster up: $master, 2 workers x 1 core x $worker_mem"

# --- 3. the job --------------------------------------------------------------------------
t0=$(date +%s.%N)
# shellcheck disable=SC2086
"$SPARK_HOME/bin/spark-submit" --master "$master" --deploy-mode client \
  --conf spark.driver.host=127.0.0.1 --conf spark.driver.bindAddress=127.0.0.1 \
  --conf spark.ui.enabled=false --conf spark.executor.cores=1 \
  --conf spark.sql.shuffle.partitions=4 \
  --driver-memory 512m --executor-memory "$executor_mem" --total-executor-cores 2 \
  --files "$pcapmail,$repo/contrib/spark/pcapmail-1.spark.json" \
  "$repo/contrib/spark/pcapmail_spark.py" --pcapmail "$(basename "$pcapmail")" \
  --out "file://$out/spark" ${JOB_ARGS:-} "$capdir" \
  >"$out/cluster/job.log" 2>&1 || { log "job failed"; tail -40 "$out/cluster/job.log" >&2; exit 1; }
t1=$(date +%s.%N)
grep '^pcapmail-spark:' "$out/cluster/job.log" >&2 || true
stop_cluster

# --- 5. compare ----------------------------------------------------------------------------
set +e
# shellcheck disable=SC2086
"$venv/bin/python" "$repo/contrib/spark/compare.py" --pcapmail "$pcapmail" --spark-out "$out/spark" \
  --threads "$local_threads" $(echo "${JOB_ARGS:-}" | grep -o -- '--no-group' || true) "${files[@]}" >"$out/compare.txt"
rc=$?
set -e
head -n -1 "$out/compare.txt" >&2
"$venv/bin/python" - "$out/compare.txt" "$t0" "$t1" "$out/spark" <<'PY'
import json, sys, glob
import pyarrow.parquet as pq
path, t0, t1, sp = sys.argv[1:]
lines = open(path).read().strip().split("\n")
try:
    s = json.loads(lines[-1])
except ValueError:
    sys.exit("spark-e2e: FAILED: the comparison did not finish (see above)")
tasks = pq.read_table(sp + "/parquet/tasks").to_pylist()
rss = max((t["max_rss_kb"] or 0) for t in tasks) / 1024
print(f"spark-e2e: {'EQUAL' if s['equal'] else 'DIFFERENT'}: {s['files']} files in {s['groups']} tasks, "
      f"{s['captures']} captures ({s['failed_files']} failed), {s['sessions']} sessions, "
      f"{s['credentials']} credentials, {s['messages']} messages ({s['distinct_sha256']} distinct SHA-256); "
      f"spark {float(t1) - float(t0):.1f} s (submit to finish) vs local --threads {s['local_threads']} "
      f"{s['local_seconds']:.1f} s; peak RSS per task {rss:.0f} MiB; "
      f"{s.get('counter_diffs', 0)} capture counters differ (notes above, not compared)")
PY
exit $rc
