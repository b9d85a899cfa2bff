#!/usr/bin/env python3
"""Listing 10,000 accounts: user_info against the ways an operator lists them today.

Run through `make bench-list-users` (it builds the static binaries into library/ first). Starts
its own Synapse on 127.0.0.1 with tests/servers/synapse.sh (bcrypt_rounds 4), imports N accounts
(N = 10,000, or the first argument) with register_user in one bulk task, locks and deactivates a
few hundred of them through Synapse's admin API, then measures, in interleaved rounds on the same
server, the wall time and peak RSS of:

- user_info with an admin token (every account, normalised: user_id, admin, user_type,
  deactivated, locked, displayname, created as RFC 3339);
- a curl + jq loop over the same admin API (`GET /_synapse/admin/v2/users` with
  `deactivated=true&locked=true`, 2500 a page as user_info asks, following `next_token`), jq
  normalising the same fields: the loop the admin API documentation leads to;
- a Python loop (standard library urllib, as an operator's script would) doing the same.

Each result is checked against the others: the same user IDs, as many as Synapse's own `total`.
Peak RSS is /usr/bin/time's %M: for the curl + jq loop, the largest single process (bash, curl or
jq), not their sum. Appends a section to docs/benchmarks.md. Standard library only.
"""
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as common  # noqa: E402  (bench/run.py: Synapse, run_module, LIB)

REPO = common.REPO
N = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 7
PASSWORD = "list-bench-password"

CURL_JQ = r"""
set -eu
dir=$(mktemp -d); from=0; i=0
while :; do
  curl -sSf --max-time 60 -H @"$HEADERS" \
    "$URL/_synapse/admin/v2/users?deactivated=true&locked=true&guests=false&limit=2500&from=$from" \
    > "$dir/$(printf %06d $i).json"
  next=$(jq -r '.next_token // empty' "$dir/$(printf %06d $i).json")
  i=$((i + 1))
  [ -z "$next" ] && break
  from=$next
done
jq -s '[.[].users[] | {user_id: .name, admin, user_type, deactivated, locked, displayname,
        created: (.creation_ts / 1000 | floor | todate)}]' "$dir"/*.json
rm -rf "$dir"
"""

PYTHON_LOOP = r"""
import datetime, json, os, sys, urllib.request
url, headers = os.environ["URL"], os.environ["HEADERS"]
token = open(headers).read().split("Bearer ", 1)[1].strip()
users, frm = [], 0
while True:
    req = urllib.request.Request(
        f"{url}/_synapse/admin/v2/users?deactivated=true&locked=true&guests=false&limit=2500&from={frm}")
    req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=60) as r:
        page = json.load(r)
    for u in page["users"]:
        users.append({"user_id": u["name"], "admin": bool(u["admin"]), "user_type": u["user_type"],
                      "deactivated": bool(u["deactivated"]), "locked": bool(u["locked"]),
                      "displayname": u["displayname"],
                      "created": datetime.datetime.fromtimestamp(u["creation_ts"] // 1000, datetime.timezone.utc)
                      .strftime("%Y-%m-%dT%H:%M:%SZ")})
    if "next_token" not in page:
        break
    frm = int(page["next_token"])
json.dump(users, sys.stdout)
"""

report = common.report  # rows: (what, ours, the other way, note)
rows = common.rows


def timed(cmd, env=None, stdin=None):
    """Wall time, peak RSS (KiB) and stdout of one run under /usr/bin/time."""
    t = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, capture_output=True, text=True, env=env, input=stdin)
    secs = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit(f"{cmd[0]} failed ({p.returncode}): {p.stderr[-2000:]}")
    return secs, int(p.stderr.strip().splitlines()[-1]), p.stdout


def main():
    if not os.access(os.path.join(common.LIB, "user_info"), os.X_OK):
        raise SystemExit("library/user_info is missing: run `make build` first")
    synapse = common.Synapse(4)
    try:
        bench(synapse)
    finally:
        synapse.stop()
    write_report()


def seed(synapse):
    base = {"homeserver_url": synapse.url, "shared_secret": synapse.secret, "server_name": "localhost"}
    users = [{"username": f"list{i:05d}", "password": PASSWORD} for i in range(N)]
    t = time.perf_counter()
    result, _ = common.run_module("register_user", dict(base, users=users, concurrency=8))
    assert result["created"] == N, result["msg"]
    # A few hundred in other states, through Synapse's own admin API.
    for i in range(0, N, max(N // 200, 1)):
        user_id = f"@list{i:05d}:localhost"
        if i % 2:
            status, body = synapse.call("PUT", f"/_synapse/admin/v2/users/{user_id}", {"locked": True},
                                        synapse.admin_token)
        else:
            status, body = synapse.call("POST", f"/_synapse/admin/v1/deactivate/{user_id}", {"erase": False},
                                        synapse.admin_token)
        assert status == 200, body
    print(f"  seeded {N} accounts in {time.perf_counter() - t:.1f} s", flush=True)


def bench(synapse):
    print(f"1. import {N} accounts (register_user, one bulk task)", flush=True)
    seed(synapse)
    status, body = synapse.call("GET", "/_synapse/admin/v3/users?locked=true&guests=false&limit=1",
                                token=synapse.admin_token)
    assert status == 200, body
    total = body["total"]
    work = tempfile.mkdtemp(prefix="bench-list-users-")
    headers = os.path.join(work, "headers")
    with open(headers, "w") as f:
        f.write(f"Authorization: Bearer {synapse.admin_token}\n")
    os.chmod(headers, 0o600)
    args = os.path.join(work, "args.json")
    with open(args, "w") as f:
        json.dump({"homeserver_url": synapse.url, "access_token": synapse.admin_token,
                   "_ansible_check_mode": False, "_ansible_diff": False, "_ansible_no_log": False}, f)
    env = dict(os.environ, URL=synapse.url, HEADERS=headers)
    ways = {
        "user_info": ([os.path.join(common.LIB, "user_info"), args], None),
        "curl + jq loop": (["bash", "-c", CURL_JQ], None),
        "Python urllib loop": ([sys.executable, "-c", PYTHON_LOOP], None),
    }
    times = {w: [] for w in ways}
    peak = {w: 0 for w in ways}
    ids = {}
    print(f"2. list every account ({total} on Synapse), {ROUNDS} interleaved rounds", flush=True)
    for _ in range(ROUNDS):
        for way, (cmd, stdin) in ways.items():
            secs, rss, out = timed(cmd, env=env, stdin=stdin)
            times[way].append(secs)
            peak[way] = max(peak[way], rss)
            listed = json.loads(out)
            if way == "user_info":
                assert not listed.get("failed") and listed["count"] == total, listed.get("msg")
                listed = listed["users"]
            ids[way] = sorted(u["user_id"] for u in listed)
    assert len(ids["user_info"]) == total
    assert ids["user_info"] == ids["curl + jq loop"] == ids["Python urllib loop"], "the three lists differ"
    ours = statistics.median(times["user_info"])
    for way in ("curl + jq loop", "Python urllib loop"):
        theirs = statistics.median(times[way])
        report(f"list {total} accounts: wall time (median of {ROUNDS})", common.ms(ours),
               f"{way}: {common.ms(theirs)}", f"{theirs / ours:.1f}x")
    report(f"list {total} accounts: peak RSS (largest of {ROUNDS})", f"{peak['user_info'] / 1024:.1f} MiB",
           f"curl + jq loop: {peak['curl + jq loop'] / 1024:.1f} MiB; Python urllib loop: "
           f"{peak['Python urllib loop'] / 1024:.1f} MiB", "for curl + jq: its largest single process")
    report("targets", "under 1 s and under 30 MB",
           "met" if ours < 1 and peak["user_info"] < 30 * 1024 else "NOT met")


def write_report():
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    lines = [f"\n## Listing {N} accounts: user_info against curl + jq and a Python loop (bench/list_users.py)\n",
             f"`make bench-list-users`. {common.machine()}; run {now}; load average {load} (1/5/15 min) at the "
             f"end (the machine is shared). Synapse 1.163.2 on SQLite on 127.0.0.1, {N} accounts plus the bench "
             "admin, a few hundred of them locked or deactivated; every way lists all of them, 2500 a page, with the same "
             "fields (user_id, admin, user_type, deactivated, locked, displayname, created) and the lists are "
             "compared. Wall time of the whole process (module: including its JSON output).\n",
             "| what | user_info | today's way | note |", "|---|---|---|---|"]
    lines += [f"| {w} | {o} | {a} | {n} |" for w, o, a, n in rows]
    common.append_section(lines)


if __name__ == "__main__":
    main()
