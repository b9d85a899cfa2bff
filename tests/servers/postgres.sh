#!/usr/bin/env bash
# Starts and stops a throwaway PostgreSQL cluster on 127.0.0.1 for tests (Debian's `postgresql`
# package; no system service is used or started).
#
#   postgres.sh start DIR [PORT]
#       initdb into DIR/data as an unprivileged user (`postgres` when run as root), superuser
#       `matrix` with a random password in DIR/password (mode 600), scram-sha-256 password
#       authentication, listening on 127.0.0.1:PORT only (a free port by default) with its unix
#       socket inside DIR. Starts the postmaster, waits until it accepts connections, records its
#       PID in DIR/postgres.pid and prints the libpq URL without password:
#       postgresql://matrix@127.0.0.1:PORT/matrix
#       If WATCH_PID is set, a watchdog stops PostgreSQL when that process exits (and with
#       WATCH_CLEANUP=1 then removes DIR).
#   postgres.sh createdb DIR NAME [OWNER]
#       Creates database NAME (ENCODING 'UTF8' LC_COLLATE='C' LC_CTYPE='C' TEMPLATE template0, as
#       Synapse requires; Dendrite is content with it too) owned by OWNER (default: matrix). A new
#       OWNER becomes a login role with its own random password in DIR/password-OWNER (mode 600).
#       Prints postgresql://OWNER@127.0.0.1:PORT/NAME.
#   postgres.sh psql DIR [DB [USER]]
#       Runs the SQL read from stdin (psql -X -A -t -v ON_ERROR_STOP=1) as USER (default matrix),
#       the password passed in PGPASSWORD, never on the command line.
#   postgres.sh stop DIR
#       Fast shutdown (SIGINT) of the postmaster whose PID DIR/postgres.pid holds, SIGKILL after 10 s.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=process.sh
. "$here/process.sh"
superuser=matrix

pg_bin() {
  local d
  # (No /usr/lib/postgresql at all on a fresh machine: find fails, which is no error here.)
  d=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1) || true
  if [ -z "$d" ] || [ ! -x "$d/initdb" ]; then
    echo "postgres.sh: installing Debian's postgresql (without its default cluster)" >&2
    # Debian's package would create and start a cluster "main" on port 5432: tell
    # postgresql-common not to create it, so no system service runs.
    mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.d/matrix-users-tests.conf
    apt-get -o DPkg::Lock::Timeout=900 install -y -q postgresql postgresql-client >&2
    d=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d | sort -V | tail -n 1)
  fi
  echo "$d"
}

# as_pg CMD...: runs CMD as the unprivileged cluster owner (exec, so a background $! is CMD).
as_pg() {
  if [ "$(id -u)" = 0 ]; then
    exec setpriv --reuid=postgres --regid=postgres --clear-groups -- "$@"
  else
    exec "$@"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

random_secret() {
  head -c 24 /dev/urandom | base64 | tr -d '/+=\n'
}

stop() {
  local file=$1/postgres.pid pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    # SIGINT is PostgreSQL's fast shutdown: it does not wait for clients to disconnect.
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

# run_psql DIR DB USER: SQL on stdin, password from DIR/password[-USER] via PGPASSWORD.
run_psql() {
  local dir=$1 db=$2 user=$3 pwfile port
  pwfile="$dir/password"; [ "$user" = "$superuser" ] || pwfile="$dir/password-$user"
  port=$(cat "$dir/port")
  PGPASSWORD=$(cat "$pwfile") PGCONNECT_TIMEOUT=10 psql -X -q -A -t -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$port" -U "$user" -d "$db"
}

start() {
  local dir port bin data
  dir=$(mkdir -p "$1" && cd "$1" && pwd)
  port=${2:-$(free_port)}
  bin=$(pg_bin)
  data="$dir/data"
  stop "$dir"

  if [ ! -f "$data/PG_VERSION" ]; then
    [ -f "$dir/password" ] || { random_secret > "$dir/password"; }
    chmod 600 "$dir/password"
    mkdir -p "$data"
    # initdb refuses to run as root: the cluster belongs to `postgres`, which must reach DIR.
    if [ "$(id -u)" = 0 ]; then chown postgres: "$dir" "$data"; fi
    chmod 700 "$data"
    # initdb reads the superuser's password from a file the cluster owner can read; it is
    # removed again right after.
    local pwfile="$dir/.initdb-pwfile"
    install -m 600 /dev/null "$pwfile"
    cat "$dir/password" > "$pwfile"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$pwfile"; fi
    if ! (as_pg "$bin/initdb" -D "$data" -U "$superuser" --pwfile="$pwfile" \
            --auth-local=scram-sha-256 --auth-host=scram-sha-256 \
            -E UTF8 --locale=C > "$dir/initdb.log" 2>&1); then
      rm -f "$pwfile"
      echo "postgres.sh: initdb failed:" >&2; cat "$dir/initdb.log" >&2
      return 1
    fi
    rm -f "$pwfile"
    # Only TCP on 127.0.0.1 and the unix socket in DIR, both with passwords.
    cat > "$data/pg_hba.conf" <<'HBA'
local all all scram-sha-256
host all all 127.0.0.1/32 scram-sha-256
HBA
  fi
  cat > "$data/postgresql.auto.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
password_encryption = 'scram-sha-256'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
CONF
  if [ "$(id -u)" = 0 ]; then chown postgres: "$data/postgresql.auto.conf" "$data/pg_hba.conf"; fi
  echo "$port" > "$dir/port"

  local pid
  setsid nohup bash -c "$(declare -f as_pg); as_pg \"\$@\"" _ "$bin/postgres" -D "$data" \
      > "$dir/postgres.log" 2>&1 < /dev/null &
  pid=$!
  echo "$pid" > "$dir/postgres.pid"
  watch_postgres "$pid" "$dir"

  for _ in $(seq 300); do
    if pg_isready -q -h 127.0.0.1 -p "$port" 2>/dev/null; then
      if [ ! -f "$dir/.db-created" ]; then
        # The default database the printed URL names.
        echo "CREATE DATABASE $superuser ENCODING 'UTF8' LC_COLLATE='C' LC_CTYPE='C' TEMPLATE template0;" |
          run_psql "$dir" postgres "$superuser" > /dev/null
        touch "$dir/.db-created"
      fi
      echo "postgresql://$superuser@127.0.0.1:$port/$superuser"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "postgres.sh: PostgreSQL did not start on 127.0.0.1:$port; last log lines:" >&2
  tail -n 30 "$dir/postgres.log" >&2
  stop "$dir"
  return 1
}

# Like process.sh's watch_and_stop, but with PostgreSQL's fast-shutdown signal. With
# WATCH_CLEANUP=1 the watchdog also removes DIR once the server is gone (a cluster is ~50 MB, and
# a test run's shared server is never dropped).
watch_postgres() {
  local pid=$1 dir=$2 cleanup=""
  [ -n "${WATCH_PID:-}" ] || return 0
  # Only when the watched process is gone, not after a plain stop (which may be a restart).
  [ "${WATCH_CLEANUP:-}" = 1 ] && cleanup="kill -0 $WATCH_PID 2>/dev/null || rm -rf '$dir'"
  setsid nohup bash -c "while kill -0 $WATCH_PID 2>/dev/null && kill -0 $pid 2>/dev/null; do sleep 0.3; done
    kill -INT $pid 2>/dev/null; while kill -0 $pid 2>/dev/null; do sleep 0.3; done; $cleanup" \
    > /dev/null 2>&1 < /dev/null &
}

createdb() {
  local dir name owner=${3:-$superuser} port
  dir=$(cd "$1" && pwd); name=$2
  port=$(cat "$dir/port")
  case "$name$owner" in *[!a-z0-9_]*) echo "postgres.sh: names are [a-z0-9_]" >&2; return 2 ;; esac
  if [ "$owner" != "$superuser" ] && [ ! -f "$dir/password-$owner" ]; then
    random_secret > "$dir/password-$owner"; chmod 600 "$dir/password-$owner"
    # The password goes to psql on stdin (as a psql variable), never on a command line.
    { printf '\\set pw %s\n' "$(cat "$dir/password-$owner")"
      echo "CREATE ROLE $owner LOGIN PASSWORD :'pw';"; } | run_psql "$dir" postgres "$superuser" > /dev/null
  fi
  echo "CREATE DATABASE $name OWNER $owner ENCODING 'UTF8' LC_COLLATE='C' LC_CTYPE='C' TEMPLATE template0;" |
    run_psql "$dir" postgres "$superuser" > /dev/null
  echo "postgresql://$owner@127.0.0.1:$port/$name"
}

case ${1:-} in
  start) shift; start "$@" ;;
  stop) shift; stop "$1" ;;
  createdb) shift; createdb "$@" ;;
  psql) shift; d=$(cd "$1" && pwd); run_psql "$d" "${2:-$superuser}" "${3:-$superuser}" ;;
  *) echo "usage: $0 start DIR [PORT] | createdb DIR NAME [OWNER] | psql DIR [DB [USER]] | stop DIR" >&2; exit 2 ;;
esac
