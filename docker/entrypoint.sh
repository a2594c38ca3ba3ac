#!/bin/sh
# The container's start: wait for PostgreSQL, migrate, install the data that is missing (the
# tz_world polygons when the table is empty, a GeoIP database when none is there), then run the
# command: gunicorn in the image, runserver in development.
#
# Every step is cheap when there is nothing to do, so a restart redoes nothing heavy. A failed
# GeoIP download does not stop the service: /health answers 503 with the reason until a
# database arrives (the scheduler service or `manage.py update_maxmind` brings one).
#
#   DATABASE_WAIT_TIMEOUT  seconds to wait for PostgreSQL (60)
#   TZ_WORLD_ZONES         zones to load into an empty tz_world (load_tz_world --zones); all if unset
set -eu
cd "$(dirname "$0")/.."

log() { printf 'entrypoint: %s\n' "$*"; }

python manage.py wait_for_database --timeout "${DATABASE_WAIT_TIMEOUT:-60}"
python manage.py migrate --noinput
# The history's day partitions for the week ahead (cheap when they exist; purge_lookups does it too).
python manage.py create_history_partitions
# check_data installs what is missing (MaxMind when MAXMIND_ACCOUNT_ID and MAXMIND_LICENSE_KEY
# are set, DB-IP Lite otherwise) and says what is still missing; it never stops the start.
if ! python manage.py check_data --install ${TZ_WORLD_ZONES:+--zones "$TZ_WORLD_ZONES"}; then
    log "checking the data failed (see above); starting anyway"
fi
log "ready: $*"
exec "$@"
