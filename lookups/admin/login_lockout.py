"""The admin login lockout: django-axes's database handler, locking out by address as well.

Axes counts failures per address and username (ADMIN_LOGIN_FAILURE_LIMIT), and one limit serves
every group of lockout parameters, so one address trying many usernames once each was never
stopped. Here an address is also locked out past ADMIN_LOGIN_ADDRESS_FAILURE_LIMIT failures in
the last ADMIN_LOGIN_ADDRESS_WINDOW, whatever the usernames, counted in axes's own failure log
(one row per failure, with its time).
"""

from axes.handlers.database import AxesDatabaseHandler
from axes.models import AccessFailureLog
from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone


def address_failures(ip_address: str) -> int:
    """Failed logins from this address within the window."""
    since = timezone.now() - settings.ADMIN_LOGIN_ADDRESS_WINDOW
    return AccessFailureLog.objects.filter(ip_address=ip_address, attempt_time__gte=since).count()


def address_locked_out(request: HttpRequest) -> bool:
    limit = settings.ADMIN_LOGIN_ADDRESS_FAILURE_LIMIT
    ip_address = getattr(request, "axes_ip_address", None)
    return bool(limit) and ip_address is not None and address_failures(ip_address) >= limit


class AdminLoginHandler(AxesDatabaseHandler):
    def is_locked(self, request, credentials: dict | None = None) -> bool:
        return super().is_locked(request, credentials) or address_locked_out(request)

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        super().user_login_failed(sender, credentials, request=request, **kwargs)
        # This failure may be the address's last allowed one: answer it as locked out already.
        if request is not None and not request.axes_locked_out and address_locked_out(request):
            request.axes_locked_out = True
            request.axes_credentials = credentials
