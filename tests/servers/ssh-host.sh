#!/usr/bin/env bash
# A second host on this machine, reached over SSH, with no Python: a network namespace
# (`ip netns add`) joined to this host by a veth pair whose two addresses are used only between
# its two ends, running Debian's sshd chrooted into a Debian minbase root file system that has
# no python3 (debootstrap, built once and cached).
#
#   ssh-host.sh rootfs
#       Builds (once) and prints the cached root file system.
#   ssh-host.sh start DIR
#       Creates the namespace and starts sshd in it. Writes into DIR: id_ed25519 (a throwaway
#       client key), known_hosts (the throwaway host key, so ssh checks it), address, netns (the
#       namespace's name, for `ip netns exec`), root (the host's path of the target's directory
#       /srv/<id>, for files the target must see: secrets, databases), remote_dir (/srv/<id>),
#       and ansible_vars (inventory host variables for this host). Prints the address.
#       The target's /root is this host's own: $(cat DIR/root)/home, seen from this machine.
#       If WATCH_PID is set, the host is torn down as soon as that process exits, and with
#       SSH_HOST_CLEANUP=1 DIR is removed then too (its throwaway key with it).
#       SSH_HOST_BIND="DIR..." binds those directories of this machine, read-only and at the same
#       paths, into the target's root: bench/ssh.py uses it to give the target the Python and
#       Synapse that register_new_matrix_user (today's way, for comparison) needs. Tests never do.
#   ssh-host.sh stop DIR
#       Stops sshd (by its PID) and everything else started in the namespace, and deletes it.
#   Servers the target should reach on its own 127.0.0.1 (e.g. Synapse) are started with
#       ip netns exec "$(cat DIR/netns)" tests/servers/synapse.sh start "$(cat DIR/root)/synapse" 8008
#   They share this machine's files but see only the namespace's network.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=process.sh
. "$here/process.sh"
cache=${MATRIX_TEST_CACHE:-$HOME/.cache/matrix-users}
mkdir -p "$cache"
# shellcheck disable=SC1091 # the machine's own release file
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
rootfs_version=1
rootfs="$cache/ssh-rootfs-$suite-$rootfs_version"

# The Debian mirror this machine's apt uses (deb822 or one-line sources), so debootstrap goes where apt goes.
debian_mirror() {
  local uri
  uri=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null |
        grep -v -- '-security' | head -n1 || true)
  [ -n "$uri" ] || uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' \
        /etc/apt/sources.list 2>/dev/null || true)
  [ -n "$uri" ] || { echo "ssh-host.sh: no Debian mirror found in apt's sources" >&2; return 1; }
  echo "$uri"
}

build_rootfs() {
  local stamp="$rootfs/.built"
  [ -f "$stamp" ] && return 0
  # One builder at a time; the others wait and find it built.
  exec 7>"$cache/.ssh-rootfs.lock"
  flock 7
  if [ -f "$stamp" ]; then flock -u 7; return 0; fi
  "$here/toolchains.sh" ssh
  local start=$SECONDS tmp="$rootfs.tmp"
  echo "ssh-host.sh: debootstrap --variant=minbase $suite with openssh-server into $rootfs" >&2
  rm -rf "$tmp"
  # minbase: essential packages and apt only; --include resolves Depends, not Recommends
  # (openssh-server recommends ssh-import-id, which would bring python3).
  debootstrap --variant=minbase --include=openssh-server,openssh-sftp-server \
      "$suite" "$tmp" "$(debian_mirror)" > "$cache/ssh-rootfs-debootstrap.log" 2>&1 || {
    tail -n 20 "$cache/ssh-rootfs-debootstrap.log" >&2; return 1; }
  if compgen -G "$tmp/usr/bin/python*" > /dev/null; then
    echo "ssh-host.sh: the root file system has Python; it must not" >&2; return 1
  fi
  mkdir -p "$tmp/run/sshd" "$tmp/srv"
  chmod 0755 "$tmp/run/sshd"
  rm -f "$tmp"/etc/ssh/ssh_host_*_key*   # every start makes its own throwaway host key
  find "$tmp/var/cache/apt/archives" -name '*.deb' -delete
  rm -rf "$rootfs"; mv "$tmp" "$rootfs"
  echo "$((SECONDS - start))" > "$rootfs/.build-seconds"
  touch "$stamp"
  flock -u 7
  echo "ssh-host.sh: root file system built in $((SECONDS - start)) s" >&2
}

# Picks the first free slot 0..63: namespace matrix-users-N, link mu-N, a /30 of its own.
allocate() {
  local n
  for n in $(seq 0 63); do
    if [ ! -e "/run/netns/matrix-users-$n" ]; then echo "$n"; return 0; fi
  done
  echo "ssh-host.sh: no free namespace slot" >&2; return 1
}

start() {
  local dir; dir=$(mkdir -p "$1" && cd "$1" && pwd)
  build_rootfs
  exec 8>"$cache/.ssh-host.lock"
  flock 8
  local n ns link host_addr target_addr id remote root
  n=$(allocate)
  ns="matrix-users-$n"; link="mu-$n"
  host_addr="10.203.$((n / 64)).$((n % 64 * 4 + 1))"
  target_addr="10.203.$((n / 64)).$((n % 64 * 4 + 2))"
  ip netns add "$ns"
  echo "$ns" > "$dir/netns"
  flock -u 8
  ip link add "$link" type veth peer name eth0 netns "$ns"
  ip addr add "$host_addr/30" dev "$link"
  ip link set "$link" up
  ip netns exec "$ns" ip link set lo up
  ip netns exec "$ns" ip addr add "$target_addr/30" dev eth0
  ip netns exec "$ns" ip link set eth0 up

  # The target's own directory, inside its root file system.
  id="run-$n-$$"; remote="/srv/$id"; root="$rootfs$remote"
  rm -rf "$root"; mkdir -p "$root"; chmod 0755 "$root"
  echo "$root" > "$dir/root"; echo "$remote" > "$dir/remote_dir"; echo "$target_addr" > "$dir/address"

  rm -f "$dir/id_ed25519" "$dir/id_ed25519.pub"
  ssh-keygen -q -t ed25519 -N '' -C "matrix-users-test-$n" -f "$dir/id_ed25519"
  ssh-keygen -q -t ed25519 -N '' -C "matrix-users-host-$n" -f "$root/ssh_host_ed25519_key"
  cp "$dir/id_ed25519.pub" "$root/authorized_keys"
  echo "$target_addr $(cut -d' ' -f1,2 "$root/ssh_host_ed25519_key.pub")" > "$dir/known_hosts"
  cat > "$root/sshd_config" <<CONF
ListenAddress $target_addr
HostKey $remote/ssh_host_ed25519_key
PidFile $remote/sshd.pid
AuthorizedKeysFile $remote/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
MaxStartups 50
MaxSessions 50
Subsystem sftp /usr/lib/openssh/sftp-server
CONF
  cat > "$dir/ansible_vars" <<VARS
ansible_host=$target_addr ansible_user=root ansible_ssh_private_key_file=$dir/id_ed25519 ansible_ssh_common_args='-o UserKnownHostsFile=$dir/known_hosts -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes'
VARS

  # `ip netns exec` runs the command in a mount namespace of its own: /proc and /dev mounted
  # here are gone when sshd exits. A plain background command: $! is sshd itself.
  # Each host has a home of its own for root (/srv/<id>/home mounted on /root), so what Ansible
  # keeps there (~/.ansible/tmp, the collection's binary cache) is neither shared between hosts
  # running at the same time nor left in the cached root file system.
  mkdir -m 0700 "$root/home"
  local binds="mount --bind '$root/home' '$rootfs/root' && " b
  for b in ${SSH_HOST_BIND:-}; do
    # The mount point is made after /root is mounted (a bind under /root lands in this host's home).
    binds+="mkdir -p '$rootfs$b' && mount --bind '$b' '$rootfs$b' && mount -o remount,bind,ro '$rootfs$b' && "
  done
  # shellcheck disable=SC2016 # $1 and $2 belong to the inner shell
  setsid nohup ip netns exec "$ns" sh -c \
    "$binds"'mount -t proc proc "$1/proc" && mount --rbind /dev "$1/dev" && exec chroot "$1" /usr/sbin/sshd -D -e -f "$2/sshd_config"' \
    sh "$rootfs" "$remote" > "$dir/sshd.log" 2>&1 < /dev/null &
  echo $! > "$dir/sshd.pid"
  if [ -n "${WATCH_PID:-}" ]; then
    local cleanup=""
    [ "${SSH_HOST_CLEANUP:-}" = 1 ] && cleanup="; rm -rf '$dir'"
    setsid nohup bash -c "while kill -0 $WATCH_PID 2>/dev/null; do sleep 0.3; done; '$here/ssh-host.sh' stop '$dir'$cleanup" \
      > /dev/null 2>&1 < /dev/null &
  fi

  local i
  for i in $(seq 100); do
    if ssh -o BatchMode=yes -o ConnectTimeout=2 -o UserKnownHostsFile="$dir/known_hosts" -o StrictHostKeyChecking=yes \
         -o IdentitiesOnly=yes -i "$dir/id_ed25519" "root@$target_addr" true 2>/dev/null; then
      echo "$target_addr"; return 0
    fi
    kill -0 "$(cat "$dir/sshd.pid")" 2>/dev/null || break
    [ "$i" -lt 100 ] && sleep 0.1
  done
  echo "ssh-host.sh: sshd did not answer on the test host; its log:" >&2
  cat "$dir/sshd.log" >&2
  stop "$dir"
  return 1
}

stop() {
  local dir=$1 ns pid
  [ -f "$dir/netns" ] || return 0
  ns=$(cat "$dir/netns")
  stop_pid_file "$dir/sshd.pid"
  # Whatever else still runs in the namespace (a server a test started there, a session).
  if [ -e "/run/netns/$ns" ]; then
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 50); do [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break; sleep 0.1; done
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true   # deleting the namespace deletes the veth pair
  fi
  if [ -f "$dir/root" ]; then rm -rf "$(cat "$dir/root")"; fi
  rm -f "$dir/netns"
}

case ${1:-} in
  rootfs) build_rootfs; echo "$rootfs" ;;
  start) shift; start "$1" ;;
  stop) shift; stop "$1" ;;
  *) echo "usage: $0 rootfs | start DIR | stop DIR" >&2; exit 2 ;;
esac
