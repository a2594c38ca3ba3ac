"""Small helpers for history tests: rows and users, each made explicitly."""

import datetime as dt

from django.contrib.auth.models import Permission, User
from django.contrib.gis.geos import Point
from django.utils import timezone

from lookups.models import Lookup

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def make_lookup(**overrides) -> Lookup:
    """A saved successful London lookup over the API; any field can be overridden."""
    values = {
        "created_at": NOW,
        "query": "81.2.69.142",
        "channel": "api",
        "outcome": "ok",
        "addresses": ["81.2.69.142"],
        "ip_address": "81.2.69.142",
        "network": "81.2.69.0/24",
        "continent_code": "EU",
        "country_code": "GB",
        "country_name": "United Kingdom",
        "subdivision_code": "ENG",
        "subdivision_name": "England",
        "city": "London",
        "postal_code": "EC2V",
        "location": Point(-0.0931, 51.5142, srid=4326),
        "accuracy_radius": 10,
        "time_zone": "Europe/London",
        "time_zone_source": "maxmind",
        "requester": "203.0.113.0",
        "requester_country": "GB",
        "database_edition": "GeoLite2-City",
        "database_build_date": NOW - dt.timedelta(days=3),
    }
    values.update(overrides)
    return Lookup.objects.create(**values)


def make_failed_lookup(
    query: str = "nope.example.com", outcome: str = "name_not_resolved", **overrides
) -> Lookup:
    values = {
        "created_at": NOW,
        "query": query,
        "channel": "web",
        "outcome": outcome,
        "requester": "192.0.2.0",
    }
    values.update(overrides)
    return Lookup.objects.create(**values)


def make_user(username: str, *, staff: bool = False, superuser: bool = False, can_view: bool = False) -> User:
    user = User.objects.create_user(username, password="a-long-test-password", is_staff=staff)
    if superuser:
        user.is_superuser = True
        user.save()
    if can_view:
        user.user_permissions.add(Permission.objects.get(codename="view_lookup"))
    return user


def ago(**delta) -> dt.datetime:
    return timezone.now() - dt.timedelta(**delta)


def earlier_today() -> dt.datetime:
    """A moment of today (UTC) already past, whatever the hour: halfway since midnight. (An hour
    ago is yesterday for the first hour of a day, and the dashboard counts in UTC days.)"""
    now = timezone.now().astimezone(dt.UTC)
    return now - (now - now.replace(hour=0, minute=0, second=0, microsecond=0)) / 2
