from django.contrib import admin
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from lookups.urls import urlpatterns as service_urlpatterns
from lookups.web import errorpages, metrics_endpoint
from lookups.web.middleware import REDOC_CONTENT_SECURITY_POLICY, content_security_policy

# The service's own URLs first: the lookup API is the most requested (Django tries them in order).
# Listed, not include()d: an include is a second resolver to pass, a few percent of a lookup's CPU.
urlpatterns = [
    *service_urlpatterns,
    path("admin/", admin.site.urls),
    # For Prometheus inside the network (lookups.web.metrics_access; the proxy never routes it).
    path("metrics", metrics_endpoint.metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file, so the strict CSP holds (lookups.web.middleware).
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api/swagger_ui.html"),
        name="api-docs",
    ),
    path(
        "api/redoc/",
        content_security_policy(REDOC_CONTENT_SECURITY_POLICY)(
            SpectacularRedocView.as_view(url_name="api-schema", template_name="api/redoc.html")
        ),
        name="api-redoc",
    ),
]

handler400 = errorpages.bad_request
handler403 = errorpages.permission_denied
handler404 = errorpages.page_not_found
handler500 = errorpages.server_error
