#!/bin/sh
# The compose file's scheduler service: runs `manage.py update_maxmind` on fixed days, for ever,
# and after each run `manage.py purge_lookups` (the history's retention, which also creates the
# history's day partitions a week ahead: two runs a week keep them ahead).
# MaxMind publishes GeoIP2/GeoLite2 City on Tuesdays and Fridays, so by default it runs the day
# after each, at 04:00 UTC. The app's workers pick the new file up by themselves (shared volume).
# A failed run leaves the installed database serving and is retried at the next scheduled time.
#
#   UPDATE_DAYS  ISO weekdays to run on, 1 = Monday ... 7 = Sunday ("3 6": Wednesday and Saturday)
#   UPDATE_TIME  the time of day, HH:MM in UTC (04:00)
#   UPDATE_ON_START  1: one run at start as well, then on schedule (0)
#
# `docker/scheduler.sh next EPOCH` prints the first run after EPOCH (seconds), and exits.
set -eu
cd "$(dirname "$0")/.."

DAYS=${UPDATE_DAYS:-3 6}
AT=${UPDATE_TIME:-04:00}

log() { printf '%s scheduler: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }
die() { log "$*" >&2; exit 2; }

case "$AT" in
    [01][0-9]:[0-5][0-9] | 2[0-3]:[0-5][0-9]) ;;
    *) die "UPDATE_TIME must be HH:MM (UTC), not '$AT'" ;;
esac
for day in $DAYS; do
    case "$day" in
        [1-7]) ;;
        *) die "UPDATE_DAYS must be weekday numbers 1 (Monday) to 7 (Sunday), not '$DAYS'" ;;
    esac
done
[ -n "$(echo "$DAYS" | tr -d ' ')" ] || die "UPDATE_DAYS is empty"

# The first scheduled time strictly after $1 (seconds since the epoch, UTC).
next_run() {
    i=0
    while [ "$i" -le 7 ]; do
        day=$(date -u -d "@$(($1 + i * 86400))" +%F)
        candidate=$(date -u -d "$day $AT" +%s)
        weekday=$(date -u -d "$day" +%u)
        case " $DAYS " in
            *" $weekday "*) if [ "$candidate" -gt "$1" ]; then echo "$candidate"; return 0; fi ;;
        esac
        i=$((i + 1))
    done
    return 1
}

if [ "${1:-}" = next ]; then
    next_run "$2"
    exit
fi

case "${UPDATE_ON_START:-0}" in
    0 | 1) ;;
    *) die "UPDATE_ON_START must be 0 or 1, not '$UPDATE_ON_START'" ;;
esac

update() {
    if python manage.py update_maxmind --verbosity 1; then
        log "update_maxmind done"
    else
        log "update_maxmind failed (exit $?): the installed database keeps serving; next try at the next run"
    fi
    if python manage.py purge_lookups --verbosity 1; then
        log "purge_lookups done"
    else
        log "purge_lookups failed (exit $?): the history keeps its rows until the next run"
    fi
}

# `docker stop` sends TERM: end at once, even in the middle of a long sleep.
sleeper=""
trap 'log "stopping"; [ -z "$sleeper" ] || kill "$sleeper" 2>/dev/null; exit 0' TERM INT
[ "${UPDATE_ON_START:-0}" = 0 ] || update
while :; do
    next=$(next_run "$(date -u +%s)")
    log "next update_maxmind run: $(date -u -d "@$next" +%Y-%m-%dT%H:%M:%SZ)"
    sleep $((next - $(date -u +%s))) &
    sleeper=$!
    wait "$sleeper" || true
    sleeper=""
    update
done
