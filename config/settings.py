"""easygeoip settings: the one place that reads the environment.

Production differs from development only by environment variables (docs/configuration.md, one
table). Safe by default: DEBUG off, a secret key required, HTTPS-only cookies and HSTS on unless
switched off. Grouped by feature; each setting is defined once, in its group, and never changed
further down.
"""

import datetime as dt
import os
from pathlib import Path

import dj_database_url
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
    "django.middleware.security.SecurityMiddleware",
    "lookups.web.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # These three skip the public lookup API, which reads no session, user or message
    # (lookups.web.middleware). CSRF's stays whole: `check --deploy` looks for it by name, and
    # it costs little where views are exempt.
    "lookups.web.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "lookups.web.middleware.AuthenticationMiddleware",
    "lookups.web.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "lookups.web.middleware.AdminLoginLockoutMiddleware",  # django-axes, for /admin/ only
]

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
    if DATABASE_LOCK_TIMEOUT > 0:
        options.setdefault("options", f"-c lock_timeout={int(DATABASE_LOCK_TIMEOUT * 1000)}")
    return database


DATABASES = {"default": _database(DATABASE_URL)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# With REDIS_URL, shared by every worker, so rate limits hold across the whole service.
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": env_str("REDIS_URL")}
        if env_str("REDIS_URL")
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
SECURE_REDIRECT_EXEMPT = [r"^health$"]  # load balancers probe over plain HTTP
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
    "DEFAULT_THROTTLE_CLASSES": ["lookups.web.throttling.ClientAddressThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("API_THROTTLE_RATE", "600/minute") or None,
    },
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
# Lookups from the HTML pages per client address (a batch counts once); empty turns it off.
# Defaults to the API's rate, counted separately from it.
PAGE_THROTTLE_RATE = env_str("PAGE_THROTTLE_RATE", env_str("API_THROTTLE_RATE", "600/minute")) or None
# Largest CSV file the batch page accepts, in bytes.
LOOKUP_BATCH_UPLOAD_MAX_BYTES = env_int("LOOKUP_BATCH_UPLOAD_MAX_BYTES", 1024 * 1024)

# --- GeoIP updates (manage.py update_maxmind) ------------------------------------------------------

# Downloads from MaxMind when both are set, else DB-IP Lite (no account).
MAXMIND_ACCOUNT_ID = env_str("MAXMIND_ACCOUNT_ID")
MAXMIND_LICENSE_KEY = env_str("MAXMIND_LICENSE_KEY")  # secret: never logged or shown
MAXMIND_DOWNLOAD_URL = env_str("MAXMIND_DOWNLOAD_URL", "https://download.maxmind.com")
# One City edition (GeoLite2-City, GeoIP2-City) and optionally one ASN edition (GeoLite2-ASN, GeoIP2-ISP).
MAXMIND_EDITIONS = env_list("MAXMIND_EDITIONS", "GeoLite2-City")
DBIP_DOWNLOAD_URL = env_str("DBIP_DOWNLOAD_URL", "https://download.db-ip.com/free")
