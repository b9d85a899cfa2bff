#!/usr/bin/env bash
# Installs, starts and stops a throwaway Dendrite on 127.0.0.1 for tests.
#
#   dendrite.sh install
#       `go install`s dendrite, generate-config, generate-keys and create-account from the Go module
#       proxy, by module path and pinned version, into $MATRIX_TEST_CACHE/dendrite-<version>/bin
#       (GOPATH, GOMODCACHE and GOCACHE under the same directory; a stamp file; flock against
#       concurrent installs). Prints the bin directory. Records install times in
#       $MATRIX_TEST_CACHE/dendrite-<version>/install-times.
#   dendrite.sh start DIR [PORT]
#       Writes a config into DIR (server_name localhost, client API on 127.0.0.1:PORT only,
#       federation off, no key servers, registration closed except shared-secret and registration
#       tokens, relaxed rate limits), a random registration shared secret into DIR/shared-secret,
#       a matrix key into DIR/matrix_key.pem, starts Dendrite, waits until it answers and records
#       the PID in DIR/dendrite.pid. Prints the base URL on stdout.
#       Database: SQLite files in DIR by default; with DENDRITE_DATABASE_URL (a libpq URL without
#       password, as printed by postgres.sh) PostgreSQL, the password read from the file named by
#       DENDRITE_DATABASE_PASSWORD_FILE or from DENDRITE_DATABASE_PASSWORD (never argv). The
#       password ends up in DIR/dendrite.yaml (mode 600), as it would in a real deployment.
#       If WATCH_PID is set, a watchdog stops Dendrite when that process exits (and with
#       WATCH_CLEANUP=1 then removes DIR).
#   dendrite.sh stop DIR
#       Stops the Dendrite whose PID is recorded in DIR (SIGTERM, then SIGKILL after 10 s).
#       DENDRITE_BCRYPT_COST (default 4), DENDRITE_RATE_LIMITING=default (keep Dendrite's own
#       rate limits instead of turning them off), DENDRITE_OPEN_REGISTRATION=1 (client API
#       registration open, without captcha) and DENDRITE_NO_TOKENS=1 (registration_requires_token
#       off) adjust the config; they are remembered in DIR/env for later starts.
#   dendrite.sh admin DIR USER
#       Creates USER as an admin with Dendrite's create-account tool (password read from stdin,
#       never argv); it registers over HTTP with the config's shared secret and prints the
#       access token. Shared-secret registration with admin=true does the same.
#
# Which Dendrite: github.com/matrix-org/dendrite v0.13.8. The newer module path
# github.com/element-hq/dendrite (v0.14+, what matrix-docker-ansible-deploy pins as v0.15.2) is
# AGPL-licensed and marked "not to use" by this workplace's package list, so it is not installed
# here; see docs/dendrite.md for what this means for the tests.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=process.sh
. "$here/process.sh"
cache=${MATRIX_TEST_CACHE:-$HOME/.cache/matrix-users}
module=github.com/matrix-org/dendrite
version=v0.13.8
home="$cache/dendrite-$version"
bin="$home/bin"
commands=(dendrite generate-config generate-keys create-account)

install_dendrite() {
  mkdir -p "$home"
  local stamp="$home/.installed-$version"
  [ -f "$stamp" ] && { echo "$bin"; return 0; }
  exec 8>"$home/.lock"
  flock 8
  if [ ! -f "$stamp" ]; then
    command -v go > /dev/null || { echo "dendrite.sh: go is not installed" >&2; return 1; }
    # mattn/go-sqlite3 is cgo: Dendrite's SQLite needs gcc (Dendrite falls back to a pure-Go
    # driver without cgo, but its own builds and docs use cgo).
    command -v gcc > /dev/null ||
      apt-get -o DPkg::Lock::Timeout=900 install -y -q gcc libc6-dev >&2
    echo "dendrite.sh: installing $module $version into $bin" >&2
    local t0 t1 pkgs=() c
    for c in "${commands[@]}"; do pkgs+=("$module/cmd/$c@$version"); done
    t0=$(date +%s.%N)
    GOPATH="$home/go" GOMODCACHE="$home/go/mod" GOCACHE="$home/go/cache" GOBIN="$bin" \
      GOFLAGS="-buildvcs=false -modcacherw" GOTOOLCHAIN=local CGO_ENABLED=1 \
      go install "${pkgs[@]}" >&2
    t1=$(date +%s.%N)
    echo "install $(date -u +%FT%TZ) $(awk "BEGIN{printf \"%.1f\", $t1 - $t0}") s ($(go env GOVERSION))" >> "$home/install-times"
    touch "$stamp"
    # The build cache is not needed to run the binaries (the module sources stay, to read).
    rm -rf "$home/go/cache"
  fi
  # Close the lock: Dendrite, started later by this script, must not inherit it.
  exec 8>&-
  echo "$bin"
}

# process.sh's watch_and_stop, plus: with WATCH_CLEANUP=1 the watchdog removes DIR once the
# watched process is gone (a test run's shared server is never dropped).
watch_dendrite() {
  local pid=$1 dir=$2
  if [ "${WATCH_CLEANUP:-}" != 1 ]; then watch_and_stop "$pid"; return 0; fi
  [ -n "${WATCH_PID:-}" ] || return 0
  setsid nohup bash -c "while kill -0 $WATCH_PID 2>/dev/null && kill -0 $pid 2>/dev/null; do sleep 0.3; done
    kill -TERM $pid 2>/dev/null; while kill -0 $pid 2>/dev/null; do sleep 0.3; done
    kill -0 $WATCH_PID 2>/dev/null || rm -rf '$dir'" > /dev/null 2>&1 < /dev/null &
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# The config edits, applied to generate-config's output with Debian's python3-yaml.
edit_config() {
  /usr/bin/python3 -c 'import yaml' 2>/dev/null ||
    apt-get -o DPkg::Lock::Timeout=900 install -y -q python3-yaml >&2
  DIR="$1" SECRET_FILE="$1/shared-secret" /usr/bin/python3 -c '
import os, sys, yaml
d = os.environ["DIR"]
c = yaml.safe_load(sys.stdin)
g = c["global"]
g["server_name"] = "localhost"
g["private_key"] = d + "/matrix_key.pem"
# No federation, no key servers, no identity servers, no phone-home: no outbound traffic.
g["disable_federation"] = True
g["trusted_third_party_id_servers"] = []
g["report_stats"] = {"enabled": False, "endpoint": ""}
g["server_notices"]["enabled"] = False
g["presence"] = {"enable_inbound": False, "enable_outbound": False}
c["federation_api"]["key_perspectives"] = []
c["federation_api"]["prefer_direct_fetch"] = False
c["federation_api"]["send_max_retries"] = 1
ca = c["client_api"]
# No open registration, only shared-secret registration. DENDRITE_OPEN_REGISTRATION=1 opens
# the client API registration (needs -really-enable-open-registration at start).
ca["registration_disabled"] = os.environ.get("DENDRITE_OPEN_REGISTRATION") != "1"
ca["registration_shared_secret"] = open(os.environ["SECRET_FILE"]).read().strip()
# The admin API for registration tokens answers 403 without this (DENDRITE_NO_TOKENS=1 leaves
# it off).
ca["registration_requires_token"] = os.environ.get("DENDRITE_NO_TOKENS") != "1"
ca["guests_disabled"] = True
ca["enable_registration_captcha"] = False
if os.environ.get("DENDRITE_RATE_LIMITING") == "default":
    pass                                    # Dendrite default: threshold 5, cooloff 500 ms
else:
    ca["rate_limiting"] = {"enabled": False, "threshold": 5, "cooloff_ms": 500, "exempt_user_ids": []}
c["user_api"]["bcrypt_cost"] = int(os.environ.get("DENDRITE_BCRYPT_COST", "4"))
c["sync_api"]["search"]["enabled"] = False
c["media_api"]["base_path"] = d + "/media"
c["logging"] = [{"type": "file", "level": "info", "params": {"path": d + "/log"}}]
yaml.safe_dump(c, sys.stdout, default_flow_style=False, sort_keys=False)
'
}

start() {
  local dir port
  dir=$(mkdir -p "$1" && cd "$1" && pwd); shift
  install_dendrite > /dev/null
  port=${1:-$(free_port)}
  command -v sqlite3 > /dev/null ||
    apt-get -o DPkg::Lock::Timeout=900 install -y -q sqlite3 >&2

  # A new random secret per server: tests must read it, never assume it.
  if [ ! -f "$dir/shared-secret" ]; then
    install -m 600 /dev/null "$dir/shared-secret"
    head -c 24 /dev/urandom | base64 | tr -d '/+=\n' > "$dir/shared-secret"
  fi
  chmod 600 "$dir/shared-secret"

  # PostgreSQL: remembered in DIR, so that a later `start DIR` restarts on the same database.
  if [ -n "${DENDRITE_DATABASE_URL:-}" ]; then
    echo "$DENDRITE_DATABASE_URL" > "$dir/database-url"
    install -m 600 /dev/null "$dir/database-password"
    if [ -n "${DENDRITE_DATABASE_PASSWORD_FILE:-}" ]; then
      cat "$DENDRITE_DATABASE_PASSWORD_FILE" > "$dir/database-password"
    else
      printf '%s\n' "${DENDRITE_DATABASE_PASSWORD:?DENDRITE_DATABASE_URL needs a password}" > "$dir/database-password"
    fi
  fi
  # Config switches, remembered like the database so that a restart keeps them.
  local v
  for v in DENDRITE_BCRYPT_COST DENDRITE_RATE_LIMITING DENDRITE_OPEN_REGISTRATION DENDRITE_NO_TOKENS; do
    [ -n "${!v:-}" ] && echo "$v=${!v}" >> "$dir/env"
  done
  if [ -f "$dir/env" ]; then
    while IFS='=' read -r k val; do export "$k=$val"; done < "$dir/env"
  fi
  local open_flag=()
  [ "${DENDRITE_OPEN_REGISTRATION:-}" = 1 ] && open_flag=(-really-enable-open-registration)

  local db_args=()
  if [ -f "$dir/database-url" ]; then
    # The URL carries no password: lib/pq reads it from PGPASSWORD in Dendrite's environment.
    # The throwaway cluster has no TLS, and lib/pq's default is sslmode=require.
    local url
    url=$(cat "$dir/database-url")
    case $url in *\?*) ;; *) url="$url?sslmode=disable" ;; esac
    db_args=(-db "$url")
  fi

  install -m 600 /dev/null "$dir/dendrite.yaml"
  (cd "$dir" && "$bin/generate-config" -server localhost -dir "$dir" "${db_args[@]}") |
    edit_config "$dir" > "$dir/dendrite.yaml"
  [ -f "$dir/matrix_key.pem" ] ||
    (cd "$dir" && "$bin/generate-keys" -private-key "$dir/matrix_key.pem" > /dev/null)

  stop "$dir"
  local pid pgpassword=""
  [ -f "$dir/database-password" ] && pgpassword=$(cat "$dir/database-password")
  pushd "$dir" > /dev/null
  # A plain background command: $! is Dendrite itself. The HTTP listener is bound to
  # 127.0.0.1 only; with no TLS certificate no HTTPS listener starts.
  PGPASSWORD=$pgpassword setsid nohup "$bin/dendrite" -config dendrite.yaml \
      -http-bind-address "127.0.0.1:$port" "${open_flag[@]}" > dendrite.log 2>&1 < /dev/null &
  pid=$!
  popd > /dev/null
  echo "$pid" > "$dir/dendrite.pid"
  echo "http://127.0.0.1:$port" > "$dir/url"

  watch_dendrite "$pid" "$dir"

  if wait_for_url "$pid" "http://127.0.0.1:$port/_matrix/client/versions"; then
    echo "http://127.0.0.1:$port"; return 0
  fi
  echo "dendrite.sh: Dendrite did not answer on 127.0.0.1:$port; last log lines:" >&2
  tail -n 30 "$dir/dendrite.log" >&2
  stop "$dir"
  return 1
}

# admin DIR USER: an admin account made with Dendrite's own create-account tool, which
# registers over HTTP with the shared secret from the config (password on stdin). The tool logs
# the new access token; only the token is printed (stdout), nothing else of that log line.
admin() {
  local dir=$1 user=$2 out
  out=$("$bin/create-account" -config "$dir/dendrite.yaml" -url "$(cat "$dir/url")" \
          -username "$user" -admin -passwordstdin 2>&1) ||
    { echo "dendrite.sh: create-account failed for $user" >&2
      echo "${out//AccessToken: [^)]*/AccessToken: ***}" >&2; return 1; }
  echo "$out" | sed -n 's/.*(AccessToken: \([^)]*\)).*/\1/p'
}

stop() {
  stop_pid_file "$1/dendrite.pid"
}

case ${1:-} in
  install) install_dendrite ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$1" ;;
  admin) shift; admin "$@" ;;
  *) echo "usage: $0 install | start DIR [PORT] | stop DIR | admin DIR USER" >&2; exit 2 ;;
esac
