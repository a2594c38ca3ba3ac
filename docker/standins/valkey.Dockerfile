# A stand-in for valkey/valkey:8 from Debian bookworm's redis-server (7.0, the protocol Valkey
# speaks), answering to Valkey's command names.
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server redis-tools \
    && rm -rf /var/lib/apt/lists/* \
    && ln -s /usr/bin/redis-server /usr/local/bin/valkey-server \
    && ln -s /usr/bin/redis-cli /usr/local/bin/valkey-cli \
    && mkdir -p /data && chown redis:redis /data
WORKDIR /data
USER redis
EXPOSE 6379
CMD ["valkey-server", "--protected-mode", "no"]
