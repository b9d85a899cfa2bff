#!/usr/bin/env bash
# Starts and stops a FAKE continuwuity (tests/servers/fake_continuwuity.py) on 127.0.0.1. No
# registry the project reaches ships continuwuity; this stand-in follows continuwuity v26.7.3's
# source (docs/continuwuity.md traces each behaviour to its file and line).
#
#   fake-continuwuity.sh start DIR [PORT]
#       Writes into DIR (each file mode 600, never on a command line): registration-token (the
#       config `registration_token`), admin-password + seed.json (an admin account "admin"; a
#       seed.json the caller wrote first is used as it is). Starts the fake, waits until it
#       answers, records the PID in DIR/fake-continuwuity.pid, prints the base URL. Requests are
#       logged (method, path, status; no secrets) to DIR/fake-continuwuity.log.
#       Knobs (environment): FAKE_CONTINUWUITY_REGISTRATION_TOKEN=0 (no config token),
#       FAKE_CONTINUWUITY_FIRST_RUN=1 (no seeded account: first-run mode, its one-time token in
#       DIR/first-account-token), FAKE_CONTINUWUITY_ALLOW_REGISTRATION=0 (MDAD's default),
#       FAKE_CONTINUWUITY_SUSPEND_ON_REGISTER=1, FAKE_CONTINUWUITY_LOCK_FIXED=1 (the MSC4323
#       lock fix that came after v26.7.3), FAKE_CONTINUWUITY_SERVER_NAME (default localhost),
#       FAKE_CONTINUWUITY_FEDERATION=0. WATCH_PID: a watchdog stops the fake when it exits.
#   fake-continuwuity.sh stop DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=fake-homeserver.sh
. "$here/fake-homeserver.sh"

start() {
  local dir
  dir=$(mkdir -p "$1" && cd "$1" && pwd)
  if [ "${FAKE_CONTINUWUITY_REGISTRATION_TOKEN:-1}" != 0 ]; then
    write_file "$dir/registration-token" new_secret 24
  fi
  if [ "${FAKE_CONTINUWUITY_FIRST_RUN:-0}" = 1 ]; then
    [ -e "$dir/seed.json" ] || (umask 077; echo '{"users": []}' > "$dir/seed.json")
  fi
  write_admin_seed "$dir"
  start_fake fake-continuwuity "$here/fake_continuwuity.py" "$dir" "${2:-0}"
}

case ${1:-} in
  start) shift; start "$@" ;;
  stop) shift; stop_pid_file "$1/fake-continuwuity.pid" ;;
  *) echo "usage: $0 start DIR [PORT] | stop DIR" >&2; exit 2 ;;
esac
