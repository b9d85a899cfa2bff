#!/usr/bin/env bash
# Starts and stops a throwaway Synapse on 127.0.0.1 for tests and the demo.
#
#   synapse.sh start DIR [PORT [EXTRA_CONFIG.yaml...]]
#       Writes a config into DIR (SQLite, one client listener on 127.0.0.1:PORT, bcrypt_rounds 4,
#       relaxed rate limits, no federation), a random registration shared secret into
#       DIR/shared-secret, starts Synapse in the background, waits until /health answers and
#       records the PID in DIR/synapse.pid. Prints the base URL on stdout.
#       SYNAPSE_BCRYPT_ROUNDS (default 4) and SYNAPSE_NO_SHARED_SECRET=1 adjust the config.
#       SYNAPSE_DATABASE_URL=postgresql://USER@HOST:PORT/DB (as postgres.sh prints it) uses that
#       PostgreSQL database instead of SQLite, with the password read from the file named by
#       SYNAPSE_DATABASE_PASSWORD_FILE or from SYNAPSE_DATABASE_PASSWORD (never argv). Both are
#       remembered in DIR (DIR/database-url, DIR/database-password, mode 600), so a later
#       `start DIR` restarts on the same database. The password is written into
#       DIR/homeserver.yaml (mode 600), as in a real deployment.
#       If WATCH_PID is set, a watchdog stops Synapse when that process exits, so a crashed
#       test run never leaves a server behind.
#   synapse.sh stop DIR
#       Stops the Synapse whose PID is recorded in DIR (SIGTERM, then SIGKILL after 10 s).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=process.sh
. "$here/process.sh"
cache=${MATRIX_TEST_CACHE:-$HOME/.cache/matrix-users}
venv="$cache/venv-synapse"

free_port() {
  "$cache/venv-synapse/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

stop() {
  stop_pid_file "$1/synapse.pid"
}

start() {
  local dir port
  dir=$(mkdir -p "$1" && cd "$1" && pwd); shift
  "$here/venvs.sh" synapse
  port=${1:-$(free_port)}; [ $# -gt 0 ] && shift
  local extra=()
  for f in "$@"; do extra+=(-c "$(cd "$(dirname "$f")" && pwd)/$(basename "$f")"); done

  # A new random secret per server: tests must read it, never assume it.
  [ -f "$dir/shared-secret" ] || "$venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(24))' > "$dir/shared-secret"
  chmod 600 "$dir/shared-secret"
  # SYNAPSE_NO_SHARED_SECRET=1 starts a server with shared-secret registration disabled.
  local secret_line="registration_shared_secret_path: $dir/shared-secret"
  [ -n "${SYNAPSE_NO_SHARED_SECRET:-}" ] && secret_line="# shared-secret registration disabled"
  local database="{name: sqlite3, args: {database: $dir/homeserver.db}}"
  if [ -n "${SYNAPSE_DATABASE_URL:-}" ]; then
    echo "$SYNAPSE_DATABASE_URL" > "$dir/database-url"
    install -m 600 /dev/null "$dir/database-password"
    if [ -n "${SYNAPSE_DATABASE_PASSWORD_FILE:-}" ]; then
      cat "$SYNAPSE_DATABASE_PASSWORD_FILE" > "$dir/database-password"
    else
      printf '%s\n' "${SYNAPSE_DATABASE_PASSWORD:?SYNAPSE_DATABASE_URL needs a password}" > "$dir/database-password"
    fi
  fi
  if [ -f "$dir/database-url" ]; then
    # postgresql://USER@HOST:PORT/DB -> Synapse's psycopg2 arguments (the password as a
    # JSON string, which YAML reads as is).
    database=$(DB_URL=$(cat "$dir/database-url") DB_PASSWORD_FILE="$dir/database-password" "$venv/bin/python" -c '
import json, os, urllib.parse
u = urllib.parse.urlsplit(os.environ["DB_URL"])
pw = open(os.environ["DB_PASSWORD_FILE"]).read().strip()
args = {"user": urllib.parse.unquote(u.username), "password": pw, "dbname": u.path.lstrip("/"),
        "host": u.hostname, "port": u.port or 5432, "cp_min": 1, "cp_max": 5}
print(json.dumps({"name": "psycopg2", "args": args}))')
  fi
  install -m 600 /dev/null "$dir/homeserver.yaml"
  cat > "$dir/homeserver.yaml" <<YAML
server_name: localhost
public_baseurl: http://127.0.0.1:$port/
report_stats: false
pid_file: $dir/homeserver.pid
listeners:
  - {port: $port, bind_addresses: ['127.0.0.1'], type: http, tls: false, resources: [{names: [client], compress: false}]}
database: $database
media_store_path: $dir/media_store
signing_key_path: $dir/localhost.signing.key
$secret_line
enable_registration: false
bcrypt_rounds: ${SYNAPSE_BCRYPT_ROUNDS:-4}
trusted_key_servers: []
suppress_key_server_warning: true
federation_domain_whitelist: []
url_preview_enabled: false
presence: {enabled: false}
rc_login: {address: {per_second: 1000, burst_count: 1000}, account: {per_second: 1000, burst_count: 1000}, failed_attempts: {per_second: 1000, burst_count: 1000}}
rc_registration: {per_second: 1000, burst_count: 1000}
rc_registration_token_validity: {per_second: 1000, burst_count: 1000}
rc_message: {per_second: 1000, burst_count: 1000}
rc_admin_redaction: {per_second: 1000, burst_count: 1000}
YAML
  [ -f "$dir/localhost.signing.key" ] ||
    "$venv/bin/python" -m synapse.app.homeserver -c "$dir/homeserver.yaml" --generate-keys >/dev/null 2>&1

  stop "$dir"
  # A plain background command (no subshell): $! is Synapse itself, and nothing keeps this
  # script's stdout open after it exits.
  local pid
  pushd "$dir" > /dev/null
  setsid nohup "$venv/bin/python" -m synapse.app.homeserver -c homeserver.yaml "${extra[@]}" \
      > synapse.log 2>&1 < /dev/null &
  pid=$!
  popd > /dev/null
  echo "$pid" > "$dir/synapse.pid"
  echo "http://127.0.0.1:$port" > "$dir/url"

  watch_and_stop "$pid"

  if wait_for_url "$pid" "http://127.0.0.1:$port/health"; then
    echo "http://127.0.0.1:$port"; return 0
  fi
  echo "synapse.sh: Synapse did not become healthy on 127.0.0.1:$port; last log lines:" >&2
  tail -n 30 "$dir/synapse.log" >&2
  stop "$dir"
  return 1
}

case ${1:-} in
  start) shift; start "$@" ;;
  stop) shift; stop "$1" ;;
  *) echo "usage: $0 start DIR [PORT [EXTRA_CONFIG...]] | stop DIR" >&2; exit 2 ;;
esac
