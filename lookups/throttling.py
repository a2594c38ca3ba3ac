"""Rate limits per client address for anonymous callers."""

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from lookups.clients import client_address


class ClientAddressThrottle(SimpleRateThrottle):
    """Like DRF's AnonRateThrottle, keyed on the address lookups.clients trusts."""

    scope = "anon"

    def get_rate(self):
        # Read on every request so that settings changes (and tests) take effect.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            return None  # staff and API-key holders are not throttled here
        return self.cache_format % {"scope": self.scope, "ident": client_address(request) or "unknown"}
