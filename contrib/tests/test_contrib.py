"""Offline checks of contrib/: the Spark schema, the job's grouping and fetching, the
ClickHouse DDL and the Vector configuration. Run with contrib/check.sh (or pytest, with
PCAPMAIL pointing at a pcapmail binary; default target/release/pcapmail)."""
import glob
import json
import os
import re
import subprocess
import sys
import tomllib

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "contrib", "spark"))

import gen_spark_schema  # noqa: E402
import pcapmail_spark  # noqa: E402

SCHEMA = os.path.join(ROOT, "schema", "pcapmail-1.schema.json")
SPARK_SCHEMA = os.path.join(ROOT, "contrib", "spark", "pcapmail-1.spark.json")
DDL = os.path.join(ROOT, "contrib", "clickhouse", "pcapmail.sql")
VECTOR = os.path.join(ROOT, "contrib", "vector", "pcapmail.toml")
TEMPLATE = os.path.join(ROOT, "contrib", "vector", "index-template.json")
RECORD_TYPES = ("capture", "session", "credential", "message")


def pcapmail_bin():
    b = os.environ.get("PCAPMAIL") or os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                                                   "release", "pcapmail")
    if not os.access(b, os.X_OK):
        pytest.skip(f"no pcapmail binary at {b} (set PCAPMAIL or cargo build --release)")
    return b


@pytest.fixture(scope="session")
def sample_records():
    files = sorted(f for f in glob.glob(os.path.join(ROOT, "samples", "*")) if re.search(r"\.pcap(ng)?(\.gz)?$", f))
    assert files
    out = subprocess.run([pcapmail_bin(), "analyze", "--format", "jsonl", "-q", *files],
                         capture_output=True, text=True, check=True).stdout
    recs = [json.loads(l) for l in out.splitlines()]
    assert {r["type"] for r in recs} >= set(RECORD_TYPES)
    return recs


def json_schema():
    with open(SCHEMA, encoding="utf-8") as f:
        return json.load(f)


def spark_schemas():
    with open(SPARK_SCHEMA, encoding="utf-8") as f:
        return json.load(f)


# ---- Spark schema ----------------------------------------------------------------------


def test_spark_schema_is_generated_from_the_json_schema():
    assert spark_schemas() == gen_spark_schema.spark_schemas(json_schema()), (
        "contrib/spark/pcapmail-1.spark.json is stale: run "
        "python3 contrib/spark/gen_spark_schema.py > contrib/spark/pcapmail-1.spark.json")


def test_spark_schema_has_every_json_schema_property():
    conv = gen_spark_schema.Converter(json_schema())
    ours = spark_schemas()
    for rt in RECORD_TYPES:
        names = {f["name"] for f in ours[rt]["fields"]}
        for d in gen_spark_schema.RECORD_DEFS[rt]:
            assert set(conv.properties(conv.defs[d])) <= names, (rt, d)


def test_spark_schema_covers_every_field_of_the_sample_records(sample_records):
    specs = {k: pcapmail_spark.spec_tree(v) for k, v in spark_schemas().items()}
    unknown = set()
    for r in sample_records:
        rt = r["type"]
        r = {k: v for k, v in r.items() if k != "type"}
        pcapmail_spark.unknown_fields(r, specs[rt], rt + ".", unknown)
    assert not unknown, f"fields in real records that the Spark schema lacks: {sorted(unknown)}"


def test_spark_schema_types_match_sample_values(sample_records):
    """Every value's JSON type fits the Spark type it is read into (no silent nulls)."""
    ours = spark_schemas()

    def check(v, t, path):
        if v is None:
            return
        if isinstance(t, str):
            ok = {"string": lambda x: True,  # Spark keeps a number's text in a string field
                  "long": lambda x: isinstance(x, int) and not isinstance(x, bool),
                  "double": lambda x: isinstance(x, (int, float)) and not isinstance(x, bool),
                  "boolean": lambda x: isinstance(x, bool)}[t](v)
            assert ok, f"{path}: {v!r} is not a {t}"
        elif t["type"] == "struct":
            assert isinstance(v, dict), path
            fields = {f["name"]: f["type"] for f in t["fields"]}
            for k, x in v.items():
                if k in fields:
                    check(x, fields[k], f"{path}.{k}")
        elif t["type"] == "array":
            assert isinstance(v, list), path
            for x in v:
                check(x, t["elementType"], path + "[]")
        elif t["type"] == "map":
            assert isinstance(v, dict), path
            for k, x in v.items():
                check(x, t["valueType"], f"{path}[{k}]")

    for r in sample_records:
        check({k: v for k, v in r.items() if k != "type"}, ours[r["type"]], r["type"])


# ---- grouping and fetching ----------------------------------------------------------------


@pytest.mark.parametrize("names,groups", [
    (["/c/a.pcap", "/c/a.pcap1", "/c/a.pcap2", "/c/b.pcap"], [["/c/a.pcap", "/c/a.pcap1", "/c/a.pcap2"], ["/c/b.pcap"]]),
    (["/c/gw.pcap00", "/c/gw.pcap10", "/c/gw.pcap9"], [["/c/gw.pcap00", "/c/gw.pcap9", "/c/gw.pcap10"]]),
    (["hdfs://nn/x/ring_00001_20260101120000.pcapng", "hdfs://nn/x/ring_00002_20260101121000.pcapng",
      "hdfs://nn/y/ring_00001_20260101120000.pcapng"],
     [["hdfs://nn/x/ring_00001_20260101120000.pcapng", "hdfs://nn/x/ring_00002_20260101121000.pcapng"],
      ["hdfs://nn/y/ring_00001_20260101120000.pcapng"]]),
    (["/c/a.pcap.gz", "/c/a.pcap1.gz"], [["/c/a.pcap.gz", "/c/a.pcap1.gz"]]),
    (["/c/a.pcap", "/c/a.pcap.gz", "/c/a.pcap1"], [["/c/a.pcap", "/c/a.pcap1"], ["/c/a.pcap.gz"]]),
    (["/c/one.pcapng", "/c/two.pcapng"], [["/c/one.pcapng"], ["/c/two.pcapng"]]),
    (["/c/notes.txt"], [["/c/notes.txt"]]),
])
def test_group_rule(names, groups):
    got = pcapmail_spark.group_files([(n, 1) for n in names])
    assert sorted(g[1] for g in got) == sorted(groups)


def test_group_regex_and_no_group():
    files = [("/c/host1-2026-12-01-00.pcap", 5), ("/c/host1-2026-12-01-01.pcap", 5), ("/c/host2-2026-12-01-00.pcap", 1)]
    got = pcapmail_spark.group_files(files, re.compile(r"/(?P<key>host\d+)-\d{4}-\d\d-\d\d"))
    assert [(k, m) for k, m, _ in got] == [("host1", ["/c/host1-2026-12-01-00.pcap", "/c/host1-2026-12-01-01.pcap"]),
                                           ("host2", ["/c/host2-2026-12-01-00.pcap"])]
    assert len(pcapmail_spark.group_files([("/c/a.pcap", 1), ("/c/a.pcap1", 1)], no_group=True)) == 2
    # biggest group first: Spark schedules partitions in order
    assert got[0][2] == 10


def test_is_local():
    assert pcapmail_spark.is_local("/data/a.pcap")
    assert pcapmail_spark.is_local("file:/data/a.pcap")
    assert pcapmail_spark.is_local("file:///data/a.pcap")
    assert not pcapmail_spark.is_local("hdfs://nn:8020/a.pcap")
    assert not pcapmail_spark.is_local("s3a://bucket/a.pcap")


def test_fetch_copies_in_chunks_and_names_the_listed_file(tmp_path):
    pytest.importorskip("pyarrow")
    src = tmp_path / "src"
    src.mkdir()
    data = os.urandom(20 << 20)
    (src / "x.pcap").write_bytes(data)
    dest = tmp_path / "dest"
    dest.mkdir()
    p = pcapmail_spark.fetch(f"file://{src}/x.pcap", str(dest), "pyarrow")
    assert open(p, "rb").read() == data and os.path.basename(p) == "x.pcap"


def test_run_group_copied_files_keep_their_listed_names_and_failures_are_records(tmp_path):
    pytest.importorskip("pyarrow")
    specs = {k: pcapmail_spark.spec_tree(v) for k, v in spark_schemas().items()}
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"this is not a capture\n")
    good = f"file://{ROOT}/samples/smtp-auth-login.pcap"
    opts = {"pcapmail": pcapmail_bin(), "threads": 1, "merge": True, "files_from": True, "fetch": "pyarrow",
            "local_dir": str(tmp_path), "timeout": 60, "extra": []}
    out = [(t, json.loads(j)) for t, j in pcapmail_spark.run_group(("g", [good, f"file://{bad}"], 1), opts, specs)]
    caps = {r["path"]: r for t, r in out if t == "capture"}
    assert set(caps) == {good, f"file://{bad}"}, caps
    assert "error" not in caps[good] and caps[f"file://{bad}"]["error"]
    sessions = [r for t, r in out if t == "session"]
    assert sessions and all(s["capture"] == good and s["group"] == "g" for s in sessions)
    task = [r for t, r in out if t == "task"][0]
    assert task["failed_files"] == 1 and task["max_rss_kb"] > 0 and task["unknown_fields"] == []
    # the copies are gone
    assert not [p for p in os.listdir(tmp_path) if p.startswith("pcapmail-task-")]


# ---- ClickHouse -----------------------------------------------------------------------------

TABLE_OF = {"capture": "captures", "session": "sessions", "credential": "credentials", "message": "messages"}


def ddl_columns():
    text = open(DDL, encoding="utf-8").read()
    cols = {}
    for m in re.finditer(r"CREATE TABLE IF NOT EXISTS pcapmail\.(\w+)\s*\((.*?)\)\s*ENGINE", text, re.S):
        cols[m.group(1)] = set(re.findall(r"^\s*`(\w+)`", m.group(2), re.M))
    return cols


def test_clickhouse_ddl_has_a_column_for_every_json_schema_field():
    conv = gen_spark_schema.Converter(json_schema())
    cols = ddl_columns()
    for rt, table in TABLE_OF.items():
        missing = {p for d in gen_spark_schema.RECORD_DEFS[rt] for p in conv.properties(conv.defs[d])} - cols[table]
        assert not missing, f"{table} lacks {sorted(missing)}"
        extra = {f["name"] for f in spark_schemas()[rt]["fields"]} - cols[table]
        assert not extra, f"{table} lacks the job's fields {sorted(extra)}"


def test_clickhouse_accepts_the_sample_records(sample_records, tmp_path):
    chdb = pytest.importorskip("chdb", reason="chdb (ClickHouse in-process, from PyPI) not installed")
    from chdb import session as chs

    s = chs.Session(str(tmp_path / "ch"))
    text = "\n".join(l for l in open(DDL, encoding="utf-8").read().split("\n") if not l.strip().startswith("--"))
    for stmt in text.split(";"):
        if stmt.strip():
            s.query(stmt)
    # nested fields: every struct member of the Spark schema is a named tuple element
    # (ClickHouse ignores unknown members of an object read into a named tuple)
    for rt, table in TABLE_OF.items():
        types = dict(l.split("\t")[:2] for l in
                     s.query(f"DESCRIBE TABLE pcapmail.{table}", "TabSeparated").bytes().decode().splitlines())
        for f in spark_schemas()[rt]["fields"]:
            if f["name"] not in types:
                continue
            for name in _nested_names(f["type"]):
                assert re.search(rf"[(, ]`?{name}`? ", types[f["name"]]), f"{table}.{f['name']} lacks {name}"
    settings = "SETTINGS date_time_input_format='best_effort', input_format_skip_unknown_fields=0"
    for rt, table in TABLE_OF.items():
        rows = [dict((k, v) for k, v in r.items() if k != "type") for r in sample_records if r["type"] == rt]
        data = tmp_path / f"{table}.jsonl"
        data.write_text("".join(json.dumps(r) + "\n" for r in rows))
        s.query(f"INSERT INTO pcapmail.{table} FROM INFILE '{data}' {settings} FORMAT JSONEachRow")
        n = int(s.query(f"SELECT count() FROM pcapmail.{table}", "CSV").bytes().decode().strip())
        assert n == len(rows), table
    # the values survive: message hashes, credentials, session times to the nanosecond
    got = s.query("SELECT sha256 FROM pcapmail.messages ORDER BY sha256", "CSV").bytes().decode().split()
    want = sorted(f'"{r["sha256"]}"' for r in sample_records if r["type"] == "message")
    assert got == want
    got = s.query("SELECT username, password, success FROM pcapmail.credentials "
                  "ORDER BY time, frame", "JSONEachRow").bytes().decode().splitlines()
    want = [r for r in sample_records if r["type"] == "credential"]
    want.sort(key=lambda r: (r["time"], r["frame"]))
    assert [json.loads(g)["username"] for g in got] == [r["username"] for r in want]
    assert [json.loads(g)["password"] for g in got] == [r["password"] for r in want]
    got = s.query("SELECT formatDateTime(start, '%Y-%m-%dT%H:%i:%S.%f') FROM pcapmail.sessions ORDER BY start",
                  "CSV").bytes().decode().split()
    want = sorted(r["start"] for r in sample_records if r["type"] == "session")
    assert [g.strip('"')[:26] for g in got] == [w.rstrip("Z")[:26] for w in want]
    # a query an analyst runs: cleartext credentials per server
    q = ("SELECT server.ip, server.port, count() FROM pcapmail.credentials WHERE NOT encrypted "
         "GROUP BY server.ip, server.port ORDER BY 3 DESC")
    assert s.query(q, "CSV").bytes().decode().strip()


def _nested_names(t):
    if isinstance(t, dict) and t.get("type") == "struct":
        for f in t["fields"]:
            yield f["name"]
            yield from _nested_names(f["type"])
    elif isinstance(t, dict) and t.get("type") == "array":
        yield from _nested_names(t["elementType"])


# ---- Vector and the index template ------------------------------------------------------------


def test_vector_config_parses_and_its_graph_is_connected():
    cfg = tomllib.load(open(VECTOR, "rb"))
    sources, transforms, sinks = cfg["sources"], cfg["transforms"], cfg["sinks"]
    outputs = set(sources) | set(transforms)
    for name, t in transforms.items():
        if t["type"] == "route":
            outputs |= {f"{name}.{r}" for r in t["route"]}
        if t.get("reroute_dropped"):
            outputs.add(f"{name}.dropped")
    used = set()
    for name, c in list(transforms.items()) + list(sinks.items()):
        assert c.get("inputs"), name
        for i in c["inputs"]:
            assert i in outputs, f"{name}: unknown input {i}"
            used.add(i)
    assert {"clickhouse_captures", "clickhouse_sessions", "clickhouse_credentials", "clickhouse_messages", "search"} <= set(sinks)
    tables = {c["table"] for c in sinks.values() if c["type"] == "clickhouse"}
    assert tables == set(ddl_columns())
    assert sinks["search"]["type"] == "elasticsearch"
    ecs = transforms["ecs"]["source"]
    assert ".network.community_id = r.community_id" in ecs
    for f in ("email.message_id", "email.subject", "email.from.address", "email.to.address",
              "email.attachments", "email.cc.address", "email.reply_to.address", "email.x_mailer",
              "user.name", "source.ip", "destination.port"):
        assert "." + f in ecs, f


def test_index_template_maps_the_ecs_fields_vector_writes():
    t = json.load(open(TEMPLATE))
    props = t["template"]["mappings"]["properties"]

    def get(path):
        node = {"properties": props}
        for part in path.split("."):
            node = node["properties"][part]
        return node

    assert get("network.community_id")["type"] == "keyword"
    for f in ("email.message_id", "email.subject", "email.from.address", "email.to.address",
              "email.sender.address", "email.cc.address", "email.reply_to.address", "email.x_mailer",
              "email.attachments.file.hash.sha256", "email.attachments.file.name",
              "email.delivery_timestamp", "source.ip", "destination.ip", "user.name", "related.hash",
              "pcapmail.start", "pcapmail.community_id"):
        assert "type" in get(f), f
    assert get("pcapmail.password")["index"] is False
    assert t["index_patterns"] == ["pcapmail-*"]
    # the types an Elasticsearch and an OpenSearch both know
    text = json.dumps(t)
    for only_es in ("flattened", "wildcard", "match_only_text", "constant_keyword"):
        assert f'"{only_es}"' not in text


# ---- the e2e comparison ---------------------------------------------------------------------


def test_compare_ignores_ids_but_not_what_they_point_at():
    import compare

    def run(sid, mid, sha, user):
        ep = {"ip": "10.0.0.1", "port": 1}
        return [
            {"type": "session", "id": sid, "protocol": "smtp", "client": ep, "server": ep, "start": "t",
             "capture": "/c/a.pcap", "transactions": [{"message": mid}]},
            {"type": "credential", "session": sid, "username": user},
            {"type": "message", "id": mid, "session": sid, "sha256": sha},
        ]

    a = compare.canonical({"all": run("s1", "s1-m1", "aa", "u")})
    assert a == compare.canonical({"g": run("c7.s3", "c7.s3-m2", "aa", "u")} | {"other": []})
    assert a != compare.canonical({"g": run("s1", "s1-m1", "bb", "u")})
    assert a != compare.canonical({"g": run("s1", "s1-m1", "aa", "v")})
    # a credential moved to another session is a difference
    two = run("s1", "s1-m1", "aa", "u")
    other = dict(two[0], id="s2", start="t2", transactions=[])
    moved = two + [other]
    moved[1] = dict(moved[1], session="s2")
    assert compare.canonical({"g": moved})["credential"] != compare.canonical({"g": two + [other]})["credential"]


def test_run_group_uses_files_from_and_merge_when_the_binary_has_them(tmp_path):
    fake = tmp_path / "pcapmail"
    fake.write_text(f"""#!{sys.executable}
import json, sys
if "--help" in sys.argv:
    print("  --files-from <FILE>  ...\\n  --merge  ...")
    sys.exit(0)
assert sys.argv[sys.argv.index("--files-from") + 1] == "-"
paths = [l.strip() for l in sys.stdin if l.strip()]
for p in paths:
    print(json.dumps({{"type": "capture", "path": p, "format": "pcap", "link_types": [], "packets": 0,
                       "bytes": 0, "first": None, "last": None, "warnings": [], "counters": {{}}}}))
print(json.dumps({{"type": "session", "id": "c1.s1", "capture": paths[0], "community_id": "1:abc",
                   "argv": sys.argv[1:]}}))
""")
    fake.chmod(0o755)
    pcapmail_spark._FEATURES.clear()
    opts = {"pcapmail": str(fake), "threads": 1, "merge": True, "files_from": True, "fetch": "auto",
            "local_dir": str(tmp_path), "timeout": 0, "extra": []}
    out = [(t, json.loads(j)) for t, j in pcapmail_spark.run_group(("g", ["/c/r.pcap", "/c/r.pcap1"], 2), opts, {})]
    session = [r for t, r in out if t == "session"][0]
    assert "--merge" in session["argv"] and "/c/r.pcap" not in session["argv"]
    assert {r["path"] for t, r in out if t == "capture"} == {"/c/r.pcap", "/c/r.pcap1"}
    task = [r for t, r in out if t == "task"][0]
    assert task["merged"] and task["failed_files"] == 0
    # a single file is not merged
    out = [(t, json.loads(j)) for t, j in pcapmail_spark.run_group(("g", ["/c/one.pcap"], 1), opts, {})]
    assert "--merge" not in [r for t, r in out if t == "session"][0]["argv"]
