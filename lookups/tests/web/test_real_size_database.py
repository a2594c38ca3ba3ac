"""The power-user API against a database of real size, through a live gunicorn: the benchmarks'
generated City database (bench/realistic_db.py: 200,000 networks over the whole address space,
IPv4 and IPv6, real GeoNames cities; built once, about a minute, and cached in bench/cache/).
Real builds cannot be downloaded here. Every answer is checked against the file itself, read
with maxminddb."""

import ipaddress
import json
import random
import urllib.parse

import maxminddb
import pytest

from bench import realistic_db
from conftest import live_environment, run_gunicorn

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

NETWORKS = 200_000
SAMPLED = 400


@pytest.fixture(scope="module")
def database():
    path = realistic_db.build(NETWORKS)
    with maxminddb.open_database(str(path)) as reader:
        networks = [(network, record) for network, record in reader]
    return path, networks


@pytest.fixture(scope="module")
def server(django_db_setup, database, dns_server, collected_static, tmp_path_factory):
    geoip_dir = tmp_path_factory.mktemp("real-size-geoip")
    (geoip_dir / "GeoLite2-City.mmdb").symlink_to(database[0])
    env = live_environment(geoip_dir=geoip_dir, dns_server=dns_server, static_root=collected_static)
    with run_gunicorn(env=env, tmp_path=tmp_path_factory.mktemp("gunicorn")) as live:
        yield live


@pytest.fixture(scope="module")
def sampled(database):
    return realistic_db.sample_addresses(database[0], SAMPLED)


def _json(server, path: str):
    status, _, body = server.get(path)
    assert status == 200, body[:300]
    return json.loads(body)


def test_country_iso_matches_the_database_for_every_sampled_address(server, database, sampled):
    with maxminddb.open_database(str(database[0])) as reader:
        for address in sampled:
            status, headers, body = server.get(f"/country-iso?ip={address}")
            expected = reader.get(address)["country"]["iso_code"]
            assert (status, body.decode()) == (200, f"{expected}\n"), address
            assert headers["Content-Type"].startswith("text/plain")


def test_fields_trims_exactly(server, sampled):
    for address in sampled[:100]:
        whole = _json(server, f"/api/v1/lookup/{address}")
        trimmed = _json(server, f"/api/v1/lookup/{address}?fields=country.iso_code,city.name,location")
        assert trimmed == {
            "country": {"iso_code": whole["country"]["iso_code"]},
            "city": {"name": whole["city"]["name"]},
            "location": whole["location"],
        }


def _listed(server, prefix: str) -> list[dict]:
    """Every page of a prefix's networks."""
    # Small pages: the paging is checked too.
    listed, path, pages = [], f"/api/v1/networks/{urllib.parse.quote(prefix)}?limit=25", 0
    while path:
        pages += 1
        page = _json(server, path)
        assert page["truncated"] == (page["next"] is not None)
        listed += page["networks"]
        path = page["next"] and urllib.parse.urlsplit(page["next"])._replace(scheme="", netloc="").geturl()
    assert pages == max(1, -(-len(listed) // 25))
    return listed


def _prefixes(sampled: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    rng = random.Random(3)
    v4 = [address for address in sampled if ":" not in address]
    v6 = [address for address in sampled if ":" in address]
    prefixes = [ipaddress.ip_network(f"{address}/12", strict=False) for address in rng.sample(v4, 4)]
    prefixes += [ipaddress.ip_network(f"{address}/24", strict=False) for address in rng.sample(v6, 2)]
    return prefixes


def test_every_network_of_a_prefix_is_the_databases_own_and_none_is_missed(server, database, sampled):
    path, networks = database
    with maxminddb.open_database(str(path)) as reader:
        for prefix in _prefixes(sampled):
            listed = _listed(server, str(prefix))
            answered = [ipaddress.ip_network(entry["network"]) for entry in listed]
            assert answered == sorted(answered), prefix  # in address order
            for network, entry in zip(answered, listed, strict=True):
                assert network.subnet_of(prefix)
                record, prefix_length = reader.get_with_prefix_len(network.network_address)
                assert prefix_length == network.prefixlen, network  # the database's own network
                assert entry["country"]["iso_code"] == record["country"]["iso_code"]
                assert entry["city"]["name"] == record["city"]["names"]["en"]
            # Every network of the database inside the prefix is listed, so every address it knows
            # there falls in one of them.
            inside = sorted(
                network
                for network, _ in networks
                if network.version == prefix.version and network.subnet_of(prefix)
            )
            assert answered == inside, prefix
            for address in sampled:
                parsed = ipaddress.ip_address(address)
                if parsed.version == prefix.version and parsed in prefix:
                    assert any(parsed in network for network in answered)
