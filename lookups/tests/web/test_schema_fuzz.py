"""schemathesis against our own OpenAPI schema and a live gunicorn: no 5xx, answers as documented.

Run through schemathesis' own command line (its pytest loader does not work with pytest 9), with
a bounded number of examples per operation; `make fuzz` runs it with many more
(SCHEMATHESIS_MAX_EXAMPLES).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "missing_required_header",
    "unsupported_method",
]


def test_api_matches_its_schema(gunicorn_server, tmp_path):
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(Path(__file__).with_name("schemathesis.toml")),
        "run",
        gunicorn_server.url + "/api/schema/",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "50"),
        "--phases",
        "examples,coverage,fuzzing",
        "--mode",
        "all",
        "--workers",
        "1",
        "--request-timeout",
        "15",
        "--generation-database",
        "none",
        "--no-color",
        "--report-dir",
        str(tmp_path),
    ]
    if os.environ.get("SCHEMATHESIS_SEED"):  # to replay a failure the report gave the seed of
        command += ["--seed", os.environ["SCHEMATHESIS_SEED"]]
    run = subprocess.run(command, capture_output=True, text=True, timeout=1800, cwd=tmp_path)
    failures = run.stdout[run.stdout.find("FAILURES") :]
    assert run.returncode == 0, _shorten(failures) + run.stderr[-3000:]


def _shorten(text: str) -> str:
    """Schemathesis' report, with each (possibly huge) reproduction line cut short."""
    return "\n".join(line if len(line) < 600 else line[:600] + " [...]" for line in text.splitlines())
