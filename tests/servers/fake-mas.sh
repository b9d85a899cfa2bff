#!/usr/bin/env bash
# Starts and stops a FAKE Matrix Authentication Service (tests/servers/fake_mas.py) on 127.0.0.1.
# No registry the project reaches has MAS; this stand-in follows the transcripts recorded from a
# real MAS 1.22 (docs/mas-fake.md says what it implements and where it deviates).
#
#   fake-mas.sh start DIR [PORT]
#       Writes random credentials into DIR (mode 600): admin-client-id + admin-client-secret (a
#       client in MAS's admin_clients: it may get urn:mas:admin), client-id + client-secret (a
#       client that may not), homeserver-secret (the secret a Synapse's
#       matrix_authentication_service section shares with MAS). Starts the fake, waits until its
#       discovery document answers, records the PID in DIR/fake-mas.pid, prints the base URL.
#       Requests are logged (method, path, status; no secrets) to DIR/fake-mas.log.
#       Knobs (environment): FAKE_MAS_TOKEN_TTL (s, default 300), FAKE_MAS_MINIMUM_COMPLEXITY
#       (0-4, default 3), FAKE_MAS_PASSWORD_LOGIN=0 (set-password answers 403),
#       FAKE_MAS_RESERVED (comma-separated localparts the homeserver already has),
#       FAKE_MAS_SERVER_NAME (default localhost), FAKE_MAS_HOMESERVER_URL (a real Synapse to
#       provision users on), FAKE_MAS_POLICY (real, default, or stand-in).
#       WATCH_PID: as in synapse.sh, a watchdog stops the fake when that process exits.
#   fake-mas.sh synapse-config DIR
#       Writes DIR/synapse-mas.yaml: the extra Synapse config that delegates authentication to
#       the fake started in DIR (give it to synapse.sh start after the port).
#   fake-mas.sh stop DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=process.sh
. "$here/process.sh"

stop() {
  stop_pid_file "$1/fake-mas.pid"
}

# A random ULID-shaped client id (Crockford base32, 26 characters, first one 0-7).
new_ulid() {
  local rest
  rest=$(LC_ALL=C tr -dc '0-9A-HJKMNP-TV-Z' < /dev/urandom | head -c 25 || true)
  echo "0$rest"
}

new_secret() {
  local s
  s=$(LC_ALL=C tr -dc 'A-Za-z0-9' < /dev/urandom | head -c 32 || true)
  echo "$s"
}

write_file() { # write_file PATH COMMAND...: creates PATH with mode 600 unless it exists
  local path=$1; shift
  if [ ! -s "$path" ]; then
    (umask 077; "$@" > "$path")
  fi
  chmod 600 "$path"
}

start() {
  local dir port
  dir=$(mkdir -p "$1" && cd "$1" && pwd)
  port=${2:-0}
  command -v python3 > /dev/null || { echo "fake-mas.sh: python3 is needed" >&2; return 1; }
  write_file "$dir/admin-client-id" new_ulid
  write_file "$dir/admin-client-secret" new_secret
  write_file "$dir/client-id" new_ulid
  write_file "$dir/client-secret" new_secret
  write_file "$dir/homeserver-secret" new_secret
  stop "$dir"
  rm -f "$dir/port"
  local pid
  setsid nohup python3 "$here/fake_mas.py" --state-dir "$dir" --port "$port" \
      > "$dir/fake-mas.out" 2>&1 < /dev/null &
  pid=$!
  echo "$pid" > "$dir/fake-mas.pid"
  watch_and_stop "$pid"
  # With PORT 0 the fake picks a free port and writes it to DIR/port.
  for _ in $(seq 100); do
    [ -s "$dir/port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if [ -s "$dir/port" ]; then
    port=$(cat "$dir/port")
    if wait_for_url "$pid" "http://127.0.0.1:$port/.well-known/openid-configuration"; then
      echo "http://127.0.0.1:$port" > "$dir/url"
      echo "http://127.0.0.1:$port"; return 0
    fi
  fi
  echo "fake-mas.sh: the fake MAS did not answer; its output:" >&2
  tail -n 30 "$dir/fake-mas.out" >&2
  stop "$dir"
  return 1
}

synapse_config() {
  local dir
  dir=$(cd "$1" && pwd)
  [ -s "$dir/url" ] || { echo "fake-mas.sh: no fake MAS started in $dir" >&2; return 1; }
  cat > "$dir/synapse-mas.yaml" <<YAML
# Delegates authentication to the FAKE MAS in $dir (Synapse 1.163's stable section).
matrix_authentication_service:
  enabled: true
  endpoint: $(cat "$dir/url")/
  secret_path: $dir/homeserver-secret
# MAS delegation refuses to start with password login or open registration.
password_config:
  enabled: false
enable_registration: false
YAML
  echo "$dir/synapse-mas.yaml"
}

case ${1:-} in
  start) shift; start "$@" ;;
  stop) shift; stop "$1" ;;
  synapse-config) shift; synapse_config "$1" ;;
  *) echo "usage: $0 start DIR [PORT] | stop DIR | synapse-config DIR" >&2; exit 2 ;;
esac
