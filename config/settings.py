"""easygeoip settings: the one place that reads the environment.

Production differs from development only by environment variables (docs/configuration.md, one
table). Safe by default: DEBUG off, a secret key required, HTTPS-only cookies and HSTS on unless
switched off. Grouped by feature; each setting is defined once, in its group, and never changed
further down.
"""

import datetime as dt
import ipaddress
import os
import sys
import tempfile
from pathlib import Path

import dj_database_url
import limits
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    value = value.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), not {value!r}")


def env_int(name: str, default: int) -> int:
    value = env_str(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def env_float(name: str, default: float) -> float:
    value = env_str(name)
    if not value:
        return default
    try:
        return float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


def env_rate(name: str, default: str) -> str | None:
    """A rate in the limits library's notation ("600/minute"); empty: None (no limit)."""
    value = env_str(name, default)
    if not value:
        return None
    try:
        limits.parse(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a rate such as 600/minute, not {value!r}") from None
    return value


# --- Django: the project -------------------------------------------------------------------

DEBUG = env_bool("DJANGO_DEBUG", False)

SECRET_KEY = env_str("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it to a long random string "
            "(`make run` writes one to .env), or set DJANGO_DEBUG=1 for development."
        )
    SECRET_KEY = "insecure-development-key-never-use-in-production"  # noqa: S105 (DEBUG only)

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "leaflet",
    "lookups",
    "timezones",
    "axes",  # admin login lockout (Security, below)
]

MIDDLEWARE = [
    # First, so that the latency histogram (/metrics) measures everything below it.
    "lookups.web.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "lookups.web.throttling.RateLimitHeadersMiddleware",  # on every answer of a request that spent units
    "lookups.web.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "lookups.web.middleware.AdminLoginLockoutMiddleware",  # django-axes, for /admin/ only
    # Innermost, so that it sees the views' exceptions: PostgreSQL not answering is a 503.
    "lookups.web.middleware.DatabaseUnreachableMiddleware",
]
# The public lookup API and the web service (lookups.web.middleware_stacks.LOOKUP_PATHS) run
# MIDDLEWARE without these: they serve no static file, read no session, user or message, their
# views are exempt from CSRF, and they have no admin login to lock.
SITE_ONLY_MIDDLEWARE = {
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "lookups.web.middleware.AdminLoginLockoutMiddleware",
}
LOOKUP_MIDDLEWARE = [name for name in MIDDLEWARE if name not in SITE_ONLY_MIDDLEWARE]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "lookups.web.context_processors.data_source",
            ],
        },
    },
]

SILENCED_SYSTEM_CHECKS = [
    # GDAL 3.6 (Debian bookworm) cannot block network access while reading spatial references.
    # We only open files an operator names (load_tz_world), never user uploads.
    "gis.W001",
    # axes.W002 looks for its own middleware by name; ours is a subclass of it.
    "axes.W002",
]

# Messages (the admin's) live in the session: the default cookie-then-session storage costs
# every request two storage objects.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"one_line_warning": {"()": "config.logging_filters.OneLineWarning"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Anyone can send a wrong Host header: one line each, not a traceback at ERROR.
        "django.security.DisallowedHost": {"filters": ["one_line_warning"]},
        # Not its version banner in every command's output; lockouts are still logged.
        "axes.apps": {"level": "WARNING"},
        # The updater says each retry in a line of its own; urllib3's would repeat it, timestamped.
        "urllib3": {"level": "ERROR"},
    },
}

# --- Static files -----------------------------------------------------------------------------

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT") or BASE_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
# Served at the site's root by whitenoise: /favicon.ico, which browsers ask for on pages that
# link no icon (the admin's, the API docs).
WHITENOISE_ROOT = BASE_DIR / "static" / "root"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- PostgreSQL and the cache -------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", "postgis://postgres@127.0.0.1:5432/easygeoip")
# A lookup never waits behind a lock (tz_world being reloaded) for longer than this: it answers
# without a time zone instead. 0 turns the limit off (e.g. for a long manual migration).
DATABASE_LOCK_TIMEOUT = env_float("DATABASE_LOCK_TIMEOUT", 1.0)


# A request's statements each run for at most this many seconds (PostgreSQL's statement_timeout),
# so that one slow query cannot hold a worker's thread; and a statement PostgreSQL does not answer
# at all (a frozen server) is given up a second later by the client (lookups.query_deadline).
# Management commands (manage.py: migrations, purges, loads) get DATABASE_COMMAND_STATEMENT_TIMEOUT
# instead, by default none; runserver serves requests. 0 turns either limit off.
DATABASE_STATEMENT_TIMEOUT = env_float("DATABASE_STATEMENT_TIMEOUT", 5.0)
DATABASE_COMMAND_STATEMENT_TIMEOUT = env_float("DATABASE_COMMAND_STATEMENT_TIMEOUT", 0.0)
_RUNNING_COMMAND = Path(sys.argv[0]).name == "manage.py" and sys.argv[1:2] != ["runserver"]


def _database(url: str) -> dict:
    database = dj_database_url.parse(
        url,
        engine="django.contrib.gis.db.backends.postgis",
        # Persistent connections: the PostGIS backend asks the server's version on every new
        # connection, which costs more than the lookup itself (FIELD-NOTES).
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 600),
        # No health check: it is a SELECT 1 round trip at the start of every request; a broken
        # connection is closed after the request that found it broken instead.
        conn_health_checks=False,
    )
    options = database.setdefault("OPTIONS", {})
    # Fail fast when PostgreSQL is unreachable instead of hanging a worker.
    options.setdefault("connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 3))
    # TCP keepalives: a connection to a host that went away (a crash, a cut network) fails within
    # about 20 s instead of the kernel's two hours. They cannot tell a stopped server from an idle
    # one (its kernel still answers them): lookups.query_deadline covers that.
    options.setdefault("keepalives", 1)
    options.setdefault("keepalives_idle", 10)
    options.setdefault("keepalives_interval", 5)
    options.setdefault("keepalives_count", 2)
    statement_timeout = DATABASE_COMMAND_STATEMENT_TIMEOUT if _RUNNING_COMMAND else DATABASE_STATEMENT_TIMEOUT
    server_options = [f"-c statement_timeout={int(statement_timeout * 1000)}"]
    if DATABASE_LOCK_TIMEOUT > 0:
        server_options.append(f"-c lock_timeout={int(DATABASE_LOCK_TIMEOUT * 1000)}")
    options.setdefault("options", " ".join(server_options))
    return database


DATABASES = {"default": _database(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis or Valkey, shared by every worker and instance: the rate limits' counters (Rate limits,
# below) and Django's cache. Empty: the limits count on this machine's disk, the cache per worker.
REDIS_URL = env_str("REDIS_URL")
# A Redis that stalls must not stall a request: the cache gives up (a miss) after a quarter second
# rather than holding, say, a reverse name's lookup past RDNS_TIMEOUT.
CACHE_REDIS_OPTIONS = {"socket_connect_timeout": 0.25, "socket_timeout": 0.25}
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": CACHE_REDIS_OPTIONS,
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- Security ---------------------------------------------------------------------------------

# HTTPS-only behaviour: on by default in production, off for `make run` on loopback.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = SECURE_SSL_REDIRECT
CSRF_COOKIE_SECURE = SECURE_SSL_REDIRECT
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000 if SECURE_SSL_REDIRECT else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", SECURE_SSL_REDIRECT)
# Load balancers probe, and Prometheus scrapes gunicorn inside the network, over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^health$", r"^metrics$"]
if env_bool("DJANGO_BEHIND_HTTPS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# Sent with every response. No inline scripts or styles anywhere: the pages keep their
# JavaScript and CSS in static files. Map tiles come from OpenStreetMap (MAP_TILE_URL); an
# operator who changes the tile server adds its host to img-src. Empty: no header.
CONTENT_SECURITY_POLICY = env_str(
    "CONTENT_SECURITY_POLICY",
    "default-src 'self'; "
    "img-src 'self' data: https://tile.openstreetmap.org https://*.tile.openstreetmap.org; "
    "script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'; form-action 'self'",
)

# Forwarding headers (X-Forwarded-For) count only when the direct peer is one of these
# addresses or networks, e.g. "127.0.0.1,10.0.0.0/8".
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")

# Request size limits: a batch of 1,000 queries fits well within 256 KiB.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DJANGO_DATA_UPLOAD_MAX_MEMORY_SIZE", 256 * 1024)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Admin login: after ADMIN_LOGIN_FAILURE_LIMIT wrong passwords for one username from one client
# address, that pair is locked out for ADMIN_LOGIN_COOLOFF_MINUTES (django-axes, kept in PostgreSQL
# so every worker sees the same count).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("ADMIN_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = dt.timedelta(minutes=env_int("ADMIN_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["ip_address", "username"]]
# ...and an address, whatever the usernames, past this many failures in an hour (0: no such limit),
# counted in axes's failure log by lookups.admin.login_lockout.
ADMIN_LOGIN_ADDRESS_FAILURE_LIMIT = env_int("ADMIN_LOGIN_ADDRESS_FAILURE_LIMIT", 20)
ADMIN_LOGIN_ADDRESS_WINDOW = dt.timedelta(hours=1)
AXES_HANDLER = "lookups.admin.login_lockout.AdminLoginHandler"
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_CLIENT_IP_CALLABLE = "lookups.web.request_meta.client_address"  # honours TRUSTED_PROXIES
AXES_RESET_ON_SUCCESS = True

# --- Lookups: the GeoIP databases, DNS, batches ---------------------------------------------------

GEOIP_PATH = Path(env_str("GEOIP_PATH") or BASE_DIR / "var" / "geoip")
GEOIP_CITY = env_str("GEOIP_CITY", "GeoLite2-City.mmdb")
# The optional ASN database's file name in GEOIP_PATH: lookups gain `traits` when it is there.
GEOIP_ASN = env_str("GEOIP_ASN", "GeoLite2-ASN.mmdb")
# A second City database's file name in GEOIP_PATH (say DB-IP's beside MaxMind's), answered beside
# GEOIP_CITY by /api/v1/compare/ and the page's comparison panel. Empty: no comparison.
GEOIP_CITY_ALTERNATIVE = env_str("GEOIP_CITY_ALTERNATIVE", "")
# How many builds of each database stay installed, the current one and `.previous` included:
# older ones are kept as `<file>.older-<build time>` for the timeline (lookups.core.timeline).
GEOIP_KEEP_BUILDS = env_int("GEOIP_KEEP_BUILDS", 3)
if GEOIP_KEEP_BUILDS < 2:
    raise ImproperlyConfigured(
        f"GEOIP_KEEP_BUILDS must be at least 2 (the current build and .previous, for --rollback), "
        f"not {GEOIP_KEEP_BUILDS}"
    )
# How often (seconds) a worker checks whether the database file was replaced on disk.
GEOIP_RELOAD_CHECK_INTERVAL = env_float("GEOIP_RELOAD_CHECK_INTERVAL", 1.0)
# How the commands we print for operators begin: bin/manage in a checkout (it loads .env and the
# virtualenv); the image sets the `docker compose exec app python manage.py` form.
MANAGE_COMMAND = env_str("MANAGE_COMMAND", "bin/manage")
# /health turns to a warning past this age (GeoLite's licence asks for updates within 30 days).
GEOIP_MAX_AGE_DAYS = env_int("GEOIP_MAX_AGE_DAYS", 30)

# Empty: the system's resolvers (/etc/resolv.conf). Entries are "IP" or "IP:PORT" ("[IPv6]:PORT").
DNS_NAMESERVERS = env_list("DNS_NAMESERVERS")
DNS_TIMEOUT = env_float("DNS_TIMEOUT", 2.0)
# Names resolved at once, on this machine (every worker whose DNS_SLOT_DIR is the same folder)
# and per client address; over either a single lookup is refused at once (503 dns_busy), a batch's
# names wait within its deadline. 0 turns a limit off. lookups.core.dns_limits says how.
DNS_MAX_CONCURRENT = env_int("DNS_MAX_CONCURRENT", 16)
DNS_MAX_CONCURRENT_PER_CLIENT = env_int("DNS_MAX_CONCURRENT_PER_CLIENT", 4)
DNS_SLOT_DIR = Path(env_str("DNS_SLOT_DIR") or Path(tempfile.gettempdir()) / "easygeoip-dns-slots")
# A name whose resolution timed out is answered the same, without a query, for this many seconds
# (per process); short, since an outage of the name servers is remembered as long for each name.
DNS_NEGATIVE_TTL = env_float("DNS_NEGATIVE_TTL", 10.0)
# Reverse DNS (?rdns=1, lookups.core.reverse_dns): the PTR query and its forward check together
# within this many seconds, then the lookup is answered with what came. Answers are cached this
# many seconds (timeouts and failures DNS_NEGATIVE_TTL); 0 caches none.
RDNS_TIMEOUT = env_float("RDNS_TIMEOUT", 0.5)
RDNS_CACHE_TTL = env_float("RDNS_CACHE_TTL", 3600.0)

LOOKUP_BATCH_MAX = env_int("LOOKUP_BATCH_MAX", 1000)
# A batch resolves at most this many distinct names (the others answer too_many_names), with
# this many DNS queries in flight, and gives up on the names not resolved within the deadline.
LOOKUP_BATCH_MAX_NAMES = env_int("LOOKUP_BATCH_MAX_NAMES", 100)
LOOKUP_BATCH_DNS_WORKERS = env_int("LOOKUP_BATCH_DNS_WORKERS", 8)
LOOKUP_BATCH_DNS_DEADLINE = env_float("LOOKUP_BATCH_DNS_DEADLINE", 5.0)

# --- Time zones -----------------------------------------------------------------------------

# timezone_at keeps this many answers per process, keyed on the coordinates (0 turns it off):
# GeoIP databases repeat the same city coordinates for many networks.
TZ_WORLD_CACHE_SIZE = env_int("TZ_WORLD_CACHE_SIZE", 100_000)
# How often (seconds) a process checks whether tz_world was reloaded, emptying its cache if so.
TZ_WORLD_RELOAD_CHECK_INTERVAL = env_float("TZ_WORLD_RELOAD_CHECK_INTERVAL", 30.0)

# --- History ----------------------------------------------------------------------------------

# Requester addresses in the history: "anonymize" (IPv4 /24, IPv6 /48), "full" or "none".
LOOKUP_REQUESTER_ADDRESS = env_str("LOOKUP_REQUESTER_ADDRESS", "anonymize")
if LOOKUP_REQUESTER_ADDRESS not in {"anonymize", "full", "none"}:
    raise ImproperlyConfigured("LOOKUP_REQUESTER_ADDRESS must be anonymize, full or none")

# `manage.py purge_lookups` deletes history older than this many days; 0 keeps it forever.
LOOKUP_RETENTION_DAYS = env_int("LOOKUP_RETENTION_DAYS", 90)
if LOOKUP_RETENTION_DAYS < 0:
    raise ImproperlyConfigured("LOOKUP_RETENTION_DAYS must be 0 (keep forever) or a number of days")

# The history spool (lookups.history, docs/history.md): every lookup's row waits here until the
# flusher moves it into PostgreSQL, and for as long as PostgreSQL is away. One file per process;
# several containers may share the folder. Must be on a local disk that survives a restart.
HISTORY_SPOOL_DIR = Path(env_str("HISTORY_SPOOL_DIR") or BASE_DIR / "var" / "spool")
HISTORY_SPOOL_FILE_MAX_BYTES = env_int("HISTORY_SPOOL_FILE_MAX_BYTES", 1024 * 1024)
# After PostgreSQL failed to answer, the history leaves it alone for this many seconds.
HISTORY_DB_RETRY_INTERVAL = env_float("HISTORY_DB_RETRY_INTERVAL", 2.0)
# Write-behind: each process's flusher thread moves the spool into PostgreSQL every this many
# seconds, one COPY for many lookups. 0: each lookup's rows are flushed before it is answered.
HISTORY_FLUSH_INTERVAL = env_float("HISTORY_FLUSH_INTERVAL", 0.25)

# --- Rate limits (lookups.web.throttling, docs/resilience.md#rate-limits) ---------------------------

# Rates as "N/second|minute|hour|day" (limits' notation, e.g. "600/minute"); empty turns one off.
# Each is a moving window: at most N units in any such span. A lookup of an address costs 1 unit,
# of a name RATE_LIMIT_NAME_COST (it costs DNS work); a batch costs the sum of its queries.
# The API's lookups, single and batch, per client address:
API_THROTTLE_RATE = env_rate("API_THROTTLE_RATE", "1200/minute")
# The pages' lookups per client address, counted apart from the API's:
PAGE_THROTTLE_RATE = env_rate("PAGE_THROTTLE_RATE", env_str("API_THROTTLE_RATE", "1200/minute"))
# MaxMind's web service (/geoip/) per API key, whichever addresses use it:
WEBSERVICE_THROTTLE_RATE = env_rate("WEBSERVICE_THROTTLE_RATE", env_str("API_THROTTLE_RATE", "1200/minute"))
RATE_LIMIT_NAME_COST = env_int("RATE_LIMIT_NAME_COST", 3)
if RATE_LIMIT_NAME_COST < 1:
    raise ImproperlyConfigured("RATE_LIMIT_NAME_COST must be at least 1")
# IPv6 clients are counted per network of this length: one host is usually given a whole /64.
RATE_LIMIT_IPV6_PREFIX = env_int("RATE_LIMIT_IPV6_PREFIX", 64)
if not 1 <= RATE_LIMIT_IPV6_PREFIX <= 128:
    raise ImproperlyConfigured("RATE_LIMIT_IPV6_PREFIX must be between 1 and 128")
# Without REDIS_URL the counters live in a SQLite file here (diskcache), shared by every worker
# and every instance on this machine that names the same folder. Losing it forgets recent counts
# only: a tmpfs will do (the image uses /tmp).
RATE_LIMIT_DIR = Path(env_str("RATE_LIMIT_DIR") or BASE_DIR / "var" / "ratelimit")

# --- The JSON API -------------------------------------------------------------------------------

REST_FRAMEWORK = {
    # JSON through orjson where it writes DRF's bytes, XML that carries any query, CSV in fixed columns
    # (lookups.web.renderers).
    "DEFAULT_RENDERER_CLASSES": [
        "lookups.web.renderers.JSONRenderer",
        "lookups.web.renderers.XMLRenderer",
        "rest_framework_yaml.renderers.YAMLRenderer",
        "lookups.web.renderers.CSVRenderer",
    ],
    # DRF's, hardened against bodies nested too deeply and unpaired surrogates (lookups.web.parsers).
    "DEFAULT_PARSER_CLASSES": ["lookups.web.parsers.JSONParser"],
    # DRF's, but `?format=` must name exactly one known format (lookups.web.negotiation).
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "lookups.web.negotiation.StrictFormatNegotiation",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    # The API's bucket (API_THROTTLE_RATE) for the DRF views that do not count for themselves.
    "DEFAULT_THROTTLE_CLASSES": ["lookups.web.throttling.ClientAddressThrottle"],
    "EXCEPTION_HANDLER": "lookups.web.http_errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "URL_FORMAT_OVERRIDE": "format",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "easygeoip API",
    "DESCRIPTION": "Self-hosted IP and domain geolocation.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- The HTML pages ---------------------------------------------------------------------------

MAP_TILE_URL = env_str("MAP_TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png")
MAP_TILE_ATTRIBUTION = env_str(
    "MAP_TILE_ATTRIBUTION",
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
)
# Largest CSV file the batch page accepts, in bytes.
LOOKUP_BATCH_UPLOAD_MAX_BYTES = env_int("LOOKUP_BATCH_UPLOAD_MAX_BYTES", 1024 * 1024)

# --- Metrics (GET /metrics, docs/monitoring.md) ---------------------------------------------------

# Networks whose clients may read /metrics, besides loopback (which always may), e.g. the
# Prometheus server's "10.0.0.0/8". The client address is resolved through TRUSTED_PROXIES.
METRICS_ALLOWED = env_list("METRICS_ALLOWED")
for _network in METRICS_ALLOWED:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"METRICS_ALLOWED must be IP addresses or networks separated by commas, not {_network!r}"
        ) from None
# Any client that sends "Authorization: Bearer <METRICS_TOKEN>" may read /metrics too. Empty:
# no token is accepted. Secret: never logged or shown.
METRICS_TOKEN = env_str("METRICS_TOKEN")

# --- GeoIP updates (manage.py update_maxmind) ------------------------------------------------------

# Downloads from MaxMind when both are set, else DB-IP Lite (no account).
MAXMIND_ACCOUNT_ID = env_str("MAXMIND_ACCOUNT_ID")
MAXMIND_LICENSE_KEY = env_str("MAXMIND_LICENSE_KEY")  # secret: never logged or shown
MAXMIND_DOWNLOAD_URL = env_str("MAXMIND_DOWNLOAD_URL", "https://download.maxmind.com")
# One City edition (GeoLite2-City, GeoIP2-City) and optionally one ASN edition (GeoLite2-ASN, GeoIP2-ISP).
# GeoLite2-ASN by default, as DB-IP's ASN Lite without a key: every answer has `traits`.
MAXMIND_EDITIONS = env_list("MAXMIND_EDITIONS", "GeoLite2-City,GeoLite2-ASN")
DBIP_DOWNLOAD_URL = env_str("DBIP_DOWNLOAD_URL", "https://download.db-ip.com/free")
