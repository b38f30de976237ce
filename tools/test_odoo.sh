#!/usr/bin/env bash
# make test-odoo: the suite as OCA's CI runs it, under Odoo's own test runner:
#   odoo -d DB -i account_ap_sync --test-enable --stop-after-init
# on a fresh database; passes only with "0 failed, 0 error(s)" and at least one test run. The pytest-style
# end-to-end tests (plain functions with fixtures) are pytest's alone; `make test` runs everything.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ODOO="$ROOT/.venv/bin/odoo"
CONF="$ROOT/odoo.conf"
DB="${TEST_DB:-ap_sync_test}_odoo"
LOG_DIR="$ROOT/.data/logs"
mkdir -p "$LOG_DIR"
# shellcheck source=tools/lib.sh
. "$ROOT/tools/lib.sh"

pg_up
drop_db "$DB"
log="$LOG_DIR/test-odoo-$DB.log"
rm -f "$log"
export AP_SYNC_SCREENSHOTS="${AP_SYNC_SCREENSHOTS:-$ROOT/.data/screenshots-odoo}"
mkdir -p "$AP_SYNC_SCREENSHOTS"
# As OCA's CI runs it, with a configuration that knows nothing of this module: no
# ap_sync_encryption_key (the test classes then use a key generated for the run, tests/common.py).
# `make test` runs the suite with odoo.conf's key.
oca_conf="$LOG_DIR/test-odoo.conf"
grep -v '^ap_sync_encryption_key' "$CONF" > "$oca_conf"
echo "==> Odoo's test runner: installing account_ap_sync on $DB with --test-enable, no encryption key configured (log: $log)"
set +e
env -u AP_SYNC_ENCRYPTION_KEY "$ODOO" -c "$oca_conf" -d "$DB" -i account_ap_sync --test-enable \
  --test-tags /account_ap_sync --stop-after-init --log-level=test --logfile="$log"
rc=$?
set -e
result=$(grep -E 'odoo\.tests\.result: [0-9]+ failed, [0-9]+ error\(s\) of [0-9]+ tests' "$log" | tail -1 || true)
grep -E ' (ERROR|CRITICAL) .*(FAIL|ERROR):' "$log" >&2 || true
if [ -z "$result" ]; then
  tail -40 "$log" >&2
  echo "make test-odoo: no test result in the log (exit code $rc)" >&2
  exit 1
fi
summary="${result##*odoo.tests.result: }"
echo "==> Odoo's runner: $summary"
# A browser tour that Odoo skips (no Chromium, no websocket-client) would pass silently: fail instead.
if grep -E 'skipped .*test_ui_tours' "$log" >&2; then
  echo "make test-odoo: browser tests were skipped (they need Chromium and websocket-client)" >&2
  exit 1
fi
case "$summary" in
  "0 failed, 0 error(s) of 0 tests"*) echo "make test-odoo: no test ran" >&2; exit 1 ;;
  "0 failed, 0 error(s) of "*) [ "$rc" -eq 0 ] || { echo "make test-odoo: odoo exited with $rc" >&2; exit 1; } ;;
  *) echo "make test-odoo: tests failed (log: $log)" >&2; exit 1 ;;
esac
