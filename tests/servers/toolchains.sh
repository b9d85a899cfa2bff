#!/usr/bin/env bash
# Installs, once and cached, what the cross builds and the aarch64 tests need:
#   zig       ziglang + cargo-zigbuild from PyPI (binary wheels) in $cache/venv-zig: the C cross
#             compiler that ring (rustls) and the bundled SQLite need for aarch64 musl
#   targets   the rustup targets x86_64-unknown-linux-musl and aarch64-unknown-linux-musl
#   musl      Debian's musl-tools (musl-gcc, the x86_64 static build's C compiler)
#   qemu      Debian's qemu-user-static (runs the aarch64 binaries on this x86_64 machine)
#   ssh       Debian's openssh-client and debootstrap (the SSH test host, tests/servers/ssh-host.sh)
# Usage: toolchains.sh [name...]   (default: all). Progress goes to stderr only.
#        toolchains.sh path zig     prints the directory to put on PATH for cargo zigbuild.
set -euo pipefail
cache=${MATRIX_TEST_CACHE:-$HOME/.cache/matrix-users}
mkdir -p "$cache"
python=${PYTHON:-python3}
zig_packages="ziglang==0.17.1 cargo-zigbuild==0.24.1"
zig_venv="$cache/venv-zig"

apt_install() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  echo "toolchains.sh: apt-get install ${missing[*]}" >&2
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=900 update -qq >&2
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=900 install -y -qq "${missing[@]}" >&2
}

install_zig() {
  local stamp
  stamp="$zig_venv/.installed-$(echo "$zig_packages" | tr ' =' '_-')"
  [ -f "$stamp" ] && return 0
  echo "toolchains.sh: creating $zig_venv ($zig_packages)" >&2
  rm -rf "$zig_venv"
  "$python" -m venv "$zig_venv"
  # shellcheck disable=SC2086 # the package list is meant to split
  "$zig_venv/bin/pip" install -q $zig_packages >&2
  # cargo-zigbuild finds zig as `zig` on PATH; ziglang installs it as python-zig.
  if [ -x "$zig_venv/bin/python-zig" ]; then
    ln -sf python-zig "$zig_venv/bin/zig"
  else
    printf '#!/bin/sh\nexec "%s/bin/python" -m ziglang "$@"\n' "$zig_venv" > "$zig_venv/bin/zig"
  fi
  chmod +x "$zig_venv/bin/zig"
  "$zig_venv/bin/zig" version >/dev/null
  "$zig_venv/bin/cargo-zigbuild" --version >/dev/null
  touch "$stamp"
}

install_targets() {
  local installed
  installed=$(rustup target list --installed)
  for t in x86_64-unknown-linux-musl aarch64-unknown-linux-musl; do
    grep -qx "$t" <<< "$installed" || rustup target add "$t" >&2
  done
}

exec 9>"$cache/.toolchains.lock"
flock 9
if [ "${1:-}" = path ]; then
  case ${2:-} in
    zig) install_zig; echo "$zig_venv/bin" ;;
    *) echo "toolchains.sh: path of what?" >&2; exit 2 ;;
  esac
  exit 0
fi
if [ $# -eq 0 ]; then set -- zig targets musl qemu ssh; fi
for name in "$@"; do
  case $name in
    zig) install_zig ;;
    targets) install_targets ;;
    musl) command -v musl-gcc >/dev/null || apt_install musl-tools ;;
    qemu) command -v qemu-aarch64-static >/dev/null || apt_install qemu-user-static ;;
    ssh) apt_install openssh-client debootstrap iproute2 ;;
    *) echo "toolchains.sh: unknown toolchain '$name'" >&2; exit 2 ;;
  esac
done
