"""System calls per request of one gunicorn worker under load, counted by `strace -c -f`: for the
baseline app and the lookup API. Under strace everything runs several times slower, so its rates
mean nothing; the counts per request are what to compare (each call that lets go of the GIL can
hand it to another of the worker's threads, and back: the futex calls).

    .venv/bin/python bench/syscalls.py

Needs strace (apt-get install strace); uses the benchmark database, easygeoip_bench, as bench/run.py does.
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))

from bench import realistic_db
from bench.instructions import environment
from bench.run import Gunicorn, prepare_database, run_wrk, warm_up

SERVED = {
    "baseline": ("bench.baseline_app:application", "/"),
    "API lookup": ("config.wsgi:application", "/api/v1/lookup/"),
}


def count(app: str, prefix: str, env: dict, work: Path, addresses: list[str], args) -> dict[str, float]:
    addresses_file = work / "addresses.txt"
    addresses_file.write_text("\n".join(addresses) + "\n")
    server = Gunicorn(app, env, 1, work)
    try:
        warm_up(server.url, [prefix + address for address in addresses[:200]])
        worker = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children").read_text().split()[0]
        output = work / f"strace-{worker}.txt"
        tracer = subprocess.Popen(
            ["strace", "-c", "-f", "-p", worker, "-o", str(output)], stderr=subprocess.DEVNULL
        )
        time.sleep(1)  # attached to every thread
        requests = run_wrk(server.url, prefix, addresses_file, args.duration, args.connections)["requests"]
        tracer.terminate()
        tracer.wait()
    finally:
        server.stop()
    calls = {}
    for line in output.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[3].isdigit():  # % time, seconds, usecs/call, calls, [errors,] name
            calls[fields[-1]] = int(fields[3]) / max(1, requests)
    return calls


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--networks", type=int, default=200_000)
    args = parser.parse_args()
    mmdb = realistic_db.build(args.networks)
    work = Path(tempfile.mkdtemp(prefix="easygeoip-syscalls-"))
    env = environment(work, mmdb)
    prepare_database(env["BENCH_DSN"].rsplit("/", 1)[0] + "/postgres", env["BENCH_DSN"], env)
    addresses = realistic_db.sample_addresses(mmdb, 5000)
    results = {name: count(app, prefix, env, work, addresses, args) for name, (app, prefix) in SERVED.items()}
    names = sorted({name for calls in results.values() for name in calls if calls[name] >= 0.05} - {"total"})
    names.sort(key=lambda name: -max(calls.get(name, 0) for calls in results.values()))
    print(f"system calls per request, one worker, wrk -t2 -c{args.connections} -d{args.duration}s")
    print(f"{'call':<16}" + "".join(f"{name:>14}" for name in results))
    for name in [*names, "total"]:
        print(f"{name:<16}" + "".join(f"{calls.get(name, 0):>14.2f}" for calls in results.values()))


if __name__ == "__main__":
    main()
