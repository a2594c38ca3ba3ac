# A stand-in for postgis/postgis:15-3.4 from Debian bookworm's packages (PostGIS 3.3), with an
# entrypoint that honours the official image's POSTGRES_USER, POSTGRES_PASSWORD and POSTGRES_DB.
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}
# No cluster of Debian's own: the entrypoint makes one in PGDATA, as the official image does.
# hadolint ignore=DL3008
RUN mkdir -p /etc/postgresql-common \
    && echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf \
    && apt-get update \
    && apt-get install -y --no-install-recommends postgresql-15 postgresql-15-postgis-3 \
    && rm -rf /var/lib/apt/lists/*
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
COPY postgis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME ["/var/lib/postgresql/data"]
EXPOSE 5432
STOPSIGNAL SIGINT
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
