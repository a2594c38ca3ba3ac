"""lookups.core.networks: the walk of the search tree network by network, and the prefixes it takes."""

import pytest

from lookups.core import networks as networks_module
from lookups.core.geoip import GeoIPReader
from lookups.errors import INVALID_PREFIX_MESSAGE, PREFIX_HOST_BITS_MESSAGE, InvalidPrefix
from lookups.tests.geoip_data import MANY_NETWORKS, build_city_database, networks_by_iteration

pytestmark = pytest.mark.django_db


@pytest.fixture
def many_networks(geoip_dir):
    return build_city_database(geoip_dir / "GeoLite2-City.mmdb", networks=MANY_NETWORKS)


def test_the_walk_skips_network_by_network(many_networks):
    """A /8 holding a few dozen networks costs a lookup per network or gap, not one per address."""
    counted = CountingReader(many_networks)
    page = networks_module.networks_in(networks_module.parse_prefix("81.0.0.0/8"), limit=1000, reader=counted)
    assert len(page.networks) == len(networks_by_iteration(many_networks, "81.0.0.0/8"))
    assert counted.lookups < 40 * len(page.networks)


class CountingReader(GeoIPReader):
    def __init__(self, path):
        super().__init__(path)
        self.lookups = 0

    def open_database(self):
        database, info = super().open_database()
        owner = self

        class Counting:
            def get_with_prefix_len(self, address):
                owner.lookups += 1
                return database.get_with_prefix_len(address)

        return Counting(), info


@pytest.mark.parametrize(
    ("text", "network"),
    [
        ("81.2.0.0/16", "81.2.0.0/16"),
        (" 81.2.69.142 ", "81.2.69.142/32"),
        ("2A02:EC80::/29", "2a02:ec80::/29"),
    ],
)
def test_prefixes_in_cidr_form(text, network):
    assert str(networks_module.parse_prefix(text)) == network


def test_host_bits_are_refused_naming_the_network():
    with pytest.raises(InvalidPrefix) as error:
        networks_module.parse_prefix("2a02:ec80::1/29")
    assert error.value.message == PREFIX_HOST_BITS_MESSAGE.format(
        given="2a02:ec80::1/29", network="2a02:ec80::/29"
    )


@pytest.mark.parametrize("text", ["", "/", "81.2.0.0/", "81.2.0.0/-1", "example.com/24", "fe80::%eth0/64"])
def test_what_is_no_prefix(text):
    with pytest.raises(InvalidPrefix) as error:
        networks_module.parse_prefix(text)
    assert error.value.message == INVALID_PREFIX_MESSAGE
