"""`GET /api/v1/networks/<prefix>` (lookups.core.networks, lookups.web.api.NetworksView): every
network of the database inside a prefix, the database's own (same prefix length, same record),
in order, paginated, as CSV for an ipset; bad prefixes refused."""

import csv
import io
from http import HTTPStatus

import maxminddb
import pytest

from lookups.core import networks as networks_module
from lookups.errors import (
    INVALID_PREFIX_MESSAGE,
    NETWORKS_LIMIT_MESSAGE,
    PREFIX_HOST_BITS_MESSAGE,
    PREFIX_START_MESSAGE,
)
from lookups.models import Lookup
from lookups.tests.geoip_data import (
    LONDON_IP,
    MANY_NETWORKS,
    build_asn_database,
    build_city_database,
    networks_by_iteration,
)
from lookups.web.api_body import NETWORK_CSV
from lookups.web.field_selection import NETWORK_FIELD_PATHS

pytestmark = pytest.mark.django_db


@pytest.fixture
def many_networks(geoip_dir):
    return build_city_database(geoip_dir / "GeoLite2-City.mmdb", networks=MANY_NETWORKS)


def listing(client, prefix: str, **params) -> dict:
    response = client.get(f"/api/v1/networks/{prefix}", params)
    assert response.status_code == HTTPStatus.OK, response.content
    return response.json()


@pytest.mark.parametrize(
    "prefix", ["81.2.0.0/16", "81.0.0.0/8", "81.3.0.0/24", "81.2.69.0/24", "2a02:ec90::/32", "2000::/3"]
)
def test_every_network_is_the_database_s_own_in_order(client, many_networks, prefix):
    body = listing(client, prefix)
    own = networks_by_iteration(many_networks, prefix)
    assert own  # the prefix holds some
    assert [entry["network"] for entry in body["networks"]] == [network for network, _ in own]
    for entry, (_, record) in zip(body["networks"], own, strict=True):
        assert entry["city"] == ({"name": record["city"]["names"]["en"]} if "city" in record else None)
        assert entry["postal"]["code"] == (record.get("postal") or {}).get("code")
    assert body["truncated"] is False
    assert body["next"] is None


def test_the_whole_ipv6_space_answers_ipv4_once_as_ipv4(client, many_networks):
    """::/0 of an IPv6 database: the IPv4 subtree once, as IPv4 networks, its aliases skipped."""
    networks = [entry["network"] for entry in listing(client, "::/0")["networks"]]
    with maxminddb.open_database(str(many_networks), maxminddb.MODE_FILE) as reader:
        assert networks == [str(network) for network, _ in reader]
    assert len(networks) == len(set(networks))
    assert "81.2.69.0/24" in networks


def test_a_network_answers_as_a_lookup_does_without_the_query(client, many_networks):
    entry = listing(client, "81.2.69.0/24")["networks"]
    lookup = client.get(f"/api/v1/lookup/{LONDON_IP}").json()
    for key in ("query", "name", "ip_address", "addresses"):
        del lookup[key]
    assert entry == [lookup]


def test_a_prefix_inside_one_network_answers_that_network(client, many_networks):
    assert [e["network"] for e in listing(client, "81.2.69.128/25")["networks"]] == ["81.2.69.0/24"]
    assert [e["network"] for e in listing(client, "81.2.69.142")["networks"]] == ["81.2.69.0/24"]
    assert [e["network"] for e in listing(client, "2a02:ec80::/32")["networks"]] == ["2a02:ec80::/29"]


def test_time_zones_come_from_tz_world_when_the_record_has_none(client, city_database):
    (entry,) = listing(client, "89.160.20.0/24")["networks"]
    assert entry["location"]["time_zone"] == "Europe/Stockholm"
    assert entry["location"]["time_zone_source"] == "tz_world"


def test_a_prefix_without_networks_is_an_empty_list(client, many_networks):
    assert listing(client, "10.0.0.0/8") == {
        "prefix": "10.0.0.0/8",
        "networks": [],
        "truncated": False,
        "next": None,
    }


def test_pages_follow_one_another_to_the_whole_list(client, many_networks):
    whole = [entry["network"] for entry in listing(client, "81.0.0.0/8")["networks"]]
    seen, url, pages = [], "/api/v1/networks/81.0.0.0/8?limit=7", 0
    while url:
        response = client.get(url)
        body = response.json()
        assert len(body["networks"]) <= 7
        seen += [entry["network"] for entry in body["networks"]]
        assert body["truncated"] is (body["next"] is not None)
        if body["next"]:
            assert response["Link"] == f'<{body["next"]}>; rel="next"'
            assert "limit=7" in body["next"]
        url, pages = body["next"], pages + 1
    assert seen == whole
    assert pages == -(-len(whole) // 7)


def test_csv_is_ready_for_an_ipset(client, many_networks):
    response = client.get("/api/v1/networks/81.3.0.0/16", {"format": "csv"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    header, *rows = csv.reader(io.StringIO(response.content.decode()))
    assert tuple(header) == NETWORK_CSV.columns
    assert header[0] == "network"
    assert [row[0] for row in rows] == [n for n, _ in networks_by_iteration(many_networks, "81.3.0.0/16")]
    truncated = client.get("/api/v1/networks/81.3.0.0/16", {"format": "csv", "limit": "2"})
    assert len(list(csv.reader(io.StringIO(truncated.content.decode())))) == 3
    assert 'rel="next"' in truncated["Link"]


def test_traits_when_the_asn_network_holds_the_whole_network(client, many_networks):
    build_asn_database(
        many_networks.parent / "GeoLite2-ASN.mmdb",
        networks={
            "81.2.69.0/24": {"autonomous_system_number": 20712, "autonomous_system_organization": "AA"},
            "81.3.128.0/18": {"autonomous_system_number": 64500, "autonomous_system_organization": "Half"},
        },
    )
    by_network = {e["network"]: e["traits"] for e in listing(client, "81.0.0.0/8")["networks"]}
    assert by_network["81.2.69.0/24"] == {
        "autonomous_system_number": 20712,
        "autonomous_system_organization": "AA",
    }
    # 81.3.128.0/17 spans more than one AS network: no AS claimed for all of it.
    assert by_network["81.3.128.0/17"]["autonomous_system_number"] is None


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("nope", {}, INVALID_PREFIX_MESSAGE),
        ("81.2.0.0/33", {}, INVALID_PREFIX_MESSAGE),
        ("81.2.0.0/16/8", {}, INVALID_PREFIX_MESSAGE),
        ("fe80::1%25eth0/64", {}, INVALID_PREFIX_MESSAGE),
        ("fe80::%25eth0/64", {}, INVALID_PREFIX_MESSAGE),
        (
            "81.2.69.142/16",
            {},
            PREFIX_HOST_BITS_MESSAGE.format(given="81.2.69.142/16", network="81.2.0.0/16"),
        ),
        ("81.2.0.0/16", {"start": "81.3.0.0"}, PREFIX_START_MESSAGE.format(prefix="81.2.0.0/16")),
        ("81.2.0.0/16", {"start": "::1"}, PREFIX_START_MESSAGE.format(prefix="81.2.0.0/16")),
        ("81.2.0.0/16", {"limit": "0"}, NETWORKS_LIMIT_MESSAGE.format(maximum=networks_module.MAX_LIMIT)),
        ("81.2.0.0/16", {"limit": "10001"}, NETWORKS_LIMIT_MESSAGE.format(maximum=networks_module.MAX_LIMIT)),
        ("81.2.0.0/16", {"limit": "٣"}, NETWORKS_LIMIT_MESSAGE.format(maximum=networks_module.MAX_LIMIT)),
    ],
)
def test_bad_prefixes_are_400_with_a_message(client, many_networks, path, params, message):
    response = client.get(f"/api/v1/networks/{path}", params)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["message"] == message


def test_no_database_is_503(client, geoip_dir):
    response = client.get("/api/v1/networks/81.2.0.0/16")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert response.json()["error"]["code"] == "database_unavailable"


def test_an_ipv4_database_has_no_ipv6_networks(client, geoip_dir):
    build_city_database(geoip_dir / "GeoLite2-City.mmdb", ip_version=4)
    assert listing(client, "2a02:ec80::/29")["networks"] == []
    assert [e["network"] for e in listing(client, "81.2.0.0/16")["networks"]] == ["81.2.69.0/24"]


def test_listings_are_not_lookups_in_the_history(client, many_networks):
    listing(client, "81.2.0.0/16")
    assert not Lookup.objects.exists()


@pytest.mark.throttled
def test_the_api_s_rate_limit_counts_them(client, many_networks, settings):
    settings.API_THROTTLE_RATE = "2/minute"
    caller = {"REMOTE_ADDR": "198.51.100.9"}
    assert client.get(f"/api/v1/lookup/{LONDON_IP}", **caller).status_code == HTTPStatus.OK
    assert client.get("/api/v1/networks/81.2.0.0/16", **caller).status_code == HTTPStatus.OK
    response = client.get("/api/v1/networks/81.2.0.0/16", **caller)
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert response.json()["error"]["code"] == "throttled"


def test_the_schema_documents_the_listing_and_matches_its_bodies(client, many_networks):
    from lookups.web.api_schema import NetworkPageSerializer, NetworkSerializer

    operation = client.get("/api/schema/?format=json").json()["paths"]["/api/v1/networks/{prefix}"]["get"]
    assert operation["operationId"] == "networks"
    assert {p["name"] for p in operation["parameters"]} >= {"prefix", "limit", "start", "lang", "format"}
    body = listing(client, "81.2.0.0/16")
    assert set(body) == set(NetworkPageSerializer().fields)
    assert set(body["networks"][0]) == set(NetworkSerializer().fields)


def test_fields_trim_each_network(client, many_networks):
    body = listing(client, "81.3.0.0/16", fields="network,country.iso_code")
    assert body["networks"][0] == {"network": "81.3.0.0/28", "country": {"iso_code": "GB"}}
    assert body["truncated"] is False  # the page's own keys stay


def test_fields_network_alone_in_csv_is_an_ipset_list(client, many_networks):
    response = client.get("/api/v1/networks/81.3.0.0/16", {"format": "csv", "fields": "network"})
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [["network"], *[[n] for n, _ in networks_by_iteration(many_networks, "81.3.0.0/16")]]


@pytest.mark.parametrize("fields", ["query", "ip_address", "error", "nope"])
def test_fields_a_network_has_not_are_refused(client, many_networks, fields):
    response = client.get("/api/v1/networks/81.2.0.0/16", {"fields": fields})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    error = response.json()["error"]
    assert error["code"] == "unknown_fields"
    assert error["message"].endswith("The fields are: " + ", ".join(NETWORK_FIELD_PATHS) + ".")
