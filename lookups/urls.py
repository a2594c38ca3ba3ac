from django.urls import path, re_path

from lookups.web import api, webservice
from lookups.web import pages as views

urlpatterns = [
    path("", views.home, name="home"),
    path("lookup/<path:query>", views.lookup_page, name="lookup"),
    path("batch", views.batch, name="batch"),
    path("health", views.health, name="health"),
    path("api/v1/lookup/", api.OwnAddressLookupView.as_view(), name="api-lookup-own"),
    path("api/v1/lookup/batch", api.BatchLookupView.as_view(), name="api-lookup-batch"),
    path("api/v1/lookup/<path:query>", api.LookupView.as_view(), name="api-lookup"),
    # MaxMind's web-service paths, so that its client libraries can use us (lookups.web.webservice).
    re_path(
        r"^geoip/v2\.1/(?P<service>city|country|insights)/(?P<ip_address>[^/]*)$",
        webservice.lookup,
        name="webservice-lookup",
    ),
    path("api/v1/history/", api.HistoryView.as_view(), name="api-history"),
]
