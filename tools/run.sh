#!/usr/bin/env bash
# make run: Odoo on 127.0.0.1:8069 with the module and its demo data (admin/admin).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="$ROOT/.venv/bin/python"
CONF="$ROOT/odoo.conf"
DB="${1:-ap_sync_demo}"
# shellcheck source=tools/lib.sh
. "$ROOT/tools/lib.sh"
pg_up
if db_exists "$DB"; then
  echo "==> Updating account_ap_sync on $DB"
  "$PY" -m odoo -c "$CONF" -d "$DB" -u account_ap_sync --stop-after-init --no-http --log-level=warn
else
  echo "==> Creating $DB with account_ap_sync and demo data"
  "$PY" -m odoo -c "$CONF" -d "$DB" -i account_ap_sync --stop-after-init --no-http --log-level=warn
fi
echo "==> Odoo on http://127.0.0.1:8069 (database $DB, login admin / admin). Ctrl-C stops it."
exec "$PY" -m odoo -c "$CONF" -d "$DB" --db-filter="^${DB}\$" --http-interface=127.0.0.1 --http-port=8069
