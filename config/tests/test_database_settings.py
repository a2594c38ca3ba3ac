"""What every PostgreSQL connection is opened with: a statement timeout for requests, none for
management commands, TCP keepalives and a connect timeout."""

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

from conftest import BASE_DIR

SHOW_STATEMENT_TIMEOUT = (
    "from django.db import connection; cursor = connection.cursor(); "
    "cursor.execute('SHOW statement_timeout'); print(cursor.fetchone()[0])"
)


@pytest.mark.django_db
def test_a_request_s_statements_have_a_timeout_and_the_connection_keepalives():
    with connection.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "5s"
    parameters = connection.connection.get_dsn_parameters()
    assert parameters["keepalives"] == "1"
    assert parameters["connect_timeout"] == "3"


def test_management_commands_have_no_statement_timeout():
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": f"postgis://{db['USER']}@{db['HOST']}:{db['PORT']}/postgres",  # any database
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_SECRET_KEY": "shell-only",
    }
    assert _statement_timeout_of_a_command(env) == "0"
    env["DATABASE_COMMAND_STATEMENT_TIMEOUT"] = "600"
    assert _statement_timeout_of_a_command(env) == "10min"


def _statement_timeout_of_a_command(env: dict[str, str]) -> str:
    command = [sys.executable, "manage.py", "shell", "--no-imports", "-c", SHOW_STATEMENT_TIMEOUT]
    shown = subprocess.run(command, cwd=BASE_DIR, env=env, check=True, capture_output=True, text=True)
    return shown.stdout.strip()
