#!/usr/bin/env bash
# The demo: a throwaway Synapse on 127.0.0.1 and an inventory shaped like a matrix-docker-ansible-deploy
# one, the register-user tag run twice against it (created, then ok), the account read back from
# the server, and the server stopped again.
# Run through `make demo`, which builds the modules into library/ first.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
cache=${MATRIX_TEST_CACHE:-$HOME/.cache/matrix-users}
demo="$repo/.demo"

tests/servers/venvs.sh ansible synapse
rm -rf "$demo"; mkdir -p "$demo"
trap 'tests/servers/synapse.sh stop "$demo/synapse"' EXIT

# The inventory an operator of matrix-docker-ansible-deploy (MDAD) has, unchanged: the settings
# MDAD's examples/vars.yml asks for, plus the one line that publishes Synapse's client API on the
# host's loopback. The role derives the registration shared secret from
# matrix_homeserver_generic_secret_key exactly as MDAD does; the demo Synapse is started with
# that same derived secret (computed here without Ansible).
port=$("$cache/venv-ansible/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
generic_key=$("$cache/venv-ansible/bin/python" -c 'import secrets; print(secrets.token_urlsafe(32))')
mkdir -p "$demo/synapse" "$demo/inventory/host_vars/matrix.localhost"
printf '%s' "$generic_key" | "$cache/venv-ansible/bin/python" -c '
import hashlib, sys, uuid
key = sys.stdin.buffer.read()
print(uuid.uuid5(uuid.UUID("361E6D51-FAEC-444A-9079-341386DA8E2E"), hashlib.sha512(key + b":synapse.mac").hexdigest()))
' > "$demo/synapse/shared-secret"
cat > "$demo/inventory/hosts" <<INI
[matrix_servers]
matrix.localhost ansible_host=127.0.0.1 ansible_ssh_user=root ansible_connection=local
INI
cat > "$demo/inventory/host_vars/matrix.localhost/vars.yml" <<YAML
---
matrix_domain: localhost
matrix_homeserver_implementation: synapse
matrix_homeserver_generic_secret_key: '$generic_key'
matrix_playbook_reverse_proxy_type: playbook-managed-traefik
postgres_connection_password: 'unused-by-the-demo'
matrix_synapse_container_client_api_host_bind_port: '127.0.0.1:$port'
YAML
chmod 600 "$demo/inventory/host_vars/matrix.localhost/vars.yml"

echo "== Starting a throwaway Synapse (SQLite, 127.0.0.1 only)"
url=$(tests/servers/synapse.sh start "$demo/synapse" "$port")
echo "   $url"

# The extra vars, in a file so the password is not on any command line:
# the same as --extra-vars='username=john password=... admin=yes'.
password=$("$cache/venv-ansible/bin/python" -c 'import secrets; print(secrets.token_urlsafe(12))')
printf '{"username": "john", "password": "%s", "admin": "yes"}\n' "$password" > "$demo/john.json"
chmod 600 "$demo/john.json"

export PATH="$cache/venv-ansible/bin:$PATH" ANSIBLE_LIBRARY="$repo/library" ANSIBLE_ROLES_PATH="$repo/roles"
for run in first second; do
  echo
  echo "== ansible-playbook -i .demo/inventory/hosts setup.yml --tags=register-user --extra-vars=@.demo/john.json   ($run run)"
  ansible-playbook -i "$demo/inventory/hosts" setup.yml --tags=register-user --extra-vars="@$demo/john.json"
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
