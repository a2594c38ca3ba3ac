"""WSGI entry point: `gunicorn config.wsgi:application`."""

import os

from lookups.web.middleware_stacks import wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = wsgi_application()
