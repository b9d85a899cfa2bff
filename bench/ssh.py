#!/usr/bin/env python3
"""The register-user tag over SSH: the collection matrix.users against today's way.

Run through `make bench` (after bench/run.py) or alone: `bench/ssh.py [RUNS]`. Needs the built
collection (target/collection/matrix-users-<version>.tar.gz, `make collection`).

A second host (tests/servers/ssh-host.sh: a network namespace with Debian's sshd chrooted into a
Debian minbase) runs its own Synapse on its 127.0.0.1 (Synapse's default bcrypt_rounds, 12).
The same operator playbook (outside this repository, hosts over SSH) runs the register-user tag:
  - ours: the collection's role by FQCN; Ansible copies the static binary and runs it;
  - today's way: what matrix-docker-ansible-deploy runs inside its Synapse container,
    register_new_matrix_user, here run on the target with ansible.builtin.raw (no AnsiballZ:
    the lower bound of MDAD's ansible.builtin.command task). For this comparison only, the
    target's root gets this machine's Python and Synapse virtualenv bound in, read-only
    (SSH_HOST_BIND); the tests' target has no Python.
Each number is the median wall time of RUNS runs of ansible-playbook (a new account per run, or
the same account again), plus the time Ansible spent copying the module binary per task (-vvv,
the action plugin's own measurement). Writes a section into docs/benchmarks.md.
"""
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("MATRIX_TEST_CACHE", os.path.expanduser("~/.cache/matrix-users"))
ANSIBLE_BIN = os.path.join(CACHE, "venv-ansible", "bin")
SYNAPSE_VENV = os.path.join(CACHE, "venv-synapse")
SECTION = "## The register-user tag over SSH (bench/ssh.py)"

OURS = """---
- name: Matrix users, from the installed collection
  hosts: matrix_servers
  gather_facts: false
  tasks:
    - name: Register a user
      ansible.builtin.import_role:
        name: matrix.users.matrix_user_management
        tasks_from: register_user
      tags: [never, register-user]
"""

# matrix-docker-ansible-deploy: `docker exec matrix-synapse register_new_matrix_user ...` in an
# ansible.builtin.command task; here the same script, on the target, through raw.
TODAY = """---
- name: Matrix users, today's way
  hosts: matrix_servers
  gather_facts: false
  tasks:
    - name: Register a user with register_new_matrix_user on the server
      ansible.builtin.raw: >-
        {{ synapse_venv }}/bin/register_new_matrix_user -u {{ username }}
        --password-file {{ password_file }} {{ '-a' if admin | bool else '--no-admin' }}
        --exists-ok -c {{ client_config }} http://127.0.0.1:8008
      no_log: true
      tags: [never, register-user]
"""


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def median_ms(values):
    return f"{statistics.median(values) * 1000:.0f} ms"


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    version = re.search(r'^version = "([^"]+)"', open(os.path.join(REPO, "Cargo.toml")).read(), re.M).group(1)
    tarball = os.path.join(REPO, "target", "collection", f"matrix-users-{version}.tar.gz")
    if not os.path.exists(tarball):
        sys.exit(f"{tarball} is missing: run `make collection`")
    work = tempfile.mkdtemp(prefix="bench-ssh-")
    host = os.path.join(work, "host")
    collections = os.path.join(work, "collections")
    run([os.path.join(ANSIBLE_BIN, "ansible-galaxy"), "collection", "install", "-p", collections, tarball])

    python_base = run([os.path.join(SYNAPSE_VENV, "bin", "python"), "-c", "import sys; print(sys.base_prefix)"]).stdout.strip()
    start = time.monotonic()
    env = dict(os.environ, WATCH_PID=str(os.getpid()), SSH_HOST_BIND=f"{python_base} {os.path.realpath(SYNAPSE_VENV)}")
    run([os.path.join(REPO, "tests/servers/ssh-host.sh"), "start", host], env=env)
    host_seconds = time.monotonic() - start
    try:
        netns = open(os.path.join(host, "netns")).read().strip()
        root = open(os.path.join(host, "root")).read().strip()
        remote = open(os.path.join(host, "remote_dir")).read().strip()
        host_vars = open(os.path.join(host, "ansible_vars")).read().strip()
        run(["ip", "netns", "exec", netns, os.path.join(REPO, "tests/servers/synapse.sh"), "start",
             os.path.join(root, "synapse"), "8008"], env=dict(os.environ, WATCH_PID=str(os.getpid()), SYNAPSE_BCRYPT_ROUNDS="12"))
        with open(os.path.join(root, "client.yaml"), "w") as f:
            f.write(f"registration_shared_secret_path: {remote}/synapse/shared-secret\n")
        with open(os.path.join(root, "password"), "w") as f:
            f.write("bench-password-1234\n")
        os.chmod(os.path.join(root, "password"), 0o600)
        play = os.path.join(work, "play")
        os.makedirs(play)
        with open(os.path.join(play, "hosts"), "w") as f:
            f.write(f"[matrix_servers]\nmatrix.example.test {host_vars}\n\n[matrix_servers:vars]\nmatrix_domain=localhost\n"
                    f"matrix_user_management_shared_secret_file={remote}/synapse/shared-secret\n"
                    f"synapse_venv={os.path.realpath(SYNAPSE_VENV)}\nclient_config={remote}/client.yaml\n"
                    f"password_file={remote}/password\n")
        for name, text in (("ours.yml", OURS), ("today.yml", TODAY)):
            with open(os.path.join(play, name), "w") as f:
                f.write(text)
        penv = {k: v for k, v in os.environ.items() if k not in ("ANSIBLE_CONFIG", "ANSIBLE_LIBRARY", "ANSIBLE_ROLES_PATH")}
        penv.update(PATH=f"{ANSIBLE_BIN}:{os.environ['PATH']}", ANSIBLE_COLLECTIONS_PATH=collections,
                    ANSIBLE_NOCOLOR="1", ANSIBLE_SSH_CONTROL_PATH_DIR=os.path.join(work, "cp"))

        def playbook(name, username, verbose=False):
            ev = os.path.join(play, "ev.json")
            with open(ev, "w") as f:
                json.dump({"username": username, "password": "bench-password-1234", "admin": "no"}, f)
            t = time.perf_counter()
            out = subprocess.run([os.path.join(ANSIBLE_BIN, "ansible-playbook"), "-i", "hosts", name,
                                  "--tags=register-user", "--extra-vars", f"@{ev}"] + (["-vvv"] if verbose else []),
                                 cwd=play, env=penv, text=True, capture_output=True)
            elapsed = time.perf_counter() - t
            if out.returncode != 0:
                sys.exit(f"{name} failed:\n{out.stdout}\n{out.stderr}")
            return elapsed, out.stdout

        # One warm-up each (SSH master connection, Synapse's caches), then the measured runs.
        playbook("ours.yml", "warmup-ours")
        playbook("today.yml", "warmup-today")
        # Interleaved, so a load change on this shared machine hits both sides alike.
        results = {"ours": ([], []), "today": ([], [])}
        for i in range(runs):
            for label, name in (("ours", "ours.yml"), ("today", "today.yml")):
                results[label][0].append(playbook(name, f"{label}-new-{i}")[0])
        for i in range(runs):
            for label, name in (("ours", "ours.yml"), ("today", "today.yml")):
                results[label][1].append(playbook(name, f"{label}-new-0")[0])
        for label in ("ours", "today"):
            new, same = results[label]
            print(f"  {label}: new {median_ms(new)}, existing {median_ms(same)}", flush=True)
        # The copy, as the action plugin measures it (-vvv), in separate runs.
        copies = []
        for i in range(runs):
            out = playbook("ours.yml", "ours-new-0", verbose=True)[1]
            copies += [float(x) for x in re.findall(r"copied __register_user_linux_x86_64 \(\d+ bytes\) in ([\d.]+) s", out)]
        modules_dir = os.path.join(collections, "ansible_collections/matrix/users/plugins/modules")
        size = os.path.getsize(os.path.join(modules_dir, "__register_user_linux_x86_64"))
        sizes = {}
        for f in sorted(os.listdir(modules_dir)):
            m = re.match(r"__(.+)_linux_(x86_64|aarch64)$", f)
            if m:
                sizes.setdefault(m.group(1), {})[m.group(2)] = os.path.getsize(os.path.join(modules_dir, f))
        print(f"  copy of the {size} byte binary: {median_ms(copies)} (n={len(copies)})", flush=True)
    finally:
        subprocess.run([os.path.join(REPO, "tests/servers/ssh-host.sh"), "stop", host])

    ours, today = results["ours"], results["today"]
    rootfs_seconds = ""
    stamp = os.path.join(CACHE, f"ssh-rootfs-{run(['sh', '-c', '. /etc/os-release; echo $VERSION_CODENAME']).stdout.strip()}-1", ".build-seconds")
    if os.path.exists(stamp):
        rootfs_seconds = f"; building its root file system (debootstrap minbase + openssh-server, cached): {open(stamp).read().strip()} s"
    lines = [SECTION, "",
             f"Machine: {platform.system()} {platform.release()}, {os.cpu_count()} cores, run "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average {os.getloadavg()[0]:.1f} at the end "
             f"(the machine is shared); median of {runs} runs of ansible-playbook each, "
             "wall time, ControlPersist SSH as Ansible defaults to. Target: a network namespace with sshd chrooted "
             f"into a Debian minbase; its own Synapse (bcrypt_rounds 12). Starting the SSH host took {host_seconds:.1f} s"
             f"{rootfs_seconds}.", "",
             "| register-user tag over SSH | matrix.users (static binary) | register_new_matrix_user on the target (raw) | note |",
             "|---|---|---|---|",
             f"| new account | {median_ms(ours[0])} | {median_ms(today[0])} | both hash the password with bcrypt (12 rounds) in Synapse |",
             f"| existing account (no change) | {median_ms(ours[1])} | {median_ms(today[1])} (--exists-ok) | ours looks the account up; register_new_matrix_user tries to register |",
             f"| copying the module binary per task | {median_ms(copies)} ({size / 1e6:.2f} MB, sftp over the persistent connection) | none (the script is on the server) | part of the times above |",
             "",
             "| static binary in the collection | x86_64 | aarch64 |", "|---|---|---|"]
    lines += [f"| {m} | {v['x86_64'] / 1e6:.2f} MB | {v['aarch64'] / 1e6:.2f} MB |" for m, v in sizes.items()]
    lines.append("")
    path = os.path.join(REPO, "docs", "benchmarks.md")
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    if SECTION in text:
        head, _, rest = text.partition(SECTION)
        nxt = rest.find("\n## ")
        text = head + "\n".join(lines) + (rest[nxt + 1:] if nxt >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines)
    with open(path, "w") as f:
        f.write(text.rstrip("\n") + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
