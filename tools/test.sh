#!/usr/bin/env bash
# make test: fresh database, module installed (install log must be clean), whole suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
ODOO="$ROOT/.venv/bin/odoo"
CONF="$ROOT/odoo.conf"
DB="${TEST_DB:-ap_sync_test}"
LOG_DIR="$ROOT/.data/logs"
mkdir -p "$LOG_DIR"
# shellcheck source=tools/lib.sh
. "$ROOT/tools/lib.sh"

pg_up
drop_db "$DB"
echo "==> Installing account_ap_sync on a fresh database $DB"
install_log="$LOG_DIR/install-$DB.log"
rm -f "$install_log"
if ! "$ODOO" -c "$CONF" -d "$DB" -i account_ap_sync --stop-after-init \
      --log-level=info --logfile="$install_log" --no-http; then
  tail -50 "$install_log" >&2
  echo "make test: module installation failed (log: $install_log)" >&2
  exit 1
fi
check_install_log "$install_log"

echo "==> Running the test suite"
# pytest-odoo names the addon after the folder the tests sit in: run them through the
# addons-path link named account_ap_sync, not through the checkout folder.
cd "$ROOT/.addons"
# The browser tests save screenshots of the queue, an exception form and the Overview here.
export AP_SYNC_SCREENSHOTS="${AP_SYNC_SCREENSHOTS:-$ROOT/.data/screenshots}"
rm -rf "$AP_SYNC_SCREENSHOTS"
mkdir -p "$AP_SYNC_SCREENSHOTS"
# Test files named in PYTEST_ARGS (account_ap_sync/tests/test_x.py) run alone; otherwise the whole suite.
paths=("$ROOT/.addons/account_ap_sync/tests")
for arg in "$@"; do case "$arg" in *tests/*) paths=() ;; esac; done
set +e
PYTHONPATH="$ROOT/tools${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m pytest -p no:cacheprovider -p pytest_ap_sync --rootdir="$ROOT/.addons/account_ap_sync" \
  --odoo-config="$CONF" --odoo-database="$DB" --odoo-http --odoo-extra=test-enable \
  --odoo-log-level=warn "${paths[@]}" "$@"
rc=$?
set -e
exit $rc
