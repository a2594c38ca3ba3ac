"""lookups.core.builds: how kept builds are named and found, and GEOIP_KEEP_BUILDS' floor."""

import os
import subprocess
import sys

from conftest import BASE_DIR
from lookups.core.builds import installed_builds, older_builds, older_name
from lookups.tests.updater.fakes import NEW, NEWER


def test_older_builds_sort_oldest_first_and_the_current_file_comes_last(tmp_path):
    target = tmp_path / "GeoLite2-City.mmdb"
    for epoch in (NEWER, NEW):
        older_name(target, epoch).write_bytes(b"")
    (tmp_path / "GeoLite2-City.mmdb.previous").write_bytes(b"")
    target.write_bytes(b"")
    (tmp_path / "GeoLite2-ASN.mmdb.older-20260101T000000Z").write_bytes(b"")  # another database's
    assert [path.name for path in older_builds(target)] == [
        "GeoLite2-City.mmdb.older-20260921T141320Z",
        "GeoLite2-City.mmdb.older-20261118T110640Z",
    ]
    assert installed_builds(target)[-2:] == [target.with_name("GeoLite2-City.mmdb.previous"), target]


def test_fewer_than_two_kept_builds_is_refused_at_start():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_SECRET_KEY": "x" * 50}
    env["GEOIP_KEEP_BUILDS"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "GEOIP_KEEP_BUILDS must be at least 2" in done.stderr
