"""Three builds of the City database installed one after the other, whose differences the
timeline tests know (lookups.core.timeline)."""

from pathlib import Path

from lookups.tests.geoip_data import BERLIN, LINKOPING_NO_TZ, LONDON, build_city_database
from lookups.tests.updater.fakes import NEW, NEWER, OLD, update

LONDINIUM = {**LONDON, "city": {"names": {"en": "Londinium", "de": "Londinium"}}}
ADDED_IP = "2.2.2.2"
FIRST = {"81.2.69.0/24": LONDON, "2a02:ec80::/29": BERLIN, "89.160.20.0/24": LINKOPING_NO_TZ}
SECOND = {"81.2.69.0/24": LONDON, "2a02:ec80::/29": BERLIN, "2.2.2.0/24": LONDON}  # Linköping gone
THIRD = {"81.2.69.0/24": LONDINIUM, "2a02:ec80::/29": BERLIN, "2.2.2.0/24": LONDON}  # London renamed
BUILDS = ((OLD, FIRST), (NEW, SECOND), (NEWER, THIRD))


def install_three_builds(tmp_path: Path) -> None:
    for epoch, networks in BUILDS:
        update(
            "--file",
            str(build_city_database(tmp_path / f"build-{epoch}.mmdb", networks=networks, build_epoch=epoch)),
        )
