#!/usr/bin/env bash
# make pot: regenerate i18n/account_ap_sync.pot from the committed module (tests database needed).
# The export reads a clean copy of the module: the checkout itself holds .venv and the .addons link,
# which Odoo's extractor would walk.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DB="${TEST_DB:-ap_sync_test}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/account_ap_sync"
git -C "$ROOT" archive HEAD | tar -x -C "$WORK/account_ap_sync"
rm -rf "$WORK/account_ap_sync/tools" "$WORK/account_ap_sync/.ci"
addons="$(sed -n 's/^addons_path *= *//p' "$ROOT/odoo.conf" | tr ',' '\n' | grep -v '/\.addons$' | paste -sd, -),$WORK"
"$ROOT/.venv/bin/odoo" -c "$ROOT/odoo.conf" --addons-path="$addons" -d "$DB" --no-http \
  --i18n-export="$ROOT/i18n/account_ap_sync.pot" --modules=account_ap_sync --stop-after-init --log-level=warn
echo "i18n/account_ap_sync.pot: $(grep -c '^msgid' "$ROOT/i18n/account_ap_sync.pot") strings"
