#!/usr/bin/env python3
"""Scale: a 10,000-user list on a Synapse with its defaults (bcrypt_rounds 12, default rate limits).

Run through `make bench-scale` (it builds the static binaries into library/ first). Starts its
own Synapse on 127.0.0.1 with tests/servers/synapse.sh, imports N accounts (N = 10,000, or the
first argument) at bcrypt_rounds 4 with the module and, on a second server, with a raw concurrent
HTTP driver; then restarts the first server with Synapse's defaults and measures re-runs of the
same list: with an admin token (one paged listing), without (profile look-ups, then a
registration attempt per account once Synapse's profile rate limit refuses them; measured on
the first WITHOUT accounts, default 1,000, because each costs a full bcrypt hash), and as a loop
of single-account runs. Peak RSS of every module run. Appends a section to docs/benchmarks.md.
Standard library only.
"""
import concurrent.futures as futures
import datetime
import json
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as common  # noqa: E402  (bench/run.py: Synapse, run_module, restart_with_defaults, LIB)

REPO = common.REPO
N = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
WITHOUT = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000
PASSWORD = "scale-bench-password"

rows = []


def report(what, value, note=""):
    rows.append((what, value, note))
    print(f"  {what}: {value}" + (f"  ({note})" if note else ""), flush=True)


def users(prefix, n):
    return [{"username": f"{prefix}{i:05d}", "password": PASSWORD} for i in range(n)]


def timed_module(args):
    t = time.perf_counter()
    result, rss = common.run_module("register_user", args, measure_rss=True)
    return time.perf_counter() - t, result, rss


def raw_import(synapse, names, concurrency=8):
    t = time.perf_counter()
    with futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda u: synapse.register(u, PASSWORD), names))
    return time.perf_counter() - t


def main():
    if not os.access(os.path.join(common.LIB, "register_user"), os.X_OK):
        raise SystemExit("library/register_user is missing: run `make build` first")
    target, raw = common.Synapse(4), common.Synapse(4)
    try:
        bench(target, raw)
    finally:
        target.stop()
        raw.stop()
    write_report()


def bench(target, raw):
    base = {"homeserver_url": target.url, "shared_secret": target.secret, "server_name": "localhost"}
    listed = users("scale", N)

    print(f"1. first import of {N} accounts at bcrypt_rounds 4, concurrency 8", flush=True)
    secs, result, rss = timed_module(dict(base, users=listed, concurrency=8))
    assert result["created"] == N, result["msg"]
    raw_secs = raw_import(raw, [u["username"] for u in listed])
    report(f"first import of {N} accounts: module", f"{secs:.1f} s, {N / secs:.0f} users/s",
           f"peak RSS {rss / 1024:.1f} MiB; raw concurrent driver: {raw_secs:.1f} s, {N / raw_secs:.0f} users/s "
           f"({raw_secs / secs * 100:.0f}% of the module's rate)")

    common.restart_with_defaults(target)
    print("2. re-runs of the same list, all accounts existing, on Synapse's defaults", flush=True)
    secs, result, rss = timed_module(dict(base, users=listed, concurrency=8, access_token=target.admin_token))
    assert result["existing"] == N and not result["changed"], result["msg"]
    out = len(json.dumps(result))
    report(f"re-run of {N} existing accounts with an admin token", f"{secs:.2f} s",
           f"peak RSS {rss / 1024:.1f} MiB, {out / 1024:.1f} KiB of output; one paged admin listing")

    sample = listed[:WITHOUT]
    secs, result, rss = timed_module(dict(base, users=sample, concurrency=8))
    assert result["existing"] == WITHOUT and not result["changed"], result["msg"]
    report(f"re-run of {WITHOUT} existing accounts without credentials", f"{secs:.1f} s",
           f"peak RSS {rss / 1024:.1f} MiB; {secs / WITHOUT * 1000:.0f} ms per account once the profile "
           f"limit refuses look-ups: {N} accounts would take about {secs / WITHOUT * N / 60:.0f} min")

    t = time.perf_counter()
    peak = 0
    for u in listed:
        _, r = common.run_module("register_user", dict(base, username=u["username"], password=PASSWORD,
                                                       access_token=target.admin_token), measure_rss=True)
        peak = max(peak, r)
    secs = time.perf_counter() - t
    report(f"the same {N} accounts as a loop of single runs with an admin token", f"{secs:.1f} s",
           f"{secs / N * 1000:.1f} ms per run (the module alone, without Ansible's per-task cost); peak RSS {peak / 1024:.1f} MiB")


def write_report():
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"
    try:
        with open("/proc/cpuinfo") as f:
            model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
            machine = f"{model}, {os.cpu_count()} cores"
    except OSError:
        pass
    lines = [f"\n## Scale: {N} users on Synapse's defaults ({datetime.date.today()}, {machine})\n",
             "`make bench-scale` (bench/scale.py). Synapse 1.163.2 on SQLite, bcrypt_rounds 12 and default rate "
             "limits for the re-runs; imports at bcrypt_rounds 4.\n",
             "| what | result | note |", "|---|---|---|"]
    lines += [f"| {w} | {v} | {n} |" for w, v, n in rows]
    common.append_section(lines)


if __name__ == "__main__":
    main()
