#!/usr/bin/env python3
"""Over SSH: the collection matrix.users against Ansible's floor and today's way, in one run.

Run through `make bench-ssh` (or `make bench`), or alone: `bench/ssh.py [RUNS]`. Needs the built
collection (target/collection/matrix-users-<version>.tar.gz, `make collection`).

A second host (tests/servers/ssh-host.sh: a network namespace with Debian's sshd chrooted into a
Debian minbase) runs its own Synapse on its 127.0.0.1 (Synapse's default bcrypt_rounds, 12).
Every variant is a playbook run by ansible-playbook over SSH (ControlPersist, as Ansible
defaults to), against accounts that already exist:
  - floor: the same play with `ansible.builtin.raw: "true"` tasks: what Ansible itself costs;
  - today's way: register_new_matrix_user, as matrix-docker-ansible-deploy runs it inside its
    Synapse container, here on the target through raw (no AnsiballZ: the lower bound of MDAD's
    ansible.builtin.command task). For this comparison only, the target gets this machine's
    Python and Synapse virtualenv bound in, read-only (SSH_HOST_BIND); the tests' target has none;
  - the collection's register_user task: cold (the binary cache emptied first), warm (the binary
    on the target), and copy-per-task (matrix_users_binary_cache=false: how every task ran before);
  - the register-user tag: the role as the collection's docs show it (import_role, tags), warm.
One task and ten tasks each. Runs are interleaved (RUNS rounds of every variant) so that load on
this shared machine hits every variant alike; each number is the median wall time of
ansible-playbook. A timing callback gives each task's own time. Writes a section into
docs/benchmarks.md.
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
SECTION = "## Over SSH: the binary cache, Ansible's floor and today's way (bench/ssh.py)"
PASSWORD = "bench-password-1234"

PLAY = """---
- name: Bench
  hosts: matrix_servers
  gather_facts: false
  tasks:
"""
RAW = """    - name: Raw {i}
      ansible.builtin.raw: "true"
"""
MODULE = """    - name: Module {i}
      matrix.users.register_user:
        username: "bench-{i}"
        password: "{{{{ password }}}}"
        server_name: localhost
        shared_secret_file: "{{{{ secret_file }}}}"
      no_log: true
"""
# matrix-docker-ansible-deploy: `docker exec matrix-synapse register_new_matrix_user ...` in an
# ansible.builtin.command task; here the same script, on the target, through raw.
TODAY = """    - name: Register a user with register_new_matrix_user on the server {i}
      ansible.builtin.raw: >-
        {{{{ synapse_venv }}}}/bin/register_new_matrix_user -u bench-{i}
        --password-file {{{{ password_file }}}} --no-admin
        --exists-ok -c {{{{ client_config }}}} http://127.0.0.1:8008
      no_log: true
"""
TAG = """---
- name: Matrix users, from the installed collection
  hosts: matrix_servers
  gather_facts: false
  tasks:
    - name: Manage Matrix users
      ansible.builtin.import_role:
        name: matrix.users.matrix_user_management
      tags: [never]
"""
TIMING = '''from __future__ import annotations
import json, os, time
from ansible.plugins.callback import CallbackBase
DOCUMENTATION = """
name: bench_timing
type: aggregate
short_description: each task's wall time, for bench/ssh.py
description: each task's wall time, for bench/ssh.py
"""
class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "bench_timing"
    CALLBACK_NEEDS_ENABLED = True
    def __init__(self):
        super().__init__()
        self.rows, self.t, self.name = [], None, None
    def _flush(self):
        if self.t is not None:
            self.rows.append((self.name, time.monotonic() - self.t))
            self.t = None
    def v2_playbook_on_task_start(self, task, is_conditional):
        self._flush()
        self.t, self.name = time.monotonic(), task.get_name()
    def v2_playbook_on_stats(self, stats):
        self._flush()
        with open(os.environ["BENCH_TIMING_FILE"], "w") as f:
            json.dump(self.rows, f)
'''


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def ms(seconds):
    return f"{seconds * 1000:.0f} ms"


def med(values):
    return statistics.median(values)


class Bench:
    def __init__(self, work, host, collections):
        self.work, self.host, self.collections = work, host, collections
        self.play = os.path.join(work, "play")
        self.address = open(os.path.join(host, "address")).read().strip()
        self.remote = open(os.path.join(host, "remote_dir")).read().strip()
        self.root = open(os.path.join(host, "root")).read().strip()
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("ANSIBLE_CONFIG", "ANSIBLE_LIBRARY", "ANSIBLE_ROLES_PATH") and not k.startswith("MATRIX_USERS_")}
        self.env.update(PATH=f"{ANSIBLE_BIN}:{os.environ['PATH']}", ANSIBLE_COLLECTIONS_PATH=collections,
                        ANSIBLE_COLLECTIONS_SCAN_SYS_PATH="false", ANSIBLE_NOCOLOR="1",
                        ANSIBLE_SSH_CONTROL_PATH_DIR=os.path.join(work, "cp"),
                        ANSIBLE_CALLBACK_PLUGINS=os.path.join(work, "callbacks"), ANSIBLE_CALLBACKS_ENABLED="bench_timing",
                        BENCH_TIMING_FILE=os.path.join(work, "timing.json"))

    def ssh(self, command, stdin=None):
        return subprocess.run(["ssh", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={self.host}/known_hosts",
                               "-o", "StrictHostKeyChecking=yes", "-i", f"{self.host}/id_ed25519",
                               f"root@{self.address}", command],
                              input=stdin, check=True, text=True, capture_output=True).stdout

    def playbook(self, name, *args, env=None):
        """(wall seconds, [(task, seconds)], output)."""
        t = time.perf_counter()
        out = subprocess.run([os.path.join(ANSIBLE_BIN, "ansible-playbook"), "-i", "hosts", name, *args],
                             cwd=self.play, env=dict(self.env, **(env or {})), text=True, capture_output=True)
        elapsed = time.perf_counter() - t
        if out.returncode != 0:
            sys.exit(f"{name} {args} failed:\n{out.stdout}\n{out.stderr}")
        with open(self.env["BENCH_TIMING_FILE"]) as f:
            tasks = [tuple(x) for x in json.load(f)]
        return elapsed, tasks, out.stdout

    def clear_cache(self):
        self.ssh("rm -rf ~/.ansible/tmp/matrix.users")


def write_play(path, body, n):
    with open(path, "w") as f:
        f.write(PLAY + "".join(body.format(i=i) for i in range(n)))


def breakdown(b, binary_name, runs):
    """Where a warm task's time goes: one exec over the persistent SSH connection, the SHA-256
    check of the cached binary on the target, the module's own run (timed on the target)."""
    sock = os.path.join(b.work, "bench.sock")
    base = ["ssh", "-o", "BatchMode=yes", "-o", f"UserKnownHostsFile={b.host}/known_hosts", "-o", "StrictHostKeyChecking=yes",
            "-i", f"{b.host}/id_ed25519", "-S", sock]
    subprocess.run(base + ["-M", "-f", "-N", "-o", "ControlPersist=60", f"root@{b.address}"], check=True)
    try:
        rtt = []
        for _ in range(runs * 4):
            t = time.perf_counter()
            subprocess.run(base + [f"root@{b.address}", "true"], check=True)
            rtt.append(time.perf_counter() - t)
        binary = f"~/.ansible/tmp/matrix.users/{binary_name}"
        args = json.dumps({"username": "bench-0", "password": PASSWORD, "server_name": "localhost",
                           "shared_secret_file": f"{b.remote}/synapse/shared-secret", "_ansible_no_log": True})
        timed = ("s=$(date +%s%N); {cmd}; e=$(date +%s%N); echo; echo $(( (e - s) / 1000 ))")
        sha, module = [], []
        for _ in range(runs * 2):
            out = b.ssh(timed.format(cmd=f"sha256sum < {binary} > /dev/null"))
            sha.append(int(out.split()[-1]) / 1e6)
            out = b.ssh(timed.format(cmd=f"{binary} - > /dev/null"), stdin=args)
            module.append(int(out.split()[-1]) / 1e6)
    finally:
        subprocess.run(base + ["-O", "exit", f"root@{b.address}"], capture_output=True)
    return med(rtt), med(sha), med(module)


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    version = re.search(r'^version = "([^"]+)"', open(os.path.join(REPO, "Cargo.toml")).read(), re.M).group(1)
    tarball = os.path.join(REPO, "target", "collection", f"matrix-users-{version}.tar.gz")
    if not os.path.exists(tarball):
        sys.exit(f"{tarball} is missing: run `make collection`")
    work = tempfile.mkdtemp(prefix="bench-ssh-")
    host = os.path.join(work, "host")
    collections = os.path.join(work, "collections")
    run([os.path.join(ANSIBLE_BIN, "ansible-galaxy"), "collection", "install", "-p", collections, tarball])
    os.makedirs(os.path.join(work, "callbacks"))
    with open(os.path.join(work, "callbacks", "bench_timing.py"), "w") as f:
        f.write(TIMING)

    python_base = run([os.path.join(SYNAPSE_VENV, "bin", "python"), "-c", "import sys; print(sys.base_prefix)"]).stdout.strip()
    env = dict(os.environ, WATCH_PID=str(os.getpid()), SSH_HOST_BIND=f"{python_base} {os.path.realpath(SYNAPSE_VENV)}")
    run([os.path.join(REPO, "tests/servers/ssh-host.sh"), "start", host], env=env)
    try:
        b = Bench(work, host, collections)
        host_vars = open(os.path.join(host, "ansible_vars")).read().strip()
        run(["ip", "netns", "exec", open(os.path.join(host, "netns")).read().strip(), os.path.join(REPO, "tests/servers/synapse.sh"),
             "start", os.path.join(b.root, "synapse"), "8008"],
            env=dict(os.environ, WATCH_PID=str(os.getpid()), SYNAPSE_BCRYPT_ROUNDS="12"))
        with open(os.path.join(b.root, "client.yaml"), "w") as f:
            f.write(f"registration_shared_secret_path: {b.remote}/synapse/shared-secret\n")
        with open(os.path.join(b.root, "password"), "w") as f:
            f.write(PASSWORD + "\n")
        os.chmod(os.path.join(b.root, "password"), 0o600)
        os.makedirs(b.play)
        with open(os.path.join(b.play, "hosts"), "w") as f:
            f.write(f"[matrix_servers]\nmatrix.example.test {host_vars}\n\n[matrix_servers:vars]\nmatrix_domain=localhost\n"
                    f"matrix_synapse_container_client_api_host_bind_port=127.0.0.1:8008\n"
                    f"matrix_user_management_shared_secret_file={b.remote}/synapse/shared-secret\n"
                    f"secret_file={b.remote}/synapse/shared-secret\n"
                    f"synapse_venv={os.path.realpath(SYNAPSE_VENV)}\nclient_config={b.remote}/client.yaml\n"
                    f"password_file={b.remote}/password\n")
        with open(os.path.join(b.play, "ev.json"), "w") as f:
            json.dump({"username": "bench-0", "password": PASSWORD, "admin": "no"}, f)
        for n in (1, 10):
            write_play(os.path.join(b.play, f"floor{n}.yml"), RAW, n)
            write_play(os.path.join(b.play, f"module{n}.yml"), MODULE, n)
            write_play(os.path.join(b.play, f"today{n}.yml"), TODAY, n)
        with open(os.path.join(b.play, "tag.yml"), "w") as f:
            f.write(TAG)
        ev = ["--extra-vars", "@ev.json"]

        # The accounts exist (the module's first run registers bench-0..9), caches are warm.
        b.playbook("module10.yml", *ev)
        variants = []  # (key, label, playbook args, env, before)
        for n in (1, 10):
            variants += [
                (f"floor{n}", f"floor{n}.yml", [], None, None),
                (f"today{n}", f"today{n}.yml", [], None, None),
                (f"cold{n}", f"module{n}.yml", ev, None, b.clear_cache),
                (f"warm{n}", f"module{n}.yml", ev, None, None),
                (f"copy{n}", f"module{n}.yml", ev, {"MATRIX_USERS_BINARY_CACHE": "false"}, None),
            ]
        variants.append(("tag", "tag.yml", ["--tags=register-user"] + ev, None, None))
        for key, book, args, venv, before in variants:  # warm-up: SSH master, Synapse's caches
            if before:
                before()
            b.playbook(book, *args, env=venv)
        wall = {key: [] for key, *_ in variants}
        tasks = {key: [] for key, *_ in variants}
        for r in range(runs):
            for key, book, args, venv, before in variants:
                if before:
                    before()
                elapsed, timing, _ = b.playbook(book, *args, env=venv)
                wall[key].append(elapsed)
                tasks[key].append(timing)
            print(f"  round {r + 1}/{runs}: " + ", ".join(f"{k} {ms(v[-1])}" for k, v in wall.items()), flush=True)
        load = os.getloadavg()
        digest = run(["sha256sum", os.path.join(collections, "ansible_collections/matrix/users/plugins/modules/__register_user_linux_x86_64")]).stdout.split()[0]
        rtt, sha, module = breakdown(b, f"register_user_linux_x86_64-{digest}", runs)
    finally:
        subprocess.run([os.path.join(REPO, "tests/servers/ssh-host.sh"), "stop", host])

    w = {k: med(v) for k, v in wall.items()}

    def task_median(key, pred):
        """Median over the runs of the summed time of the tasks whose name matches pred."""
        return med([sum(t for name, t in run_ if pred(name)) for run_ in tasks[key]])

    raw_task = task_median("floor1", lambda n: n.startswith("Raw"))
    warm_task = task_median("warm1", lambda n: n.startswith("Module"))
    cold_task = task_median("cold1", lambda n: n.startswith("Module"))
    copy_task = task_median("copy1", lambda n: n.startswith("Module"))
    today_task = task_median("today1", lambda n: n.startswith("Register a user"))
    tag_module = task_median("tag", lambda n: n.endswith("Register the Matrix user"))
    tag_other = task_median("tag", lambda n: not n.endswith("Register the Matrix user"))
    over = {k: w[k] - w["floor1"] for k in ("today1", "tag", "warm1")}
    per10 = {k: (w[k] - w["floor10"]) / 10 for k in ("warm10", "cold10", "copy10", "today10")}

    lines = [
        SECTION, "",
        f"Machine: {platform.system()} {platform.release()}, {os.cpu_count()} cores, run "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} "
        f"(1/5/15 min) at the end of the measured rounds (the machine is shared). Median of {runs} interleaved rounds, "
        "wall time of ansible-playbook over SSH (ControlPersist); every account exists. Target: a network namespace with "
        "sshd chrooted into a Debian minbase without Python, its own Synapse (bcrypt_rounds 12).", "",
        "| play | one task | ten tasks | per task over the floor (ten) | the task itself (callback, one task) |",
        "|---|---|---|---|---|",
        f"| floor: `ansible.builtin.raw: \"true\"` | {ms(w['floor1'])} | {ms(w['floor10'])} | - | {ms(raw_task)} |",
        f"| today's way: register_new_matrix_user through raw | {ms(w['today1'])} | {ms(w['today10'])} | {ms(per10['today10'])} | {ms(today_task)} |",
        f"| matrix.users, copy per task (cache off: before this change) | {ms(w['copy1'])} | {ms(w['copy10'])} | {ms(per10['copy10'])} | {ms(copy_task)} |",
        f"| matrix.users, cold cache (the binary copied once) | {ms(w['cold1'])} | {ms(w['cold10'])} | {ms(per10['cold10'])} | {ms(cold_task)} |",
        f"| matrix.users, warm cache | {ms(w['warm1'])} | {ms(w['warm10'])} | {ms(per10['warm10'])} | {ms(warm_task)} |",
        "",
        "| the register-user tag, existing account (import_role, tags) | time |",
        "|---|---|",
        f"| whole play | {ms(w['tag'])} |",
        f"| above the floor play (one raw task) | {ms(over['tag'])}; today's way is {ms(over['today1'])} above it: "
        f"ratio {over['tag'] / over['today1']:.2f} (target at most 0.25, and at most 300 ms) |",
        f"| its module task / its other tasks together (callback) | {ms(tag_module)} / {ms(tag_other)} (target under 100 ms) |",
        "",
        f"Ratios: a warm module task costs {ms(warm_task - raw_task)} more than a raw task (callback; target at most 100 ms); "
        f"ten warm module tasks cost {ms(per10['warm10'])} each over ten raw tasks (copy per task: {ms(per10['copy10'])}); "
        f"the warm one-task play takes {w['warm1'] / w['copy1']:.2f}x the time of the copy-per-task play.", "",
        f"Where a warm task's time goes: it is one command over the persistent SSH connection (an empty command there: "
        f"{ms(rtt)}); on the target, the SHA-256 check of the cached binary takes {ms(sha)} and the module's own run "
        f"(its look-up of the existing account at Synapse) {ms(module)}; the rest of the {ms(warm_task)} is Ansible on the "
        "controller: the worker process, templating, the action plugin, the callback. A cold task adds the upload of the "
        "binary (sftp, one more round trip) and the install command; copy per task pays six: a temporary "
        "directory, the binary, the arguments file (a second upload), chmod, the run and the removal.", "",
    ]
    path = os.path.join(REPO, "docs", "benchmarks.md")
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    old = "## The register-user tag over SSH (bench/ssh.py)"
    for head in (SECTION, old):
        if head in text:
            before, _, rest = text.partition(head)
            nxt = rest.find("\n## ")
            text = before + (rest[nxt + 1:] if nxt >= 0 else "")
    marker = "\n## Scale:"
    if marker in text:
        before, _, rest = text.partition(marker)
        text = before.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n" + marker.lstrip("\n") + rest
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(lines)
    with open(path, "w") as f:
        f.write(text.rstrip("\n") + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
