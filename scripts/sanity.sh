#!/usr/bin/env bash
# ansible-test sanity on the collection as it ships (run through `make sanity`).
#
#   scripts/sanity.sh TARBALL [ansible-test options...]
#
# Installs TARBALL into a temporary ansible_collections tree (ansible-test wants the collection at
# .../ansible_collections/<namespace>/<name>) and runs every sanity test that needs no container.
# ansible-test installs each test's pinned requirements into venvs of its own, bootstrapping pip
# in them with a get-pip.py script it downloads from a host this machine cannot reach; the
# stand-in below bootstraps pip with Python's own ensurepip and installs the same pinned packages
# from PyPI. ansible-test's venvs and that stand-in live in the project's cache (HOME points there
# for the run). The ignores are the collection's tests/sanity/ignore-2.19.txt, written by
# scripts/build-collection.sh, each with its reason.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
tarball=$(cd "$(dirname "$1")" && pwd)/$(basename "$1"); shift
cache=${MATRIX_TEST_CACHE:-$HOME/.cache/matrix-users}
"$here/tests/servers/venvs.sh" ansible
bin="$cache/venv-ansible/bin"
home="$cache/ansible-test-home"

pip_version=$("$bin/python" -c 'import re, ansible_test._internal.python_requirements as r, inspect; print(re.search(r"pip=.(\d[\d.]*)", inspect.getsource(r.get_venv_packages)).group(1))')
get_pip="$home/.ansible/test/cache/get_pip_${pip_version//./_}.py"
mkdir -p "$(dirname "$get_pip")"
cat > "$get_pip" <<'PY'
"""Stand-in for get-pip.py, written by scripts/sanity.sh: pip from ensurepip, then what was asked for from PyPI."""
import subprocess
import sys

# In a child process: ensurepip empties this process's pip settings (PIP_CONFIG_FILE=/dev/null).
subprocess.check_call([sys.executable, "-m", "ensurepip"], stdout=subprocess.DEVNULL)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install", "-q"] + args)
PY

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin/ansible-galaxy" collection install -p "$tmp" "$tarball" > /dev/null 2>&1
cd "$tmp/ansible_collections/matrix/users"
pyver=$("$bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
HOME="$home" PATH="$bin:$PATH" "$bin/ansible-test" sanity --color no --python "$pyver" "$@"
echo "sanity.sh: ansible-test sanity passed on $(basename "$tarball")"
