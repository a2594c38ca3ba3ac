"""gunicorn configuration, read from the environment (see the README's deployment table)."""

import glob
import os
import shutil
import tempfile

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "0")) or (os.cpu_count() or 1) * 2 + 1
# Threads per worker (gthread): a request that waits (a silent name server, a PostgreSQL that does
# not answer) holds one thread, not a whole worker, so the others keep answering addresses.
# PostgreSQL sees up to workers x threads connections (Django keeps one per thread), plus one
# per worker for the history flusher.
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
if threads < 1:
    raise RuntimeError("GUNICORN_THREADS must be at least 1")
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Recycle workers now and then so that no slow leak lives forever.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "20000"))
max_requests_jitter = max_requests // 10
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
wsgi_app = "config.wsgi:application"

# Optional TLS, e.g. for MaxMind's client libraries, which always speak HTTPS (see the README).
# Both are PEM file paths; the key may also sit in the certificate file. Unset: plain HTTP.
certfile = os.environ.get("GUNICORN_CERTFILE") or None
keyfile = os.environ.get("GUNICORN_KEYFILE") or None
if keyfile and not certfile:
    raise RuntimeError("GUNICORN_KEYFILE is set without GUNICORN_CERTFILE")
# gunicornc's control socket. gunicorn's default is under $HOME, which the image's user has not;
# "off" disables it (tests and benchmarks run several gunicorns side by side).
if os.environ.get("GUNICORN_CONTROL_SOCKET") == "off":
    control_socket_disable = True
elif os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]

# /metrics sums every worker's counters (prometheus_client's multiprocess mode): each worker writes
# its own files here. Set before any worker is forked, so they all inherit it; by default a fresh
# folder of this gunicorn's own, so that several gunicorns on one machine never mix their counts.
_METRICS_DIR_PREFIX = "easygeoip-metrics-"
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix=_METRICS_DIR_PREFIX)


def on_starting(server):
    """Counts start from zero with each gunicorn: wipe what an earlier one left in the folder."""
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(folder, exist_ok=True)
    for path in glob.glob(os.path.join(folder, "*.db")):  # only prometheus_client's files
        os.remove(path)


def child_exit(server, worker):
    """A worker that ended (recycled, killed) no longer counts in the live gauges."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    # The folder made above, never one an operator named.
    if os.path.dirname(folder) == tempfile.gettempdir() and os.path.basename(folder).startswith(
        _METRICS_DIR_PREFIX
    ):
        shutil.rmtree(folder, ignore_errors=True)


def post_worker_init(worker):
    """Each worker gives its statements a deadline (lookups.query_deadline) and starts its history
    flusher at once (see lookups.history: write-behind)."""
    import gc

    from django.apps import apps

    # Everything loaded so far lives as long as the worker: keep the garbage collector from
    # walking it again and again (a full collection of a Django worker's heap takes ~30 ms, a
    # pause every request waiting on that worker would feel).
    gc.freeze()
    if not apps.ready:  # not Django: bench/baseline_app.py shares this configuration
        return
    from lookups import history, query_deadline
    from lookups.core import dns_limits

    query_deadline.install()
    dns_limits.set_request_threads(worker.cfg.threads)
    history.start_flusher_if_enabled()
