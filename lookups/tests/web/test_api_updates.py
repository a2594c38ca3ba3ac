"""GET /api/v1/updates/: who may read it, and what an update run says about its build's changes."""

from http import HTTPStatus

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from lookups.models import UpdateRun
from lookups.tests.geoip_data import build_city_database
from lookups.tests.history_data import make_user
from lookups.tests.updater.build_changes import EXPECTED, NEW_BUILD, OLD_BUILD
from lookups.tests.updater.fakes import NEW, NEWER, update

pytestmark = pytest.mark.django_db

URL = "/api/v1/updates/"


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_anonymous_callers_get_401():
    response = APIClient().get(URL)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["error"]["code"] == "not_authenticated"


def test_signed_in_users_who_are_not_staff_get_403(client):
    user = make_user("someone", staff=False, superuser=True)
    UpdateRun.objects.create(source="file", outcome=UpdateRun.Outcome.FAILED, message="secret detail")
    response = token_client(user).get(URL)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "secret detail" not in response.content.decode()
    client.force_login(user)
    assert client.get(URL).status_code == HTTPStatus.FORBIDDEN
    # Staff without the permission to view update runs: also refused.
    assert token_client(make_user("staff", staff=True)).get(URL).status_code == HTTPStatus.FORBIDDEN


def test_installing_a_second_build_shows_its_changes_newest_first(geoip_dir, tmp_path, client):
    update("--file", str(build_city_database(tmp_path / "old.mmdb", networks=OLD_BUILD, build_epoch=NEW)))
    update("--file", str(build_city_database(tmp_path / "new.mmdb", networks=NEW_BUILD, build_epoch=NEWER)))
    client.force_login(make_user("admin", staff=True, superuser=True))

    response = client.get(URL)

    assert response.status_code == HTTPStatus.OK
    newest, first = response.json()["results"]
    assert (newest["edition"], newest["outcome"]) == ("GeoLite2-City", UpdateRun.Outcome.UPDATED)
    assert newest["build_date"].startswith("2026-11-18")
    assert {key: newest["changes"][key] for key in EXPECTED} == EXPECTED
    assert first["build_date"].startswith("2026-09-21")
    assert first["changes"] is None  # the first install replaced nothing


def test_pages_and_a_bad_cursor(client, django_assert_max_num_queries):
    client.force_login(make_user("admin", staff=True, superuser=True))
    UpdateRun.objects.bulk_create(
        [
            UpdateRun(source="file", edition="GeoLite2-City", outcome=UpdateRun.Outcome.FAILED)
            for _ in range(55)
        ]
    )
    with django_assert_max_num_queries(4):
        page = client.get(URL).json()
    assert len(page["results"]) == 50
    assert len(client.get(page["next"]).json()["results"]) == 5
    bad = client.get(URL, {"cursor": "nonsense"})
    assert bad.status_code == HTTPStatus.BAD_REQUEST
    assert bad.json()["error"]["code"] == "invalid_cursor"


def test_the_schema_documents_it(client):
    client.force_login(make_user("admin", staff=True, superuser=True))
    schema = client.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"][URL]["get"]
    assert {"200", "401", "403"} <= set(operation["responses"])
