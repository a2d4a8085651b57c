#!/usr/bin/env python3
"""pcapmail as the map step of Apache Spark.

    spark-submit --master spark://HOST:7077 \\
        --files /path/to/pcapmail,contrib/spark/pcapmail-1.spark.json \\
        contrib/spark/pcapmail_spark.py --out OUT 'hdfs:///captures/2026-12-*/*.pcap*'

Input: paths, directories (read recursively) and globs, in any file system Spark's Hadoop
layer reads (local `file:`, `hdfs:`, `s3a:`, ...). The driver lists them with the Hadoop
FileSystem API, groups rotated sets (see `group_files`), and makes an RDD with one group per
partition, biggest first; Spark schedules the partitions over the executors. Each task runs
`pcapmail analyze --format jsonl` on its group (`--merge` when the group has several files
and the binary knows `--merge`; the paths on standard input with `--files-from -` when it
knows that), reads the records line by line as they are written (nothing is held whole) and
yields them. No state is shared between tasks: a task's output depends only on its group.

Output (OUT):
  OUT/jsonl/type=<capture|session|credential|message|task>/part-*.txt[.gz]
      the records exactly as pcapmail wrote them plus "group" (and capture paths named as
      listed, see below); one line per record
  OUT/parquet/<captures|sessions|credentials|messages|tasks>/part-*.parquet
      one table per record type, with the explicit schema of pcapmail-1.spark.json (derived
      from schema/pcapmail-1.schema.json by gen_spark_schema.py) plus timestamp columns
      (sessions start_ts/end_ts, credentials and messages time_ts, captures first_ts/last_ts)
  OUT/parquet/tasks: one row per group: files, bytes, seconds, CPU, peak RSS of the pcapmail
      process (GNU /usr/bin/time when the worker has it, else wait4), exit status, record
      count, executor host.
Ids (`id`, `session`, a transaction's `message`) are unique within one group's run; with
`group` they are unique in the whole output. Join credentials and messages to sessions on
(group, session) = (group, id).

Rotated sets ("group rule"): files whose names differ only by a rotation suffix are one group
and one task. Built-in rules, applied to the file name without a `.gz` suffix (compressed
and uncompressed files are never in one group: `a.pcap` and `a.pcap.gz` are most often two
copies of one capture):
  - tcpdump -C / -W:   NAME.pcap, NAME.pcap1, NAME.pcap2 ... (also NAME.pcap00 ...)
  - dumpcap -b / editcap -c / -i:  PREFIX_00001_20260101120000.pcapng (5+ digit index,
    14-digit time stamp)
The group key is the directory plus the name without the suffix. `--group-regex R`
replaces the rules: files whose full path (as listed) R matches are grouped by R's group
`key` (or its first group, or the whole match); other files are alone. `--no-group`: every
file alone. A file that no rule matches is a group of one.

Failed files: a file that pcapmail could not read becomes a capture record with `error`
(pcapmail writes it since --files-from; with an older binary the job writes it from standard
error's last lines); a failed copy, a crashed or timed-out run likewise, with `exit_status`.
The job goes on and exits 0. Records written before a failure are kept.

Files that are not local (any scheme but `file:`) are copied to the executor's local
directory first, in 8 MiB chunks (bounded memory), with pyarrow.fs when it is installed on
the workers (S3, HDFS through libhdfs, GCS, local), else with `hadoop fs -copyToLocal` when
`hadoop` is on the PATH; the copy is removed when the group is done. Capture paths in the
records then name the file as listed (e.g. hdfs://nn/caps/a.pcap), not the copy. We do not use
`SparkContext.binaryFiles`: in PySpark it hands each file to Python as one bytes object, so a
multi-GB capture would be held whole in both the JVM and the Python worker.

The binary: `--pcapmail NAME_OR_PATH` (default `pcapmail`). A plain name shipped with
`spark-submit --files /path/to/pcapmail` is found with SparkFiles.get (and made executable);
otherwise an absolute path must exist on every worker (installed there, e.g. by a bootstrap
action), or the name is looked up on the worker's PATH.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

RECORD_TYPES = ("capture", "session", "credential", "message")
TABLES = {"capture": "captures", "session": "sessions", "credential": "credentials", "message": "messages", "task": "tasks"}
TS_COLUMNS = {"session": ("start", "end"), "credential": ("time",), "message": ("time",), "capture": ("first", "last")}
TASK_SCHEMA_DDL = (
    "group string, files array<string>, bytes long, command string, exit_status long, seconds double, "
    "user_seconds double, system_seconds double, max_rss_kb long, records long, merged boolean, "
    "failed_files long, unknown_fields array<string>, host string, pid long, error string, rss_from string"
)

# --------------------------------------------------------------------------------------
# Grouping (pure Python, tested without Spark)

ROTATION_RULES = [
    # dumpcap -b, editcap -c: PREFIX_NNNNN_YYYYMMDDhhmmss.EXT
    re.compile(r"^(?P<key>.+)_\d{5,}_\d{14}(?P<ext>\.[A-Za-z0-9]+)$"),
    # tcpdump -C/-W: NAME.pcap, NAME.pcap1, NAME.pcap00 ...
    re.compile(r"^(?P<key>.+\.(?:pcap|pcapng|cap|dmp))(?P<num>\d+)$"),
    re.compile(r"^(?P<key>.+\.(?:pcap|pcapng|cap|dmp))$"),
]


def natural_key(s):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


def group_key(path, group_regex=None, no_group=False):
    """The group a file belongs to (a string); files with the same key are one task."""
    if no_group:
        return path
    if group_regex is not None:
        m = group_regex.search(path)
        if not m:
            return path
        if "key" in group_regex.groupindex:
            return m.group("key")
        return m.group(1) if group_regex.groups else m.group(0)
    d, _, name = path.rpartition("/")
    gz = ".gz" if name.endswith(".gz") else ""
    base = name[: len(name) - len(gz)]
    for rule in ROTATION_RULES:
        m = rule.match(base)
        if m:
            key = m.group("key") + (m.groupdict().get("ext") or "") + gz
            return (d + "/" if d else "") + key
    return path


def group_files(files, group_regex=None, no_group=False):
    """files: [(path, size)] -> [(key, [paths in natural order], total size)], biggest first."""
    groups = {}
    for path, size in files:
        groups.setdefault(group_key(path, group_regex, no_group), []).append((path, size))
    out = []
    for key, members in groups.items():
        members.sort(key=lambda m: natural_key(m[0][:-3] if m[0].endswith(".gz") else m[0]))
        out.append((key, [p for p, _ in members], sum(s for _, s in members)))
    out.sort(key=lambda g: (-g[2], g[0]))
    return out


# --------------------------------------------------------------------------------------
# Executor side


def is_local(uri):
    """A plain path or a file: URI (read where it is); anything else is copied first."""
    if uri.startswith("file:"):
        return True
    return re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", uri) is None


def local_path(uri):
    if uri.startswith("file://"):
        return uri[len("file://"):]
    if uri.startswith("file:"):
        return uri[len("file:"):]
    return uri


def fetch(uri, dest_dir, method):
    """Copies a non-local file to dest_dir in bounded chunks; returns the local path."""
    name = uri.rstrip("/").rsplit("/", 1)[-1] or "capture"
    dest = os.path.join(dest_dir, name)
    n = 1
    while os.path.exists(dest):
        n += 1
        dest = os.path.join(dest_dir, f"{n}-{name}")
    if method in ("auto", "pyarrow"):
        try:
            from pyarrow import fs as pafs
        except ImportError:
            if method == "pyarrow":
                raise
        else:
            filesystem, p = pafs.FileSystem.from_uri(uri)
            with filesystem.open_input_stream(p) as src, open(dest, "wb") as dst:
                while True:
                    chunk = src.read(8 << 20)
                    if not chunk:
                        break
                    dst.write(chunk)
            return dest
    if shutil.which("hadoop"):
        subprocess.run(["hadoop", "fs", "-copyToLocal", uri, dest], check=True, capture_output=True)
        return dest
    raise RuntimeError(f"cannot copy {uri}: neither pyarrow nor the hadoop command is on this worker")


_FEATURES = {}


def pcapmail_features(binary):
    """Which of the newer options this binary has (asked once per Python worker)."""
    if binary not in _FEATURES:
        try:
            h = subprocess.run([binary, "analyze", "--help"], capture_output=True, text=True, timeout=60).stdout
        except OSError:
            h = ""
        _FEATURES[binary] = {"files_from": "--files-from" in h, "merge": "--merge" in h}
    return _FEATURES[binary]


def resolve_binary(name):
    if "/" not in name:
        try:
            from pyspark import SparkFiles

            p = SparkFiles.get(name)
            if os.path.isfile(p):
                mode = os.stat(p).st_mode
                if not mode & stat.S_IXUSR:
                    try:
                        os.chmod(p, mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
                    except OSError:
                        pass
                return p
        except Exception:
            pass
        found = shutil.which(name)
        if found:
            return found
    return name


def unknown_fields(value, spec, prefix, out, ignore=("type",)):
    """Collects field paths of value that the Spark schema (spec, a simple tree) lacks."""
    if isinstance(value, dict) and isinstance(spec, dict) and spec.get("__kind") == "struct":
        for k, v in value.items():
            if k in ignore:
                continue
            if k not in spec["fields"]:
                out.add(prefix + k)
            else:
                unknown_fields(v, spec["fields"][k], prefix + k + ".", out, ())
    elif isinstance(value, list) and isinstance(spec, dict) and spec.get("__kind") == "array":
        for v in value[:1000]:
            unknown_fields(v, spec["elem"], prefix, out, ())


def spec_tree(t):
    if isinstance(t, dict) and t.get("type") == "struct":
        return {"__kind": "struct", "fields": {f["name"]: spec_tree(f["type"]) for f in t["fields"]}}
    if isinstance(t, dict) and t.get("type") == "array":
        return {"__kind": "array", "elem": spec_tree(t["elementType"])}
    return None


def run_group(group, opts, specs):
    """Runs pcapmail on one group; yields (type, json line). Never raises for a bad file."""
    key, uris, total = group
    binary = resolve_binary(opts["pcapmail"])
    feats = pcapmail_features(binary)
    host, pid = socket.gethostname(), os.getpid()
    workdir = tempfile.mkdtemp(prefix="pcapmail-task-", dir=opts.get("local_dir") or None)
    task = {"group": key, "files": uris, "bytes": total, "exit_status": None, "records": 0, "merged": False,
            "failed_files": 0, "unknown_fields": [], "host": host, "pid": pid, "error": None}
    t0 = time.time()
    try:
        names = {}  # local path -> name as listed
        local = []
        fetch_errors = {}
        for uri in uris:
            try:
                if is_local(uri) and opts["fetch"] in ("auto", "none"):
                    p = local_path(uri)
                else:
                    p = fetch(uri, workdir, opts["fetch"])
                    names[p] = uri
                local.append(p)
            except Exception as e:  # noqa: BLE001 - a failed copy is a record, not a crash
                fetch_errors[uri] = f"copy failed: {e}"
        cmd = [binary, "analyze", "--format", "jsonl", "-q", "--threads", str(opts["threads"])]
        cmd += opts["extra"]
        if len(local) > 1 and opts["merge"] and feats["merge"]:
            cmd.append("--merge")
            task["merged"] = True
        stdin_data = None
        if feats["files_from"] and opts["files_from"]:
            cmd += ["--files-from", "-"]
            stdin_data = "".join(p + "\n" for p in local).encode()
        else:
            cmd += ["--"] + local
        task["command"] = " ".join(cmd[:12]) + (" ..." if len(cmd) > 12 else "")
        seen_captures = set()
        unknown = set()
        status = None
        stderr_tail = ""
        if local:
            errf = open(os.path.join(workdir, "stderr"), "w+b")
            # Peak RSS: a child forked from this Python worker inherits the worker's RSS
            # high-water mark across exec (Linux keeps it in the process's rusage), so wait4
            # alone would report the worker's ~50 MB; GNU time forks pcapmail from a small
            # process and reports pcapmail's own (within ~2 MB).
            timef = os.path.join(workdir, "rusage")
            run = (["/usr/bin/time", "-f", "%M %U %S", "-o", timef] if os.access("/usr/bin/time", os.X_OK) else []) + cmd
            proc = subprocess.Popen(run, stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=errf, bufsize=1 << 16,
                                    start_new_session=True)
            if stdin_data is not None:
                # in a thread: a long list must not block while pcapmail's output fills its pipe
                def feed():
                    try:
                        proc.stdin.write(stdin_data)
                        proc.stdin.close()
                    except OSError:
                        pass
                threading.Thread(target=feed, daemon=True).start()
            timer = None
            if opts["timeout"]:
                def on_timeout():
                    task["error"] = f"timed out after {opts['timeout']} s"
                    try:
                        os.killpg(proc.pid, signal.SIGKILL)  # time and pcapmail
                    except OSError:
                        pass
                timer = threading.Timer(opts["timeout"], on_timeout)
                timer.daemon = True
                timer.start()
            try:
                for raw in proc.stdout:
                    try:
                        rec = json.loads(raw)
                    except ValueError:
                        task["error"] = task["error"] or f"unparsable output line: {raw[:200]!r}"
                        break
                    rtype = rec.get("type")
                    if rtype == "capture":
                        if rec.get("path") in names:
                            rec["path"] = names[rec["path"]]
                        seen_captures.add(rec.get("path"))
                        if rec.get("error") is not None:  # newer pcapmail: a file it could not read
                            task["failed_files"] += 1
                    elif rtype == "session" and rec.get("capture") in names:
                        rec["capture"] = names[rec["capture"]]
                    rec["group"] = key
                    if rtype in specs:
                        unknown_fields(rec, specs[rtype], rtype + ".", unknown)
                    task["records"] += 1
                    yield rtype or "unknown", json.dumps(rec, ensure_ascii=False, separators=(",", ":"))
            finally:
                if timer is not None:
                    timer.cancel()
                proc.stdout.close()
                # wait4: this child's own rusage, not the worker's cumulative RUSAGE_CHILDREN
                _, wstatus, ru = os.wait4(proc.pid, 0)
                proc.returncode = status = os.waitstatus_to_exitcode(wstatus)
                task.update(exit_status=status, user_seconds=ru.ru_utime, system_seconds=ru.ru_stime,
                            max_rss_kb=None, rss_from="wait4 (includes the Python worker's RSS)")
                if run[0] == "/usr/bin/time":
                    try:
                        last = open(timef).read().strip().splitlines()[-1].split()
                        task.update(max_rss_kb=int(last[0]), user_seconds=float(last[1]),
                                    system_seconds=float(last[2]), rss_from="/usr/bin/time")
                    except (OSError, IndexError, ValueError):
                        pass
                if task["max_rss_kb"] is None:
                    task["max_rss_kb"] = ru.ru_maxrss
                errf.seek(0, os.SEEK_END)
                errf.seek(max(0, errf.tell() - 4000))
                stderr_tail = errf.read().decode("utf-8", "replace").strip()
                errf.close()
        # every listed file gets a capture record: pcapmail's, or one saying why it failed
        for uri in uris:
            p = names.get(uri, local_path(uri) if is_local(uri) else uri)
            shown = uri if uri in names.values() else p
            if shown in seen_captures or p in seen_captures:
                continue
            err = fetch_errors.get(uri) or task["error"] or _error_for(stderr_tail, p) or f"no capture record (exit status {status})"
            task["failed_files"] += 1
            yield "capture", json.dumps({"type": "capture", "path": shown, "group": key, "error": err,
                                         "exit_status": status}, ensure_ascii=False)
        task["unknown_fields"] = sorted(unknown)
        if status not in (0, None) and not task["error"]:
            task["error"] = stderr_tail[-1000:]
    finally:
        task["seconds"] = round(time.time() - t0, 3)
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"pcapmail-spark task {json.dumps(task)}", file=sys.stderr, flush=True)
    yield "task", json.dumps(dict(task, type="task"))


def _error_for(stderr_tail, path):
    lines = [l for l in stderr_tail.splitlines() if path in l]
    return "\n".join(lines[-5:]) if lines else (stderr_tail[-1000:] or None)


# --------------------------------------------------------------------------------------
# Driver


def list_files(spark, inputs):
    """Expands paths, directories (recursively) and globs with the Hadoop FileSystem API."""
    jvm = spark.sparkContext._jvm
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    out = []
    for inp in inputs:
        path = jvm.org.apache.hadoop.fs.Path(inp)
        fs = path.getFileSystem(conf)
        statuses = fs.globStatus(path)
        if statuses is None or len(statuses) == 0:
            print(f"pcapmail-spark: {inp}: no such file", file=sys.stderr)
            out.append((inp, -1))
            continue
        for st in statuses:
            if st.isDirectory():
                it = fs.listFiles(st.getPath(), True)
                while it.hasNext():
                    f = it.next()
                    name = f.getPath().getName()
                    if not name.startswith((".", "_")):
                        out.append((f.getPath().toString(), f.getLen()))
            else:
                out.append((st.getPath().toString(), st.getLen()))
    seen, uniq = set(), []
    for p, s in out:
        if p not in seen:
            seen.add(p)
            uniq.append((p, s))
    return uniq


def load_spark_schemas(path):
    if path is None:
        here = os.path.dirname(os.path.abspath(__file__))
        cands = [os.path.join(here, "pcapmail-1.spark.json")]
        try:
            from pyspark import SparkFiles

            cands.insert(0, SparkFiles.get("pcapmail-1.spark.json"))
        except Exception:
            pass
        path = next((c for c in cands if os.path.isfile(c)), cands[-1])
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("inputs", nargs="+", help="capture files, directories or globs (any Hadoop file system)")
    ap.add_argument("--out", required=True, help="output directory (any Hadoop file system)")
    ap.add_argument("--pcapmail", default="pcapmail", help="binary: a name shipped with --files, or a path on the workers")
    ap.add_argument("--schema", help="pcapmail-1.spark.json (default: shipped with --files, else beside this script)")
    ap.add_argument("--group-regex", help="group files by this regex's `key` group (or first group) on the full path")
    ap.add_argument("--no-group", action="store_true", help="every file is its own task")
    ap.add_argument("--no-merge", action="store_true", help="do not pass --merge for groups of several files")
    ap.add_argument("--no-files-from", action="store_true", help="pass paths as arguments even if --files-from exists")
    ap.add_argument("--threads", type=int, default=0, help="pcapmail --threads per task (default: spark.task.cpus)")
    ap.add_argument("--fetch", choices=("auto", "none", "pyarrow", "hadoop"), default="auto",
                    help="how non-local files reach the executor (auto: local paths as they are, others copied)")
    ap.add_argument("--local-dir", help="where copies are made on executors (default: the system temp dir)")
    ap.add_argument("--timeout", type=float, default=0, help="seconds per group (0: none)")
    ap.add_argument("--formats", default="parquet,jsonl", help="parquet and/or jsonl")
    ap.add_argument("--jsonl-compression", default="none", help="none, gzip, ...")
    ap.add_argument("--mode", default="errorifexists", help="Spark save mode (overwrite to replace OUT)")
    ap.add_argument("--pcapmail-arg", action="append", default=[], dest="extra",
                    help="extra option for pcapmail analyze (repeat; e.g. --pcapmail-arg=--smtp-ports=25,26)")
    args = ap.parse_args(argv)

    from pyspark.sql import SparkSession, functions as F, types as T

    spark = SparkSession.builder.appName("pcapmail").getOrCreate()
    sc = spark.sparkContext
    schemas_json = load_spark_schemas(args.schema)
    schemas = {k: T.StructType.fromJson(v) for k, v in schemas_json.items()}
    specs = {k: spec_tree(v) for k, v in schemas_json.items()}

    files = list_files(spark, args.inputs)
    missing = [p for p, s in files if s < 0]
    files = [(p, s) for p, s in files if s >= 0]
    groups = group_files(files, re.compile(args.group_regex) if args.group_regex else None, args.no_group)
    print(f"pcapmail-spark: {len(files)} files in {len(groups)} groups, "
          f"{sum(g[2] for g in groups) / 1e6:.1f} MB", file=sys.stderr)
    threads = args.threads or int(sc.getConf().get("spark.task.cpus", "1"))
    opts = {"pcapmail": args.pcapmail, "threads": threads, "merge": not args.no_merge,
            "files_from": not args.no_files_from, "fetch": args.fetch, "local_dir": args.local_dir,
            "timeout": args.timeout, "extra": args.extra}
    b_specs = sc.broadcast(specs)

    def task(it):
        for g in it:
            yield from run_group(g, opts, b_specs.value)

    rdd = sc.parallelize(groups, max(1, len(groups))).mapPartitions(task)
    missing_rdd = sc.parallelize([("capture", json.dumps({"type": "capture", "path": p, "group": p,
                                                           "error": "no such file", "exit_status": None}))
                                  for p in missing], 1)
    raw = spark.createDataFrame(rdd.union(missing_rdd), "type string, json string")
    formats = {f.strip() for f in args.formats.split(",") if f.strip()}
    out = args.out.rstrip("/")
    # 1. The records as written (one pass of pcapmail over every group).
    raw_dir = out + "/jsonl"
    (raw.write.mode(args.mode).partitionBy("type").option("compression", args.jsonl_compression).text(raw_dir))
    # 2. One Parquet table per type, parsed with the explicit schema.
    if "parquet" in formats:
        for rtype in RECORD_TYPES:
            df = spark.read.schema(schemas[rtype]).json(f"{raw_dir}/type={rtype}")
            for c in TS_COLUMNS[rtype]:
                df = df.withColumn(c + "_ts", F.to_timestamp(F.col(c)))
            df.write.mode(args.mode).parquet(f"{out}/parquet/{TABLES[rtype]}")
        spark.read.schema(T._parse_datatype_string(TASK_SCHEMA_DDL)).json(f"{raw_dir}/type=task") \
            .write.mode(args.mode).parquet(f"{out}/parquet/tasks")
    if "jsonl" not in formats:
        jvm = sc._jvm
        p = jvm.org.apache.hadoop.fs.Path(raw_dir)
        p.getFileSystem(sc._jsc.hadoopConfiguration()).delete(p, True)
    tasks = spark.read.schema(T._parse_datatype_string(TASK_SCHEMA_DDL)).json(f"{raw_dir}/type=task") \
        if "jsonl" in formats else spark.read.parquet(f"{out}/parquet/tasks")
    summary = tasks.agg(F.count("*").alias("groups"), F.sum("records").alias("records"),
                        F.sum("failed_files").alias("failed_files"), F.max("max_rss_kb").alias("max_rss_kb"),
                        F.max("seconds").alias("max_seconds")).collect()[0]
    unknown = sorted({u for r in tasks.select("unknown_fields").collect() for u in (r[0] or [])})
    print(f"pcapmail-spark: {summary['groups']} groups, {summary['records']} records, "
          f"{summary['failed_files']} failed files, peak RSS per task {summary['max_rss_kb']} KiB, "
          f"longest task {summary['max_seconds']} s", file=sys.stderr)
    if unknown:
        print(f"pcapmail-spark: WARNING: fields not in the Spark schema (dropped from Parquet, kept in "
              f"jsonl; regenerate pcapmail-1.spark.json): {', '.join(unknown)}", file=sys.stderr)
    spark.stop()


if __name__ == "__main__":
    main()
