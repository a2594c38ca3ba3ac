#!/bin/sh
# The development server (compose.dev.yml): Django's runserver, reloading on every code change.
# With DEBUGPY=1 it starts under debugpy and waits until an editor attaches (VS Code, PyCharm:
# see the README); the reloader's child processes are debugged too.
#
#   RUNSERVER_ADDRESS  where runserver listens (0.0.0.0:8000)
#   DEBUGPY            1: start under debugpy, waiting for the editor to attach
#   DEBUGPY_ADDRESS    where debugpy listens (0.0.0.0:5678)
set -eu
cd "$(dirname "$0")/.."

if [ "${DEBUGPY:-0}" = 1 ]; then
    echo "runserver: waiting for a debugger to attach on ${DEBUGPY_ADDRESS:-0.0.0.0:5678}"
    # Frozen standard-library modules would make the debugger miss breakpoints in them.
    exec python -Xfrozen_modules=off -m debugpy --listen "${DEBUGPY_ADDRESS:-0.0.0.0:5678}" --wait-for-client \
        manage.py runserver "${RUNSERVER_ADDRESS:-0.0.0.0:8000}"
fi
exec python manage.py runserver "${RUNSERVER_ADDRESS:-0.0.0.0:8000}"
