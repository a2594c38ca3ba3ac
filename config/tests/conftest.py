"""What the container tests share: the images built from this checkout (once a session) and the
benchmark's 300,000-network City database."""

import sys
from pathlib import Path

import pytest

from config.tests.containers import REPO
from config.tests.docker_engine import DEV_IMAGE, PRODUCTION_IMAGE, build_image


@pytest.fixture(scope="session")
def production_image() -> str:
    build_image("production", PRODUCTION_IMAGE)
    return PRODUCTION_IMAGE


@pytest.fixture(scope="session")
def dev_image() -> str:
    build_image("dev", DEV_IMAGE)
    return DEV_IMAGE


@pytest.fixture(scope="session")
def large_city_database() -> Path:
    sys.path.insert(0, str(REPO / "bench"))
    import realistic_db

    return realistic_db.build(300_000)
