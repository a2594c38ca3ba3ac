"""`manage.py wait_for_database`: the container's first step."""

import os
import subprocess
import sys

import pytest
from django.core.management import call_command

from conftest import BASE_DIR, free_port


@pytest.mark.django_db
def test_returns_at_once_when_postgresql_answers(capsys):
    call_command("wait_for_database", timeout=5)
    assert capsys.readouterr().out == "PostgreSQL accepts connections.\n"


def test_gives_up_with_a_clear_message_when_nothing_answers():
    # Nothing listens on this port: the command must fail, not hang.
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": f"postgis://postgres@127.0.0.1:{free_port()}/nothing",
        "DATABASE_CONNECT_TIMEOUT": "1",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "wait_for_database", "--timeout", "1"],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Waiting for PostgreSQL..." in result.stdout
    assert "PostgreSQL did not accept connections within 1 seconds" in result.stderr
