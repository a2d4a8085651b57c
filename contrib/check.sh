#!/usr/bin/env bash
# Offline checks of contrib/ (not part of cargo test): the Spark schema against the JSON
# Schema and real records, the job's grouping/fetching/failure records, the ClickHouse DDL
# loaded with the sample records into chdb (ClickHouse in-process, from PyPI), the Vector
# configuration and the index template. About a minute once the venv exists.
#
#   contrib/check.sh            (PCAPMAIL=path/to/pcapmail; default target/release/pcapmail,
#                                built when missing; CONTRIB_VENV, default /tmp/pcapmail-contrib-venv)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${CONTRIB_VENV:-/tmp/pcapmail-contrib-venv}
if ! "$venv/bin/python" -c 'import chdb, pytest, pyarrow' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "chdb==4.4.0" "pytest==8.4.2" "pyarrow==21.0.0"
fi
if [ -z "${PCAPMAIL:-}" ]; then
  (cd "$repo" && cargo build --release --quiet --bin pcapmail)
  export PCAPMAIL=${CARGO_TARGET_DIR:-$repo/target}/release/pcapmail
fi
cd "$repo"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider contrib/tests "$@"
