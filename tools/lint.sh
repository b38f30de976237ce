#!/usr/bin/env bash
# make lint: ruff, pylint-odoo with OCA's mandatory 18.0 checks, and OCA's module checks (XML, CSV, .po).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
cd "$ROOT"
echo "==> ruff"
"$VENV/bin/ruff" check "$ROOT"
"$VENV/bin/ruff" format --check "$ROOT"
# pylint-odoo and the module checks look at the addon by its name: through the addons-path link.
cd "$ROOT/.addons"
echo "==> pylint-odoo (.pylintrc-mandatory)"
"$VENV/bin/pylint" --rcfile="$ROOT/.pylintrc-mandatory" account_ap_sync
echo "==> OCA module checks (oca-checks-odoo-module, oca-checks-po)"
# The files git tracks (or would track), tooling left out: it is never part of the module.
mapfile -t files < <(cd "$ROOT" && git ls-files --cached --others --exclude-standard | grep -v '^tools/' \
  | while read -r f; do [ -f "$f" ] && echo "account_ap_sync/$f"; done)
"$VENV/bin/oca-checks-odoo-module" "${files[@]}"
mapfile -t pos < <(printf '%s\n' "${files[@]}" | grep -E '\.pot?$' || true)
if [ ${#pos[@]} -gt 0 ]; then "$VENV/bin/oca-checks-po" --disable=po-pretty-format "${pos[@]}"; fi
echo "==> lint clean"
