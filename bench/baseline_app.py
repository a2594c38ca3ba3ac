"""The floor for our design: a minimal WSGI app doing the same reader lookup and one history
INSERT per request, with no framework. Served by the same gunicorn as the real service.

Environment: BENCH_MMDB (the database), BENCH_DSN (libpq connection string).
"""

import ipaddress
import json
import os

import maxminddb
import psycopg2

_reader = maxminddb.open_database(os.environ["BENCH_MMDB"])
_connection = None

_INSERT = (
    "INSERT INTO bench_baseline_history (created_at, query, ip_address, country_code, city)"
    " VALUES (now(), %s, %s, %s, %s)"
)


def _cursor():
    global _connection
    if _connection is None or _connection.closed:
        _connection = psycopg2.connect(os.environ["BENCH_DSN"])
        _connection.autocommit = True
    return _connection.cursor()


def application(environ, start_response):
    query = environ.get("PATH_INFO", "").rsplit("/", 1)[-1]
    try:
        address = ipaddress.ip_address(query)
    except ValueError:
        start_response("400 Bad Request", [("Content-Type", "application/json")])
        return [b'{"error": "invalid"}']
    record, prefix = _reader.get_with_prefix_len(address)
    record = record or {}
    country = (record.get("country") or {}).get("iso_code")
    city = ((record.get("city") or {}).get("names") or {}).get("en")
    with _cursor() as cursor:
        cursor.execute(_INSERT, [query, str(address), country, city])
    body = json.dumps({"ip_address": str(address), "network": f"{address}/{prefix}", **record}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
