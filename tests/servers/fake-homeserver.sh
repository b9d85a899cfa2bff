# Shared by fake-tuwunel.sh and fake-continuwuity.sh (sourced): state files, start, stop.
# shellcheck shell=bash
# shellcheck source=process.sh
. "$(dirname "${BASH_SOURCE[0]}")/process.sh"

new_secret() {
  local s
  s=$(LC_ALL=C tr -dc 'A-Za-z0-9' < /dev/urandom | head -c "${1:-32}" || true)
  echo "$s"
}

write_file() { # write_file PATH COMMAND...: creates PATH with mode 600 unless it exists
  local path=$1; shift
  if [ ! -s "$path" ]; then
    (umask 077; "$@" > "$path")
  fi
  chmod 600 "$path"
}

# write_admin_seed DIR: DIR/seed.json with one admin account "admin" whose password is in
# DIR/admin-password, unless the caller wrote its own seed.json. printf is a shell builtin: the
# password is never in a process argument list.
write_admin_seed() {
  local dir=$1
  [ -e "$dir/seed.json" ] && return 0
  write_file "$dir/admin-password" new_secret 24
  (umask 077
   printf '{"users": [{"username": "admin", "password": "%s", "admin": true}]}\n' \
     "$(cat "$dir/admin-password")" > "$dir/seed.json")
}

# start_fake NAME SCRIPT DIR PORT: starts SCRIPT (a fake_*.py) on 127.0.0.1, waits until its
# /_matrix/client/versions answers, records the PID in DIR/NAME.pid, prints the base URL.
start_fake() {
  local name=$1 script=$2 dir=$3 port=$4 pid
  command -v python3 > /dev/null || { echo "$name.sh: python3 is needed" >&2; return 1; }
  stop_pid_file "$dir/$name.pid"
  rm -f "$dir/port"
  setsid nohup python3 "$script" --state-dir "$dir" --port "$port" \
      > "$dir/$name.out" 2>&1 < /dev/null &
  pid=$!
  echo "$pid" > "$dir/$name.pid"
  watch_and_stop "$pid"
  for _ in $(seq 100); do
    [ -s "$dir/port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  if [ -s "$dir/port" ]; then
    port=$(cat "$dir/port")
    if wait_for_url "$pid" "http://127.0.0.1:$port/_matrix/client/versions"; then
      echo "http://127.0.0.1:$port" > "$dir/url"
      echo "http://127.0.0.1:$port"; return 0
    fi
  fi
  echo "$name.sh: the FAKE did not answer; its output:" >&2
  tail -n 30 "$dir/$name.out" >&2
  stop_pid_file "$dir/$name.pid"
  return 1
}
