"""The admin and its dashboard: the history, the web service's keys, the GeoIP status.

Django's admin autodiscovery imports this package; the ModelAdmins are in model_admins.
"""

from lookups.admin import model_admins  # noqa: F401 (registers the ModelAdmins)
