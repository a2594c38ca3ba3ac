"""Rate limits through Django's test client: what each request costs, who pays, the headers and
the refusals. Counts live in a diskcache folder of each test's own (conftest); the live
gunicorn tests, workers and instances included, are in test_limits.py."""

import base64
import json
import logging
from http import HTTPStatus

import limits
import pytest

from lookups.errors import OVER_RATE_LIMIT_MESSAGE, THROTTLED_MESSAGE
from lookups.tests.geoip_data import BERLIN_IP, LONDON_IP, UNKNOWN_PUBLIC_IP
from lookups.web import credentials, throttling

pytestmark = [pytest.mark.throttled, pytest.mark.django_db]

NAMES = ["london.example.com", "dual.example.com"]


def lookup(client, query: str = LONDON_IP, *, address: str = "198.51.100.7"):
    return client.get(f"/api/v1/lookup/{query}", REMOTE_ADDR=address)


def batch(client, queries: list[str], *, address: str = "198.51.100.7"):
    return client.post(
        "/api/v1/lookup/batch", {"queries": queries}, content_type="application/json", REMOTE_ADDR=address
    )


def remaining(response) -> int:
    return int(response["RateLimit-Remaining"])


def test_every_limited_answer_says_the_limit_what_is_left_and_when_it_resets(client, city_database, settings):
    settings.API_THROTTLE_RATE = "3/minute"
    answers = [lookup(client) for _ in range(3)]
    assert [response.status_code for response in answers] == [HTTPStatus.OK] * 3
    assert [remaining(response) for response in answers] == [2, 1, 0]
    for response in answers:
        assert response["RateLimit-Limit"] == "3"
        assert response["RateLimit-Policy"] == "3;w=60"
        assert 0 < int(response["RateLimit-Reset"]) <= 60


def test_failed_lookups_spend_units_and_say_so_too(client, city_database, settings):
    settings.API_THROTTLE_RATE = "10/minute"
    response = lookup(client, "nowhere.example.com")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json()["error"]["code"] == "name_not_resolved"
    assert remaining(response) == 7
    assert remaining(lookup(client, UNKNOWN_PUBLIC_IP)) == 6  # address_not_found


def test_a_reverse_name_costs_as_a_name_does_on_top_of_its_lookup(client, city_database, settings):
    settings.API_THROTTLE_RATE = settings.PAGE_THROTTLE_RATE = "20/minute"
    assert remaining(lookup(client, f"{LONDON_IP}?rdns=1")) == 16
    assert remaining(lookup(client, "london.example.com?rdns=1")) == 10
    assert remaining(lookup(client, f"{LONDON_IP}?rdns=0")) == 9
    page = client.get(f"/lookup/{LONDON_IP}?rdns=1", REMOTE_ADDR="198.51.100.7")
    assert remaining(page) == 16  # the pages' own bucket, the same price


def test_over_the_limit_is_429_with_the_message_and_retry_after(client, city_database, settings):
    settings.API_THROTTLE_RATE = "2/minute"
    lookup(client)
    lookup(client)
    response = lookup(client)
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    seconds = int(response["Retry-After"])
    assert 0 < seconds <= 60
    assert response.json() == {
        "error": {"code": "throttled", "message": THROTTLED_MESSAGE.format(seconds=seconds)}
    }
    assert response["RateLimit-Remaining"] == "0"
    assert response["RateLimit-Reset"] == str(seconds)


def test_a_batch_spends_one_unit_per_address(client, city_database, settings):
    settings.API_THROTTLE_RATE = "10/minute"
    response = batch(client, [LONDON_IP, BERLIN_IP, LONDON_IP, "10.0.0.1"])
    assert response.status_code == HTTPStatus.OK
    assert remaining(response) == 6
    assert batch(client, [LONDON_IP] * 7).status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert remaining(batch(client, [LONDON_IP] * 6)) == 0  # the refused batch spent nothing
    assert lookup(client).status_code == HTTPStatus.TOO_MANY_REQUESTS  # one bucket for both


def test_names_cost_rate_limit_name_cost(client, city_database, settings):
    settings.API_THROTTLE_RATE = "10/minute"
    assert remaining(batch(client, [*NAMES, LONDON_IP])) == 10 - 3 - 3 - 1
    assert remaining(lookup(client, "london.example.com")) == 0
    assert lookup(client, "london.example.com").status_code == HTTPStatus.TOO_MANY_REQUESTS
    settings.RATE_LIMIT_NAME_COST = 5
    assert remaining(batch(client, NAMES, address="198.51.100.8")) == 0


def test_a_batch_costing_more_than_the_whole_window_is_refused_as_too_large(client, city_database, settings):
    settings.API_THROTTLE_RATE = "5/minute"
    response = batch(client, [*NAMES, LONDON_IP])  # 7 units: no wait would make it fit
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    message = OVER_RATE_LIMIT_MESSAGE.format(cost=7, limit=5, window=60, name_cost=3)
    assert response.json() == {"error": {"code": "batch_too_large", "message": message}}
    assert remaining(lookup(client)) == 4


def test_every_batch_the_defaults_accept_fits_the_default_rate(settings):
    # The largest batch LOOKUP_BATCH_MAX and LOOKUP_BATCH_MAX_NAMES let in is never a 413.
    names = settings.LOOKUP_BATCH_MAX_NAMES
    largest = settings.LOOKUP_BATCH_MAX - names + names * settings.RATE_LIMIT_NAME_COST
    assert largest <= limits.parse(settings.API_THROTTLE_RATE).amount
    assert largest <= limits.parse(settings.PAGE_THROTTLE_RATE).amount


def test_ipv6_clients_pay_per_64_network(client, city_database, settings):
    settings.API_THROTTLE_RATE = "2/minute"
    assert lookup(client, address="2001:db8:1:2::1").status_code == HTTPStatus.OK
    assert lookup(client, address="2001:db8:1:2:ffff:ffff:ffff:fffe").status_code == HTTPStatus.OK
    assert lookup(client, address="2001:db8:1:2::99").status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert lookup(client, address="2001:db8:1:3::1").status_code == HTTPStatus.OK  # another /64
    settings.RATE_LIMIT_IPV6_PREFIX = 128
    assert lookup(client, address="2001:db8:1:2::99").status_code == HTTPStatus.OK


def test_client_keys():
    assert throttling.client_key("198.51.100.7") == "198.51.100.7"
    assert throttling.client_key("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert throttling.client_key("::ffff:198.51.100.7") == "198.51.100.7"
    assert throttling.client_key(None) == "unknown"


def test_the_pages_have_a_bucket_of_their_own_and_their_batches_pay_per_query(
    client, city_database, settings
):
    settings.PAGE_THROTTLE_RATE = "10/minute"
    settings.API_THROTTLE_RATE = "1/minute"
    response = client.post("/batch", {"queries": f"{LONDON_IP}\n{BERLIN_IP}\nlondon.example.com"})
    assert response.status_code == HTTPStatus.OK
    assert remaining(response) == 5
    assert remaining(client.get(f"/lookup/{LONDON_IP}")) == 4
    assert remaining(client.get(f"/api/v1/lookup/{LONDON_IP}")) == 0


# --- MaxMind's web service: per key -------------------------------------------------------------


def basic(issued) -> dict[str, str]:
    pair = f"{issued.api_key.account_id}:{issued.license_key}".encode()
    return {"Authorization": "Basic " + base64.b64encode(pair).decode()}


def test_the_web_service_is_limited_per_key_whoever_uses_it(client, city_database, settings):
    settings.WEBSERVICE_THROTTLE_RATE = "2/minute"
    settings.API_THROTTLE_RATE = "1/minute"  # not the web service's
    first = credentials.create_api_key(name="first", daily_quota=100)
    second = credentials.create_api_key(name="second")
    path = f"/geoip/v2.1/city/{LONDON_IP}"
    answers = [
        client.get(path, headers=basic(first), REMOTE_ADDR=address)
        for address in ("198.51.100.1", "198.51.100.2", "198.51.100.3")
    ]
    assert [response.status_code for response in answers] == [HTTPStatus.OK] * 2 + [
        HTTPStatus.TOO_MANY_REQUESTS
    ]
    assert [response["RateLimit-Remaining"] for response in answers] == ["1", "0", "0"]
    refused = answers[2]
    seconds = int(refused["Retry-After"])
    assert json.loads(refused.content) == {
        "code": "THROTTLED",
        "error": THROTTLED_MESSAGE.format(seconds=seconds),
    }
    assert credentials.used_today(first.api_key) == 2  # the refused one used none of the quota
    not_found = client.get(f"/geoip/v2.1/city/{UNKNOWN_PUBLIC_IP}", headers=basic(second))
    assert not_found.status_code == HTTPStatus.NOT_FOUND
    assert not_found["RateLimit-Remaining"] == "1"
    assert client.get(path, headers=basic(second), REMOTE_ADDR="198.51.100.1")["RateLimit-Remaining"] == "0"


# --- When the storage fails ---------------------------------------------------------------------


def test_without_its_storage_the_service_answers_unlimited_and_says_so_in_the_log(
    client, city_database, settings, caplog
):
    settings.API_THROTTLE_RATE = "1/minute"
    settings.REDIS_URL = "redis://127.0.0.1:9/0"  # the discard port: nothing answers there
    with caplog.at_level(logging.WARNING, logger="lookups.web.throttling"):
        answers = [lookup(client) for _ in range(3)]
    assert [response.status_code for response in answers] == [HTTPStatus.OK] * 3
    assert "RateLimit-Limit" not in answers[0]
    assert [record.getMessage().split(":")[0] for record in caplog.records] == [
        "Rate limits are off for 5.0s"
    ]


def test_the_other_drf_endpoints_spend_a_unit_of_the_apis_bucket_except_for_staff(
    client, city_database, settings, django_user_model
):
    settings.API_THROTTLE_RATE = "1/minute"
    assert client.get("/api/schema/").status_code == HTTPStatus.OK
    refused = client.get("/api/schema/")
    assert refused.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert int(refused["Retry-After"]) > 0
    assert lookup(client, address="127.0.0.1").status_code == HTTPStatus.TOO_MANY_REQUESTS
    client.force_login(django_user_model.objects.create_superuser("staff", password="a long pass phrase"))
    assert client.get("/api/schema/").status_code == HTTPStatus.OK
