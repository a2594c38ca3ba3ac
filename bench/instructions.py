"""Instructions per API lookup, counted by valgrind's callgrind: repeatable where timings are not.

The 2-core VM's timings swing by a third from run to run; an instruction count does not (the
same code, database and requests give the same count within a fraction of a percent, whatever
else the machine does). What it leaves out: the kernel (system calls), and gunicorn, which this
calls around: it measures Django's handler, the middleware, the view and the pipeline, through
`config.wsgi.application` in one process, with the history written behind as in production.

    .venv/bin/python bench/instructions.py            # GET /api/v1/lookup/<address>
    .venv/bin/python bench/instructions.py --path /lookup/ --requests 500
    .venv/bin/python bench/instructions.py --profile  # where the time goes instead (cProfile)

Needs valgrind (apt-get install valgrind) and the benchmark database (bench/run.py's, migrated).
"""

import argparse
import io
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
BASE_DIR = BENCH_DIR.parent
sys.path.insert(0, str(BASE_DIR))

from bench import realistic_db
from bench.run import DB_NAME, PYTHON, prepare_database


def environment(work: Path, mmdb: Path) -> dict[str, str]:
    server = os.environ.get("DATABASE_URL", "postgis://postgres@127.0.0.1:5432/easygeoip").rsplit("/", 1)[0]
    (work / "geoip").mkdir()
    (work / "geoip" / "GeoLite2-City.mmdb").symlink_to(mmdb)
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECRET_KEY": "benchmark-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "DJANGO_STATIC_ROOT": str(work / "static"),
        "DATABASE_URL": f"{server}/{DB_NAME}",
        # For bench/baseline_app.py, which the other tools serve beside the service.
        "BENCH_MMDB": str(mmdb),
        "BENCH_DSN": f"{server}/{DB_NAME}".replace("postgis://", "postgresql://"),
        "GEOIP_PATH": str(work / "geoip"),
        "GEOIP_CITY": "GeoLite2-City.mmdb",
        "API_THROTTLE_RATE": "",
        "HISTORY_SPOOL_DIR": str(work / "spool"),
        "LOG_LEVEL": "WARNING",
    }


def _environ(path: str, query: str) -> dict:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path + query,
        "QUERY_STRING": "",
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "8000",
        "HTTP_HOST": "localhost:8000",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_ACCEPT": "*/*",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
    }


def _send(application, path: str, addresses: list[str], count: int) -> None:
    """`count` lookups of the addresses in turn, each answered 200 or the run stops."""

    def start_response(status, headers, exc_info=None):
        if not status.startswith("200"):
            raise SystemExit(f"{path}: {status}")

    for index in range(count):
        b"".join(application(_environ(path, addresses[index % len(addresses)]), start_response))


def serve(path: str, addresses: list[str], requests: int, signals: Path) -> None:
    """In the measured process: warm up, then run `requests` lookups between two signal files."""
    import django

    django.setup()
    from config.wsgi import application

    _send(application, path, addresses, 300)  # imports, caches, the flusher thread started
    (signals / "ready").touch()
    while not (signals / "go").exists():
        time.sleep(0.05)
    _send(application, path, addresses, requests)
    (signals / "done").touch()
    while not (signals / "stop").exists():
        time.sleep(0.05)


def profile(path: str, addresses: list[str], requests: int) -> None:
    """The same requests under cProfile, in this process: which functions the time goes to
    (the profiler inflates small calls: read shares, not times)."""
    import cProfile
    import pstats

    import django

    django.setup()
    from config.wsgi import application

    _send(application, path, addresses, 300)
    profiler = cProfile.Profile()
    profiler.runcall(_send, application, path, addresses, requests)
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(50)


def _instrumentation(state: str, pid: int) -> None:
    subprocess.run(["callgrind_control", "-i", state, str(pid)], check=True, capture_output=True)


def measure(env: dict, args, addresses_file: Path, signals: Path) -> int:
    log = signals / "callgrind.log"
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={signals / 'callgrind.out'}",
        PYTHON,
        __file__,
        "--serve",
        str(addresses_file),
        "--path",
        args.path,
        "--requests",
        str(args.requests),
        "--signals",
        str(signals),
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        for name in ("ready", "done"):
            while not (signals / name).exists():
                if process.poll() is not None:
                    sys.exit(log.read_text()[-3000:])
                time.sleep(0.2)
            if name == "ready":
                subprocess.run(
                    ["callgrind_control", "-i", "on", str(process.pid)], check=True, capture_output=True
                )
                (signals / "go").touch()
        _instrumentation("off", process.pid)
        (signals / "stop").touch()
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    collected = re.search(r"Collected : ([\d,]+)", log.read_text())
    return int(collected.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--path", default="/api/v1/lookup/", help="what the address is appended to")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--networks", type=int, default=20_000, help="networks in the generated database")
    parser.add_argument("--profile", action="store_true", help="profile with cProfile instead of counting")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--signals", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.path, args.serve.read_text().split(), args.requests, args.signals)
        return

    mmdb = realistic_db.build(args.networks)
    work = Path(tempfile.mkdtemp(prefix="easygeoip-instructions-"))
    env = environment(work, mmdb)
    server = env["DATABASE_URL"].rsplit("/", 1)[0]
    prepare_database(
        server.replace("postgis://", "postgresql://") + "/postgres",
        env["DATABASE_URL"].replace("postgis://", "postgresql://"),
        env,
    )
    addresses_file = work / "addresses.txt"
    addresses_file.write_text("\n".join(realistic_db.sample_addresses(mmdb, 2000)) + "\n")
    if args.profile:
        os.environ.update(env)
        profile(args.path, addresses_file.read_text().split(), args.requests)
        return
    signals = work / "signals"
    signals.mkdir()
    total = measure(env, args, addresses_file, signals)
    per_request = total / args.requests
    print(f"GET {args.path}<address>: {per_request:,.0f} instructions per request ({args.requests} requests)")


if __name__ == "__main__":
    main()
