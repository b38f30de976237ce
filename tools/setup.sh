#!/usr/bin/env bash
# make setup: prepare a development machine for account_ap_sync.
#
# Idempotent: a second run changes nothing that is already in place.
# Finds Odoo 18.0 Community at $ODOO_SRC, else /opt/odoo/18.0, else clones
# branch 18.0 of the official repository to /opt/odoo/18.0.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3.11}"
VENV="$ROOT/.venv"
ODOO_DEFAULT=/opt/odoo/18.0
ODOO_SRC="${ODOO_SRC:-}"
DB_USER="${AP_SYNC_DB_USER:-ap_sync}"
DB_PASSWORD="${AP_SYNC_DB_PASSWORD:-ap_sync}"
CONF="$ROOT/odoo.conf"
# Several checkouts on one machine (worktrees) each get their own port: AP_SYNC_HTTP_PORT=8169 make setup.
# make test / run / demo run this script too: without AP_SYNC_HTTP_PORT, the port already in odoo.conf stays.
conf_value() { [ -f "$CONF" ] && sed -n "s/^$1 *= *//p" "$CONF" | head -1; true; }
HTTP_PORT="${AP_SYNC_HTTP_PORT:-$(conf_value http_port)}"
HTTP_PORT="${HTTP_PORT:-8069}"
ADDONS_LINK_DIR="$ROOT/.addons"

say() { printf '==> %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root for: $*  (install sudo or run as root)"; fi; }
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi; }

# --- 1. Python ---------------------------------------------------------------
command -v "$PYTHON" >/dev/null || PYTHON=python3
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 10) else 1)' \
  || die "Python 3.10+ is required (3.11 recommended); found $("$PYTHON" --version 2>&1). Set PYTHON=/path/to/python3.11."

# --- 2. Odoo source ----------------------------------------------------------
if [ -z "$ODOO_SRC" ]; then
  # An odoo.conf written by an earlier run names the Odoo tree it was set up with: keep it.
  ODOO_SRC="$(conf_value addons_path | cut -d, -f1 | sed -n 's#/addons$##p')"
  [ -n "$ODOO_SRC" ] && [ -f "$ODOO_SRC/odoo/release.py" ] || ODOO_SRC=""
fi
if [ -z "$ODOO_SRC" ]; then
  ODOO_SRC="$ODOO_DEFAULT"
  if [ ! -f "$ODOO_SRC/odoo/release.py" ]; then
    command -v git >/dev/null || die "Odoo not found at $ODOO_SRC and git is missing: install git or set ODOO_SRC to an Odoo 18.0 tree."
    say "Cloning Odoo 18.0 Community into $ODOO_SRC"
    as_root mkdir -p "$(dirname "$ODOO_SRC")"
    as_root git clone --depth 1 --branch 18.0 https://github.com/odoo/odoo.git "$ODOO_SRC" \
      || die "could not clone Odoo 18.0. Put an Odoo 18.0 Community tree at $ODOO_DEFAULT or set ODOO_SRC."
  fi
fi
[ -f "$ODOO_SRC/odoo/release.py" ] || die "ODOO_SRC=$ODOO_SRC is not an Odoo source tree (no odoo/release.py)."
grep -q "^version_info = (18, 0," "$ODOO_SRC/odoo/release.py" \
  || die "$ODOO_SRC is not Odoo 18.0 (see odoo/release.py). Point ODOO_SRC at an Odoo 18.0 Community tree."
[ -d "$ODOO_SRC/addons/account" ] || die "$ODOO_SRC/addons/account is missing: the Odoo tree is incomplete."
[ ! -d "$ODOO_SRC/addons/web_enterprise" ] || die "$ODOO_SRC contains Enterprise code (web_enterprise): use a Community tree."
say "Odoo source: $ODOO_SRC"

# --- 3. System packages (Debian) ---------------------------------------------
need_pkgs=()
command -v pg_ctlcluster >/dev/null || need_pkgs+=(postgresql)
command -v pg_config >/dev/null || need_pkgs+=(libpq-dev)
# Headless Chromium for Odoo's browser tests (tours), from Debian's packages.
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null \
  || need_pkgs+=(chromium)
# wkhtmltopdf renders the audit pack (and every Odoo report) as PDF.
command -v wkhtmltopdf >/dev/null || need_pkgs+=(wkhtmltopdf)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || die "missing system packages: ${need_pkgs[*]} (install the PostgreSQL server, libpq development files and Chromium)."
  say "Installing system packages: ${need_pkgs[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null \
    || die "apt-get install ${need_pkgs[*]} failed"
fi

# --- 4. Virtual environment and Python packages ------------------------------
if [ ! -x "$VENV/bin/python" ]; then
  say "Creating $VENV"
  if [ -n "${AP_SYNC_BASE_VENV:-}" ]; then
    # pip, like every package, then comes from AP_SYNC_BASE_VENV (see below): no ensurepip.
    "$PYTHON" -m venv --without-pip "$VENV"
  else
    "$PYTHON" -m venv "$VENV"
  fi
fi
PY="$VENV/bin/python"
site="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
# AP_SYNC_BASE_VENV=/path/to/another/.venv: this venv also sees that one's packages (through a .pth
# file), so pip finds Odoo's requirements already installed instead of downloading and building them.
if [ -n "${AP_SYNC_BASE_VENV:-}" ]; then
  base_site="$("$AP_SYNC_BASE_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
    || die "AP_SYNC_BASE_VENV=$AP_SYNC_BASE_VENV is not a virtual environment (no bin/python)."
  [ "$base_site" = "$site" ] || echo "$base_site" > "$site/ap-sync-base-venv.pth"
fi
mkdir -p "$VENV/ap_sync"
# Odoo's pinned sdists (e.g. psycopg2, gevent) do not build with setuptools>=70. gevent checks its
# requirements with that setuptools' pkg_resources, which cannot find the zope.event >= 5.1 and
# zope.interface >= 8 wheels (their metadata folders are named zope_event-*, zope_interface-*): the
# websocket process of a prefork server then dies at start with DistributionNotFound. Keep the
# releases Odoo 18's Debian/Ubuntu targets ship.
printf '%s\n' 'setuptools<70' 'zope.event<5.1' 'zope.interface<8' > "$VENV/ap_sync/constraints.txt"
export PIP_CONSTRAINT="$VENV/ap_sync/constraints.txt"
export PIP_DISABLE_PIP_VERSION_CHECK=1
# pip, without the noise of find-links folders that a machine may name but not have.
pip_quiet() {
  local out rc=0
  out="$(mktemp)"
  "$PY" -m pip install -q "$@" >"$out" 2>&1 || rc=$?
  grep -v "^WARNING: Location 'file:" "$out" || true
  rm -f "$out"
  return $rc
}

# Odoo's requirements, without python-ldap (needs libldap headers; only auth_ldap uses it).
grep -v -i '^python-ldap' "$ODOO_SRC/requirements.txt" > "$VENV/ap_sync/odoo-requirements.txt"
stamp="$VENV/ap_sync/installed.sha"
want="$(cat "$VENV/ap_sync/constraints.txt" "$VENV/ap_sync/odoo-requirements.txt" requirements.txt requirements-test.txt | sha256sum | cut -d' ' -f1) $ODOO_SRC"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "Installing Odoo's Python requirements (this takes a few minutes the first time)"
  pip_quiet -r "$VENV/ap_sync/odoo-requirements.txt" \
    || die "installing Odoo's requirements failed (see pip's message above)."
  say "Installing account_ap_sync requirements"
  pip_quiet -r requirements.txt -r requirements-test.txt \
    || die "installing requirements.txt / requirements-test.txt failed."
  echo "$want" > "$stamp"
else
  say "Python packages already installed"
fi
# Make the Odoo tree importable from the venv (no copy of Odoo's code).
echo "$ODOO_SRC" > "$site/odoo-src.pth.tmp"
if ! cmp -s "$site/odoo-src.pth.tmp" "$site/odoo-src.pth"; then mv "$site/odoo-src.pth.tmp" "$site/odoo-src.pth"; else rm "$site/odoo-src.pth.tmp"; fi
"$PY" -c 'import odoo, odoo.release as r; assert r.version_info[:2] == (18, 0)' || die "odoo is not importable from $VENV"
# The odoo launcher: what Odoo's setup.py installs (its script setup/odoo), pointed at this venv's
# Python. Every tool starts Odoo through it, never with "python -m odoo": a prefork server re-runs
# sys.argv[0] to spawn its websocket (gevent) process, and odoo/__main__.py cannot be run that way.
# The real directory of the venv: a venv shared by several checkouts through a link gets one launcher.
venv_dir="$(cd "$VENV" && pwd -P)"
launcher_tmp="$(mktemp "$VENV/bin/.odoo.XXXXXX")"
cat > "$launcher_tmp" <<LAUNCHER
#!$venv_dir/bin/python
# Odoo launcher written by make setup (tools/setup.sh); not committed. Same as Odoo's setup/odoo.
# set server timezone in UTC before time module imported
__import__('os').environ['TZ'] = 'UTC'
import odoo

if __name__ == "__main__":
    odoo.cli.main()
LAUNCHER
chmod 755 "$launcher_tmp"
if ! cmp -s "$launcher_tmp" "$VENV/bin/odoo"; then mv "$launcher_tmp" "$VENV/bin/odoo"; say "Wrote $VENV/bin/odoo"; else rm "$launcher_tmp"; fi
version="$("$VENV/bin/odoo" --version 2>&1)" || die "$VENV/bin/odoo --version failed: $version"
grep -q '^Odoo Server 18\.0' <<<"$version" || die "$VENV/bin/odoo --version does not report Odoo Server 18.0: $version"

# --- 5. PostgreSQL -----------------------------------------------------------
if command -v pg_lsclusters >/dev/null; then
  if ! pg_lsclusters -h | awk '$4 == "online" {found=1} END {exit !found}'; then
    cluster="$(pg_lsclusters -h | head -1 | awk '{print $1" "$2}')"
    [ -n "$cluster" ] || die "no PostgreSQL cluster exists: create one with pg_createcluster 15 main."
    say "Starting PostgreSQL cluster $cluster"
    as_root pg_ctlcluster $cluster start || die "pg_ctlcluster $cluster start failed: see /var/log/postgresql/."
  fi
fi
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 && break; sleep 1; done
pg_isready -q -h 127.0.0.1 || die "PostgreSQL does not answer on 127.0.0.1:5432."
if ! as_postgres psql -tAc "SELECT 1 FROM pg_roles WHERE rolname='$DB_USER'" | grep -q 1; then
  say "Creating PostgreSQL role $DB_USER"
  as_postgres psql -q -c "CREATE ROLE \"$DB_USER\" LOGIN CREATEDB PASSWORD '$DB_PASSWORD'"
fi
# make test drops its database WITH (FORCE): the role may end sessions left on it.
if ! as_postgres psql -tAc "SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE r.rolname = 'pg_signal_backend' AND u.rolname = '$DB_USER'" | grep -q 1; then
  as_postgres psql -q -c "GRANT pg_signal_backend TO \"$DB_USER\""
fi

# --- 6. Addons path link and odoo.conf ----------------------------------------
mkdir -p "$ADDONS_LINK_DIR"
[ -L "$ADDONS_LINK_DIR/account_ap_sync" ] || ln -sfn "$ROOT" "$ADDONS_LINK_DIR/account_ap_sync"
key=""
[ -f "$CONF" ] && key="$(sed -n 's/^ap_sync_encryption_key *= *//p' "$CONF")"
[ -n "$key" ] || key="$("$PY" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
cat > "$CONF.tmp" <<CONF
[options]
; Development configuration written by "make setup" (not committed).
addons_path = $ODOO_SRC/addons,$ODOO_SRC/odoo/addons,$ADDONS_LINK_DIR
data_dir = $ROOT/.data
db_host = 127.0.0.1
db_port = 5432
db_user = $DB_USER
db_password = $DB_PASSWORD
http_interface = 127.0.0.1
http_port = $HTTP_PORT
admin_passwd = admin
list_db = True
; Fernet key for account_ap_sync secrets. Keep it outside the database; see README.rst.
ap_sync_encryption_key = $key
CONF
if ! cmp -s "$CONF.tmp" "$CONF"; then mv "$CONF.tmp" "$CONF"; chmod 600 "$CONF"; say "Wrote $CONF"; else rm "$CONF.tmp"; fi

say "Setup complete. Next: make test (or make run)."
