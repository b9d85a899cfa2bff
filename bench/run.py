#!/usr/bin/env python3
"""Benchmarks of the compiled modules, side by side with what playbooks run today.

Run through `make bench` (it builds the static binaries into library/ first); `bench/run.py 1 3`
runs only sections 1 and 3. Starts its own
Synapse servers on 127.0.0.1 (bcrypt_rounds 4 and Synapse's default 12) with the project's
tests/servers/synapse.sh, prints a table and writes it to docs/benchmarks.md with the machine it
ran on. Standard library only; numbers are medians of repeated runs, wall time.
"""
import concurrent.futures as futures
import hashlib
import hmac
import json
import os
import platform
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIB = os.path.join(REPO, "library")
CACHE = os.environ.get("MATRIX_TEST_CACHE", os.path.expanduser("~/.cache/matrix-users"))
SYNAPSE_VENV = os.path.join(CACHE, "venv-synapse", "bin")
ANSIBLE_VENV = os.path.join(CACHE, "venv-ansible", "bin")
MODULES = ["register_user", "registration_token", "registration_token_info", "user_admin"]

rows = []  # (what, ours, alternative, note)


def report(what, ours, alternative="", note=""):
    rows.append((what, ours, alternative, note))
    print(f"  {what}: {ours}" + (f"  vs  {alternative}" if alternative else "") + (f"  ({note})" if note else ""),
          flush=True)


def append_section(lines):
    """Appends a section (its lines) to docs/benchmarks.md, after what other benchmarks wrote."""
    path = os.path.join(REPO, "docs", "benchmarks.md")
    with open(path, "a") as f:
        f.write("\n".join(lines) + "\n")
    print(f"appended to {path}")


def ms(seconds):
    return f"{seconds * 1000:.1f} ms"


def median_time(fn, n):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


class Synapse:
    def __init__(self, rounds):
        self.dir = tempfile.mkdtemp(prefix=f"bench-synapse-{rounds}-")
        env = dict(os.environ, SYNAPSE_BCRYPT_ROUNDS=str(rounds), WATCH_PID=str(os.getpid()))
        self.url = subprocess.check_output(
            [os.path.join(REPO, "tests/servers/synapse.sh"), "start", self.dir], env=env, text=True).strip()
        with open(os.path.join(self.dir, "shared-secret")) as f:
            self.secret = f.read().strip()
        self.admin_token = self.register("bench-admin", "bench-admin-pw", admin=True, login=True)["access_token"]

    def call(self, method, path, body=None, token=None):
        req = urllib.request.Request(self.url + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")

    def register(self, user, password, admin=False, login=False):
        """The minimal raw client: nonce, MAC, POST. The floor any client pays."""
        _, body = self.call("GET", "/_synapse/admin/v1/register")
        nonce = body["nonce"]
        mac = hmac.new(self.secret.encode(), b"\0".join(
            [nonce.encode(), user.encode(), password.encode(), b"admin" if admin else b"notadmin"]), hashlib.sha1)
        status, body = self.call("POST", "/_synapse/admin/v1/register", {
            "nonce": nonce, "username": user, "password": password, "admin": admin,
            "mac": mac.hexdigest(), "inhibit_login": not login})
        return body

    def stop(self):
        subprocess.run([os.path.join(REPO, "tests/servers/synapse.sh"), "stop", self.dir], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def exec_module(name, args, measure_rss=False):
    """Runs a module binary as Ansible does (its arguments in a file, never on the command line);
    returns (its stdout, peak RSS in KiB or None, wall seconds of the process)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(dict(args, _ansible_check_mode=False, _ansible_diff=False, _ansible_no_log=False), f)
        path = f.name
    try:
        cmd = [os.path.join(LIB, name), path]
        if measure_rss:
            cmd = ["/usr/bin/time", "-f", "%M"] + cmd
        t = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True)
        secs = time.perf_counter() - t
        rss = int(p.stderr.strip().splitlines()[-1]) if measure_rss else None
        return p.stdout, rss, secs
    finally:
        os.unlink(path)


def run_module(name, args, measure_rss=False):
    """Runs a module binary as Ansible does; returns (result, peak RSS in KiB or None)."""
    out, rss, _ = exec_module(name, args, measure_rss)
    result = json.loads(out)
    if result.get("failed"):
        raise SystemExit(f"{name} failed: {result.get('msg')}")
    return result, rss


# Synapse's own defaults for what tests/servers/synapse.sh relaxes, and its default bcrypt cost.
DEFAULTS_YAML = """
bcrypt_rounds: 12
rc_login:
  address: {per_second: 0.003, burst_count: 5}
  account: {per_second: 0.003, burst_count: 5}
  failed_attempts: {per_second: 0.17, burst_count: 3}
rc_registration: {per_second: 0.17, burst_count: 3}
rc_registration_token_validity: {per_second: 0.1, burst_count: 5}
rc_message: {per_second: 0.2, burst_count: 10}
rc_admin_redaction: {per_second: 1, burst_count: 50}
"""


def restart_with_defaults(synapse):
    """Restarts a Synapse started by tests/servers/synapse.sh with Synapse's defaults (on the same
    port, database and secret): the fast import is done, what follows is measured as deployed."""
    extra = os.path.join(synapse.dir, "defaults.yaml")
    with open(extra, "w") as f:
        f.write(DEFAULTS_YAML)
    script = os.path.join(REPO, "tests/servers/synapse.sh")
    port = synapse.url.rsplit(":", 1)[1]
    subprocess.run([script, "stop", synapse.dir], check=True)
    env = dict(os.environ, WATCH_PID=str(os.getpid()))
    subprocess.check_output([script, "start", synapse.dir, port, extra], env=env, text=True)


def playbook(path, inventory, extra=()):
    env = dict(os.environ, ANSIBLE_LIBRARY=LIB, ANSIBLE_ROLES_PATH=os.path.join(REPO, "roles"),
               PATH=ANSIBLE_VENV + ":" + os.environ["PATH"])
    t = time.perf_counter()
    p = subprocess.run([os.path.join(ANSIBLE_VENV, "ansible-playbook"), "-i", inventory, path, *extra],
                       env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"ansible-playbook {path} failed:\n{p.stdout}\n{p.stderr}")
    return time.perf_counter() - t


def main():
    for m in MODULES:
        if not os.access(os.path.join(LIB, m), os.X_OK):
            raise SystemExit(f"library/{m} is missing: run `make build` (or `make bench`) first")
    work = tempfile.mkdtemp(prefix="bench-")
    fast, slow = Synapse(4), Synapse(12)
    try:
        bench(fast, slow, work)
    finally:
        fast.stop()
        slow.stop()
        shutil.rmtree(work, ignore_errors=True)
    write_report()


def bench(fast, slow, work):
    base = {"homeserver_url": fast.url, "shared_secret": fast.secret, "server_name": "localhost"}
    fast.register("existing", "existing-password")
    slow.register("existing", "existing-password")
    wanted = set(sys.argv[1:]) or {"1", "2", "3", "4", "5", "6"}
    rss = {}
    for number, section in (("1", no_change), ("2", new_registration), ("3", playbooks), ("4", bulk),
                            ("5", token_info), ("6", sizes_and_memory)):
        if number in wanted:
            section(fast, slow, base, work, rss)


def no_change(fast, slow, base, work, rss):
    pwfile = os.path.join(work, "pw")
    with open(pwfile, "w") as f:
        f.write("existing-password\n")

    print("1. register_user on an existing account (the no-change path)", flush=True)
    ours = median_time(lambda: run_module("register_user", dict(base, username="existing",
                                                                password="existing-password")), 30)
    without = median_time(lambda: run_module("register_user", dict(base, server_name=None, username="existing",
                                                                   password="existing-password")), 10)
    # What playbooks run today: Synapse's own script, with the secret read from the config.
    script = [os.path.join(SYNAPSE_VENV, "register_new_matrix_user"), "-c", os.path.join(fast.dir, "homeserver.yaml"),
              "-u", "existing", "--password-file", pwfile, "--no-admin", "--exists-ok", fast.url]
    theirs = median_time(lambda: subprocess.run(script, check=True, capture_output=True), 10)
    report("no-change run, existing account (bcrypt_rounds 4)", ms(ours),
           f"register_new_matrix_user --exists-ok: {ms(theirs)}",
           f"{theirs / ours:.0f}x faster; without server_name the module must attempt a registration: {ms(without)}")
    slow_base = dict(base, homeserver_url=slow.url, shared_secret=slow.secret)
    ours12 = median_time(lambda: run_module("register_user", dict(slow_base, username="existing",
                                                                  password="existing-password")), 30)
    script12 = [os.path.join(SYNAPSE_VENV, "register_new_matrix_user"), "-c", os.path.join(slow.dir, "homeserver.yaml"),
                "-u", "existing", "--password-file", pwfile, "--no-admin", "--exists-ok", slow.url]
    theirs12 = median_time(lambda: subprocess.run(script12, check=True, capture_output=True), 5)
    report("no-change run, existing account (bcrypt_rounds 12, Synapse's default)", ms(ours12),
           f"register_new_matrix_user --exists-ok: {ms(theirs12)}", f"{theirs12 / ours12:.0f}x faster")



def new_registration(fast, slow, base, work, rss):
    print("2. a new registration, against the server's own time", flush=True)
    for server, rounds in ((fast, 4), (slow, 12)):
        n = [0]

        def new_user():
            n[0] += 1
            run_module("register_user", {"homeserver_url": server.url, "shared_secret": server.secret,
                                         "server_name": "localhost", "username": f"new{n[0]}", "password": "pw-new-user"})

        def raw_user():
            n[0] += 1
            server.register(f"raw{n[0]}", "pw-new-user")

        ours = median_time(new_user, 10)
        floor = median_time(raw_user, 10)
        report(f"new registration, bcrypt_rounds {rounds}", ms(ours), f"raw nonce+POST floor: {ms(floor)}",
               f"module overhead {ms(ours - floor)}")



def playbooks(fast, slow, base, work, rss):
    print("3. a playbook registering 50 users, three ways", flush=True)
    inventory = os.path.join(work, "hosts")
    with open(inventory, "w") as f:
        f.write(f"[matrix_servers]\nlocalhost ansible_connection=local ansible_python_interpreter={ANSIBLE_VENV}/python\n")
    users = [{"username": f"pb{i}", "password": f"playbook-password-{i}"} for i in range(150)]
    ways = {
        "register_user in a loop": {"loop": users[0:50], "task": {"register_user": dict(
            base, username="{{ item.username }}", password="{{ item.password }}")}},
        "command: register_new_matrix_user in a loop": {"loop": users[50:100], "task": {"ansible.builtin.command": {
            "argv": [os.path.join(SYNAPSE_VENV, "register_new_matrix_user"), "-c",
                     os.path.join(fast.dir, "homeserver.yaml"), "-u", "{{ item.username }}", "-p",
                     "{{ item.password }}", "--no-admin", "--exists-ok", fast.url]}}},
        "one bulk register_user task": {"loop": None, "task": {"register_user": dict(base, users=users[100:150])}},
    }
    times = {}
    for label, way in ways.items():
        task = dict(way["task"], name=label, no_log=os.environ.get("BENCH_DEBUG") is None)
        if way["loop"] is not None:
            task["loop"] = way["loop"]
        path = os.path.join(work, "play.yml")
        with open(path, "w") as f:
            json.dump([{"hosts": "matrix_servers", "gather_facts": False, "tasks": [task]}], f)
        times[label] = playbook(path, inventory)
    loop, script_loop, bulk = times.values()
    report("playbook, 50 users: register_user loop", f"{loop:.2f} s",
           f"command: register_new_matrix_user loop: {script_loop:.2f} s", f"{script_loop / loop:.1f}x faster")
    report("playbook, 50 users: one bulk task", f"{bulk:.2f} s",
           f"command: register_new_matrix_user loop: {script_loop:.2f} s", f"{script_loop / bulk:.1f}x faster")



def bulk(fast, slow, base, work, rss):
    print("4. bulk registration of 500 users, against a raw concurrent driver", flush=True)
    concurrency = 8
    bulk_users = [{"username": f"bulk{i}", "password": f"bulk-password-{i}"} for i in range(500)]
    t = time.perf_counter()
    result, rss["bulk"] = run_module("register_user", dict(base, users=bulk_users, concurrency=concurrency),
                                     measure_rss=True)
    ours = time.perf_counter() - t
    assert result["created"] == 500, result["msg"]
    t = time.perf_counter()
    with futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda i: fast.register(f"driver{i}", f"bulk-password-{i}"), range(500)))
    raw = time.perf_counter() - t
    t = time.perf_counter()
    again, _ = run_module("register_user", dict(base, users=bulk_users, concurrency=concurrency))
    rerun = time.perf_counter() - t
    assert again["existing"] == 500, again["msg"]
    report(f"bulk re-run, the same 500 users (all exist), concurrency {concurrency}", f"{rerun:.2f} s", "",
           "looked up, not registered: no bcrypt; past Synapse's rc_profile burst it registers instead")
    report(f"bulk, 500 new users, concurrency {concurrency}", f"{500 / ours:.0f} users/s ({ours:.2f} s)",
           f"raw concurrent driver (Python threads): {500 / raw:.0f} users/s ({raw:.2f} s)",
           f"{100 * raw / ours:.0f}% of the raw driver's throughput")



def token_info(fast, slow, base, work, rss):
    print("5. registration_token_info over 5,000 tokens", flush=True)
    db = sqlite3.connect(os.path.join(fast.dir, "homeserver.db"), timeout=30)
    with db:
        db.executemany("INSERT INTO registration_tokens (token, uses_allowed, pending, completed, expiry_time)"
                       " VALUES (?, ?, 0, 0, NULL)", [(f"bench-token-{i}", i % 5 or None) for i in range(5000)])
    db.close()
    info = {"backend": "synapse", "homeserver_url": fast.url, "access_token": fast.admin_token}
    result, rss["info"] = run_module("registration_token_info", info, measure_rss=True)
    assert len(result["tokens"]) >= 5000, len(result["tokens"])
    ours = median_time(lambda: run_module("registration_token_info", info), 5)
    floor = median_time(lambda: fast.call("GET", "/_synapse/admin/v1/registration_tokens", token=fast.admin_token), 5)
    report("registration_token_info, 5,000 tokens", ms(ours), f"one raw GET of the list: {ms(floor)}")



def sizes_and_memory(fast, slow, base, work, rss):
    print("6. binary sizes and peak memory", flush=True)
    _, rss_noop = run_module("register_user", dict(base, username="existing", password="existing-password"),
                             measure_rss=True)
    for m in MODULES:
        size = os.path.getsize(os.path.join(LIB, m))
        report(f"static binary {m}", f"{size / 1e6:.2f} MB")
    report("peak RSS, register_user no-change run", f"{rss_noop / 1024:.1f} MiB")
    if "bulk" in rss:
        report("peak RSS, register_user bulk 500 users", f"{rss['bulk'] / 1024:.1f} MiB")
    if "info" in rss:
        report("peak RSS, registration_token_info over 5,000 tokens", f"{rss['info'] / 1024:.1f} MiB")


def machine():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}"


def write_report():
    lines = ["# Benchmarks", "",
             "Produced by `make bench` (bench/run.py) against real Synapse servers on 127.0.0.1 started for the",
             "run (SQLite; bcrypt_rounds 4 unless stated). Wall time, medians of repeated runs.", "",
             f"Machine: {machine()}. Run: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.", "",
             "| what | compiled modules | today's way / floor | note |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    text = "\n".join(lines) + "\n"
    os.makedirs(os.path.join(REPO, "docs"), exist_ok=True)
    # Keep the sections other benchmarks wrote below this table (e.g. bench/ssh.py's).
    path = os.path.join(REPO, "docs", "benchmarks.md")
    if os.path.exists(path):
        old = open(path).read()
        if "\n## " in old:
            text += "\n" + old[old.index("\n## ") + 1:]
    with open(path, "w") as f:
        f.write(text)
    print()
    print(text)


if __name__ == "__main__":
    main()
