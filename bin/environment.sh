# shellcheck shell=bash
# Sourced by bin/run and bin/manage: the environment `make run` serves with, made the same way
# for both. Needs the virtualenv (bin/setup makes it).

# load_environment ROOT: write ROOT/.env with a local secret key when there is none (made once,
# kept out of git: .env is ignored), then export what it holds.
load_environment() {
    local root=$1
    if [ ! -f "$root/.env" ]; then
        (
            umask 077
            printf 'DJANGO_SECRET_KEY=%s\n' \
                "$("$root/.venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(50))')" \
                > "$root/.env"
        )
    fi
    set -a
    # shellcheck disable=SC1091
    . "$root/.env"
    set +a
    # Plain HTTP on loopback: the HTTPS-only settings would lock us out of our own page.
    export DJANGO_SECURE_SSL_REDIRECT=${DJANGO_SECURE_SSL_REDIRECT:-0}
}
