# The easygeoip image: gunicorn serving the app as a non-root user, on Debian bookworm like our
# machines, so the GDAL/GEOS/PROJ the tests ran against are the ones shipped.
#
#   docker build -t easygeoip .                    production (the last stage)
#   docker build --target dev -t easygeoip:dev .   adds debugpy (compose.dev.yml uses it)
#
# The GeoIP databases live on a volume (/data/geoip), never in the image: their licences require
# updates, and images outlive them. .dockerignore keeps every .mmdb out of the build context.

# --- builder: wheels for every pinned requirement ----------------------------------------------
# Every requirement has a binary wheel for CPython 3.11 on x86_64, so no compiler is needed.
# On arm64, timezonefinder builds from source and falls back to pure Python without a compiler:
# we only read its polygon data, so that costs nothing.
FROM python:3.11-slim-bookworm AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /build
COPY requirements/ requirements/
RUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements/dev.txt

# --- runtime: the runtime libraries, the virtualenv, the code and its static files ------------
FROM python:3.11-slim-bookworm AS runtime

# GDAL, GEOS and PROJ from bookworm: runtime libraries only (no -dev packages, no compilers).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgdal32 libgeos-c1v5 libproj25 \
    && rm -rf /var/lib/apt/lists/*
# DL3008 (pin apt versions) is ignored on purpose: bookworm is a stable release whose package
# names pin the major versions (libgdal32 is GDAL 3.6), and Debian removes superseded versions
# from its mirrors when a security fix lands, so exact pins would break the build, not secure it.

# A system user that owns nothing but its two volumes (GeoIP databases, the history spool): the
# code is root's, read only.
RUN groupadd --system --gid 10001 easygeoip \
    && useradd --system --uid 10001 --gid easygeoip --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin easygeoip \
    && install -d -o easygeoip -g easygeoip -m 0755 /data/geoip \
    && install -d -o easygeoip -g easygeoip -m 0700 /data/spool

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    --mount=type=bind,source=requirements,target=/tmp/requirements \
    python -m venv /opt/venv \
    && pip install --no-cache-dir --no-index --find-links=/wheels -r /tmp/requirements/base.txt

WORKDIR /app
COPY . .
# Static files are collected once, here; the secret key exists for this command only.
RUN DJANGO_SECRET_KEY=collectstatic-only-not-a-secret python manage.py collectstatic --noinput -v0

# Everything the service writes is on a volume or in /tmp, so the root filesystem can be read only.
# The spool holds history rows not yet in PostgreSQL: on a volume, a replaced container loses none.
# The rate limits' file (used without REDIS_URL) only holds the last window's counts: /tmp will do.
ENV DJANGO_SETTINGS_MODULE=config.settings \
    GEOIP_PATH=/data/geoip \
    HISTORY_SPOOL_DIR=/data/spool \
    RATE_LIMIT_DIR=/tmp/ratelimit \
    GUNICORN_BIND=0.0.0.0:8000 \
    GUNICORN_CONTROL_SOCKET=/tmp/gunicorn.ctl \
    MANAGE_COMMAND="docker compose exec app python manage.py"
VOLUME ["/data/geoip", "/data/spool"]
EXPOSE 8000
# Numeric, so that orchestrators can check it is not root (runAsNonRoot) without /etc/passwd.
USER 10001:10001
# The first start may load the time-zone polygons and download a database: give it time.
HEALTHCHECK --interval=30s --timeout=10s --start-period=10m --retries=3 \
    CMD ["python", "/app/docker/healthcheck.py"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["gunicorn", "-c", "config/gunicorn.conf.py"]

# --- dev: the same image plus debugpy, serving with runserver (compose.dev.yml) ---------------
FROM runtime AS dev
USER 0
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    --mount=type=bind,source=requirements,target=/tmp/requirements \
    pip install --no-cache-dir --no-index --find-links=/wheels -r /tmp/requirements/dev.txt
USER 10001:10001
EXPOSE 5678
CMD ["/app/docker/runserver.sh"]

# --- production: the default target, so it must stay the last stage --------------------------
FROM runtime AS production
LABEL org.opencontainers.image.title="easygeoip" \
      org.opencontainers.image.description="Self-hosted IP and domain geolocation"
