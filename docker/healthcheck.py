"""The image's HEALTHCHECK: exit 0 when /health answers 200, 1 with the reason otherwise.

Python's standard library only (the image has no curl). The request names the first of
DJANGO_ALLOWED_HOSTS as its host, since Django refuses any other, and asks over the port
gunicorn binds (GUNICORN_BIND), or runserver's in the development container (RUNSERVER_ADDRESS).
"""

import json
import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    address = os.environ.get("RUNSERVER_ADDRESS") or os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
    port = address.rpartition(":")[2]
    hosts = [host.strip() for host in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if host.strip()]
    host = hosts[0].lstrip(".") if hosts and hosts[0] != "*" else "localhost"
    request = urllib.request.Request(f"http://127.0.0.1:{port}/health", headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (a fixed http URL)
            print(response.status, response.read().decode())
            return 0
    except urllib.error.HTTPError as error:
        body = error.read().decode(errors="replace")
        try:
            reason = json.loads(body)["reason"]
        except (ValueError, KeyError, TypeError):
            reason = body[:200]
        print(f"{error.code}: {reason}")
    except OSError as error:
        print(f"no answer: {error}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
