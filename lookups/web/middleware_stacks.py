"""Two middleware stacks in one Django: the public lookup endpoints run settings.LOOKUP_MIDDLEWARE,
every other path settings.MIDDLEWARE.

The lookup endpoints take no credentials and read no session, user or message; they serve no
static file, render no form and have no admin login to lock. So they need only some of the
site's middleware, and the rest cost them about a fifth of their answer (docs/performance.md).
Django builds a handler's middleware chain once, from settings.MIDDLEWARE. So the lookups get a
handler of their own, and the WSGI application chooses one by path. Both are Django's own
handlers: URL resolution, signals, error pages and everything else work the same in both.
"""

import django
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler

# The public lookup API (single, own address, batch, timeline) and MaxMind's web service.
LOOKUP_PATHS = ("/api/v1/lookup/", "/geoip/")


class LookupMiddlewareMixin:
    """A handler whose chain is built from settings.LOOKUP_MIDDLEWARE."""

    def load_middleware(self, is_async=False):
        # BaseHandler.load_middleware reads settings.MIDDLEWARE and takes no list of its own. The
        # handlers are built before serving (at import, or at a test client's first request).
        site_middleware = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.LOOKUP_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = site_middleware


class LookupWSGIHandler(LookupMiddlewareMixin, WSGIHandler):
    pass


class PathRouter:
    """A WSGI application (or a test client's handler, conftest.py): the lookup paths to one
    handler, every other path to the other."""

    def __init__(self, *, site, lookups):
        self.site, self.lookups = site, lookups

    def __call__(self, environ, *args):
        if environ.get("PATH_INFO", "").startswith(LOOKUP_PATHS):
            return self.lookups(environ, *args)
        return self.site(environ, *args)


def wsgi_application() -> PathRouter:
    """What gunicorn serves (config.wsgi): django.core.wsgi.get_wsgi_application, routed."""
    django.setup(set_prefix=False)
    return PathRouter(site=WSGIHandler(), lookups=LookupWSGIHandler())
