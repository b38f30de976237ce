#!/usr/bin/env bash
# make test: fresh database, module installed (install log must be clean), whole suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
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
if ! "$PY" -m odoo -c "$CONF" -d "$DB" -i account_ap_sync --stop-after-init \
      --log-level=info --logfile="$install_log" --no-http; then
  tail -50 "$install_log" >&2
  echo "make test: module installation failed (log: $install_log)" >&2
  exit 1
fi
check_install_log "$install_log"

echo "==> Running the test suite"
cd "$ROOT/.addons/account_ap_sync"
set +e
"$PY" -m pytest -p no:cacheprovider --odoo-config="$CONF" --odoo-database="$DB" --odoo-http \
  --odoo-log-level=warn tests "$@"
rc=$?
set -e
exit $rc
