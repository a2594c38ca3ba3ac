"""Time the history's admin pages and API against the database in DATABASE_URL.

Fill it first (`manage.py seed_lookups --count 100000`), then:

    DJANGO_SECRET_KEY=bench DJANGO_SECURE_SSL_REDIRECT=0 .venv/bin/python bench/admin_pages.py [--runs 5]

Requests go through Django's test client as a logged-in superuser (a user named "bench-admin"
is created if missing): the full request cycle of a gunicorn worker, without the socket.
Prints, for each page, the median and slowest wall time, the median time spent in SQL (the
part that grows with the table; the rest is rendering, the same at any size), and the number
of SQL queries. The dashboard's cache is cleared before each request.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")  # the test client's host name

import django

django.setup()

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from lookups.models import Lookup

ADMIN = "/admin/lookups/lookup/"


def pages() -> list[tuple[str, str]]:
    newest = (
        Lookup.objects.order_by("-created_at", "-id")
        .exclude(location=None)
        .values_list("pk", "created_at")[0]
    )
    year, month = newest[1].year, newest[1].month
    return [
        ("admin list", ADMIN),
        ("admin list, page 50", f"{ADMIN}?p=50"),
        ("admin list, country=GB", f"{ADMIN}?country=GB"),
        ("admin list, channel=api", f"{ADMIN}?channel__exact=api"),
        ("admin list, outcome=address_not_found", f"{ADMIN}?outcome=address_not_found"),
        ("admin list, tz source=tz_world", f"{ADMIN}?tz_source=tz_world"),
        ("admin list, month", f"{ADMIN}?created_at__year={year}&created_at__month={month}"),
        ("admin list, search 'wikipedia'", f"{ADMIN}?q=wikipedia"),
        ("admin list, search 'london'", f"{ADMIN}?q=london"),
        ("admin detail", f"{ADMIN}{newest[0]}/change/"),
        ("admin dashboard (uncached)", f"{ADMIN}dashboard/"),
        ("history API", "/api/v1/history/"),
        ("history API, country=DE, channel=web", "/api/v1/history/?country=DE&channel=web"),
        ("history API, query=github", "/api/v1/history/?query=github&page_size=1000"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = 'lookups_lookup'::regclass")
        print(f"lookups_lookup: about {cursor.fetchone()[0]:,} rows; {args.runs} runs per page\n")
    print(f"{'page':42} {'median':>9} {'slowest':>9} {'SQL':>9} {'queries':>8}")
    for name, url in pages():
        times, sql_times = [], []
        for _ in range(args.runs):
            cache.clear()  # the dashboard computes its figures every time
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(url)
                times.append(time.perf_counter() - started)
            sql_times.append(sum(float(query["time"]) for query in queries.captured_queries))
            if response.status_code != 200:
                raise SystemExit(f"{url}: HTTP {response.status_code}")
        print(
            f"{name:42} {statistics.median(times) * 1000:7.0f}ms {max(times) * 1000:7.0f}ms "
            f"{statistics.median(sql_times) * 1000:7.0f}ms {len(queries.captured_queries):8}"
        )
    print(f"\nload average: {' '.join(f'{load:.1f}' for load in os.getloadavg())} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
