#!/usr/bin/env python3
"""Derives the Spark schemas of pcapmail's jsonl records from the JSON Schema.

    python3 contrib/spark/gen_spark_schema.py [schema/pcapmail-1.schema.json] > contrib/spark/pcapmail-1.spark.json

Writes one JSON object {"capture": StructType, "session": ..., "credential": ...,
"message": ...} where each value is Spark's own JSON form of a StructType
(`pyspark.sql.types.StructType.fromJson(obj)` reads it; so does Scala's
`DataType.fromJson`). Pure Python, no pyspark needed, so it runs anywhere.

Rules (JSON Schema -> Spark SQL):
- string, enum of strings, `format` anything  -> string
- the `timestamp` definition (RFC 3339 UTC, µs or ns) -> string, kept exactly as written
  (Spark timestamps hold µs only; the job adds `*_ts` timestamp columns beside the main
  times, see pcapmail_spark.py)
- integer -> long; number -> double; boolean and `const: true` -> boolean
- `anyOf: [X, {"type": "null"}]` -> X (every Spark field is nullable: a field that a record
  leaves out is null)
- object with `properties` -> struct of them (required or not); object with only
  `additionalProperties` (capture `counters`) -> map<string, X>
- array -> array<items>; a tuple (`prefixItems`) of one type -> array of that type, of
  mixed types (POP3 `uidl` [number, "uid"]) -> array<string> (Spark's JSON reader keeps a
  number's text in a string field)
- the session's `if/then/else` (SMTP / POP3 details) -> the union of both sides' fields
- `$ref` to `#/$defs/...` is followed.
A capture record's table is the union of `capture` and `capture_failure` (a file that could
not be read: path and error). Fields the contract fixes that the JSON Schema does not list
yet can be added in CONTRACT_FIELDS below (empty now). Fields the job adds to every record: `group` (the capture group the record came from, which
with the record's ids makes them unique in the whole output); on captures: `error` (why a
file could not be read) and `exit_status`.
"""
import json
import sys

RECORD_TYPES = ("capture", "session", "credential", "message")

# Fields the contract (shared/docs/CONTRACT.md) fixes and pcapmail writes, but that
# schema/pcapmail-1.schema.json does not list yet, by $defs name; once the schema lists
# one, its own definition is used (a field is never added twice).
# (Empty since main's schema lists community_id and, for --merge, `capture`.) Example:
#   CONTRACT_FIELDS = {"session": {"community_id": {"type": "string"}}}
CONTRACT_FIELDS = {}

# The $defs whose properties make up each record type: a capture record is either a capture
# that was read or a `capture_failure` (path and error); their union is one table.
RECORD_DEFS = {
    "capture": ("capture", "capture_failure"),
    "session": ("session",),
    "credential": ("credential",),
    "message": ("message",),
}

# Added by the Spark job (not by pcapmail): see the module doc.
JOB_FIELDS = {
    "capture": [("group", "string"), ("error", "string"), ("exit_status", "long")],  # error: if the schema lacks it
    "session": [("group", "string")],
    "credential": [("group", "string")],
    "message": [("group", "string")],
}


class Converter:
    def __init__(self, schema):
        self.defs = schema.get("$defs", {})

    def resolve(self, node):
        seen = 0
        while "$ref" in node:
            ref = node["$ref"]
            if not ref.startswith("#/$defs/"):
                raise ValueError(f"unsupported $ref {ref}")
            node = self.defs[ref[len("#/$defs/"):]]
            seen += 1
            if seen > 50:
                raise ValueError(f"$ref loop at {ref}")
        return node

    def properties(self, node):
        """All properties of an object node, including if/then/else and allOf branches."""
        node = self.resolve(node)
        props = dict(node.get("properties", {}))
        for key in ("then", "else"):
            if key in node:
                for k, v in self.properties(node[key]).items():
                    props.setdefault(k, v)
        for sub in node.get("allOf", []):
            for k, v in self.properties(sub).items():
                props.setdefault(k, v)
        return props

    def convert(self, node, path):
        node = self.resolve(node)
        if "const" in node:
            return self.scalar(type(node["const"]), path)
        if "enum" in node:
            kinds = {type(v) for v in node["enum"] if v is not None}
            if len(kinds) != 1:
                return "string"
            return self.scalar(kinds.pop(), path)
        if "anyOf" in node or "oneOf" in node:
            alts = node.get("anyOf", node.get("oneOf"))
            if "type" in node and all(set(a) <= {"format", "pattern"} for a in alts):
                return self.convert({k: v for k, v in node.items() if k not in ("anyOf", "oneOf")}, path)
            non_null = [a for a in alts if self.resolve(a).get("type") != "null"]
            if len(non_null) == 1:
                return self.convert(non_null[0], path)
            types = {json.dumps(self.convert(a, path), sort_keys=True) for a in non_null}
            if len(types) == 1:
                return json.loads(types.pop())
            return "string"
        t = node.get("type")
        if isinstance(t, list):
            non_null = [x for x in t if x != "null"]
            if len(non_null) != 1:
                return "string"
            t = non_null[0]
        if t == "object" or (t is None and ("properties" in node or "then" in node)):
            props = self.properties(node)
            if not props and isinstance(node.get("additionalProperties"), dict):
                return {
                    "type": "map",
                    "keyType": "string",
                    "valueType": self.convert(node["additionalProperties"], path + ".*"),
                    "valueContainsNull": True,
                }
            return self.struct(props, path)
        if t == "array":
            if "prefixItems" in node:
                items = [self.convert(p, path + "[]") for p in node["prefixItems"]]
                uniq = {json.dumps(i, sort_keys=True) for i in items}
                elem = json.loads(uniq.pop()) if len(uniq) == 1 else "string"
            elif isinstance(node.get("items"), dict):
                elem = self.convert(node["items"], path + "[]")
            else:
                elem = "string"
            return {"type": "array", "elementType": elem, "containsNull": True}
        if t == "string":
            return "string"
        if t == "integer":
            return "long"
        if t == "number":
            return "double"
        if t == "boolean":
            return "boolean"
        raise ValueError(f"{path}: cannot map {json.dumps(node)[:200]}")

    @staticmethod
    def scalar(kind, path):
        if kind is bool:
            return "boolean"
        if kind is int:
            return "long"
        if kind is float:
            return "double"
        if kind is str:
            return "string"
        raise ValueError(f"{path}: const/enum of {kind}")

    def struct(self, props, path, extra=()):
        fields = [
            {"name": name, "type": self.convert(sub, f"{path}.{name}"), "nullable": True, "metadata": {}}
            for name, sub in props.items()
        ]
        for name, typ in extra:
            if name not in props:
                fields.append({"name": name, "type": typ, "nullable": True, "metadata": {}})
        return {"type": "struct", "fields": fields}


def with_contract_fields(schema):
    schema = json.loads(json.dumps(schema))
    for name, fields in CONTRACT_FIELDS.items():
        if name not in schema["$defs"]:
            continue
        props = schema["$defs"][name].setdefault("properties", {})
        for field, sub in fields.items():
            props.setdefault(field, sub)
    return schema


def spark_schemas(schema):
    conv = Converter(with_contract_fields(schema))
    out = {}
    for rt in RECORD_TYPES:
        props = {}
        for d in RECORD_DEFS[rt]:
            if d in conv.defs:
                for k, v in conv.properties(conv.defs[d]).items():
                    props.setdefault(k, v)
        out[rt] = conv.struct(props, rt, JOB_FIELDS[rt])
    return out


def main(argv):
    path = argv[1] if len(argv) > 1 else "schema/pcapmail-1.schema.json"
    with open(path, encoding="utf-8") as f:
        schema = json.load(f)
    json.dump(spark_schemas(schema), sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv)
