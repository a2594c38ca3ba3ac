import datetime as dt
import ipaddress
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count

from lookups.devtools.seeding import HistoryFaker, seed_history
from lookups.models import Lookup

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 20, 15, 30, tzinfo=dt.UTC)
DOCUMENTATION = [
    ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
]


def test_seeded_history_looks_like_real_traffic():
    assert seed_history(3000, days=30, batch_size=700, seed=7, now=NOW) == 3000
    rows = Lookup.objects.all()
    assert rows.count() == 3000
    times = list(rows.order_by("id").values_list("created_at", flat=True))
    assert times == sorted(times)  # written oldest first, as a real history is
    assert NOW - dt.timedelta(days=30) < times[0]
    assert times[-1] <= NOW
    assert len({t.date() for t in times}) == 30

    assert set(rows.values_list("channel", flat=True)) == {"web", "api", "batch"}
    outcomes = dict(rows.values_list("outcome").annotate(n=Count("id")))
    assert outcomes["ok"] > 0.8 * 3000
    assert {"invalid_query", "address_not_public", "name_not_resolved", "address_not_found"} <= set(outcomes)
    assert rows.values("country_code").distinct().count() > 30
    assert rows.values("query").distinct().count() > 500
    top_query = rows.values("query").annotate(n=Count("id")).order_by("-n")[0]
    assert top_query["n"] > 30  # a few queries are asked again and again

    answered = rows.filter(outcome="ok")
    assert not answered.filter(location=None).exists()
    assert 0.05 < answered.filter(time_zone_source="tz_world").count() / answered.count() < 0.3
    london = answered.filter(city="London").first()
    assert london.country_code == "GB"
    assert london.time_zone == "Europe/London"
    assert abs(london.location.y - 51.5) < 0.1
    assert ipaddress.ip_address(london.ip_address) in ipaddress.ip_network(london.network)
    assert london.addresses == [london.ip_address]

    failed = rows.exclude(outcome="ok")
    assert not failed.exclude(ip_address=None).exists()
    assert not failed.exclude(country_code="").exists()
    for requester in rows.values_list("requester", flat=True).distinct():
        assert any(ipaddress.ip_address(requester) in network for network in DOCUMENTATION)


def test_the_same_seed_gives_the_same_history():
    first = list(HistoryFaker(seed=3, now=NOW).rows(50))
    assert first == list(HistoryFaker(seed=3, now=NOW).rows(50))
    assert first != list(HistoryFaker(seed=4, now=NOW).rows(50))


def test_seed_command():
    out = StringIO()
    call_command("seed_lookups", "--count", "250", "--days", "7", "--seed", "1", stdout=out)
    assert Lookup.objects.count() == 250
    assert out.getvalue().startswith("Added 250 made-up lookups over 7 days in ")
    call_command("seed_lookups", "--count", "10", stdout=StringIO(), verbosity=0)
    assert Lookup.objects.count() == 260


@pytest.mark.parametrize(
    "args", [["--count", "0"], ["--count", "many"], ["--days", "-1"], ["--batch-size", "0"]]
)
def test_seed_command_refuses_bad_numbers(args):
    with pytest.raises(CommandError):
        call_command("seed_lookups", *args, stdout=StringIO())
    assert Lookup.objects.count() == 0
