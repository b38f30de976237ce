#!/usr/bin/env bash
# make run: Odoo on 127.0.0.1 (odoo.conf's http_port, 8069 by default) with the module and its demo data (admin/admin).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ODOO="$ROOT/.venv/bin/odoo"
CONF="$ROOT/odoo.conf"
DB="${1:-ap_sync_demo}"
# shellcheck source=tools/lib.sh
. "$ROOT/tools/lib.sh"
pg_up
if db_exists "$DB"; then
  echo "==> Updating account_ap_sync on $DB"
  "$ODOO" -c "$CONF" -d "$DB" -u account_ap_sync --stop-after-init --no-http --log-level=warn
else
  echo "==> Creating $DB with account_ap_sync and demo data"
  "$ODOO" -c "$CONF" -d "$DB" -i account_ap_sync --stop-after-init --no-http --log-level=warn
fi
port="$(sed -n 's/^http_port *= *//p' "$CONF")"
port="${port:-8069}"
echo "==> Odoo on http://127.0.0.1:$port (database $DB, login admin / admin). Ctrl-C stops it."
exec "$ODOO" -c "$CONF" -d "$DB" --db-filter="^${DB}\$" --http-interface=127.0.0.1 --http-port="$port"
