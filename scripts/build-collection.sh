#!/usr/bin/env bash
# Stages and builds the Ansible collection matrix.users (run through `make collection`).
#
#   BIN_x86_64=DIR BIN_aarch64=DIR scripts/build-collection.sh OUT MODULE...
#
# Stages OUT/ansible_collections/matrix/users from the repository as it is:
#   galaxy.yml            ./collection/galaxy.yml plus `version:` from Cargo.toml (the one place it is kept)
#   README.md             docs/collection.md
#   meta/runtime.yml      ./collection/meta/runtime.yml plus the routing of every MODULE to the action plugin
#   plugins/action/       ./plugins/action/ (the dispatcher binary_module, and binary_cache)
#   plugins/plugin_utils/ ./plugins/plugin_utils/ (the binary cache on the target)
#   plugins/vars/         ./plugins/vars/ (binary_cache: declares the cache's settings for ansible-config)
#   plugins/modules/      ./plugins/modules/*.py (documentation of the action-only module binary_cache)
#   plugins/modules/      per MODULE: MODULE (the name's entry point, text), MODULE.yml (the
#                         sidecar docs, library/MODULE.yml adapted by scripts/collection-docs.py:
#                         FQCNs, no no_log keys), __MODULE_linux_<arch> (the static
#                         binary from $BIN_<arch>, checked to be a static ELF of that machine)
#   roles/                ./roles/ copied as it is
#   playbooks/            ./playbooks/setup.yml (ansible-playbook matrix.users.setup)
#   tests/sanity/         the ansible-test sanity ignores binary modules need, each explained
# then runs `ansible-galaxy collection build` into OUT and prints the tarball's path.
# ANSIBLE_GALAXY (default: ansible-galaxy on PATH) and PYTHON (default: python3) may be set.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
[ $# -ge 2 ] || { echo "usage: BIN_x86_64=DIR BIN_aarch64=DIR $0 OUT MODULE..." >&2; exit 2; }
out=$(mkdir -p "$1" && cd "$1" && pwd); shift
modules=("$@")
arches=(x86_64 aarch64)
galaxy=${ANSIBLE_GALAXY:-ansible-galaxy}
python=${PYTHON:-python3}

version=$(awk '/^\[/ { section = $0 } section == "[package]" && $1 == "version" { gsub(/"/, "", $3); print $3; exit }' Cargo.toml)
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+ ]] || { echo "build-collection.sh: no version in Cargo.toml's [package]" >&2; exit 1; }
if grep -q '^version:' collection/galaxy.yml; then
  echo "build-collection.sh: galaxy.yml must not carry a version; it comes from Cargo.toml" >&2; exit 1
fi

stage="$out/ansible_collections/matrix/users"
rm -rf "$out/ansible_collections"
mkdir -p "$stage/meta" "$stage/plugins/modules" "$stage/plugins/action" "$stage/plugins/plugin_utils" "$stage/plugins/vars" \
  "$stage/roles" "$stage/playbooks" "$stage/tests/sanity"

{ cat collection/galaxy.yml; echo "version: $version"; } > "$stage/galaxy.yml"
cp docs/collection.md "$stage/README.md"
cp plugins/action/*.py "$stage/plugins/action/"
cp plugins/plugin_utils/*.py "$stage/plugins/plugin_utils/"
cp plugins/vars/*.py "$stage/plugins/vars/"
cp plugins/modules/*.py "$stage/plugins/modules/"
cp -a roles/. "$stage/roles/"
cp playbooks/setup.yml "$stage/playbooks/setup.yml"
# In the checkout the role names the modules by their short names (library/); in the collection
# they are matrix.users.<module>: module_defaults keys in particular are not searched for in the
# role's own collection, so they get their FQCN here (task keys too, for clarity).
module_alternatives=$(IFS='|'; echo "${modules[*]}")
find "$stage/roles" -name '*.yml' -path '*/tasks/*' -print0 |
  xargs -0 sed -E -i "s/^([[:space:]]+)(${module_alternatives}):([[:space:]].*)?\$/\1matrix.users.\2:\3/"

{
  cat collection/meta/runtime.yml
  echo "plugin_routing:"
  echo "  modules:"
  for m in "${modules[@]}"; do
    printf '    %s:\n      action_plugin: matrix.users.binary_module\n' "$m"
  done
} > "$stage/meta/runtime.yml"

# A static ELF of the expected machine, or a clear failure (e.g. a glibc build copied by mistake).
check_binary() {
  "$python" - "$1" "$2" <<'PY'
import struct, sys
path, arch = sys.argv[1], sys.argv[2]
machines = {"x86_64": 62, "aarch64": 183}
with open(path, "rb") as f:
    data = f.read()
if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
    sys.exit(f"{path}: not a 64-bit little-endian ELF file")
machine = struct.unpack_from("<H", data, 18)[0]
if machine != machines[arch]:
    sys.exit(f"{path}: ELF machine {machine}, expected {arch} ({machines[arch]})")
phoff, = struct.unpack_from("<Q", data, 32)
phentsize, phnum = struct.unpack_from("<HH", data, 54)
for i in range(phnum):
    p_type, = struct.unpack_from("<I", data, phoff + i * phentsize)
    if p_type == 3:  # PT_INTERP: needs a dynamic loader and libraries (static-pie has none)
        sys.exit(f"{path}: dynamically linked; the target may have no libraries")
PY
}

for m in "${modules[@]}"; do
  [ -f "library/$m.yml" ] || { echo "build-collection.sh: library/$m.yml (the docs of $m) is missing" >&2; exit 1; }
  "$python" scripts/collection-docs.py "library/$m.yml" "$stage/plugins/modules/$m.yml" "${modules[@]}"
  cat > "$stage/plugins/modules/$m" <<TXT
# matrix.users.$m: this file gives the module its name; its documentation is $m.yml.
# The module itself is a static binary per target architecture, __${m}_linux_<machine>, which the
# action plugin matrix.users.binary_module picks for each target (meta/runtime.yml routes $m there).
TXT
  for a in "${arches[@]}"; do
    var="BIN_$a"; dir=${!var:-}
    if [ -z "$dir" ] || [ ! -f "$dir/$m" ]; then
      echo "build-collection.sh: no $a binary of $m (set $var to its directory)" >&2; exit 1
    fi
    check_binary "$dir/$m" "$a"
    # Not executable here: Ansible sets the execute bit on the target after copying.
    install -m 0644 "$dir/$m" "$stage/plugins/modules/__${m}_linux_$a"
  done
done

# ansible-test reads tests/sanity/ignore-<ansible-core major.minor>.txt.
ignores="$stage/tests/sanity/ignore-2.19.txt"
{
  for m in "${modules[@]}"; do
    echo "plugins/modules/$m validate-modules:invalid-extension # the module's name and its sidecar docs ($m.yml); the code is the binaries __${m}_linux_<machine>"
    echo "plugins/modules/$m validate-modules:missing-gplv3-license # the collection is Apache-2.0 (galaxy.yml), not GPLv3"
    echo "plugins/modules/$m.yml validate-modules:missing-gplv3-license # the collection is Apache-2.0 (galaxy.yml), not GPLv3"
    for a in "${arches[@]}"; do
      echo "plugins/modules/__${m}_linux_$a validate-modules!skip # a static $a binary (Rust), not text: validate-modules reads modules as UTF-8 source; its docs, $m.yml, are validated"
    done
  done
  echo "plugins/action/binary_module.py action-plugin-docs # the dispatcher for every module (meta/runtime.yml action_plugin), not a module of its own"
  echo "plugins/modules/binary_cache.py validate-modules:missing-gplv3-license # the collection is Apache-2.0 (galaxy.yml), not GPLv3"
  echo "plugins/vars/binary_cache.py validate-modules:missing-gplv3-license # the collection is Apache-2.0 (galaxy.yml), not GPLv3"
} > "$ignores"

rm -f "$out"/matrix-users-*.tar.gz
"$galaxy" collection build --force --output-path "$out" "$stage" >&2
echo "$out/matrix-users-$version.tar.gz"
