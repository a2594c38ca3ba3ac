"""lookups.core.timeline and lookups.core.builds: an address across three installed builds."""

import ipaddress

import pytest

from lookups.core import timeline
from lookups.core.builds import installed_builds, older_name
from lookups.errors import AddressNotPublic, DatabaseUnavailable, InvalidQuery
from lookups.tests.geoip_data import LINKOPING_IP, LONDON_IP, build_city_database
from lookups.tests.timeline_builds import ADDED_IP, install_three_builds
from lookups.tests.updater.fakes import OLD, files_in, update

pytestmark = pytest.mark.django_db


def at(address: str) -> list[timeline.BuildAnswer]:
    return timeline.address_timeline(ipaddress.ip_address(address))


def test_three_builds_stay_installed_oldest_first(geoip_dir, tmp_path):
    install_three_builds(tmp_path)
    target = geoip_dir / "GeoLite2-City.mmdb"
    previous = target.with_name(target.name + ".previous")
    assert installed_builds(target) == [older_name(target, OLD), previous, target]
    answers = at(LONDON_IP)
    assert [a.build_date.strftime("%Y-%m-%d") for a in answers] == ["2026-05-28", "2026-09-21", "2026-11-18"]
    assert [a.current for a in answers] == [False, False, True]
    assert [a.record["city"]["names"]["en"] for a in answers] == ["London", "London", "Londinium"]
    assert [(a.change, a.changed_fields) for a in answers] == [(None, ()), (None, ()), ("changed", ("city",))]
    before, changed = timeline.last_change(answers)
    assert (before.build_date.month, changed.build_date.month) == (9, 11)


def test_an_address_that_left_and_one_that_arrived(geoip_dir, tmp_path):
    install_three_builds(tmp_path)
    assert [(a.record is not None, a.change) for a in at(LINKOPING_IP)] == [
        (True, None),
        (False, "removed"),
        (False, None),
    ]
    arrived = at(ADDED_IP)
    assert [(a.network, a.change) for a in arrived] == [
        (None, None),
        ("2.2.2.0/24", "added"),
        ("2.2.2.0/24", None),
    ]


def test_a_fourth_build_pushes_out_the_oldest_and_rollback_still_works(geoip_dir, tmp_path):
    install_three_builds(tmp_path)
    fourth = build_city_database(tmp_path / "fourth.mmdb", build_epoch=1_796_000_000)
    update("--file", str(fourth))
    assert len(installed_builds(geoip_dir / "GeoLite2-City.mmdb")) == 3
    assert [a.build_date.strftime("%Y-%m-%d") for a in at(LONDON_IP)] == [
        "2026-09-21",
        "2026-11-18",
        "2026-11-30",
    ]

    update("--rollback")

    answers = at(LONDON_IP)
    assert [a.current for a in answers] == [False, True, False]  # the third build serves again
    before, changed = timeline.last_change(answers)
    assert changed.current
    assert before.record["city"]["names"]["en"] == "London"


def test_with_two_builds_kept_only_current_and_previous_remain(geoip_dir, tmp_path, settings):
    settings.GEOIP_KEEP_BUILDS = 2
    install_three_builds(tmp_path)
    assert not any(".older-" in name for name in files_in(geoip_dir))
    assert len(at(LONDON_IP)) == 2


def test_one_build_has_no_change_and_no_build_is_unavailable(geoip_dir, city_database):
    answers = at(LONDON_IP)
    assert len(answers) == 1
    assert timeline.last_change(answers) is None
    city_database.unlink()
    with pytest.raises(DatabaseUnavailable):
        at(LONDON_IP)


@pytest.mark.parametrize(
    ("text", "error"),
    [("example.com", InvalidQuery), ("10.0.0.1", AddressNotPublic), ("010.1.1.1", InvalidQuery)],
)
def test_only_public_addresses(text, error):
    with pytest.raises(error):
        timeline.timeline_address(text)
