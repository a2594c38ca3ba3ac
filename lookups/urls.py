from django.urls import path

from lookups import api, views

urlpatterns = [
    path("", views.home, name="home"),
    path("lookup/<path:query>", views.lookup_page, name="lookup"),
    path("health", views.health, name="health"),
    path("api/v1/lookup/", api.OwnAddressLookupView.as_view(), name="api-lookup-own"),
    path("api/v1/lookup/batch", api.BatchLookupView.as_view(), name="api-lookup-batch"),
    path("api/v1/lookup/<path:query>", api.LookupView.as_view(), name="api-lookup"),
    path("api/v1/history/", api.HistoryView.as_view(), name="api-history"),
]
