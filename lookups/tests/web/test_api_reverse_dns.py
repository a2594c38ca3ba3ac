"""?rdns=1 on the API's single lookups (every format), refused on batches, never in MaxMind's body;
against the tests' DNS server (conftest.PTR_RECORDS)."""

import csv
import io
import time
from http import HTTPStatus

import pytest
import yaml

from lookups.core import dns_limits
from lookups.errors import RDNS_BATCH_MESSAGE, RDNS_FLAG_MESSAGE
from lookups.models import Lookup
from lookups.tests.geoip_data import AT_SEA_IP, LINKOPING_IP, LONDON_IP, REGISTERED_ONLY_IP
from lookups.web.api_body import LOOKUP_CSV_COLUMNS, REVERSE_DNS_CSV_COLUMNS
from lookups.web.api_schema import LookupResultSerializer

pytestmark = pytest.mark.django_db

LONDON_NAME = {"status": "ok", "name": "london.example.com", "verified": True}


def ptr_queries(dns_server) -> list:
    return [query for query in dns_server.queries if query[1] == "PTR"]


def test_rdns_adds_the_verified_reverse_name(client, city_database):
    body = client.get(f"/api/v1/lookup/{LONDON_IP}?rdns=1").json()
    assert body["reverse_dns"] == LONDON_NAME
    assert body["country"]["iso_code"] == "GB"  # the lookup as without it


def test_without_rdns_there_is_no_key_and_no_reverse_query(client, city_database, dns_server):
    asked = len(ptr_queries(dns_server))
    for path in (f"/api/v1/lookup/{LONDON_IP}", f"/api/v1/lookup/{LONDON_IP}?rdns=0"):
        assert "reverse_dns" not in client.get(path).json()
    assert len(ptr_queries(dns_server)) == asked


def test_an_internal_name_is_unverified_and_its_addresses_are_not_told(client, city_database):
    response = client.get(f"/api/v1/lookup/{LINKOPING_IP}?rdns=1")
    unverified = {"status": "ok", "name": "internal.example.com", "verified": False}
    assert response.json()["reverse_dns"] == unverified
    for internal in (b"10.1.2.3", b"fd00::1", b"127.0.0.1"):  # what internal.example.com resolves to
        assert internal not in response.content


def test_an_address_without_a_reverse_name(client, city_database):
    body = client.get(f"/api/v1/lookup/{REGISTERED_ONLY_IP}?rdns=1").json()
    assert body["reverse_dns"] == {"status": "none", "name": None, "verified": False}


def test_a_silent_reverse_name_answers_the_lookup_within_the_budget(client, city_database, settings):
    settings.RDNS_TIMEOUT = 0.3
    settings.DNS_TIMEOUT = 10.0  # the resolver's own wait: far longer than the budget
    started = time.monotonic()
    response = client.get(f"/api/v1/lookup/{AT_SEA_IP}?rdns=1")
    elapsed = time.monotonic() - started
    assert response.status_code == HTTPStatus.OK
    assert response.json()["reverse_dns"] == {"status": "timeout", "name": None, "verified": False}
    assert elapsed < 2.5  # the budget, not DNS_TIMEOUT, with room for a loaded machine


def test_a_name_s_address_is_the_one_reversed(client, city_database):
    body = client.get("/api/v1/lookup/london.example.com?rdns=1").json()
    assert body["ip_address"] == LONDON_IP
    assert body["reverse_dns"] == LONDON_NAME


def test_the_callers_own_address(client, city_database):
    body = client.get("/api/v1/lookup/?rdns=1", REMOTE_ADDR=LONDON_IP).json()
    assert body["reverse_dns"] == LONDON_NAME


def test_busy_when_no_dns_slot_is_free_and_the_lookup_still_answered(client, city_database, settings):
    settings.DNS_MAX_CONCURRENT = 1
    with dns_limits.slots(None):
        response = client.get(f"/api/v1/lookup/{LONDON_IP}?rdns=1")
    assert response.status_code == HTTPStatus.OK
    assert response.json()["reverse_dns"] == {"status": "busy", "name": None, "verified": False}


def test_a_failed_lookup_asks_no_reverse_name(client, city_database, dns_server):
    asked = len(ptr_queries(dns_server))
    response = client.get("/api/v1/lookup/10.0.0.1?rdns=1")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["code"] == "address_not_public"
    assert len(ptr_queries(dns_server)) == asked


@pytest.mark.parametrize("value", ["2", "yes", "", "true"])
def test_a_bad_flag_is_a_400_before_anything_is_looked_up(client, city_database, value):
    response = client.get(f"/api/v1/lookup/{LONDON_IP}?rdns={value}")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    message = RDNS_FLAG_MESSAGE.format(given=value)
    assert response.json()["error"] == {"code": "invalid_rdns", "message": message}
    assert not Lookup.objects.exists()


def test_a_batch_refuses_rdns(client, city_database):
    path = "/api/v1/lookup/batch"
    data = {"queries": [LONDON_IP]}
    refused = client.post(path + "?rdns=1", data, content_type="application/json")
    assert refused.status_code == HTTPStatus.BAD_REQUEST
    assert refused.json()["error"] == {"code": "rdns_not_supported", "message": RDNS_BATCH_MESSAGE}
    assert not Lookup.objects.exists()
    assert client.post(path + "?rdns=0", data, content_type="application/json").status_code == HTTPStatus.OK
    bad = client.post(path + "?rdns=x", data, content_type="application/json")
    assert bad.json()["error"]["code"] == "invalid_rdns"


def test_fields_select_the_reverse_name(client, city_database):
    body = client.get(f"/api/v1/lookup/{LONDON_IP}?rdns=1&fields=country.iso_code,reverse_dns.name").json()
    assert body == {"country": {"iso_code": "GB"}, "reverse_dns": {"name": "london.example.com"}}
    body = client.get(f"/api/v1/lookup/{LONDON_IP}?rdns=1&fields=reverse_dns").json()
    assert body == {"reverse_dns": LONDON_NAME}


def test_reverse_dns_fields_need_rdns(client, city_database):
    response = client.get(f"/api/v1/lookup/{LONDON_IP}?fields=reverse_dns")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["code"] == "unknown_fields"


def _csv(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_csv_gains_the_reverse_dns_columns(client, city_database):
    response = client.get(f"/api/v1/lookup/{LONDON_IP}?rdns=1&format=csv")
    header = response.content.decode().splitlines()[0].split(",")
    assert header == [*LOOKUP_CSV_COLUMNS[:-2], *REVERSE_DNS_CSV_COLUMNS, *LOOKUP_CSV_COLUMNS[-2:]]
    (row,) = _csv(response)
    assert (row["reverse_dns_status"], row["reverse_dns_name"], row["reverse_dns_verified"]) == (
        "ok",
        "london.example.com",
        "true",
    )
    plain = client.get(f"/api/v1/lookup/{LONDON_IP}?format=csv")
    assert plain.content.decode().splitlines()[0].split(",") == list(LOOKUP_CSV_COLUMNS)


def test_csv_of_selected_reverse_dns_fields(client, city_database):
    response = client.get(f"/api/v1/lookup/{LINKOPING_IP}?rdns=1&format=csv&fields=ip_address,reverse_dns")
    assert _csv(response) == [
        {
            "ip_address": LINKOPING_IP,
            "reverse_dns_status": "ok",
            "reverse_dns_name": "internal.example.com",
            "reverse_dns_verified": "false",
        }
    ]


def test_csv_of_a_failed_lookup_keeps_the_columns(client, city_database):
    (row,) = _csv(client.get("/api/v1/lookup/10.0.0.1?rdns=1&format=csv"))
    assert row["error_code"] == "address_not_public"
    assert row["reverse_dns_status"] == ""


def test_yaml_and_xml_carry_it(client, city_database):
    assert (
        yaml.safe_load(client.get(f"/api/v1/lookup/{LONDON_IP}?rdns=1&format=yaml").content)["reverse_dns"]
        == LONDON_NAME
    )
    xml = client.get(f"/api/v1/lookup/{LONDON_IP}?rdns=1&format=xml").content.decode()
    assert "<reverse_dns><status>ok</status><name>london.example.com</name><verified>True</verified>" in xml


def test_the_schema_describes_the_body_with_rdns(client, city_database):
    body = client.get(f"/api/v1/lookup/{LONDON_IP}?rdns=1").json()
    serializer = LookupResultSerializer(data=body)
    assert serializer.is_valid(), serializer.errors
    fields = LookupResultSerializer().fields
    assert set(fields) == set(body)
    assert set(fields["reverse_dns"].fields) == set(body["reverse_dns"])


def test_the_schema_documents_the_parameter(client):
    schema = client.get("/api/schema/?format=json").json()
    lookup = schema["paths"]["/api/v1/lookup/{query}"]["get"]
    (rdns,) = [parameter for parameter in lookup["parameters"] if parameter["name"] == "rdns"]
    assert rdns["schema"]["enum"] == ["0", "1"]
    batch = schema["paths"]["/api/v1/lookup/batch"]["post"]
    (batch_rdns,) = [parameter for parameter in batch["parameters"] if parameter["name"] == "rdns"]
    assert batch_rdns["schema"]["enum"] == ["0"]
    assert "reverse_dns" in schema["components"]["schemas"]["LookupResult"]["properties"]
    assert "reverse_dns" not in schema["components"]["schemas"]["Network"]["properties"]
