#!/usr/bin/env bash
# The demo: a throwaway Synapse on 127.0.0.1, the register-user tag run twice against it (created,
# then ok), the account read back from the server, and the server stopped again.
# Run through `make demo`, which builds the modules into library/ first.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
cache=${MATRIX_TEST_CACHE:-$HOME/.cache/matrix-users}
demo="$repo/.demo"

tests/servers/venvs.sh ansible synapse
rm -rf "$demo"; mkdir -p "$demo"
trap 'tests/servers/synapse.sh stop "$demo/synapse"' EXIT

echo "== Starting a throwaway Synapse (SQLite, 127.0.0.1 only)"
url=$(tests/servers/synapse.sh start "$demo/synapse")
echo "   $url"

# The inventory an operator has, pointed at the demo server. The shared secret stays in a file.
cat > "$demo/hosts" <<INI
[matrix_servers]
localhost ansible_connection=local

[matrix_servers:vars]
matrix_domain=localhost
matrix_user_management_homeserver_url=$url
matrix_user_management_shared_secret_file=$demo/synapse/shared-secret
INI
# The extra vars, in a file so the password is not on any command line:
# the same as --extra-vars='username=john password=... admin=yes'.
password=$("$cache/venv-ansible/bin/python" -c 'import secrets; print(secrets.token_urlsafe(12))')
printf '{"username": "john", "password": "%s", "admin": "yes"}\n' "$password" > "$demo/john.json"
chmod 600 "$demo/john.json"

export PATH="$cache/venv-ansible/bin:$PATH" ANSIBLE_LIBRARY="$repo/library" ANSIBLE_ROLES_PATH="$repo/roles"
for run in first second; do
  echo
  echo "== ansible-playbook -i .demo/hosts playbooks/setup.yml --tags=register-user --extra-vars=@.demo/john.json   ($run run)"
  ansible-playbook -i "$demo/hosts" playbooks/setup.yml --tags=register-user --extra-vars="@$demo/john.json"
done

echo
echo "== The account as Synapse stores it (users table):"
"$cache/venv-synapse/bin/python" - "$demo/synapse/homeserver.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print("   name                 admin  devices")
for name, admin in db.execute("SELECT name, admin FROM users ORDER BY name"):
    n = db.execute("SELECT count(*) FROM devices WHERE user_id = ?", (name,)).fetchone()[0]
    print(f"   {name:<20} {admin:<6} {n}")
PY
echo
echo "john was created once (changed), the second run was ok (unchanged), and no device was left"
echo "on the account. The password is in .demo/john.json; the server stops now."
