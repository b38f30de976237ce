# Shared shell helpers for tools/*.sh (sourced, not executed).
pg_up() {
  if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1; then
    echo "PostgreSQL is not running on 127.0.0.1: run 'make setup' (it starts it)." >&2
    exit 1
  fi
}

_psql() {
  local host user pass
  host=$(sed -n 's/^db_host *= *//p' "$CONF"); user=$(sed -n 's/^db_user *= *//p' "$CONF")
  pass=$(sed -n 's/^db_password *= *//p' "$CONF")
  PGPASSWORD="$pass" psql -h "$host" -U "$user" -d postgres -v ON_ERROR_STOP=1 -qtA "$@"
}

drop_db() {
  # Connections left by an earlier run (or autovacuum) may hold the database for a moment: retry.
  local try
  for try in 1 2 3 4 5 6; do
    if _psql -c "DROP DATABASE IF EXISTS \"$1\" WITH (FORCE)" >/dev/null 2>"$ROOT/.data/dropdb.err"; then
      rm -rf "$ROOT/.data/filestore/$1"
      return 0
    fi
    sleep "$try"
  done
  echo "Could not drop database $1: $(cat "$ROOT/.data/dropdb.err")" >&2
  echo "Stop the Odoo processes using it (make run, a benchmark) and try again." >&2
  return 1
}

db_exists() {
  [ "$(_psql -c "SELECT 1 FROM pg_database WHERE datname='$1'")" = 1 ]
}

# Fail when installing the module logged a WARNING or an ERROR.
check_install_log() {
  local log="$1" bad
  bad=$(grep -E '^[0-9-]+ [0-9:,]+ [0-9]+ (WARNING|ERROR|CRITICAL) ' "$log" || true)
  if [ -n "$bad" ]; then
    echo "Installing the module logged warnings or errors ($log):" >&2
    echo "$bad" >&2
    exit 1
  fi
  echo "==> Install log clean: no WARNING or ERROR ($(wc -l < "$log") lines)"
}
