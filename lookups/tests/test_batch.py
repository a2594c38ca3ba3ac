"""The API's lean batch path (lookups.batch) answers and records exactly what the general one
(services.lookup_batch, then serializers.result_as_dict) does."""

import datetime as dt
import json
import math

import pytest
from rest_framework.exceptions import ErrorDetail
from rest_framework.renderers import JSONRenderer

from lookups import batch, history, renderers, services
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

# Columns that differ between any two writes of the same lookup.
_VOLATILE = {"id", "created_at", "uid"}


def stored_rows() -> list[dict]:
    rows = Lookup.objects.order_by("id").values()
    return [{key: value for key, value in row.items() if key not in _VOLATILE} for row in rows]


def both_paths(queries: list[str], language: str = "en") -> tuple[tuple, tuple]:
    """(bodies as JSON, history rows) of the general path, then of the lean one."""
    answers = []
    for lean in (False, True):
        Lookup.objects.all().delete()
        if lean:
            bodies = batch.lookup_batch_bodies(
                queries, channel="batch", requester="203.0.113.9", choose_language=lambda _: language
            )
        else:
            general = services.lookup_batch(queries, channel="batch", requester="203.0.113.9")
            bodies = batch.general_bodies(queries, general, lambda _: language)
        answers.append((JSONRenderer().render({"results": bodies}), stored_rows()))
    return answers[0], answers[1]


@pytest.mark.parametrize("language", ["en", "de", "ja"])
def test_lean_and_general_paths_answer_and_record_the_same(city_database, language):
    general, lean = both_paths(MIXED, language)
    assert lean[0] == general[0]
    assert lean[1] == general[1]
    results = json.loads(lean[0])["results"]
    # Repeats answer as the first: its query, spaces trimmed (an error echoes the query as sent).
    assert [result["query"] for result in results[-5:-2]] == [LONDON_IP, "london.example.com", "10.0.0.1"]
    assert results[2]["location"]["time_zone_source"] == "tz_world"
    assert len(lean[1]) == len(MIXED) - 3  # repeats are recorded once


def test_the_same_with_an_asn_database_and_an_ipv4_only_city_database(geoip_dir):
    build_city_database(geoip_dir / "GeoLite2-City.mmdb", ip_version=4)
    build_asn_database(geoip_dir / "GeoLite2-ASN.mmdb")
    general, lean = both_paths(MIXED)
    assert lean == general
    assert json.loads(lean[0])["results"][0]["traits"]["autonomous_system_number"] == 20712


def test_the_same_without_a_database(geoip_dir):
    general, lean = both_paths(MIXED)
    assert lean == general
    assert json.loads(lean[0])["results"][0]["error"]["code"] == "database_unavailable"


def test_the_api_answers_with_the_lean_path(client, city_database):
    response = client.post(
        "/api/v1/lookup/batch?lang=de", data=json.dumps({"queries": MIXED}), content_type="application/json"
    )
    general, _ = both_paths(MIXED, "de")
    assert response.content == general[0]


def test_rows_written_behind_are_stored_as_written_at_once(city_database, settings, tmp_path):
    """Write-behind (production's way): the lean path's rows, spooled then replayed, are what
    the general path INSERTs at once."""
    general, _ = both_paths(MIXED)
    Lookup.objects.all().delete()
    settings.HISTORY_SPOOL_DIR = tmp_path / "spool"
    bodies = batch.lookup_batch_bodies(
        MIXED, channel="batch", requester="203.0.113.9", choose_language=lambda _: "en"
    )
    lines = b"".join(path.read_bytes() for path in settings.HISTORY_SPOOL_DIR.glob("*.spool")).splitlines()
    assert len(lines) == 1 + len(MIXED) - 3  # the header, then a line a row, all waiting
    assert history.replay().rows == len(MIXED) - 3
    assert (JSONRenderer().render({"results": bodies}), stored_rows()) == general


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


@pytest.mark.parametrize(
    "data",
    [
        {"results": [{"latitude": 51.5142, "longitude": -0.0931, "radius": 5, "ok": True, "none": None}]},
        {"small": [1e-05, 4.9e-05, 1e-07, 0.0001, 0.0], "large": [1e15, 1e16, 1.23e22, 2**63, 2**70]},
        {"text": "".join(chr(code) for code in range(0x300)) + "\u2028\u2029\ufeff\U0001f600 東京"},
        {"when": dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.UTC), "tuple": (1, 2), 3: "int key"},
        {"detail": ErrorDetail("a str subclass", code="x"), "query": "1e100.net"},
        {"ip_address": "2a02:ec80::1e5", "query": "0.0000 e-7", "latitude": -1.0e-5},
    ],
)
@pytest.mark.parametrize("media_type", ["application/json", "application/json; indent=4"])
def test_the_json_renderer_writes_what_drf_writes(data, media_type):
    expected = JSONRenderer().render(data, media_type)
    assert renderers.JSONRenderer().render(data, media_type) == expected
