"""lookups.updater.asn_index: installing an ASN database indexes its networks by AS, beside it,
named after its build; a rollback finds the previous one's index; stale ones go."""

import sqlite3

import maxminddb
import pytest

from lookups.tests.geoip_data import build_asn_database
from lookups.tests.updater.fakes import update

pytestmark = pytest.mark.django_db

ASNS = {
    "81.2.69.0/24": {"autonomous_system_number": 20712, "autonomous_system_organization": "Andrews & Arnold"},
    "81.187.0.0/16": {
        "autonomous_system_number": 20712,
        "autonomous_system_organization": "Andrews & Arnold",
    },
    "2001:8b0::/32": {
        "autonomous_system_number": 20712,
        "autonomous_system_organization": "Andrews & Arnold",
    },
    "8.8.8.0/24": {"autonomous_system_number": 15169, "autonomous_system_organization": "Google LLC"},
}


def indexes(directory) -> set[str]:
    return {path.name for path in directory.glob("*.sqlite3")}


def test_installing_an_asn_database_indexes_every_network(geoip_dir, tmp_path):
    source = build_asn_database(tmp_path / "asn.mmdb", networks=ASNS, build_epoch=1_760_000_000)
    update("--file", str(source))
    (index,) = geoip_dir.glob("GeoLite2-ASN.mmdb.networks-1760000000-*.sqlite3")
    with sqlite3.connect(index) as connection:
        rows = connection.execute(
            "SELECT asn, version, prefix_length FROM networks ORDER BY asn, version, first"
        )
        indexed = rows.fetchall()
    with maxminddb.open_database(str(geoip_dir / "GeoLite2-ASN.mmdb")) as reader:
        own = sorted(
            (record["autonomous_system_number"], network.version, network.prefixlen)
            for network, record in reader
        )
    assert sorted(indexed) == own
    assert len(own) == 4


def test_a_city_database_is_not_indexed(city_database, tmp_path):
    assert indexes(city_database.parent) == set()


def test_the_previous_database_s_index_is_kept_and_older_ones_removed(geoip_dir, tmp_path):
    for epoch in (1_760_000_000, 1_761_000_000, 1_762_000_000):
        update(
            "--file",
            str(build_asn_database(tmp_path / f"asn-{epoch}.mmdb", networks=ASNS, build_epoch=epoch)),
        )
    names = indexes(geoip_dir)
    assert len(names) == 2
    assert all("1761000000" in name or "1762000000" in name for name in names)
    update("--rollback", "asn")  # the previous database is served again: its index is there
    with maxminddb.open_database(str(geoip_dir / "GeoLite2-ASN.mmdb")) as reader:
        assert reader.metadata().build_epoch == 1_761_000_000
    assert indexes(geoip_dir) == names


def test_an_index_that_cannot_be_written_leaves_the_install_alone(geoip_dir, tmp_path, caplog):
    # A directory where the index file would go: SQLite cannot write it, the database installs.
    source = build_asn_database(tmp_path / "asn.mmdb", networks=ASNS, build_epoch=1_760_000_000)
    with maxminddb.open_database(str(source)) as reader:
        node_count = reader.metadata().node_count
    blocked = geoip_dir / f"GeoLite2-ASN.mmdb.networks-1760000000-{node_count}.sqlite3"
    blocked.mkdir()
    update("--file", str(source))
    assert (geoip_dir / "GeoLite2-ASN.mmdb").read_bytes() == source.read_bytes()
    assert "were not indexed by AS" in caplog.text
    assert not [
        path for path in geoip_dir.iterdir() if path.name.startswith(".update-") and "networks" in path.name
    ]
