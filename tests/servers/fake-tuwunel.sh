#!/usr/bin/env bash
# Starts and stops a FAKE tuwunel (tests/servers/fake_tuwunel.py) on 127.0.0.1. No registry the
# project reaches ships tuwunel; this stand-in follows tuwunel v1.9.0's source (docs/tuwunel.md
# traces each behaviour to its file and line).
#
#   fake-tuwunel.sh start DIR [PORT]
#       Writes into DIR (each file mode 600, never on a command line): registration-shared-secret
#       (tuwunel's registration_shared_secret_file), registration-token (the config
#       `registration_token`), admin-password + seed.json (an admin account "admin"; a seed.json
#       the caller wrote first is used as it is). Starts the fake, waits until it answers,
#       records the PID in DIR/fake-tuwunel.pid, prints the base URL. Requests are logged
#       (method, path, status; no secrets) to DIR/fake-tuwunel.log.
#       Knobs (environment): FAKE_TUWUNEL_SHARED_SECRET=0 (no registration_shared_secret:
#       shared-secret registration not enabled), FAKE_TUWUNEL_REGISTRATION_TOKEN=0 (no config
#       token), FAKE_TUWUNEL_NONCE_TTL (s, default 60), FAKE_TUWUNEL_NONCE_CAP (default 2048),
#       FAKE_TUWUNEL_SERVER_NAME (default localhost), FAKE_TUWUNEL_FEDERATION=0.
#       WATCH_PID: as in synapse.sh, a watchdog stops the fake when that process exits.
#   fake-tuwunel.sh stop DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=fake-homeserver.sh
. "$here/fake-homeserver.sh"

start() {
  local dir
  dir=$(mkdir -p "$1" && cd "$1" && pwd)
  if [ "${FAKE_TUWUNEL_SHARED_SECRET:-1}" != 0 ]; then
    write_file "$dir/registration-shared-secret" new_secret 40
  fi
  if [ "${FAKE_TUWUNEL_REGISTRATION_TOKEN:-1}" != 0 ]; then
    write_file "$dir/registration-token" new_secret 24
  fi
  write_admin_seed "$dir"
  start_fake fake-tuwunel "$here/fake_tuwunel.py" "$dir" "${2:-0}"
}

case ${1:-} in
  start) shift; start "$@" ;;
  stop) shift; stop_pid_file "$1/fake-tuwunel.pid" ;;
  *) echo "usage: $0 start DIR [PORT] | stop DIR" >&2; exit 2 ;;
esac
