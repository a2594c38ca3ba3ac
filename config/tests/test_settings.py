"""config/settings.py: a value a setting does not take stops the start with a message naming it."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def settings_error(**environment: str) -> str:
    env = {**os.environ, "DJANGO_SECRET_KEY": "settings-test", **environment}
    done = subprocess.run(
        [sys.executable, "-c", "import config.settings"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode != 0
    return done.stderr.strip().splitlines()[-1]


def test_metrics_allowed_must_be_networks():
    assert settings_error(METRICS_ALLOWED="10.0.0.0/8, the office") == (
        "django.core.exceptions.ImproperlyConfigured: METRICS_ALLOWED must be IP addresses or networks "
        "separated by commas, not 'the office'"
    )
