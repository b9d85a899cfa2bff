#!/usr/bin/env python3
"""Users as code at scale (issue 20, item 5): 10,000 declared accounts on one Synapse at its
defaults, converged by one register_user run, side by side with MDAD's way.

Run through `make bench-users-as-code` (it builds the static binaries into library/ first).
`bench/users_as_code.py [N [SAMPLE]]`: N declared accounts (default 10,000), SAMPLE entries for
MDAD's way (default 100). Starts its own Synapse on 127.0.0.1 with tests/servers/synapse.sh,
imports the N accounts at bcrypt_rounds 4 with one bulk register_user run (as bench/scale.py
does), restarts it with Synapse's defaults (bcrypt_rounds 12, default rate limits) and measures
on that one server, with an admin access token:

1. the N-entry `users` list, every account already converged: wall time, peak RSS of the module
   process and the bytes of its JSON output, median (RSS: largest) of 5 runs;
2. the same list with 100 entries changed (40 new accounts, 40 admin flags set, 20 deactivated),
   run once (Synapse cannot delete accounts, so there is no reset): the module's counts and
   the server's own listing of every account, before and after, show that exactly those 100
   changed; then the changed list once more (nothing to do);
3. MDAD's way (roles/custom/matrix-user-creator, ensure_user_registered_synapse.yml): one
   `register_new_matrix_user -u NAME -p PASSWORD -c homeserver.yaml --no-admin URL` per entry,
   sequential as its Ansible loop is, against existing accounts (MDAD reads "User ID already
   taken" in the output); SAMPLE entries timed, extrapolated to N.

The module gets its arguments in a file as Ansible gives them (the shared secret and token never
on a command line); register_new_matrix_user reads the secret from the config file as MDAD has
it do, and gets the password with -p on its command line, as MDAD passes it.

The shape of a declared entry is one function, `declared`. Appends a section to
docs/benchmarks.md. Standard library only.
"""
import datetime
import json
import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as common  # noqa: E402  (bench/run.py: Synapse, exec_module, restart_with_defaults)

REPO = common.REPO
N = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
SAMPLE = int(sys.argv[2]) if len(sys.argv) > 2 else 100
RUNS = 5
PASSWORD = "users-as-code-password"
NEW, ADMINS, DEACTIVATED = 40, 40, 20  # the 100 changed entries

report = common.report  # rows: (what, ours, the other way, note)
rows = common.rows


def name(i):
    return f"uac{i:05d}"


def declared(username):
    """One declared account, as matrix-docker-ansible-deploy's matrix_user_creator_users lists it
    (the tag passes it on as it is; create-only: nothing of it is changed on an existing account).
    The changed list below mixes in full entries of matrix_user_management_users."""
    return {"username": username, "initial_password": PASSWORD, "initial_type": "user"}


def module(base, users):
    """One register_user run over `users`: (result, its output in bytes, peak RSS KiB, seconds)."""
    out, rss, secs = common.exec_module("register_user", dict(base, users=users), measure_rss=True)
    result = json.loads(out)
    if result.get("failed"):
        raise SystemExit(f"register_user failed: {result.get('msg')}")
    return result, len(out.encode()), rss, secs


def accounts(synapse):
    """Every account on the server, as Synapse's admin API lists it (deactivated included), but
    last_seen_ts: the admin's own token moves it for the admin account."""
    found, frm, pages = {}, 0, 0
    while True:
        status, page = synapse.call(
            "GET", f"/_synapse/admin/v2/users?deactivated=true&guests=false&limit=2500&from={frm}",
            token=synapse.admin_token)
        assert status == 200, page
        for u in page["users"]:
            assert u["name"] not in found, f"{u['name']} listed twice"
            u.pop("last_seen_ts", None)
            found[u["name"]] = u
        pages += 1
        assert pages < 1000, "listing does not end"
        if "next_token" not in page:
            return found
        frm = int(page["next_token"])


def main():
    if not os.access(os.path.join(common.LIB, "register_user"), os.X_OK):
        raise SystemExit("library/register_user is missing: run `make build` first")
    load = os.getloadavg()
    synapse = common.Synapse(4)
    try:
        bench(synapse)
    finally:
        synapse.stop()
    write_report(load, os.getloadavg())


def bench(synapse):
    base = {"homeserver_url": synapse.url, "shared_secret": synapse.secret, "server_name": "localhost",
            "access_token": synapse.admin_token}
    listed = [declared(name(i)) for i in range(N)]

    print(f"0. import of {N} accounts at bcrypt_rounds 4 (set-up, not measured), then Synapse's defaults",
          flush=True)
    result, _, _, secs = module(dict(base, concurrency=8), listed)
    assert result["created"] == N, result["msg"]
    print(f"  imported in {secs:.0f} s", flush=True)
    common.restart_with_defaults(synapse)

    print(f"1. the {N}-entry list, all converged, {RUNS} runs", flush=True)
    times, peak, sizes = [], 0, set()
    for _ in range(RUNS):
        result, size, rss, secs = module(base, listed)
        assert result["existing"] == N and not result["changed"] and result["failed_count"] == 0, result["msg"]
        times.append(secs)
        peak = max(peak, rss)
        sizes.add(size)
    converged = statistics.median(times)
    report(f"{N} declared accounts, all converged: wall time (median of {RUNS})", common.ms(converged), "",
           f"target under 3 s: {'met' if converged < 3 else 'NOT met'}; runs: "
           + ", ".join(f"{t:.2f}" for t in times) + " s")
    report(f"{N} declared accounts, all converged: peak RSS (largest of {RUNS})", f"{peak / 1024:.1f} MiB", "",
           f"target under 30 MB: {'met' if peak * 1024 < 30e6 else 'NOT met'}")
    report(f"{N} declared accounts, all converged: JSON output", f"{max(sizes)} bytes", "",
           f"target under 100 KB: {'met' if max(sizes) < 100e3 else 'NOT met'}; msg: {result['msg']}")

    changes(synapse, base, listed)
    mdad(synapse, listed, converged)


def changes(synapse, base, listed):
    print(f"2. the same list with {NEW + ADMINS + DEACTIVATED} entries changed, once", flush=True)
    changed = list(listed)
    new = [name(N + i) for i in range(NEW)]
    admins = [name(NEW + i) for i in range(ADMINS)]
    gone = [name(NEW + ADMINS + i) for i in range(DEACTIVATED)]
    for i, user in enumerate(new):  # the first 40 entries name new accounts (the old ones stay as they are)
        changed[i] = declared(user)
    for i, user in enumerate(admins, NEW):  # a full entry: the admin flag converges
        changed[i] = {"username": user, "password": PASSWORD, "admin": True}
    for i, user in enumerate(gone, NEW + ADMINS):
        changed[i] = {"username": user, "state": "deactivated"}
    assert len(changed) == N

    before = accounts(synapse)
    result, size, rss, secs = module(base, changed)
    after = accounts(synapse)
    assert (result["created"], result["admin_flags_changed"], result["deactivated"], result["failed_count"]) \
        == (NEW, ADMINS, DEACTIVATED, 0), result["msg"]
    assert result["changed"] and result["existing"] == N - NEW, result["msg"]
    said = sorted(r["username"] for r in result["results"] if r["changed"])
    assert said == sorted(new + admins + gone), "the module's results name other accounts"

    # The server: the 100 changed as asked, every other account exactly as it was.
    uid = "@{}:localhost".format
    assert set(after) == set(before) | {uid(u) for u in new}, "accounts appeared or vanished"
    assert not set(before) & {uid(u) for u in new}
    for u in new:
        a = after[uid(u)]
        assert not a["admin"] and not a["deactivated"] and a["user_type"] is None, a
    for u in admins:
        assert not before[uid(u)]["admin"] and after[uid(u)]["admin"], after[uid(u)]
        assert dict(before[uid(u)], admin=after[uid(u)]["admin"]) == after[uid(u)]
    for u in gone:
        assert not before[uid(u)]["deactivated"] and after[uid(u)]["deactivated"], after[uid(u)]
    touched = {uid(u) for u in new + admins + gone}
    others = {k: (before[k], after[k]) for k in before if k not in touched and before[k] != after[k]}
    assert not others, f"{len(others)} accounts outside the 100 changed, e.g. {list(others.items())[:2]}"
    report(f"the list with {NEW + ADMINS + DEACTIVATED} entries changed: wall time (one run)", f"{secs:.2f} s", "",
           f"{NEW} created at bcrypt_rounds 12, {ADMINS} admin flags set, {DEACTIVATED} deactivated; "
           f"peak RSS {rss / 1024:.1f} MiB, {size} bytes of output; checked on the server: the listing of all "
           f"{len(after)} accounts before and after differs in exactly those {NEW + ADMINS + DEACTIVATED}")

    result, size, rss, secs = module(base, changed)
    assert not result["changed"] and result["failed_count"] == 0, result["msg"]
    assert accounts(synapse) == after, "the second run changed the server"
    report("the changed list once more (nothing left to do)", f"{secs:.2f} s", "",
           f"no change, on the server too; peak RSS {rss / 1024:.1f} MiB, {size} bytes of output")

    # Where the time goes: the server's own cost of one registration and one deactivation, raw
    # (nonce + POST; one admin POST), in sequence, on accounts outside the list.
    floor = [f"uac-floor{i}" for i in range(4)]
    reg = statistics.median(timed(lambda u=u: synapse.register(u, PASSWORD)) for u in floor)
    deact = statistics.median(timed(lambda u=u: synapse.call(
        "POST", f"/_synapse/admin/v1/deactivate/{uid(u)}", {"erase": False}, synapse.admin_token)) for u in floor)
    listed_now = accounts(synapse)
    assert all(listed_now[uid(u)]["deactivated"] for u in floor), "the raw floor did not register and deactivate"
    report("server's own cost, raw, one at a time", f"registration {common.ms(reg)}, deactivation {common.ms(deact)}",
           "", f"{NEW} registrations and {DEACTIVATED} deactivations in sequence would take "
           f"{NEW * reg + DEACTIVATED * deact:.1f} s; the module runs them 8 at a time (Synapse hashes in a thread pool)")


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def mdad(synapse, listed, converged):
    print(f"3. MDAD's way: register_new_matrix_user per entry, {SAMPLE} existing accounts in sequence",
          flush=True)
    script = os.path.join(common.SYNAPSE_VENV, "register_new_matrix_user")
    config = os.path.join(synapse.dir, "homeserver.yaml")
    sample = [e["username"] for e in listed[N // 2:N // 2 + SAMPLE]]  # existing, none of the 100 changed
    peak, t = 0, time.perf_counter()
    for user in sample:
        p = subprocess.run(["/usr/bin/time", "-f", "%M", script, "-u", user, "-p", PASSWORD, "-c", config,
                            "--no-admin", synapse.url], capture_output=True, text=True)
        # MDAD: failed unless rc 0 or 'User ID already taken' in stdout; an existing account is 'ok'.
        assert p.returncode != 0 and "User ID already taken" in p.stdout, (p.returncode, p.stdout, p.stderr)
        peak = max(peak, int(p.stderr.strip().splitlines()[-1]))
    secs = time.perf_counter() - t
    per = secs / SAMPLE
    start = statistics.median(timed(lambda: subprocess.run([script, "--help"], capture_output=True, check=True))
                              for _ in range(3))
    report(f"{N} declared accounts, all existing: MDAD's way", common.ms(converged),
           f"{per * N:.0f} s ({per * N / 60:.0f} min), EXTRAPOLATED from {SAMPLE} entries ({secs:.1f} s)",
           f"{per * N / converged:.0f}x; {per * 1000:.0f} ms per entry, of which the script's Python start-up "
           f"alone (its --help) takes {common.ms(start)}; the rest is a registration attempt that Synapse answers "
           f"only after a bcrypt-12 hash of the password; peak RSS "
           f"{peak / 1024:.1f} MiB per process; without MDAD's docker exec and Ansible's per-item tasks")


def write_report(load_start, load_end):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = " / ".join(f"{x:.1f}" for x in load_start), " / ".join(f"{x:.1f}" for x in load_end)
    lines = [f"\n## Users as code: {N} declared accounts on Synapse's defaults (bench/users_as_code.py)\n",
             f"`make bench-users-as-code`. {common.machine()}; run {now}; load average {load[0]} at the start, "
             f"{load[1]} at the end (1/5/15 min; the machine is shared). One Synapse 1.163.2 on SQLite on "
             f"127.0.0.1 with bcrypt_rounds 12 and default rate limits (the {N} accounts were imported "
             "before, at bcrypt_rounds 4), an admin access token; register_user gets the whole list in one "
             "run (shared_secret, access_token, server_name, default concurrency), its arguments in a file as "
             "Ansible passes them. MDAD's way is its Synapse task per entry: `register_new_matrix_user -u NAME "
             "-p PASSWORD -c homeserver.yaml --no-admin URL`, the secret read from the config (here through "
             "`registration_shared_secret_path`), the password on the command line as MDAD passes it; timed "
             "without `docker exec` and Ansible's per-item cost, so a floor for MDAD.\n",
             "| what | register_user | MDAD's way | note |", "|---|---|---|---|"]
    lines += [f"| {w} | {o} | {t} | {n} |" for w, o, t, n in rows]
    common.append_section(lines)


if __name__ == "__main__":
    main()
