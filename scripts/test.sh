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

pytest_run() {  # pytest exits 5 when a marker selects nothing: that is not a failure here
  local rc=0; "$BIN/pytest" "$@" || rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then exit "$rc"; fi
}

echo "== pytest on SQLite"
ZWM_TEST_BACKEND=sqlite pytest_run "$@"
echo "== pytest on PostgreSQL"
ZWM_TEST_BACKEND=postgres DATABASE_URL="postgres://postgres@127.0.0.1:5432/zwm_ci_${run_id}" \
  pytest_run -m backends "$@"
echo "== pytest on MariaDB"
ZWM_TEST_BACKEND=mariadb DATABASE_URL="mysql://root@127.0.0.1:3306/zwm_ci_${run_id}" \
  pytest_run -m backends "$@"
