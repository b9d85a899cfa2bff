#!/usr/bin/env bash
# Runs one user-management tag the way matrix-docker-ansible-deploy's justfile does
# (ansible-playbook -i inventory/hosts setup.yml --tags=TAG --extra-vars=...), but hands the
# values to Ansible in a private file instead of on a command line that a shell or Ansible would
# parse again: a password with a space, a quote or "{{" arrives exactly as typed.
#
#   scripts/run-tag.sh TAG [NAME VALUE]... [-- ANSIBLE_PLAYBOOK_ARGS...]
#
# A VALUE of "-" for password is read from the terminal (not echoed) instead.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 TAG [NAME VALUE]... [-- ANSIBLE_PLAYBOOK_ARGS...]" >&2; exit 2; }
tag=$1; shift
pairs=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
  [ $# -ge 2 ] || { echo "run-tag.sh: $1 has no value" >&2; exit 2; }
  name=$1 value=$2
  if [ "$name" = password ] && [ "$value" = - ]; then
    read -r -s -p "Password: " value; echo >&2
  fi
  pairs+=("$name" "$value"); shift 2
done
[ "${1:-}" = -- ] && shift

playbook=$(command -v ansible-playbook) || {
  echo "run-tag.sh: ansible-playbook is not on PATH (install Ansible, as for matrix-docker-ansible-deploy)" >&2; exit 127; }
# The Python that runs Ansible writes the file; it is on every Ansible controller.
python=$(head -n1 "$playbook" | sed -n 's/^#! *//p' | cut -d' ' -f1)
[ -x "$python" ] || python=$(command -v python3)

umask 077
vars_file=$(mktemp "${TMPDIR:-/tmp}/matrix-users-extra-vars.XXXXXX")
trap 'rm -f "$vars_file"' EXIT
# NUL-separated NAME VALUE pairs on stdin (printf is a shell builtin: no argument list shows
# them). Each value becomes an !unsafe YAML string: Ansible never evaluates it as a template.
printf '%s\0' "${pairs[@]}" | "$python" -c '
import json, sys
items = sys.stdin.buffer.read().split(b"\0")[:-1]
with open(sys.argv[1], "w", encoding="utf-8") as f:
    f.write("---\n")
    for name, value in zip(items[0::2], items[1::2]):
        value = value.decode("utf-8", "surrogateescape")
        f.write("%s: !unsafe %s\n" % (name.decode(), json.dumps(value, ensure_ascii=False)))
' "$vars_file"

exec_args=(-i inventory/hosts setup.yml "--tags=$tag")
[ ${#pairs[@]} -gt 0 ] && exec_args+=("--extra-vars=@$vars_file")
# Not exec: the trap removes the file when ansible-playbook is done.
"$playbook" "${exec_args[@]}" "$@"
