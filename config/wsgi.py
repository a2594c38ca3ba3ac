"""WSGI entry point: `gunicorn config.wsgi:application`."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_wsgi_application()

from lookups.fastlane import FastLane  # noqa: E402  (needs the settings configured above)

# Plain JSON lookups of an IP address skip Django's machinery; everything else goes to Django.
application = FastLane(django_application)
