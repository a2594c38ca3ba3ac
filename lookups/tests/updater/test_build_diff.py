"""lookups.updater.build_diff: two generated builds whose differences the test knows."""

import os
import threading

import maxminddb
import pytest

from lookups.tests.geoip_data import LONDON_ASN, build_asn_database, build_city_database
from lookups.tests.updater.build_changes import EXPECTED, NEW_BUILD, OLD_BUILD
from lookups.tests.updater.fakes import NEW, NEWER
from lookups.updater.build_diff import NICENESS, cidr_count, diff_builds, diff_in_background


def open_pair(tmp_path, old_networks, new_networks, build=build_city_database):
    old = build(tmp_path / "old.mmdb", networks=old_networks, build_epoch=NEW)
    new = build(tmp_path / "new.mmdb", networks=new_networks, build_epoch=NEWER)
    return maxminddb.open_database(str(old)), maxminddb.open_database(str(new))


def test_the_counts_are_exactly_the_known_differences(tmp_path):
    changes = diff_builds(*open_pair(tmp_path, OLD_BUILD, NEW_BUILD))
    assert {key: changes[key] for key in EXPECTED} == EXPECTED
    assert changes["networks_old"] == len(OLD_BUILD)
    assert changes["old_build"].startswith("2026-09-21")
    assert changes["new_build"].startswith("2026-11-18")


def test_examples_say_where_and_what(tmp_path):
    examples = diff_builds(*open_pair(tmp_path, OLD_BUILD, NEW_BUILD))["examples"]
    assert examples["added"] == [
        {"network": "2.2.2.0/24", "from": None, "to": "London, United Kingdom", "fields": []}
    ]
    assert examples["removed"][0] == {
        "network": "5.0.2.0 - 5.0.255.255",
        "from": "Berlin, Germany",
        "to": None,
        "fields": [],
    }
    changed = {example["network"]: example for example in examples["changed"]}
    assert changed["67.43.156.0/24"]["fields"] == ["country"]
    assert (changed["67.43.156.0/24"]["from"], changed["67.43.156.0/24"]["to"]) == ("Bhutan", "India")
    assert changed["5.0.0.0/24"]["fields"] == ["country", "subdivision", "city", "coordinates", "time_zone"]
    assert changed["81.2.69.0/24"]["to"] == "Londinium, United Kingdom"


def test_the_same_build_changes_nothing_and_the_reverse_swaps_added_and_removed(tmp_path):
    same = diff_builds(*open_pair(tmp_path, OLD_BUILD, OLD_BUILD))
    assert (same["networks_added"], same["networks_removed"], same["networks_changed"]) == (0, 0, 0)
    assert same["by_country"] == []
    backwards = diff_builds(*reversed(open_pair(tmp_path, OLD_BUILD, NEW_BUILD)))
    assert (backwards["networks_added"], backwards["networks_removed"]) == (EXPECTED["networks_removed"], 1)
    assert backwards["networks_changed"] == EXPECTED["networks_changed"]


def test_an_asn_change_is_reported(tmp_path):
    other = {**LONDON_ASN, "autonomous_system_number": 64500}
    changes = diff_builds(
        *open_pair(tmp_path, {"81.2.69.0/24": LONDON_ASN}, {"81.2.69.0/24": other}, build=build_asn_database)
    )
    assert changes["networks_changed"] == 1
    assert changes["fields"]["asn"] == 1


def test_progress_is_told_and_ends_complete(tmp_path):
    calls = []
    diff_builds(
        *open_pair(tmp_path, OLD_BUILD, NEW_BUILD), progress=lambda done, total: calls.append((done, total))
    )
    assert calls[-1] == (len(OLD_BUILD) + len(NEW_BUILD), len(OLD_BUILD) + len(NEW_BUILD))


def test_in_background_the_result_or_the_error_comes_back(tmp_path):
    old, new = open_pair(tmp_path, OLD_BUILD, NEW_BUILD)
    assert diff_in_background(old, new)()["networks_changed"] == EXPECTED["networks_changed"]
    old.close()
    with pytest.raises(OSError, match="closed"):
        diff_in_background(old, new)()


@pytest.mark.parametrize(
    ("start", "end", "count"),
    [(0, 255, 1), (256, 511, 1), (2, 255, 7), (0, (1 << 128) - 1, 1), (1, 2, 2), (5, 5, 1)],
)
def test_cidr_count(start, end, count):
    assert cidr_count(start, end) == count


def test_the_background_diff_runs_at_a_lower_priority_than_lookups(tmp_path):
    seen = []

    def progress(done, total):
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    old, new = open_pair(tmp_path, OLD_BUILD, NEW_BUILD)
    diff_in_background(old, new, progress=progress)()
    assert seen == [os.getpriority(os.PRIO_PROCESS, 0) + NICENESS]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == os.getpriority(os.PRIO_PROCESS, 0)
