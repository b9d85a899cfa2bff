#!/usr/bin/env bash
# Creates the Python environments the tests need, once, in a cache directory:
#   ansible   ansible-core + molecule (the controller)
#   synapse   matrix-synapse with its postgres extra (a real homeserver, on SQLite or PostgreSQL)
#   mreg09    matrix-registration 0.9.1.post1
#   mreg07    matrix-registration 0.7.2 (the API generation matrix-docker-ansible-deploy shipped)
# matrix-registration pins Jinja2 2.x, which conflicts with ansible-core, hence separate venvs.
# Usage: venvs.sh [name...]   (default: all). Prints nothing but progress on stderr.
set -euo pipefail
# Package specs such as name[extra]==1.0 are words, not file patterns.
set -o noglob
here=$(cd "$(dirname "$0")" && pwd)
cache=${MATRIX_TEST_CACHE:-$HOME/.cache/matrix-users}
mkdir -p "$cache"
python=${PYTHON:-python3}

# Versions are pinned so that a later machine builds the same thing.
declare -A packages=(
  [ansible]="ansible-core==2.19.14 molecule==26.10.0"
  [synapse]="matrix-synapse[postgres]==1.163.2"
  [mreg09]="matrix-registration==0.9.1.post1"
  [mreg07]="matrix-registration==0.7.2"
)

make_venv() {
  local name=$1 dir="$cache/venv-$1" stamp
  stamp="$dir/.installed-$(echo "${packages[$1]}" | tr ' =' '_-' | tr -d '][')"
  [ -f "$stamp" ] && return 0
  if [ "$name" = synapse ]; then
    # psycopg2 (the postgres extra) has no wheels: it builds against libpq with gcc and the
    # Python headers.
    if ! command -v pg_config > /dev/null || ! command -v gcc > /dev/null; then
      apt-get -o DPkg::Lock::Timeout=900 install -y -q libpq-dev gcc >&2
    fi
    local inc
    inc=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
    [ -f "$inc/Python.h" ] || apt-get -o DPkg::Lock::Timeout=900 install -y -q python3-dev >&2
  fi
  if [ "$name" = synapse ] && [ -x "$dir/bin/pip" ]; then
    # Servers of other test runs may be using this venv right now: add to it in place
    # instead of recreating it.
    echo "venvs.sh: updating $dir (${packages[$1]})" >&2
  else
    echo "venvs.sh: creating $dir (${packages[$1]})" >&2
    rm -rf "$dir"
    "$python" -m venv "$dir"
  fi
  # shellcheck disable=SC2086 # the package list is split into words on purpose (noglob is on)
  case $name in
    mreg*)
      # PIP_CONSTRAINT reaches isolated build envs in the venv's own pip (23.x); newer pips
      # read PIP_BUILD_CONSTRAINT instead. Setting both keeps this working either way.
      PIP_CONSTRAINT="$here/mreg-build-constraints.txt" PIP_BUILD_CONSTRAINT="$here/mreg-build-constraints.txt" \
        "$dir/bin/pip" install -q -c "$here/mreg-constraints.txt" ${packages[$name]} >&2 ;;
    *)
      "$dir/bin/pip" install -q ${packages[$name]} >&2 ;;
  esac
  touch "$stamp"
}

# One installer at a time: test binaries may ask concurrently.
exec 9>"$cache/.venvs.lock"
flock 9
if [ $# -eq 0 ]; then set -- ansible synapse mreg09 mreg07; fi
for name in "$@"; do
  [ -n "${packages[$name]:-}" ] || { echo "venvs.sh: unknown venv '$name'" >&2; exit 2; }
  make_venv "$name"
done
