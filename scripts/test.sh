#!/usr/bin/env bash
# The whole test suite: lint, types, then pytest on SQLite (everything) and on
# PostgreSQL and MariaDB (the tests marked `backends`). With CI=true a database or Redis
# server that cannot be reached fails the run; otherwise those tests skip with a reason.
# The chaos suite (tests/chaos) runs in each pass: its database test is marked `backends`
# (on PostgreSQL it starts and restarts a private server), its Redis test runs with SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
export ZWM_DATA_DIR="${ZWM_DATA_DIR:-$(mktemp -d -t zwm-test-XXXXXX)}"
unset DATABASE_URL QUEUE_CONNECTION REDIS_URL SECRET_KEY || true
run_id="$$"

echo "== ruff"; "$BIN/ruff" check src tests bench; "$BIN/ruff" format --check src tests bench
echo "== mypy"; "$BIN/mypy"

# The three passes run side by side, each with its own data directory: most tests wait on
# worker processes, sockets and servers rather than compute, so together they take little
# more wall time than the longest alone. Each pass's output is printed as a block when it ends.
run_pass() {  # run_pass BACKEND [DATABASE_URL] -- PYTEST-ARGS...
  local backend=$1 url=$2 rc=0; shift 3
  env ${url:+"DATABASE_URL=$url"} ZWM_TEST_BACKEND="$backend" \
    ZWM_DATA_DIR="$(mktemp -d -t "zwm-test-$backend-XXXXXX")" "$BIN/pytest" "$@" || rc=$?
  [ "$rc" -eq 5 ] && rc=0  # pytest exits 5 when a marker selects nothing: not a failure here
  return "$rc"
}

logs=$(mktemp -d -t zwm-test-logs-XXXXXX)
echo "== pytest on SQLite (everything), PostgreSQL and MariaDB (tests marked backends), side by side"
run_pass sqlite "" -- "$@" >"$logs/SQLite" 2>&1 &
sqlite=$!
run_pass postgres "postgres://postgres@127.0.0.1:5432/zwm_ci_${run_id}" -- -m backends "$@" >"$logs/PostgreSQL" 2>&1 &
postgres=$!
run_pass mariadb "mysql://root@127.0.0.1:3306/zwm_ci_${run_id}" -- -m backends "$@" >"$logs/MariaDB" 2>&1 &
mariadb=$!

failed=""
for pass in SQLite:$sqlite PostgreSQL:$postgres MariaDB:$mariadb; do
  name=${pass%%:*} rc=0
  wait "${pass##*:}" || rc=$?
  echo "== pytest on $name (exit $rc)"; cat "$logs/$name"
  [ "$rc" -eq 0 ] || failed="$failed $name"
done
if [ -n "$failed" ]; then echo "== failed on:$failed"; exit 1; fi
