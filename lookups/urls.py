from django.urls import converters, path, re_path, register_converter

from lookups.web import (
    api,
    api_lookup,
    api_networks,
    api_timeline,
    api_updates,
    health,
    pages,
    plain_text,
    webservice,
)
from lookups.web.text_body import FIELDS as TEXT_FIELDS


class AnyTextConverter(converters.PathConverter):
    """<path:...> with line breaks too: a query holding one is the view's to refuse (400, with
    its message), not the resolver's (a 404 that says nothing of why)."""

    regex = r"[\s\S]+"


register_converter(AnyTextConverter, "text")

# The lookup API first: Django tries patterns in order, and these are the most requested.
urlpatterns = [
    path("api/v1/lookup/", api_lookup.own_address, name="api-lookup-own"),
    path("api/v1/lookup/batch", api.BatchLookupView.as_view(), name="api-lookup-batch"),
    path(
        "api/v1/lookup/<text:address>/timeline",
        api_timeline.TimelineView.as_view(),
        name="api-lookup-timeline",
    ),
    path("api/v1/lookup/<text:query>", api_lookup.lookup, name="api-lookup"),
    path("api/v1/networks/<text:prefix>", api_networks.NetworksView.as_view(), name="api-networks"),
    path("api/v1/asn/<str:number>/networks", api_networks.AsnNetworksView.as_view(), name="api-asn-networks"),
    path("api/v1/compare/<text:query>", api.CompareView.as_view(), name="api-compare"),
    path("", pages.home, name="home"),
    path("lookup/<text:query>", pages.lookup_page, name="lookup"),
    path("batch", pages.batch, name="batch"),
    path("health", health.health, name="health"),
    # One line of text for curl (lookups.web.plain_text): /ip, /country, /country-iso, ...
    path("ip", plain_text.own_address, name="text-ip"),
    re_path(rf"^(?P<field>{'|'.join(TEXT_FIELDS)})$", plain_text.field, name="text-field"),
    # MaxMind's web-service paths, so that its client libraries can use us (lookups.web.webservice).
    re_path(
        r"^geoip/v2\.1/(?P<service>city|country|insights)/(?P<ip_address>[^/]*)$",
        webservice.lookup,
        name="webservice-lookup",
    ),
    path("api/v1/history/", api.HistoryView.as_view(), name="api-history"),
    path("api/v1/updates/", api_updates.UpdatesView.as_view(), name="api-updates"),
]
