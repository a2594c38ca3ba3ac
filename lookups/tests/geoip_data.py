"""GeoIP City databases the tests build themselves, so that they know every answer."""

import ipaddress
import time
from pathlib import Path
from typing import Any

import maxminddb
from mmdb_writer import MmdbF64, MmdbU16, MmdbU32, MmdbU64, MMDBWriter
from netaddr import IPSet

LANGUAGES = ["en", "de", "ja"]

LONDON = {
    "continent": {
        "code": "EU",
        "geoname_id": MmdbU32(6255148),
        "names": {"en": "Europe", "de": "Europa", "ja": "ヨーロッパ"},
    },
    "country": {
        "iso_code": "GB",
        "geoname_id": MmdbU32(2635167),
        "names": {"en": "United Kingdom", "de": "Vereinigtes Königreich", "ja": "イギリス"},
    },
    "registered_country": {
        "iso_code": "GB",
        "geoname_id": MmdbU32(2635167),
        "names": {"en": "United Kingdom", "de": "Vereinigtes Königreich", "ja": "イギリス"},
    },
    "subdivisions": [
        {
            "iso_code": "ENG",
            "geoname_id": MmdbU32(6269131),
            "names": {"en": "England", "de": "England", "ja": "イングランド"},
        }
    ],
    "city": {"geoname_id": MmdbU32(2643743), "names": {"en": "London", "de": "London", "ja": "ロンドン"}},
    "postal": {"code": "EC2V"},
    "location": {
        "latitude": MmdbF64(51.5142),
        "longitude": MmdbF64(-0.0931),
        "accuracy_radius": MmdbU16(10),
        "time_zone": "Europe/London",
    },
}
BERLIN = {
    "continent": {"code": "EU", "names": {"en": "Europe", "de": "Europa"}},
    "country": {"iso_code": "DE", "names": {"en": "Germany", "de": "Deutschland", "ja": "ドイツ"}},
    "subdivisions": [{"iso_code": "BE", "names": {"en": "Land Berlin", "de": "Berlin"}}],
    "city": {"names": {"en": "Berlin", "de": "Berlin", "ja": "ベルリン"}},
    "postal": {"code": "10115"},
    "location": {
        "latitude": MmdbF64(52.52),
        "longitude": MmdbF64(13.405),
        "accuracy_radius": MmdbU16(50),
        "time_zone": "Europe/Berlin",
    },
}
# Coordinates but no time zone: the tz_world polygons must answer (Europe/Stockholm).
LINKOPING_NO_TZ = {
    "continent": {"code": "EU", "names": {"en": "Europe"}},
    "country": {"iso_code": "SE", "names": {"en": "Sweden", "de": "Schweden"}},
    "city": {"names": {"en": "Linköping"}},
    "location": {"latitude": MmdbF64(58.4167), "longitude": MmdbF64(15.6167), "accuracy_radius": MmdbU16(20)},
}
# Coordinates in the middle of the Atlantic, no time zone: no polygon holds them.
AT_SEA_NO_TZ = {
    "country": {"iso_code": "US", "names": {"en": "United States"}},
    "location": {"latitude": MmdbF64(30.0), "longitude": MmdbF64(-40.0), "accuracy_radius": MmdbU16(1000)},
}
# A country-level record: no coordinates at all.
COUNTRY_ONLY = {
    "continent": {"code": "AS", "names": {"en": "Asia"}},
    "country": {"iso_code": "BT", "names": {"en": "Bhutan"}},
}
# Only where the network is registered (as GeoLite2 answers for 1.1.1.1).
REGISTERED_ONLY = {"registered_country": {"iso_code": "AU", "names": {"en": "Australia"}}}

NETWORKS: dict[str, dict[str, Any]] = {
    "81.2.69.0/24": LONDON,
    "2a02:ec80::/29": BERLIN,
    "89.160.20.0/24": LINKOPING_NO_TZ,
    "2001:480::/32": AT_SEA_NO_TZ,
    "67.43.156.0/24": COUNTRY_ONLY,
    "1.1.1.0/24": REGISTERED_ONLY,
}
# Known answers, for assertions.
LONDON_IP = "81.2.69.142"
BERLIN_IP = "2a02:ec80::1"
LINKOPING_IP = "89.160.20.112"
AT_SEA_IP = "2001:480::1"
COUNTRY_ONLY_IP = "67.43.156.1"
REGISTERED_ONLY_IP = "1.1.1.1"
UNKNOWN_PUBLIC_IP = "8.8.8.8"


def _town(number: int) -> dict[str, Any]:
    return {**LONDON, "city": {"names": {"en": f"Town {number}"}}, "postal": {"code": str(number)}}


# Networks of all sizes with gaps between them, in IPv4 and IPv6, besides the usual ones: for the
# listings of a prefix's networks.
MANY_NETWORKS: dict[str, dict[str, Any]] = {
    **NETWORKS,
    **{f"81.2.{third}.0/24": _town(third) for third in range(0, 60, 3)},
    **{f"81.3.0.{fourth}/28": _town(1000 + fourth) for fourth in range(0, 256, 32)},
    "81.3.128.0/17": _town(2000),
    **{f"2a02:ec90:{block:x}::/48": _town(3000 + block) for block in range(0, 40, 7)},
    "2a03::/32": {**BERLIN, "location": {**BERLIN["location"], "accuracy_radius": MmdbU16(5)}},
}


def networks_by_iteration(path: Path, prefix: str) -> list[tuple[str, dict[str, Any]]]:
    """The networks of the database at `path` inside `prefix` (or holding it), as maxminddb's
    own walk of the whole tree finds them: what a listing must answer."""
    wanted = ipaddress.ip_network(prefix)
    with maxminddb.open_database(str(path), maxminddb.MODE_FILE) as reader:
        return [
            (str(network), record)
            for network, record in reader
            if network.version == wanted.version and (network.subnet_of(wanted) or wanted.subnet_of(network))
        ]


class _DatedWriter(MMDBWriter):
    def __init__(self, *args, build_epoch: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._build_epoch = build_epoch

    def _build_meta(self):
        meta = super()._build_meta()
        if self._build_epoch is not None:
            meta["build_epoch"] = MmdbU64(self._build_epoch)
        return meta


def build_city_database(
    path: Path,
    *,
    edition: str = "GeoLite2-City",
    networks: dict[str, dict[str, Any]] | None = None,
    build_epoch: int | None = None,
    ip_version: int = 6,
) -> Path:
    """Write a City database at `path` (atomically: readers never see half a file)."""
    writer = _DatedWriter(
        ip_version=ip_version,
        ipv4_compatible=ip_version == 6,
        database_type=edition,
        languages=LANGUAGES,
        description={language: f"easygeoip test {edition}" for language in LANGUAGES},
        build_epoch=build_epoch if build_epoch is not None else int(time.time()),
    )
    for cidr, record in (NETWORKS if networks is None else networks).items():
        if ip_version == 4 and ":" in cidr:
            continue
        writer.insert_network(IPSet([cidr]), record)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    writer.to_db_file(str(partial))
    partial.replace(path)
    return path


# An ASN database's records: lookups gain `traits` from them.
LONDON_ASN = {
    "autonomous_system_number": MmdbU32(20712),
    "autonomous_system_organization": "Andrews & Arnold Ltd",
}
ASN_NETWORKS: dict[str, dict[str, Any]] = {"81.2.69.0/24": LONDON_ASN}


def build_asn_database(
    path: Path,
    *,
    edition: str = "GeoLite2-ASN",
    networks: dict[str, dict[str, Any]] | None = None,
    build_epoch: int | None = None,
) -> Path:
    """Write an ASN database at `path` (atomically)."""
    writer = _DatedWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type=edition,
        languages=["en"],
        description={"en": f"easygeoip test {edition}"},
        build_epoch=build_epoch if build_epoch is not None else int(time.time()),
    )
    for cidr, record in (ASN_NETWORKS if networks is None else networks).items():
        writer.insert_network(IPSet([cidr]), record)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    writer.to_db_file(str(partial))
    partial.replace(path)
    return path


# --- A DB-IP-style City database, to compare with the one above -----------------------------------
# As DB-IP's City Lite has them: no time zone, no accuracy radius, no GeoNames ID for cities.
DBIP_EDITION = "DBIP-City-Lite"
DBIP_LONDON = {
    "continent": {"code": "EU", "geoname_id": MmdbU32(6255148), "names": {"en": "Europe", "de": "Europa"}},
    "country": {"iso_code": "GB", "geoname_id": MmdbU32(2635167), "names": {"en": "United Kingdom"}},
    "subdivisions": [{"names": {"en": "England"}}],
    "city": {"names": {"en": "London", "de": "London"}},
    "location": {"latitude": MmdbF64(51.5085), "longitude": MmdbF64(-0.12574)},
}
DBIP_POTSDAM = {  # the same country as the City database's Berlin, another city
    "continent": {"code": "EU", "names": {"en": "Europe"}},
    "country": {"iso_code": "DE", "names": {"en": "Germany", "de": "Deutschland"}},
    "city": {"names": {"en": "Potsdam"}},
    "location": {"latitude": MmdbF64(52.3989), "longitude": MmdbF64(13.0657)},
}
DBIP_OSLO = {  # another country than the City database's Linköping
    "continent": {"code": "EU", "names": {"en": "Europe"}},
    "country": {"iso_code": "NO", "names": {"en": "Norway"}},
    "city": {"names": {"en": "Oslo"}},
    "location": {"latitude": MmdbF64(59.9127), "longitude": MmdbF64(10.7461)},
}
DBIP_MOUNTAIN_VIEW = {  # an address the City database does not know
    "continent": {"code": "NA", "names": {"en": "North America"}},
    "country": {"iso_code": "US", "names": {"en": "United States"}},
    "city": {"names": {"en": "Mountain View"}},
    "location": {"latitude": MmdbF64(37.4223), "longitude": MmdbF64(-122.085)},
}
# AT_SEA_IP's network is missing: the City database knows it, this one does not.
DBIP_NETWORKS: dict[str, dict[str, Any]] = {
    "81.2.69.0/24": DBIP_LONDON,
    "2a02:ec80::/29": DBIP_POTSDAM,
    "89.160.20.0/24": DBIP_OSLO,
    "8.8.8.0/24": DBIP_MOUNTAIN_VIEW,
}
# Distances (km) between the two databases' coordinates, worked out apart from the code with the haversine
# formula and the mean Earth radius: London-London, Berlin-Potsdam, Linköping-Oslo.
LONDON_DISTANCE_KM = 2.3
BERLIN_DISTANCE_KM = 26.6
LINKOPING_DISTANCE_KM = 323.5
DBIP_BUILD_EPOCH = 1_788_220_800  # 2026-09-01, older than any City database built by a test


def build_dbip_city_database(path: Path, **overrides) -> Path:
    """A DB-IP-style City Lite database at `path`."""
    options = {"edition": DBIP_EDITION, "networks": DBIP_NETWORKS, "build_epoch": DBIP_BUILD_EPOCH}
    return build_city_database(path, **{**options, **overrides})
