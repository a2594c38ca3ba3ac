"""Choosing the output format: ?format= and Accept, on every API endpoint and on the schema."""

import json
from http import HTTPStatus

import pytest
from django.test import Client

from lookups.errors import UNKNOWN_FORMAT_MESSAGE
from lookups.tests.geoip_data import LONDON_IP
from lookups.tests.history_data import make_user

pytestmark = pytest.mark.django_db

FORMATS = "json, xml, yaml, csv"


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(make_user("admin", staff=True, superuser=True))
    return client


def ask(client: Client, endpoint: str, query_string: str = "", **headers):
    path = {
        "lookup": f"/api/v1/lookup/{LONDON_IP}",
        "own": "/api/v1/lookup/",
        "batch": "/api/v1/lookup/batch",
        "history": "/api/v1/history/",
    }[endpoint]
    url = f"{path}?{query_string}" if query_string else path
    if endpoint == "batch":
        body = json.dumps({"queries": [LONDON_IP]})
        return client.post(url, body, content_type="application/json", headers=headers)
    return client.get(url, headers=headers)


@pytest.mark.parametrize("endpoint", ["lookup", "own", "batch", "history"])
@pytest.mark.parametrize(
    ("query_string", "given"),
    [
        ("format=foo", "'foo'"),
        ("format=JSON", "'JSON'"),
        ("format=", "''"),
        ("format=json&format=xml", "'json', 'xml'"),
        ("format=json%00", "'json\\x00'"),
    ],
)
def test_an_unknown_format_is_a_400_naming_the_formats(staff, city_database, endpoint, query_string, given):
    response = ask(staff, endpoint, query_string)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response["Content-Type"] == "application/json"
    message = UNKNOWN_FORMAT_MESSAGE.format(formats=FORMATS, given=given)
    assert response.json() == {"error": {"code": "unknown_format", "message": message}}


@pytest.mark.parametrize("endpoint", ["lookup", "own", "batch", "history"])
def test_an_accept_header_naming_no_format_is_406_in_json_as_documented(staff, city_database, endpoint):
    response = ask(staff, endpoint, Accept="text/html")
    assert response.status_code == HTTPStatus.NOT_ACCEPTABLE
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "error": {"code": "not_acceptable", "message": "Could not satisfy the request Accept header."}
    }


@pytest.mark.parametrize("endpoint", ["lookup", "batch", "history"])
@pytest.mark.parametrize(
    ("query_string", "accept", "content_type"),
    [
        ("format=csv", "", "text/csv; charset=utf-8"),
        ("", "text/csv", "text/csv; charset=utf-8"),
        ("format=yaml", "", "application/yaml; charset=utf-8"),
        ("", "application/json", "application/json"),
        ("", "*/*", "application/json"),
    ],
)
def test_each_format_by_parameter_or_accept(
    staff, city_database, endpoint, query_string, accept, content_type
):
    headers = {"Accept": accept} if accept else {}
    response = ask(staff, endpoint, query_string, **headers)
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == content_type


@pytest.mark.parametrize("accept", ["application/json", "application/vnd.oai.openapi+json"])
def test_the_schema_in_json_when_asked_for_json(client, accept):
    response = client.get("/api/schema/", headers={"Accept": accept})
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith(accept)
    assert json.loads(response.content)["openapi"].startswith("3.")


@pytest.mark.parametrize("accept", ["", "*/*", "application/vnd.oai.openapi"])
def test_the_schema_in_yaml_by_default(client, accept):
    response = client.get("/api/schema/", headers={"Accept": accept} if accept else {})
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert response.content.startswith(b"openapi: ")


def test_the_schema_refuses_an_unknown_format_by_name(client):
    response = client.get("/api/schema/?format=foo")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert b"unknown_format" in response.content
