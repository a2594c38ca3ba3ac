"""`?fields=` on the lookups (lookups.web.field_selection): exactly the paths asked for, the
structure kept, in every format, in batches, CSV in exactly the selected columns; unknown paths
refused with the list."""

import csv
import io
import json
import xml.etree.ElementTree as ET
from http import HTTPStatus

import pytest
import yaml

from lookups.errors import UNKNOWN_FIELDS_MESSAGE
from lookups.models import Lookup
from lookups.tests.geoip_data import BERLIN_IP, COUNTRY_ONLY_IP, LONDON_IP
from lookups.web.api_body import LOOKUP_CSV_COLUMNS
from lookups.web.field_selection import FIELD_PATHS, parse_fields, select

pytestmark = pytest.mark.django_db

LONDON_LOCATION = {
    "latitude": 51.5142,
    "longitude": -0.0931,
    "accuracy_radius": 10,
    "time_zone": "Europe/London",
    "time_zone_source": "maxmind",
}


def test_the_issue_s_example_keeps_exactly_those_paths(client, city_database):
    response = client.get(f"/api/v1/lookup/{LONDON_IP}", {"fields": "country.iso_code,city.name,location"})
    assert response.status_code == HTTPStatus.OK
    assert response.json() == {
        "country": {"iso_code": "GB"},
        "city": {"name": "London"},
        "location": LONDON_LOCATION,
    }


def test_every_path_trims_a_full_body_to_itself(client, city_database):
    """Each path alone: the body holds that path's value as the full answer has it, and nothing else."""
    full = client.get(f"/api/v1/lookup/{LONDON_IP}").json()
    for path in FIELD_PATHS:
        if path == "error":
            continue
        trimmed = client.get(f"/api/v1/lookup/{LONDON_IP}", {"fields": path}).json()
        assert _leaves(trimmed) == {
            leaf: value for leaf, value in _leaves(full).items() if _under(leaf, path)
        }
        assert _leaves(trimmed), path


def _under(leaf: str, path: str) -> bool:
    return leaf == path or leaf.startswith(path + ".")


def _leaves(body, prefix="") -> dict:
    """{"country.iso_code": "GB", "subdivisions.iso_code": ["ENG"], ...} of a body."""
    if isinstance(body, dict):
        leaves = {}
        for key, value in body.items():
            leaves.update(_leaves(value, f"{prefix}{key}."))
        return leaves
    if isinstance(body, list) and body and isinstance(body[0], dict):
        merged: dict = {}
        for item in body:
            for leaf, value in _leaves(item, prefix).items():
                merged.setdefault(leaf, []).append(value)
        return merged
    return {prefix[:-1]: body}


def test_lists_keep_each_item_s_selected_keys(client, city_database):
    body = client.get(f"/api/v1/lookup/{LONDON_IP}", {"fields": "subdivisions.iso_code,network"}).json()
    assert body == {"network": "81.2.69.0/24", "subdivisions": [{"iso_code": "ENG"}]}


def test_absent_data_stays_null_and_a_parent_covers_its_leaves(client, city_database):
    body = client.get(
        f"/api/v1/lookup/{COUNTRY_ONLY_IP}", {"fields": "city.name,country,country.name"}
    ).json()
    assert body == {"country": {"iso_code": "BT", "name": "Bhutan"}, "city": None}


def test_repeated_parameters_add_up_and_spaces_are_ignored(client, city_database):
    body = client.get(f"/api/v1/lookup/{LONDON_IP}", {"fields": ["query, ip_address", "language"]}).json()
    assert body == {"query": LONDON_IP, "ip_address": LONDON_IP, "language": "en"}


def test_own_address_takes_fields_too(client, city_database):
    body = client.get("/api/v1/lookup/", {"fields": "ip_address"}, REMOTE_ADDR=BERLIN_IP).json()
    assert body == {"ip_address": BERLIN_IP}


@pytest.mark.parametrize("fields", ["country.code", "nope", "", ",", "country,", "location.time_zone.x"])
def test_an_unknown_path_is_a_400_that_lists_the_valid_ones(client, city_database, fields):
    response = client.get(f"/api/v1/lookup/{LONDON_IP}", {"fields": fields})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    error = response.json()["error"]
    assert error["code"] == "unknown_fields"
    assert error["message"].endswith("The fields are: " + ", ".join(FIELD_PATHS) + ".")
    assert not Lookup.objects.exists()  # refused before anything is looked up


def test_the_message_names_the_unknown_paths(client, city_database):
    message = client.get(f"/api/v1/lookup/{LONDON_IP}", {"fields": "city,nope,also"}).json()["error"][
        "message"
    ]
    assert message == UNKNOWN_FIELDS_MESSAGE.format(given="'nope', 'also'", fields=", ".join(FIELD_PATHS))


def test_errors_are_never_trimmed(client, city_database):
    response = client.get("/api/v1/lookup/10.0.0.1", {"fields": "city"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert set(response.json()["error"]) == {"code", "message"}


def test_xml_and_yaml_are_trimmed_alike(client, city_database):
    fields = {"fields": "country.iso_code,city.name"}
    yml = client.get(f"/api/v1/lookup/{LONDON_IP}", {**fields, "format": "yaml"})
    assert yaml.safe_load(yml.content) == {"country": {"iso_code": "GB"}, "city": {"name": "London"}}
    xml = client.get(f"/api/v1/lookup/{LONDON_IP}", {**fields, "format": "xml"})
    root = ET.fromstring(xml.content)  # noqa: S314 (our own answer, not untrusted input)
    assert [(child.tag, [(leaf.tag, leaf.text) for leaf in child]) for child in root] == [
        ("country", [("iso_code", "GB")]),
        ("city", [("name", "London")]),
    ]


def csv_rows(response) -> list[list[str]]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_csv_has_exactly_the_selected_columns_in_the_fixed_order(client, city_database):
    # Asked for in another order than the columns'.
    params = {"fields": "location.time_zone,city,country.iso_code,subdivisions.name", "format": "csv"}
    header, row = csv_rows(client.get(f"/api/v1/lookup/{LONDON_IP}", params))
    assert header == ["country_code", "subdivision_1_name", "subdivision_2_name", "city", "time_zone"]
    assert row == ["GB", "England", "", "London", "Europe/London"]


def test_each_path_s_csv_columns_are_in_the_full_column_order(client, city_database):
    for path in FIELD_PATHS:
        columns = parse_fields([path]).csv_table.columns
        assert columns, path
        assert list(columns) == [column for column in LOOKUP_CSV_COLUMNS if column in columns]
    assert set(parse_fields([",".join(FIELD_PATHS)]).csv_table.columns) == set(LOOKUP_CSV_COLUMNS)


def test_a_failed_lookup_in_selected_csv_answers_its_error(client, city_database):
    header, row = csv_rows(client.get("/api/v1/lookup/10.0.0.1", {"fields": "city", "format": "csv"}))
    assert header == ["error_code", "error_message"]
    assert row[0] == "address_not_public"
    header, row = csv_rows(client.get("/api/v1/lookup/10.0.0.1", {"fields": "query,error", "format": "csv"}))
    assert header == ["query", "error_code", "error_message"]
    assert row[:2] == ["10.0.0.1", "address_not_public"]


def post_batch(client, payload, fields, **extra):
    return client.post(
        f"/api/v1/lookup/batch?fields={fields}",
        data=json.dumps(payload),
        content_type="application/json",
        **extra,
    )


def test_batches_are_trimmed_entry_by_entry_and_errors_kept_whole(client, city_database):
    response = post_batch(client, {"queries": [LONDON_IP, "10.0.0.1", BERLIN_IP]}, "country.iso_code")
    assert response.status_code == HTTPStatus.OK
    first, failed, last = response.json()["results"]
    assert first == {"country": {"iso_code": "GB"}}
    assert failed["query"] == "10.0.0.1"
    assert failed["error"]["code"] == "address_not_public"
    assert last == {"country": {"iso_code": "DE"}}


def test_batches_in_csv_have_exactly_the_selected_columns(client, city_database):
    queries = {"queries": [LONDON_IP, "10.0.0.1"]}
    header, *rows = csv_rows(
        post_batch(client, queries, "query,country.iso_code,error", HTTP_ACCEPT="text/csv")
    )
    assert header == ["query", "country_code", "error_code", "error_message"]
    assert rows[0] == [LONDON_IP, "GB", "", ""]
    assert rows[1][:3] == ["10.0.0.1", "", "address_not_public"]
    header, *rows = csv_rows(post_batch(client, queries, "country.iso_code", HTTP_ACCEPT="text/csv"))
    assert header == ["country_code"]
    assert rows == [["GB"], [""]]


def test_a_batch_with_an_unknown_path_is_refused_before_any_lookup(client, city_database):
    response = post_batch(client, {"queries": [LONDON_IP]}, "nope")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["error"]["code"] == "unknown_fields"
    header, row = csv_rows(post_batch(client, {"queries": [LONDON_IP]}, "nope", HTTP_ACCEPT="text/csv"))
    assert dict(zip(header, row, strict=True))["error_code"] == "unknown_fields"
    assert not Lookup.objects.exists()


def test_select_leaves_a_body_alone_without_a_selection():
    body = {"query": "x", "country": None}
    assert select(body, None) is body


def test_the_schema_documents_fields_and_allows_trimmed_bodies(client):
    schema = client.get("/api/schema/?format=json").json()
    for path, method in (
        ("/api/v1/lookup/{query}", "get"),
        ("/api/v1/lookup/", "get"),
        ("/api/v1/lookup/batch", "post"),
    ):
        parameters = {p["name"]: p for p in schema["paths"][path][method]["parameters"]}
        assert "country.iso_code" in parameters["fields"]["description"], path
    components = schema["components"]["schemas"]
    for name in ("LookupResult", "LookupLocation", "LookupCountry"):
        assert "required" not in components[name], name
    assert "required" in components["HistoryRow"]
