"""The batch API (lookups.core.pipeline.lookup_batch, lookups.web.api_body): every query answered
in order, repeats looked up and recorded once, rows stored alike at once and written behind."""

import datetime as dt
import json
import math

import pytest

from lookups import history
from lookups.models import Lookup
from lookups.tests.geoip_data import (
    AT_SEA_IP,
    BERLIN_IP,
    COUNTRY_ONLY_IP,
    LINKOPING_IP,
    LONDON_IP,
    UNKNOWN_PUBLIC_IP,
    build_asn_database,
    build_city_database,
)

pytestmark = pytest.mark.django_db

MIXED = [
    LONDON_IP,
    BERLIN_IP,  # IPv6
    LINKOPING_IP,  # no time zone in the record: tz_world answers
    AT_SEA_IP,  # no time zone anywhere
    COUNTRY_ONLY_IP,
    UNKNOWN_PUBLIC_IP,  # not in the database
    "10.0.0.1",  # not public
    "fd00::1",
    "::ffff:81.2.69.142",  # IPv4-mapped: looked up as the IPv4 address
    "[2A02:EC80::1]",  # brackets and upper case
    "fe80::1%eth0",
    "london.example.com",
    "dual.example.com",
    "nope.example.com",
    "internal.example.com",
    "unknown.example.com",
    "bad query",
    "010.8.8.8",
    "",
    "x" * 300,
    f"  {LONDON_IP} ",  # a repeat, spaces aside: answered as the first
    "London.Example.COM",  # a repeat, case aside
    "10.0.0.1",
    "nul\x00.example.com",
    "line\u2028separator",
]

UNITED_KINGDOM = {"en": "United Kingdom", "de": "Vereinigtes Königreich", "ja": "イギリス"}
# MIXED's answers, in order.
EXPECTED_OUTCOMES = [
    *["ok"] * 5,
    "address_not_found",
    *["address_not_public"] * 2,
    *["ok"] * 2,
    "address_not_public",
    *["ok"] * 2,
    "name_not_resolved",
    "address_not_public",
    "address_not_found",
    *["invalid_query"] * 4,
    *["ok"] * 2,
    "address_not_public",
    *["invalid_query"] * 2,
]

# Columns that differ between any two writes of the same lookup.
_VOLATILE = {"id", "created_at", "uid"}


def stored_rows() -> list[dict]:
    rows = Lookup.objects.order_by("id").values()
    return [{key: value for key, value in row.items() if key not in _VOLATILE} for row in rows]


def post_batch(client, queries: list[str], query_string: str = "") -> list[dict]:
    response = client.post(
        f"/api/v1/lookup/batch{query_string}",
        data=json.dumps({"queries": queries}),
        content_type="application/json",
        REMOTE_ADDR="203.0.113.9",
    )
    assert response.status_code == 200, response.content[:300]
    return response.json()["results"]


@pytest.mark.parametrize("language", ["en", "de", "ja"])
def test_each_query_answered_in_order_repeats_once(client, city_database, language):
    results = post_batch(client, MIXED, f"?lang={language}")
    outcomes = [result["error"]["code"] if "error" in result else "ok" for result in results]
    assert outcomes == EXPECTED_OUTCOMES
    for query, result in zip(MIXED, results, strict=True):
        if "error" in result:
            assert result["query"] == query  # an error echoes the query as sent
        else:
            assert result["language"] == language
    assert (
        results[0]["country"]["name"]
        == {"en": "United Kingdom", "de": "Vereinigtes Königreich", "ja": "イギリス"}[language]
    )
    assert results[8]["ip_address"] == LONDON_IP  # IPv4-mapped: looked up as the IPv4 address
    # Repeats answer as the first: its query, spaces trimmed (an error echoes the query as sent).
    assert [result["query"] for result in results[-5:-2]] == [LONDON_IP, "london.example.com", "10.0.0.1"]
    assert results[-5] == results[0]
    assert results[2]["location"]["time_zone_source"] == "tz_world"
    assert len(stored_rows()) == len(MIXED) - 3  # repeats are recorded once


def test_a_batch_entry_is_the_single_lookup_s_body(client, city_database):
    results = post_batch(client, [LONDON_IP, BERLIN_IP, LINKOPING_IP, "london.example.com"])
    for result in results:
        single = client.get(f"/api/v1/lookup/{result['query']}").json()
        assert result == single


def test_with_an_asn_database_and_an_ipv4_only_city_database(client, geoip_dir):
    build_city_database(geoip_dir / "GeoLite2-City.mmdb", ip_version=4)
    build_asn_database(geoip_dir / "GeoLite2-ASN.mmdb")
    results = post_batch(client, MIXED)
    assert results[0]["traits"]["autonomous_system_number"] == 20712
    assert results[1]["error"]["code"] == "address_not_found"  # IPv6, in an IPv4 database


def test_without_a_database_every_entry_says_so(client, geoip_dir):
    results = post_batch(client, MIXED)
    assert {result["error"]["code"] for result in results} == {"database_unavailable"}
    assert len(stored_rows()) == len(MIXED) - 3


def test_rows_written_behind_are_stored_as_written_at_once(client, city_database, settings, tmp_path):
    """Write-behind (production's way): a batch's rows, spooled then replayed, are what the
    synchronous INSERT stores."""
    bodies = post_batch(client, MIXED)
    at_once = stored_rows()
    Lookup.objects.all().delete()
    settings.HISTORY_SPOOL_DIR = tmp_path / "spool"
    assert post_batch(client, MIXED) == bodies
    lines = b"".join(path.read_bytes() for path in settings.HISTORY_SPOOL_DIR.glob("*.spool")).splitlines()
    assert len(lines) == 1 + len(MIXED) - 3  # the header, then a line a row, all waiting
    assert history.replay().rows == len(MIXED) - 3
    assert stored_rows() == at_once


def test_history_rows_read_back_as_written(city_database):
    """Rows go to PostgreSQL as COPY lines: every value must arrive as it was."""
    built = dt.datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=dt.UTC)
    rows = [
        history.new_row(
            query='O\'Brien \\ "x" Zürich 東京 \u2028',
            channel="batch",
            addresses=[LONDON_IP, BERLIN_IP],
            ip_address=BERLIN_IP,
            network="2a02:ec80::/32",
            city="Zürich",
            location=(-179.99999999999997, 1e-05),
            accuracy_radius=5,
            requester="203.0.113.0",
            database_build_date=built,
        ),
        history.new_row(query="no location", channel="api", outcome="address_not_found"),
    ]
    history.record(rows)
    history.record([history.new_row(query="nan", channel="api", location=(math.nan, 1.0))])
    stored = {row.query: row for row in Lookup.objects.all()}
    first = stored[rows[0]["query"]]
    assert (first.addresses, first.ip_address, first.network) == (
        [LONDON_IP, BERLIN_IP],
        BERLIN_IP,
        rows[0]["network"],
    )
    assert (first.location.x, first.location.y) == (-179.99999999999997, 1e-05)
    assert (first.city, first.requester, first.database_build_date) == ("Zürich", "203.0.113.0", built)
    assert first.created_at == rows[0]["created_at"]
    assert str(first.uid) == rows[0]["uid"]
    assert stored["no location"].location is None
    assert stored["no location"].outcome == "address_not_found"
    assert math.isnan(stored["nan"].location.x)
