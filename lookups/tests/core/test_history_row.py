"""The history row's requester country: the City database's country of the requester as stored."""

import pytest

from lookups.core.history_row import history_row, requester_country
from lookups.core.pipeline import geolocate
from lookups.errors import InvalidQuery
from lookups.tests.geoip_data import BERLIN_IP, LINKOPING_IP, LONDON_IP, UNKNOWN_PUBLIC_IP


@pytest.mark.parametrize(
    ("mode", "requester", "country"),
    [
        ("anonymize", "81.2.69.7", "GB"),  # looked up as stored: 81.2.69.0
        ("anonymize", BERLIN_IP, "DE"),  # 2a02:ec80:: (a /48)
        ("full", LINKOPING_IP, "SE"),
        ("anonymize", UNKNOWN_PUBLIC_IP, ""),  # not in the database
        ("anonymize", "127.0.0.1", ""),
        ("anonymize", None, ""),
        ("none", "81.2.69.7", ""),  # a requester not kept has no country either
    ],
)
def test_the_row_carries_the_requesters_country(city_database, settings, mode, requester, country):
    settings.LOOKUP_REQUESTER_ADDRESS = mode
    for outcome in (geolocate(LONDON_IP), InvalidQuery("bad")):
        assert (
            history_row(LONDON_IP, outcome, channel="api", requester=requester)["requester_country"]
            == country
        )


def test_without_a_database_the_country_is_unknown_and_the_row_is_still_made(geoip_dir):
    assert requester_country("81.2.69.0") == ""
    row = history_row("x", InvalidQuery("bad"), channel="web", requester="81.2.69.7")
    assert (row["requester"], row["requester_country"]) == ("81.2.69.0", "")
