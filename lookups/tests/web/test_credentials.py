"""API keys: hashing, verification, the daily quota, the command that creates them, and the admin."""

import base64
import datetime as dt
import io
import re
import threading
from http import HTTPStatus

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from lookups.errors import AccountIdUnknown, AuthorizationInvalid, OutOfQueries
from lookups.models import ApiKey, ApiKeyUsage
from lookups.web import credentials

pytestmark = pytest.mark.django_db


def basic(account_id, license_key) -> str:
    return "Basic " + base64.b64encode(f"{account_id}:{license_key}".encode()).decode()


def test_a_created_key_is_stored_hashed_and_verifies():
    issued = credentials.create_api_key(name="reports", daily_quota=10)
    key = ApiKey.objects.get(pk=issued.api_key.pk)
    assert len(issued.license_key) == 40
    assert issued.license_key not in key.key_hash
    assert key.key_hash.startswith("sha256$")
    assert credentials.ACCOUNT_ID_MIN <= key.account_id <= credentials.ACCOUNT_ID_MAX
    assert credentials.license_key_matches(issued.license_key, key.key_hash)
    assert not credentials.license_key_matches(issued.license_key[:-1], key.key_hash)
    assert not credentials.license_key_matches(issued.license_key, "md5$salt$abc")
    credential = credentials.authenticate(basic(key.account_id, issued.license_key))
    assert (credential.id, credential.daily_quota) == (key.pk, 10)


def test_the_same_key_hashes_differently_with_another_salt():
    assert credentials.hash_license_key("same") != credentials.hash_license_key("same")


def test_two_keys_get_different_account_ids_and_keys():
    first = credentials.create_api_key(name="a")
    second = credentials.create_api_key(name="b")
    assert first.api_key.account_id != second.api_key.account_id
    assert first.license_key != second.license_key


def test_unknown_account_and_wrong_key():
    issued = credentials.create_api_key(name="a")
    with pytest.raises(AccountIdUnknown):
        credentials.authenticate(basic(1, issued.license_key))
    with pytest.raises(AuthorizationInvalid):
        credentials.authenticate(basic(issued.api_key.account_id, "x" * 40))


def test_quota_is_never_overshot_by_concurrent_requests(transactional_db):
    """Eight threads, each its own connection, race for a quota of 20: exactly 20 get through."""
    issued = credentials.create_api_key(name="busy", daily_quota=20)
    credential = credentials.authenticate(basic(issued.api_key.account_id, issued.license_key))
    admitted, refused = [], []

    def worker():
        try:
            for _ in range(5):
                try:
                    admitted.append(credentials.admit(credential))
                except OutOfQueries:
                    refused.append(1)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(admitted), len(refused)) == (20, 20)
    assert sorted(admitted) == list(range(20))
    assert ApiKeyUsage.objects.get(api_key=issued.api_key).used == 20


def test_last_used_is_written_at_most_once_a_minute():
    issued = credentials.create_api_key(name="a")
    now = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)
    header = basic(issued.api_key.account_id, issued.license_key)
    credentials.admit(credentials.authenticate(header), now=now)
    credentials.admit(credentials.authenticate(header), now=now + dt.timedelta(seconds=30))
    assert ApiKey.objects.get().last_used_at == now
    credentials.admit(credentials.authenticate(header), now=now + dt.timedelta(seconds=61))
    assert ApiKey.objects.get().last_used_at == now + dt.timedelta(seconds=61)


def test_used_today_counts_the_utc_day():
    issued = credentials.create_api_key(name="a", daily_quota=5)
    credential = credentials.authenticate(basic(issued.api_key.account_id, issued.license_key))
    late = dt.datetime(2026, 11, 23, 23, 59, tzinfo=dt.UTC)
    credentials.admit(credential, now=late)
    credentials.admit(credential, now=late)
    assert credentials.used_today(issued.api_key, now=late) == 2
    # 00:30 in Stockholm on the 24th is still the 23rd in UTC.
    stockholm = dt.timezone(dt.timedelta(hours=1))
    assert credentials.used_today(issued.api_key, now=dt.datetime(2026, 11, 24, 0, 30, tzinfo=stockholm)) == 2
    assert credentials.used_today(issued.api_key, now=late + dt.timedelta(minutes=2)) == 0


# --- manage.py create_api_key ------------------------------------------------------------------


def test_command_prints_the_account_id_and_the_key_only():
    stdout = io.StringIO()
    call_command("create_api_key", "nightly import", "--daily-quota", "500", stdout=stdout)
    lines = stdout.getvalue().splitlines()
    assert len(lines) == 2
    account_id, license_key = lines
    key = ApiKey.objects.get(account_id=int(account_id))
    assert (key.name, key.daily_quota) == ("nightly import", 500)
    assert credentials.license_key_matches(license_key, key.key_hash)


def test_command_without_quota():
    stdout = io.StringIO()
    call_command("create_api_key", "unlimited", stdout=stdout)
    assert ApiKey.objects.get(account_id=int(stdout.getvalue().split()[0])).daily_quota is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["name", "--daily-quota", "-1"], "--daily-quota must be from 0"),
        (["name", "--daily-quota", "3000000000"], "--daily-quota must be from 0"),
        (["  "], "NAME must be 1 to 100 characters"),
        (["x" * 101], "NAME must be 1 to 100 characters"),
    ],
)
def test_command_refuses_bad_input(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_api_key", *args, stdout=io.StringIO())
    assert not ApiKey.objects.exists()


# --- The admin -----------------------------------------------------------------------------------


def test_admin_shows_the_new_key_once_and_never_its_hash(admin_client):
    response = admin_client.post("/admin/lookups/apikey/add/", {"name": "partner", "daily_quota": "1000"})
    assert response.status_code == HTTPStatus.OK
    assert "no-store" in response["Cache-Control"]
    key = ApiKey.objects.get()
    html = response.content.decode()
    license_key = re.search(r'<code id="license-key">([^<]+)</code>', html).group(1)
    assert f'<code id="account-id">{key.account_id}</code>' in html
    assert credentials.license_key_matches(license_key, key.key_hash)
    assert (key.name, key.daily_quota) == ("partner", 1000)
    # No message, cookie or session holds it: the next page does not show it again.
    assert license_key not in str(response.cookies)
    change_page = admin_client.get(f"/admin/lookups/apikey/{key.pk}/change/").content.decode()
    listing = admin_client.get("/admin/lookups/apikey/").content.decode()
    for page in (change_page, listing):
        assert license_key not in page
        assert key.key_hash not in page
        assert key.key_hash.split("$")[2] not in page


def test_admin_edits_name_quota_and_revokes(admin_client):
    issued = credentials.create_api_key(name="old")
    key = issued.api_key
    response = admin_client.post(
        f"/admin/lookups/apikey/{key.pk}/change/", {"name": "new", "daily_quota": "7", "revoked": "on"}
    )
    assert response.status_code == HTTPStatus.FOUND
    key.refresh_from_db()
    assert (key.name, key.daily_quota, key.revoked) == ("new", 7, True)
    assert credentials.license_key_matches(issued.license_key, key.key_hash)  # the key is unchanged


def test_admin_revoke_action_and_no_delete(admin_client):
    keys = [credentials.create_api_key(name=name).api_key for name in ("a", "b")]
    response = admin_client.post(
        "/admin/lookups/apikey/",
        {"action": "revoke", "_selected_action": [key.pk for key in keys]},
    )
    assert response.status_code == HTTPStatus.FOUND
    assert list(ApiKey.objects.values_list("revoked", flat=True)) == [True, True]
    delete = admin_client.get(f"/admin/lookups/apikey/{keys[0].pk}/delete/")
    assert delete.status_code == HTTPStatus.FORBIDDEN


def test_admin_list_shows_todays_use_in_one_query(admin_client, django_assert_max_num_queries):
    for name in ("a", "b", "c"):
        issued = credentials.create_api_key(name=name, daily_quota=10)
        credentials.admit(credentials.authenticate(basic(issued.api_key.account_id, issued.license_key)))
    # Session, user, count, the page, and the admin's own bookkeeping: not one query per key.
    with django_assert_max_num_queries(8):
        response = admin_client.get("/admin/lookups/apikey/")
    assert response.status_code == HTTPStatus.OK
    assert response.content.decode().count('<td class="field-used_today">1</td>') == 3
