"""How long `update_maxmind` takes to compare a new build with the one it replaced
(lookups.updater.build_diff), on two generated City builds of a million networks or more, and
what that makes of two full GeoLite2-City builds (5.8 million networks each).

    .venv/bin/python bench/build_diff.py [--networks 1000000] [--repeat 3]

The builds are made once with the tests' writer (bench/realistic_db.py's cities) and cached in
bench/cache/ (a few minutes for a million networks each). The new build differs from the old as
real builds do, a little: 0.5% of the networks gone, 2% pointing at another city, 3% of the IPv4
ones split in two halves with the same data, and 0.5% new ones. The baseline, in the same run, is
reading both builds' networks and nothing more (`for network, record in reader`): the floor any
network-by-network comparison through maxminddb pays. The diff is linear in the networks of both
builds, so the extrapolation is a rule of three on networks read.
"""

import argparse
import ipaddress
import logging
import os
import random
import statistics
import sys
import time
from pathlib import Path

import maxminddb
from netaddr import IPSet

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import django
import realistic_db

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")  # the updater package imports models
django.setup()
# mmdb-writer logs every network inserted into a larger one, at INFO: a million lines.
logging.getLogger("mmdb_writer").setLevel(logging.WARNING)

from lookups.updater.build_diff import diff_builds

FULL_GEOLITE2_CITY = 5_800_000  # networks in a 2026 GeoLite2-City build (docs/FIELD-NOTES)


def _write(path: Path, networks: dict[str, dict], build_epoch: int) -> None:
    writer = realistic_db.new_writer(build_epoch)
    for cidr, record in networks.items():
        writer.insert_network(IPSet([cidr]), record)
    partial = path.with_suffix(".partial")
    writer.to_db_file(str(partial))
    partial.replace(path)


def builds(count: int, *, seed: int = 1) -> tuple[Path, Path]:
    """(old, new): cached builds of `count` networks, the new one a little different."""
    old_path = realistic_db.CACHE_DIR / f"diff-old-{count}-{seed}.mmdb"
    new_path = realistic_db.CACHE_DIR / f"diff-new-{count}-{seed}.mmdb"
    if old_path.exists() and new_path.exists():
        return old_path, new_path
    realistic_db.CACHE_DIR.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    records = realistic_db.city_records(rng)
    started = time.monotonic()
    cidrs = realistic_db.random_public_networks(rng, count + count // 200)
    old = {cidr: rng.choice(records) for cidr in cidrs[: -(count // 200)] if cidr}
    added = set(cidrs[-(count // 200) :])
    new: dict[str, dict] = {}
    for cidr, record in old.items():
        draw = rng.random()
        if draw < 0.005:
            continue  # removed
        if draw < 0.025:
            new[cidr] = rng.choice(records)  # another city
            continue
        network = ipaddress.ip_network(cidr)
        if draw < 0.055 and network.version == 4:
            for half in network.subnets():
                new[str(half)] = record  # split, same data: no change
            continue
        new[cidr] = record
    for cidr in added:
        new.setdefault(cidr, rng.choice(records))
    _write(old_path, old, 1_790_000_000)
    _write(new_path, new, 1_795_000_000)
    print(f"built two builds of {count:,} networks in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return old_path, new_path


def read_all(old: Path, new: Path) -> int:
    read = 0
    for path in (old, new):
        reader = maxminddb.open_database(str(path))
        for _ in reader:
            read += 1
        reader.close()
    return read


def diff(old: Path, new: Path) -> dict:
    return diff_builds(maxminddb.open_database(str(old)), maxminddb.open_database(str(new)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--networks", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    old, new = builds(args.networks)

    baseline, compared = [], []
    for _ in range(args.repeat):
        began = time.process_time()
        networks = read_all(old, new)
        baseline.append(time.process_time() - began)
        began = time.process_time()
        changes = diff(old, new)
        compared.append(time.process_time() - began)
    read_s, diff_s = statistics.median(baseline), statistics.median(compared)
    per_network = diff_s / networks
    full = per_network * 2 * FULL_GEOLITE2_CITY
    print(f"builds: {changes['networks_old']:,} and {changes['networks_new']:,} networks ({networks:,} read)")
    print(
        f"changes: added {changes['networks_added']:,}, removed {changes['networks_removed']:,}, "
        f"changed {changes['networks_changed']:,}, retouched {changes['networks_retouched']:,}"
    )
    print(f"baseline, reading both builds: {read_s:.1f} s CPU (median of {args.repeat})")
    print(
        f"diff: {diff_s:.1f} s CPU, {diff_s / read_s:.2f} x the baseline, "
        f"{per_network * 1e6:.2f} µs a network"
    )
    print(
        f"two full GeoLite2-City builds (2 x {FULL_GEOLITE2_CITY:,} networks): "
        f"about {full:.0f} s CPU ({full / 60:.1f} min)"
    )


if __name__ == "__main__":
    main()
