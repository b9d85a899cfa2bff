#!/usr/bin/env bash
# Starts and stops a throwaway matrix-registration on 127.0.0.1 for tests and the demo.
#
#   mreg.sh start DIR VERSION SYNAPSE_URL SYNAPSE_SECRET_FILE [PORT]
#       VERSION is 0.9 (0.9.1.post1, /api/token) or 0.7 (0.7.2, /token: what
#       matrix-docker-ansible-deploy deployed). Writes DIR/config.yaml with a random admin API
#       secret in DIR/admin-secret, starts the service against the Synapse at SYNAPSE_URL, waits
#       until its token API answers and records the PID in DIR/mreg.pid. Prints the base URL.
#       WATCH_PID: as in synapse.sh, a watchdog stops the service when that process exits.
#   mreg.sh stop DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=process.sh
. "$here/process.sh"
cache=${MATRIX_TEST_CACHE:-$HOME/.cache/matrix-users}

stop() {
  stop_pid_file "$1/mreg.pid"
}

start() {
  local dir version synapse_url secret_file port venv
  dir=$(mkdir -p "$1" && cd "$1" && pwd)
  version=$2 synapse_url=$3 secret_file=$4
  case $version in
    0.9) venv="$cache/venv-mreg09" ;;
    0.7) venv="$cache/venv-mreg07" ;;
    *) echo "mreg.sh: VERSION must be 0.9 or 0.7" >&2; return 2 ;;
  esac
  "$here/venvs.sh" "mreg${version/./}"
  port=${5:-$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')}
  [ -f "$dir/admin-secret" ] || "$venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(24))' > "$dir/admin-secret"
  chmod 600 "$dir/admin-secret"
  local admin_secret shared_secret
  admin_secret=$(cat "$dir/admin-secret")
  shared_secret=$(tr -d '\n' < "$secret_file")
  # The two generations name the same settings differently.
  local secrets_yaml
  if [ "$version" = 0.9 ]; then
    secrets_yaml="registration_shared_secret: '$shared_secret'
admin_api_shared_secret: '$admin_secret'
client_redirect: 'https://app.element.io/#/login'
client_logo: 'static/images/element-logo.png'
ip_logging: false"
  else
    secrets_yaml="shared_secret: '$shared_secret'
admin_secret: '$admin_secret'
riot_instance: 'https://riot.im/app/'"
  fi
  cat > "$dir/config.yaml" <<YAML
server_location: '$synapse_url'
server_name: 'localhost'
$secrets_yaml
base_url: ''
db: 'sqlite:///{cwd}db.sqlite3'
host: '127.0.0.1'
port: $port
rate_limit: ["100000 per day", "10000 per minute"]
allow_cors: false
logging: {version: 1, disable_existing_loggers: false, root: {level: INFO, handlers: [console]}, handlers: {console: {class: logging.StreamHandler, stream: 'ext://sys.stdout'}}}
password: {min_length: 8}
YAML
  chmod 600 "$dir/config.yaml"
  stop "$dir"
  local pid
  pushd "$dir" > /dev/null
  setsid nohup "$venv/bin/matrix-registration" --config-path config.yaml serve > mreg.log 2>&1 < /dev/null &
  pid=$!
  popd > /dev/null
  echo "$pid" > "$dir/mreg.pid"
  echo "http://127.0.0.1:$port" > "$dir/url"
  watch_and_stop "$pid"
  local probe=/api/token; [ "$version" = 0.7 ] && probe=/token
  if wait_for_url "$pid" "http://127.0.0.1:$port$probe" "Authorization: SharedSecret $admin_secret"; then
    echo "http://127.0.0.1:$port"; return 0
  fi
  echo "mreg.sh: matrix-registration $version did not answer on 127.0.0.1:$port; last log lines:" >&2
  tail -n 30 "$dir/mreg.log" >&2
  stop "$dir"
  return 1
}

case ${1:-} in
  start) shift; start "$@" ;;
  stop) shift; stop "$1" ;;
  *) echo "usage: $0 start DIR VERSION SYNAPSE_URL SYNAPSE_SECRET_FILE [PORT] | stop DIR" >&2; exit 2 ;;
esac
