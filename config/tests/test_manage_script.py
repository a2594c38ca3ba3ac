"""bin/manage, the command our messages tell people to type: run for real, from elsewhere.

Each test runs a copy of bin/ in a folder of its own, beside links to the real manage.py and
virtualenv (Python resolves the link, so the real code runs), so that the .env it may write
is the test's, never the checkout's.
"""

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from conftest import BASE_DIR
from lookups.tests.geoip_data import build_city_database

pytestmark = pytest.mark.django_db(transaction=True)  # the command's own process writes rows

TIMESTAMPED_ERROR = re.compile(r"^\d{4}-\d{2}-\d{2} [\d:,]+ ERROR ", re.MULTILINE)


@pytest.fixture
def checkout(tmp_path) -> Path:
    root = tmp_path / "easygeoip"
    (root / "bin").mkdir(parents=True)
    for script in ("manage", "environment.sh"):
        shutil.copy2(BASE_DIR / "bin" / script, root / "bin" / script)
    (root / "manage.py").symlink_to(BASE_DIR / "manage.py")
    (root / ".venv").symlink_to((BASE_DIR / ".venv").resolve())
    return root


def run(command: list[str], *, cwd: Path, geoip: Path, **env) -> subprocess.CompletedProcess:
    db = settings.DATABASES["default"]
    environment = {
        # What a shell gives: no Django settings of any kind, no virtualenv on the PATH.
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "DATABASE_URL": f"postgis://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "GEOIP_PATH": str(geoip),
        **env,
    }
    return subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120)


def test_without_env_it_writes_one_as_make_run_does_and_runs(checkout, tmp_path):
    geoip = tmp_path / "geoip"
    geoip.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    done = run([str(checkout / "bin" / "manage"), "check_data"], cwd=elsewhere, geoip=geoip)

    assert done.returncode == 0, done.stderr
    env_file = checkout / ".env"
    assert re.fullmatch(r"DJANGO_SECRET_KEY=[\w-]{60,}\n", env_file.read_text())
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert "Fix: bin/manage update_maxmind " in done.stdout
    assert not TIMESTAMPED_ERROR.search(done.stdout + done.stderr), done.stdout + done.stderr
    assert "Traceback" not in done.stderr

    # The second run keeps the same key.
    key = env_file.read_text()
    assert run([str(checkout / "bin" / "manage"), "check"], cwd=elsewhere, geoip=geoip).returncode == 0
    assert env_file.read_text() == key


def test_the_printed_file_command_installs_a_file_given_relative_to_where_it_is_typed(checkout, tmp_path):
    geoip = tmp_path / "geoip"
    geoip.mkdir()
    downloads = tmp_path / "Downloads"
    downloads.mkdir()
    build_city_database(downloads / "city.mmdb")

    done = run(
        [str(checkout / "bin" / "manage"), "update_maxmind", "--file", "city.mmdb"],
        cwd=downloads,
        geoip=geoip,
    )

    assert done.returncode == 0, done.stderr
    assert (geoip / "GeoLite2-City.mmdb").exists()
    checked = run([str(checkout / "bin" / "manage"), "check_data"], cwd=checkout, geoip=geoip)
    assert "GeoIP database: GeoLite2-City, built" in checked.stdout


def test_before_setup_it_says_to_run_make_run(checkout, tmp_path):
    (checkout / ".venv").unlink()
    done = run([str(checkout / "bin" / "manage"), "check_data"], cwd=tmp_path, geoip=tmp_path)
    assert done.returncode == 1
    assert "is not set up yet: run 'make run' there first" in done.stderr
    assert "ModuleNotFoundError" not in done.stderr
    assert not (checkout / ".env").exists()


@pytest.mark.django_db(transaction=False)
def test_the_scripts_pass_shellcheck():
    scripts = [str(BASE_DIR / "bin" / name) for name in ("manage", "environment.sh", "run")]
    shellcheck = Path(os.path.realpath(BASE_DIR / ".venv" / "bin" / "shellcheck"))
    result = subprocess.run(
        [str(shellcheck), "-x", "--severity=style", *scripts], cwd=BASE_DIR, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout
