# Shared by synapse.sh and mreg.sh (sourced): background servers, stopped by their recorded PID.

# stop_pid_file FILE: SIGTERM the process whose PID FILE holds, SIGKILL after 10 s, remove FILE.
stop_pid_file() {
  local file=$1 pid
  [ -f "$file" ] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

# watch_and_stop PID: if WATCH_PID is set, stop PID as soon as that process exits, so a crashed
# test run never leaves a server behind.
watch_and_stop() {
  local pid=$1
  [ -n "${WATCH_PID:-}" ] || return 0
  setsid nohup bash -c "while kill -0 $WATCH_PID 2>/dev/null && kill -0 $pid 2>/dev/null; do sleep 0.3; done; kill -TERM $pid 2>/dev/null" \
    > /dev/null 2>&1 < /dev/null &
}

# wait_for_url PID URL [HEADER]: poll URL (up to 120 s: a loaded 2-core machine starts Synapse
# slowly; a server that dies ends the wait at once) until it answers 2xx; fail early if PID
# exits. HEADER (e.g. an Authorization line) is read by curl from stdin, never put on its
# command line.
wait_for_url() {
  local pid=$1 url=$2 header=${3:-}
  for _ in $(seq 1200); do
    if curl -fsS -o /dev/null -H @- "$url" 2>/dev/null <<< "$header"; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}
