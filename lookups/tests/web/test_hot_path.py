"""What a lookup costs: no file opened, no database round trip beyond the ones it needs."""

import json
import sys

import pytest

from lookups.core import pipeline
from lookups.tests.geoip_data import BERLIN_IP, COUNTRY_ONLY_IP, LINKOPING_IP, LONDON_IP

pytestmark = pytest.mark.django_db

_watching = {"on": False, "opened": []}


def _audit(event, args):
    if _watching["on"] and event == "open":
        _watching["opened"].append(args[0])


sys.addaudithook(_audit)  # audit hooks cannot be removed: this one only records while watching


def test_no_lookup_opens_a_file(city_database, client):
    client.get(f"/api/v1/lookup/{LONDON_IP}")  # the first lookup opens the database: that is the point
    _watching["on"] = True
    try:
        for address in [LONDON_IP, BERLIN_IP, COUNTRY_ONLY_IP, LINKOPING_IP] * 5:
            assert client.get(f"/api/v1/lookup/{address}").status_code == 200
        pipeline.lookup_batch([LONDON_IP, BERLIN_IP], channel="batch")
    finally:
        _watching["on"] = False
    assert _watching["opened"] == []


def test_a_single_lookup_is_one_round_trip(city_database, client, django_assert_num_queries):
    client.get(f"/api/v1/lookup/{LONDON_IP}")
    with django_assert_num_queries(0):  # the history is written behind
        assert client.get(f"/api/v1/lookup/{BERLIN_IP}").status_code == 200


def test_a_batch_of_a_thousand_is_no_round_trip(city_database, client, django_assert_num_queries):
    queries = [LONDON_IP, BERLIN_IP, COUNTRY_ONLY_IP] * 334
    body = json.dumps({"queries": queries[:1000]})
    with django_assert_num_queries(0):  # its thousand rows written behind
        response = client.post("/api/v1/lookup/batch", data=body, content_type="application/json")
    assert len(response.json()["results"]) == 1000
