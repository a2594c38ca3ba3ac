"""Test settings: only test knobs differ from production settings."""

import os

os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-for-the-test-suite-only")
os.environ.setdefault("DJANGO_SECURE_SSL_REDIRECT", "0")

from config.settings import *  # noqa: F403

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast, tests only
# Every check sees the file's current state: tests replace databases and expect the change.
GEOIP_RELOAD_CHECK_INTERVAL = 0.0
# django-axes needs the request in authenticate(), which Client.login() does not pass; the
# lockout tests switch it on for themselves.
AXES_ENABLED = False
# Every lookup sees tz_world's current state: tests reload it and expect the change.
TZ_WORLD_RELOAD_CHECK_INTERVAL = 0.0
