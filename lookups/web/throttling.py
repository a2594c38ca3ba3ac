"""Rate limits per client address: DRF's throttles, for the DRF views and the plain ones alike."""

import math

from django.conf import settings
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from lookups.errors import Throttled
from lookups.web.request_meta import client_address


class ClientAddressThrottle(SimpleRateThrottle):
    """Like DRF's AnonRateThrottle, keyed on the address lookups.web.request_meta trusts."""

    scope = "anon"

    def get_rate(self):
        # Read on every request so that settings changes (and tests) take effect.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            # Signed-in staff (pages, history API). The public lookup endpoints take no
            # credentials at all, so there every caller is limited by address.
            return None
        return self.cache_format % {"scope": self.scope, "ident": client_address(request) or "unknown"}


class LookupThrottle(ClientAddressThrottle):
    """The plain-view lookups (lookups.web.api_lookup): the API's bucket, every caller by address
    (they take no credentials, so a session does not exempt anyone)."""

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": client_address(request) or "unknown"}


class PageThrottle(ClientAddressThrottle):
    """Lookups from the HTML pages: same keying as the API, its own bucket and rate
    (settings.PAGE_THROTTLE_RATE), so a busy page does not use up an API client's allowance."""

    scope = "page"

    def get_rate(self):
        return settings.PAGE_THROTTLE_RATE


def check_rate(throttle: SimpleRateThrottle, request) -> None:
    """Count this request against `throttle`; raise Throttled when the client is over its rate."""
    if not throttle.allow_request(request, None):
        raise Throttled(max(1, math.ceil(throttle.wait() or 1)))
