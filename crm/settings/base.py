"""Settings shared by every environment, read from environment variables only.

With no configuration at all the project runs on an embedded PostgreSQL with its data in
``var/pgdata`` (``crm.localdb``) and on kombu's filesystem broker under ``var/broker``, with a
development secret key generated once into ``var/``. Production settings (``crm.settings.production``) refuse to start without secrets.
"""

import os
import secrets
from pathlib import Path
from urllib.parse import unquote

import environ
import pghistory
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from crm.localdb import EmbeddedServer, var_dir_ensure
from crm.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("VAR_DIR", default=str(BASE_DIR / "var")))
var_dir_ensure(VAR_DIR)

env = environ.Env()
env_file = BASE_DIR / ".env"
if env_file.exists():
    environ.Env.read_env(env_file)

DEBUG = env.bool("DEBUG", default=True)


def _development_secret_key() -> str:
    """A key generated once per checkout, so sessions survive restarts without any setup."""
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        # Written whole under another name, then linked into place: processes started together
        # (web, worker, beat) on a new checkout all read the one key that was linked first.
        draft = key_file.with_name(f"secret_key.{os.getpid()}")
        draft.write_text(secrets.token_urlsafe(50))
        draft.chmod(0o600)
        try:
            os.link(draft, key_file)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return key_file.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or _development_secret_key()
# Earlier signing keys, still accepted after a rotation: sessions and links signed with them stay
# valid, and secrets stored encrypted (mailbox passwords) still decrypt; re-saved, they are
# encrypted with the new key.
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
# Stored secrets (mailbox passwords and tokens) are encrypted with Fernet under a key derived from
# SECRET_KEY and this salt (django-fernet-encrypted-fields). A list rotates: the first salt
# encrypts, every one decrypts.
SALT_KEY = env.list("FIELD_ENCRYPTION_SALT", default=["crm-stored-secrets-v1"])
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Where users reach the site; links in emails (surveys, unsubscribe, reminders) start with it.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

# Support desk intake: the token the inbound-email webhook requires, and the IMAP mailbox the
# fetch task reads (both off while empty).
SUPPORT_INBOUND_TOKEN = env.str("SUPPORT_INBOUND_TOKEN", default="")
SUPPORT_IMAP_HOST = env.str("SUPPORT_IMAP_HOST", default="")
SUPPORT_IMAP_PORT = env.int("SUPPORT_IMAP_PORT", default=993)
SUPPORT_IMAP_USER = env.str("SUPPORT_IMAP_USER", default="")
SUPPORT_IMAP_PASSWORD = env.str("SUPPORT_IMAP_PASSWORD", default="")
SUPPORT_IMAP_FOLDER = env.str("SUPPORT_IMAP_FOLDER", default="INBOX")

# The public help centre's limits per visitor address: searches a minute, suggestions the ticket
# form asks a minute while the visitor types, and "Was this helpful?" answers an hour.
HELP_SEARCH_RATE_PER_MINUTE = env.int("HELP_SEARCH_RATE_PER_MINUTE", default=30)
HELP_SUGGEST_RATE_PER_MINUTE = env.int("HELP_SUGGEST_RATE_PER_MINUTE", default=40)
HELP_VOTE_RATE_PER_HOUR = env.int("HELP_VOTE_RATE_PER_HOUR", default=30)
# Email imported onto records (README, "Email on records"): domains whose mail is never imported
# (internal partners, personal mail providers), the company's own domains (never a customer), the
# largest message imported, and the logging address users BCC or forward mail to (plus-addressed
# per user) with the IMAP mailbox it arrives in and the token its inbound webhook requires.
MAIL_EXCLUDED_DOMAINS = [d.strip().lower() for d in env.list("MAIL_EXCLUDED_DOMAINS", default=[])]
MAIL_OWN_DOMAINS = [d.strip().lower() for d in env.list("MAIL_OWN_DOMAINS", default=[])]
MAIL_IMPORT_MAX_BYTES = env.int("MAIL_IMPORT_MAX_BYTES", default=25 * 1024 * 1024)
MAIL_LOGGING_ADDRESS = env.str("MAIL_LOGGING_ADDRESS", default="")
MAIL_LOGGING_IMAP_URL = env.str("MAIL_LOGGING_IMAP_URL", default="")
MAIL_LOGGING_INBOUND_TOKEN = env.str("MAIL_LOGGING_INBOUND_TOKEN", default="")

# Token the email provider's bounce webhook sends; empty refuses every call.
EMAIL_WEBHOOK_TOKEN = env.str("EMAIL_WEBHOOK_TOKEN", default="")
# Days of silence before a working lead gets a follow-up task.
LEAD_FOLLOW_UP_DAYS = env.int("LEAD_FOLLOW_UP_DAYS", default=5)
# Days before a subscription's renewal date that its renewal deal opens.
RENEWAL_LEAD_DAYS = env.int("RENEWAL_LEAD_DAYS", default=90)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "django_filters",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_celery_beat",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "csp",
    # Field history (README, "Field history"): triggers, and the event models' base.
    "pgtrigger",
    "pghistory",
    "crm",
    "leads",
    "sales",
    "support",
    "retention",
    "analytics",
]

MIDDLEWARE = [
    # First: the request id is on every log line of the request, and the timing covers it all.
    "crm.requestid.RequestIdMiddleware",
    "crm.metrics.MetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Before WhiteNoise, so static files carry these headers too.
    "crm.security.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything that renders a page, which reads the request's nonce.
    "crm.security.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    # Django's, reading the user with their roles in one query (crm.auth.backends).
    "crm.auth.backends.AuthenticationMiddleware",
    # After a write, this browser's lagging reads stay on the primary a moment (crm.replica).
    "crm.replica.ReadYourWritesMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Who changed what through which page, for field history (crm.history).
    "crm.history.HistoryMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "crm.auth.middleware.SessionLifetimeMiddleware",
    "crm.auth.middleware.MfaRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Security headers (README, "Security headers"). Scripts and styles come only from our own static
# files (and a <script>/<style> carrying the page's nonce): no inline handlers, no style="...",
# no eval, so injected markup cannot run or restyle anything. Everything else is same-origin,
# except images (Bootstrap draws its icons as data: SVGs).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}
# Sites allowed to show the public web-to-lead form in an iframe (any, by default: customers
# embed it on their own pages); every other page refuses to be framed.
WEB_FORM_FRAME_ANCESTORS = env.list("WEB_FORM_FRAME_ANCESTORS", default=["*"])
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
CROSS_ORIGIN_RESOURCE_POLICY = "same-origin"

ROOT_URLCONF = "crm.urls"
WSGI_APPLICATION = "crm.wsgi.application"

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
                "crm.context_processors.navigation",
            ],
            # {% url %} and {% static %} remembering what they resolved, and the date filter
            # writing the numeric formats directly, in every template with no {% load %}
            # (crm.templatetags.remembered, crm.templatetags.dates).
            "builtins": ["crm.templatetags.remembered", "crm.templatetags.dates"],
        },
    },
]

# PostgreSQL only: the server in DATABASE_URL, or with none the embedded server of this checkout
# (crm.localdb: data in var/pgdata, a Unix socket, started by the first process that connects).
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
    # A Unix socket folder as the host, percent-encoded as libpq's URLs have it
    # (postgres://%2Fvar%2Frun%2Fpostgresql/crm); django-environ leaves it encoded.
    DATABASES["default"]["HOST"] = unquote(DATABASES["default"]["HOST"])
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured(
            "DATABASE_URL must name a PostgreSQL database (postgres://user:password@host:5432/"
            "name); unset it to use the embedded PostgreSQL under var/."
        )
else:
    DATABASES = {
        "default": EmbeddedServer(
            VAR_DIR, port=env.int("EMBEDDED_POSTGRES_PORT", default=0) or None
        ).settings()
    }
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
# PostgreSQL's JIT compiles the dashboards' GROUP BYs over large tables at a cost (~300 ms
# measured) above what running them takes; no query of this application gains from it.
DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off"
# Prepared statements for the queries of record pages, the session and the user (crm.prepared):
# bound on the server and prepared the second time a connection runs them, so PostgreSQL plans
# them once per connection rather than on every request. Every other query is bound on the
# client, as Django does by default. Off behind PgBouncer in transaction mode (below) or with
# PREPARED_STATEMENTS=false.
if env.bool("PREPARED_STATEMENTS", default=True):
    # Django's server-side binding (crm.prepared's cursor then merges what it does not prepare)
    DATABASES["default"]["OPTIONS"]["server_side_binding"] = True
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = 2
# Behind PgBouncer in transaction mode (DATABASE_POOL_MODE=transaction; README, "Connection
# pooling") a session is not ours between transactions: no server-side cursors (Django's
# iterator() holds them across transactions outside atomic blocks), no prepared statements, and
# no startup options (PgBouncer refuses them: set jit off with ALTER DATABASE ... SET jit = off).
DATABASE_POOL_MODE = env.str("DATABASE_POOL_MODE", default="session").lower()
if DATABASE_POOL_MODE not in ("session", "transaction"):
    raise ImproperlyConfigured("DATABASE_POOL_MODE must be session or transaction.")
if DATABASE_POOL_MODE == "transaction":
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    DATABASES["default"]["OPTIONS"].pop("options", None)
    DATABASES["default"]["OPTIONS"].pop("server_side_binding", None)
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = None
# A streaming replica for reads that may lag (dashboards, segment counts, search, exports;
# crm.replica): same options as the primary, never migrated, a mirror of it in tests.
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = {
        **env.db("DATABASE_REPLICA_URL"),
        "ATOMIC_REQUESTS": False,
        "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"],
        "OPTIONS": dict(DATABASES["default"]["OPTIONS"]),
        "TEST": {"MIRROR": "default"},
    }
    if DATABASE_POOL_MODE == "transaction":
        DATABASES["replica"]["DISABLE_SERVER_SIDE_CURSORS"] = True
    DATABASES["replica"]["HOST"] = unquote(DATABASES["replica"]["HOST"])
    DATABASE_ROUTERS = ["crm.replica.ReplicaRouter"]
#: Seconds a browser's lagging reads stay on the primary after it wrote (read-your-writes).
REPLICA_READ_YOUR_WRITES_SECONDS = env.int("REPLICA_READ_YOUR_WRITES_SECONDS", default=10)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "crm.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTHENTICATION_BACKENDS = [
    # Username or email with a password, with allauth's rate limits and second step; the
    # signed-in user read with their roles in one query.
    "crm.auth.backends.AuthenticationBackend",
]

# Accounts (django-allauth): sign in by username or email; accounts are made by admins, so no
# sign-up and no address verification. Every email allauth sends goes through the outbox
# (crm.auth.adapter.AccountAdapter); links in them start with SITE_URL, never the request's Host.
ACCOUNT_ADAPTER = "crm.auth.adapter.AccountAdapter"
ACCOUNT_FORMS = {"login": "crm.auth.forms.LoginForm"}
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email*", "password1*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = False
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[CRM] "
ACCOUNT_LOGOUT_REDIRECT_URL = "login"
# Tell users by email when their password or second factor changes.
ACCOUNT_EMAIL_NOTIFICATIONS = True
MFA_ADAPTER = "crm.auth.adapter.MfaAdapter"
# The session ends when the browser closes, and in any case after SESSION_IDLE_SECONDS without
# a request or SESSION_MAX_AGE_SECONDS after sign-in (crm.auth.middleware).
ACCOUNT_SESSION_REMEMBER = False
# Lockout: LOGIN_FAILURE_LIMIT wrong passwords for one account (by username or email alike), or
# LOGIN_FAILURE_LIMIT_PER_ADDRESS from one address, within LOGIN_LOCKOUT_SECONDS refuse further
# attempts until the window has passed. Counted in the shared cache, so it holds across processes.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_FAILURE_LIMIT_PER_ADDRESS = env.int("LOGIN_FAILURE_LIMIT_PER_ADDRESS", default=20)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=15 * 60)
# Sign-in attempts from one address in a minute, good or bad. allauth's own default (30) turned
# away a team of 50 behind one office address signing in at the start of the day (measured with
# bin/load-test); wrong passwords stay limited by the lockout above.
LOGIN_RATE_PER_ADDRESS = env.int("LOGIN_RATE_PER_ADDRESS", default=300)
ACCOUNT_RATE_LIMITS = {
    "login": f"{LOGIN_RATE_PER_ADDRESS}/m/ip",
    "login_failed": (
        f"{LOGIN_FAILURE_LIMIT_PER_ADDRESS}/{LOGIN_LOCKOUT_SECONDS}s/ip,"
        f"{LOGIN_FAILURE_LIMIT}/{LOGIN_LOCKOUT_SECONDS}s/key"
    ),
}
# Proxies in front of the app that append to X-Forwarded-For (0: use the connection's address).
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Second factor: TOTP apps with recovery codes. Users holding a role in MFA_REQUIRED_ROLES must
# set up TOTP before they can open any page (crm.auth.middleware.MfaRequiredMiddleware).
# Security keys and passkeys (WebAuthn) as a second factor too, unless MFA_WEBAUTHN is off.
# Browsers allow them only on https or at http://localhost (not at an IP address); the
# relying party is SITE_URL's host name, so SITE_URL must be the address users type.
MFA_WEBAUTHN = env.bool("MFA_WEBAUTHN", default=True)
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"] + (["webauthn"] if MFA_WEBAUTHN else [])
MFA_TOTP_ISSUER = env.str("MFA_TOTP_ISSUER", default="CRM")
MFA_REQUIRED_ROLES = env.list("MFA_REQUIRED_ROLES", default=[])

# How long the security audit trail (crm.models.AuditEvent) and the sign-in history are kept,
# in days; a daily job deletes older rows.
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", default=730)
# Days a deleted record stays in the trash, restorable, before the daily purge removes it.
TRASH_RETENTION_DAYS = env.int("TRASH_RETENTION_DAYS", default=30)
SIGNIN_HISTORY_DAYS = env.int("SIGNIN_HISTORY_DAYS", default=365)


def _months(name: str, default: int = 0) -> int:
    """A retention period in months: empty or 0 turns its rule off."""
    value = env.str(name, default=str(default or "")).strip()
    if not value:
        return 0
    try:
        months = int(value)
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} must be a whole number of months, not {value!r}."
        ) from None
    if months < 0:
        raise ImproperlyConfigured(f"{name} must be 0 (off) or a number of months.")
    return months


# Retention rules (crm/retention.py, run daily by beat): leads never converted and untouched
# for this many months are deleted; closed tickets lose their message bodies and attachments
# this many months after closing. 0 or empty: the rule is off (the default).
RETENTION_UNCONVERTED_LEADS_MONTHS = _months("RETENTION_UNCONVERTED_LEADS_MONTHS")
RETENTION_CLOSED_TICKET_BODIES_MONTHS = _months("RETENTION_CLOSED_TICKET_BODIES_MONTHS")
# Searches of the knowledge base (help centre, ticket form, agents) are deleted this many months
# after they were made.
RETENTION_HELP_SEARCHES_MONTHS = _months("RETENTION_HELP_SEARCHES_MONTHS")
# Finished automation runs (the rules' run log, with their steps) are deleted this many months
# after they finished; on by default, as the log of a busy rule would grow without end.
RETENTION_AUTOMATION_RUNS_MONTHS = _months("RETENTION_AUTOMATION_RUNS_MONTHS", default=12)

# Sessions live in the database (so a user's sessions can be found and ended: allauth's
# usersessions index them per user). Idle timeout and absolute lifetime, in seconds.
SESSION_ENGINE = "crm.auth.sessions"
SESSION_IDLE_SECONDS = env.int("SESSION_IDLE_SECONDS", default=2 * 60 * 60)
SESSION_MAX_AGE_SECONDS = env.int("SESSION_MAX_AGE_SECONDS", default=12 * 60 * 60)
SESSION_COOKIE_AGE = SESSION_MAX_AGE_SECONDS

# The cache holds sign-in rate limits and lockouts, so every process must see the same one:
# Redis when REDIS_URL is set, otherwise a table in the database (made by crm's migrations).
if env.str("REDIS_URL", default=""):
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": env.str("REDIS_URL"),
            "KEY_PREFIX": "crm",
            # A Redis that does not answer fails a sign-in or /readyz in seconds, never hangs it.
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 5},
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "crm_cache",
        }
    }
# The home page's per-user figures (crm.views.home.HOME_FIGURES_SECONDS): in each process's
# memory, bounded; with HOME_FIGURES_SHARED (on with Redis) also in the shared cache, so the web
# processes of every host compute a user's figures once a minute between them, not each.
HOME_FIGURES_SHARED = env.bool(
    "HOME_FIGURES_SHARED", default=bool(env.str("REDIS_URL", default=""))
)
CACHES["home"] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "home-figures",
    "OPTIONS": {"MAX_ENTRIES": 5000},
}
# A list's sampled quality summary (QUALITY_SUMMARY_CACHE_SECONDS) and estimated count
# (ESTIMATED_COUNT_CACHE_SECONDS), kept by each process for itself: reading them back from a
# shared cache cost the page a round trip.
CACHES["local"] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "local-figures",
    "OPTIONS": {"MAX_ENTRIES": 5000},
}
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
DEFAULT_CURRENCY = env.str("DEFAULT_CURRENCY", default="EUR")
# Totals over deals in several currencies are reported in this one (crm.currencies.convert).
COMPANY_CURRENCY = env.str("COMPANY_CURRENCY", default=DEFAULT_CURRENCY).strip().upper()
PHONE_DEFAULT_REGION = env.str("PHONE_DEFAULT_REGION", default="US")
# Duplicate matching (crm.matching): a pair's score at or above MATCH_SAME_SCORE is the same
# person (refused or skipped by the import's policy), at or above MATCH_LIKELY_SCORE likely (kept
# and flagged for review); a single weak signal never reaches "same" whatever the thresholds.
MATCH_SAME_SCORE = env.float("MATCH_SAME_SCORE", default=0.70)
MATCH_LIKELY_SCORE = env.float("MATCH_LIKELY_SCORE", default=0.35)
# Extra mail domains that deliver to one mailbox, as alias=domain pairs (e.g. a company's old
# domain after a rename: "oldname.example=newname.example").
MATCH_EMAIL_DOMAIN_ALIASES = env.dict("MATCH_EMAIL_DOMAIN_ALIASES", default={})

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_URL = "media/"
MEDIA_ROOT = VAR_DIR / "media"
# Stored files (attachments, import sources, email attachments) sit under MEDIA_ROOT on the
# local disk, or in an S3-compatible bucket when STORAGE_S3_BUCKET is set (README, "Stored
# files"), so that every web and worker host reads what another one wrote. The bucket stays
# private: nothing is public, and every download goes through a view that applies the role
# rules first; signed URLs (short-lived) are only what the storage API hands out.
STORAGE_S3_BUCKET = env.str("STORAGE_S3_BUCKET", default="")


def s3_storage_options(bucket: str) -> dict:
    """django-storages' S3 options from the STORAGE_S3_* variables."""
    return {
        "bucket_name": bucket,
        "endpoint_url": env.str("STORAGE_S3_ENDPOINT_URL", default="") or None,
        "access_key": env.str("STORAGE_S3_ACCESS_KEY_ID", default="") or None,
        "secret_key": env.str("STORAGE_S3_SECRET_ACCESS_KEY", default="") or None,
        "region_name": env.str("STORAGE_S3_REGION", default="") or None,
        "location": env.str("STORAGE_S3_PREFIX", default="").strip("/"),
        "default_acl": None,
        "querystring_auth": True,
        "querystring_expire": env.int("STORAGE_S3_URL_EXPIRY", default=300),
        "file_overwrite": False,
        # A file read larger than this spills from memory to a temporary file.
        "max_memory_size": 8 * 1024 * 1024,
        "object_parameters": {"CacheControl": "private, no-store"},
        # Path-style addressing (endpoint/bucket/key) works with MinIO and other self-hosted
        # servers, where bucket subdomains do not resolve.
        "addressing_style": "path" if env.str("STORAGE_S3_ENDPOINT_URL", default="") else None,
    }


STORAGES = {
    "default": (
        {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": s3_storage_options(STORAGE_S3_BUCKET),
        }
        if STORAGE_S3_BUCKET
        else {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    ),
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Field history (crm.history): event tables are written on every tracked change, so they carry
# only the indexes the History tab and the admins' view read (crm.history.track adds those), not
# one per foreign key.
PGHISTORY_FOREIGN_KEY_FIELD = pghistory.ForeignKey(db_index=False)
PGHISTORY_CONTEXT_FIELD = pghistory.ContextForeignKey(db_index=False)

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Email: every message goes through the outbox table; this backend only delivers it.
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="CRM <crm@localhost>")
EMAIL_TIMEOUT = 30

# Durable work (crm/work.py): a worker's claim on a row runs out after WORK_LEASE_SECONDS unless
# renewed (longer than one email hand-off, EMAIL_TIMEOUT, or one import chunk), and the sweep
# that wakes workers for due rows and expired leases runs every WORK_SWEEP_SECONDS. Work lost to a
# killed worker or a flushed broker resumes within about one lease plus one sweep period.
WORK_LEASE_SECONDS = env.int("WORK_LEASE_SECONDS", default=120)
WORK_SWEEP_SECONDS = env.int("WORK_SWEEP_SECONDS", default=60)
# Automation rules (README, "Automations"): saves are looked at after each commit; the sweep also
# evaluates every active rule over all its records this often, for writes that save no model one
# by one (bulk inserts, set-based recomputes) and for the time triggers.
AUTOMATION_EVALUATION_SECONDS = env.int("AUTOMATION_EVALUATION_SECONDS", default=300)

# Connected mailboxes (README, "Your mailbox"). The sync reads each mailbox every
# MAIL_SYNC_SECONDS; a mailbox's first sync reads the last MAIL_SYNC_DAYS days. Every connection
# to a mail server waits at most MAIL_TIMEOUT_SECONDS per step. MAIL_TLS_CA_FILE adds a CA (a
# PEM file) to the trusted ones, for a mail server with an in-house certificate. A mailbox may
# name a private or loopback mail server only with MAIL_ALLOW_PRIVATE_HOSTS (otherwise users
# could make the server connect inward, to the database or the cache).
MAIL_SYNC_SECONDS = env.int("MAIL_SYNC_SECONDS", default=120)
MAIL_SYNC_DAYS = env.int("MAIL_SYNC_DAYS", default=30)
MAIL_TIMEOUT_SECONDS = env.float("MAIL_TIMEOUT_SECONDS", default=20.0)
MAIL_TLS_CA_FILE = env.str("MAIL_TLS_CA_FILE", default="")
MAIL_ALLOW_PRIVATE_HOSTS = env.bool("MAIL_ALLOW_PRIVATE_HOSTS", default=DEBUG)
# OAuth2 sign-in to Google and Microsoft 365 mailboxes: each provider is offered once its
# client id and secret are set (README, "Your mailbox", for registering the app).
MAIL_OAUTH_GOOGLE_CLIENT_ID = env.str("MAIL_OAUTH_GOOGLE_CLIENT_ID", default="")
MAIL_OAUTH_GOOGLE_CLIENT_SECRET = env.str("MAIL_OAUTH_GOOGLE_CLIENT_SECRET", default="")
MAIL_OAUTH_MICROSOFT_CLIENT_ID = env.str("MAIL_OAUTH_MICROSOFT_CLIENT_ID", default="")
MAIL_OAUTH_MICROSOFT_CLIENT_SECRET = env.str("MAIL_OAUTH_MICROSOFT_CLIENT_SECRET", default="")
MAIL_OAUTH_MICROSOFT_TENANT = env.str("MAIL_OAUTH_MICROSOFT_TENANT", default="common")

# Outbound webhooks (README, "Webhooks"). Each attempt waits at most WEBHOOK_TIMEOUT_SECONDS to
# connect and for each read, and reads at most WEBHOOK_RESPONSE_MAX_BYTES of the answer; redirects
# are never followed. A failed attempt is tried again after the next delay of
# WEBHOOK_RETRY_SCHEDULE (seconds, each with +/-20% jitter); after the last one the delivery
# fails. WEBHOOK_DISABLE_AFTER failed attempts in a row, over at least
# WEBHOOK_DISABLE_FAILING_HOURS, disable the endpoint and tell the admins by email.
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
WEBHOOK_RESPONSE_MAX_BYTES = env.int("WEBHOOK_RESPONSE_MAX_BYTES", default=4096)
WEBHOOK_RETRY_SCHEDULE = [
    float(s)
    for s in env.list("WEBHOOK_RETRY_SCHEDULE", default=[5, 300, 1800, 7200, 18000, 36000, 36000])
]
WEBHOOK_DISABLE_AFTER = env.int("WEBHOOK_DISABLE_AFTER", default=20)
WEBHOOK_DISABLE_FAILING_HOURS = env.float("WEBHOOK_DISABLE_FAILING_HOURS", default=72.0)
# After a rotation the previous secret still signs (a second signature) for this long, so
# receivers can switch without losing events.
WEBHOOK_SECRET_ROTATION_HOURS = env.float("WEBHOOK_SECRET_ROTATION_HOURS", default=24.0)
# Server-side request forgery: webhook URLs that resolve to private, loopback, link-local,
# multicast, reserved or unspecified addresses are refused, on save and at each send.
# WEBHOOK_ALLOW_PRIVATE_TARGETS=true allows private and loopback addresses (receivers on your
# own network); link-local (cloud metadata), multicast, reserved and unspecified stay refused.
WEBHOOK_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=False)
# Plain http:// webhook URLs: allowed in development, refused in production unless set.
WEBHOOK_ALLOW_HTTP = env.bool("WEBHOOK_ALLOW_HTTP", default=DEBUG)

# Celery: Redis when REDIS_URL is set, otherwise kombu's filesystem broker under var/.
REDIS_URL = env.str("REDIS_URL", default="")
BROKER_DIR = VAR_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # Fail fast when Redis is down, so a request that queues work is never held up by it.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600, "socket_connect_timeout": 2}
    CELERY_BROKER_CONNECTION_TIMEOUT = 2
    CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
else:
    for sub in ("in", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "in"),
        "data_folder_out": str(BROKER_DIR / "in"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
        "control_folder": str(BROKER_DIR / "control"),
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULER = "crm.beat:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

# Every periodic automation is declared here, with why it runs at that cadence. Beat copies
# these into django-celery-beat's tables on start, where admins can edit or pause them.
CELERY_BEAT_SCHEDULE = {
    "work-sweep": {
        # Wakes workers for durable rows that are due or whose lease ran out (crm/work.py).
        "task": "crm.tasks.work_sweep",
        "schedule": float(WORK_SWEEP_SECONDS),
    },
    "webhooks-deliver": {
        # Deliveries are woken on commit and by the sweep; a minute's pass also sends retries
        # that came due while no message was queued for them.
        "task": "crm.tasks.webhooks_deliver",
        "schedule": 60.0,
    },
    "outbox-send": {
        # Messages are queued by user actions and automations; a minute is the promised latency.
        "task": "crm.tasks.outbox_send_queued",
        "schedule": 60.0,
    },
    "task-reminders": {
        # "Due within the hour" needs a check a few times an hour to be timely.
        "task": "crm.tasks.task_reminders_run",
        "schedule": 5 * 60.0,
    },
    "notification-digests": {
        # Hourly digests are due on the hour and daily ones at a set hour: every five minutes
        # sends each within minutes of its time; a run with none due is one indexed query.
        "task": "crm.tasks.notification_digests_send",
        "schedule": 5 * 60.0,
    },
    "segment-snapshots": {
        # Size history is one point a day; a rerun the same day overwrites that day's point.
        "task": "crm.tasks.segment_snapshots_take",
        "schedule": 24 * 60 * 60.0,
    },
    "security-history-prune": {
        # Retention is counted in days (AUDIT_RETENTION_DAYS, SIGNIN_HISTORY_DAYS): a daily
        # pass keeps both within a day of their limit, in small batches.
        "task": "crm.tasks.security_history_prune",
        "schedule": 24 * 60 * 60.0,
    },
    "trash-purge": {
        # Retention is counted in days (TRASH_RETENTION_DAYS): a daily pass removes entries
        # within a day of their limit; a rerun, or two at once, finds nothing more to remove.
        "task": "crm.tasks.trash_purge",
        "schedule": 24 * 60 * 60.0,
    },
    "quality-refresh": {
        # Freshness is counted in days (bands at 90, 180 and 365): a daily pass rescores the
        # records that crossed a band, in batches; a rerun the same day finds none.
        "task": "crm.tasks.quality_refresh",
        "schedule": 24 * 60 * 60.0,
    },
    "retention-rules": {
        # Retention periods are counted in months: a daily pass keeps every rule within a day
        # of its limit, in small batches; a rule whose setting is 0 does nothing.
        "task": "crm.tasks.retention_rules_run",
        "schedule": 24 * 60 * 60.0,
    },
    "mailboxes-sync": {
        # A reply should reach the deal's timeline within a couple of minutes; each run only
        # wakes the mailboxes that are due, and a mailbox with no new mail costs one SEARCH.
        "task": "crm.tasks.mailboxes_sync",
        "schedule": float(MAIL_SYNC_SECONDS),
    },
    # leads
    "leads-sequences-run-due": {
        # Nurture steps are due by the day; five minutes keeps a reply's stop and an
        # unsubscribe ahead of the next send without busy polling.
        "task": "leads.tasks.sequences_run_due",
        "schedule": 5 * 60.0,
    },
    "leads-sequence-winners-pick": {
        # A step's test runs for a number of hours: checking every 15 minutes switches to the
        # winner soon after, without polling the steps table every minute.
        "task": "leads.tasks.sequence_winners_pick",
        "schedule": 15 * 60.0,
    },
    "leads-email-campaigns-run": {
        # rate_per_minute holds in every sliding minute (a run fills only what the last minute
        # left); ticking four times a minute keeps the pace near the rate whatever the jitter.
        "task": "leads.tasks.email_campaigns_run",
        "schedule": 15.0,
    },
    "leads-email-campaigns-outcomes": {
        # Replies and won deals arrive over days and are read per variant, not per minute: an
        # hourly pass keeps the A/B table current at the cost of a few set-based UPDATEs.
        "task": "leads.tasks.email_campaigns_outcomes",
        "schedule": 60 * 60.0,
    },
    "leads-campaign-credits-refresh": {
        # Campaign ROI is a marketing figure read by the day; recomputing every credit takes a
        # few seconds at a million contacts, so hourly keeps it fresh without loading the database.
        "task": "leads.tasks.campaign_credits_refresh",
        "schedule": 60 * 60.0,
    },
    "leads-nightly": {
        # Follow-ups count days of silence, score decay is by the day and the model needs the
        # day's outcomes: once a day is enough for all three.
        "task": "leads.tasks.leads_nightly",
        "schedule": 24 * 60 * 60.0,
    },
    # sales
    "sales-onboarding-reconcile": {
        # Catches onboarding tasks ticked off on the task list (finishing plans) and won deals
        # whose enqueue was lost; users see either within ten minutes, and a run is cheap.
        "task": "sales.tasks.onboarding_reconcile",
        "schedule": 10 * 60.0,
    },
    # support
    "mail-logging-poll": {
        # Mail BCC'd to a logging address should be on the record by the time the user looks;
        # the task returns at once when no logging mailbox is configured.
        "task": "crm.tasks.mail_logging_poll",
        "schedule": 120.0,
    },
    "support-imap-fetch": {
        # Customers expect an emailed request to show up within a couple of minutes; the task
        # returns at once when no mailbox is configured.
        "task": "support.tasks.imap_fetch",
        "schedule": 120.0,
    },
    "support-sla-watch": {
        # SLA targets are in minutes; a minute's cadence keeps warnings and escalations timely.
        "task": "support.tasks.sla_watch",
        "schedule": 60.0,
    },
    # retention
    "retention-nightly": {
        # Renewal dates, reminders (90/60/30 days) and health scores move by the day: once a
        # day is enough, and each step it enqueues is idempotent, so an extra run acts zero times.
        "task": "retention.tasks.nightly",
        "schedule": 24 * 60 * 60.0,
    },
    # analytics
    "analytics-daily-snapshots": {
        # The "over time" charts have one point a day; a rerun the same day replaces that day.
        "task": "analytics.tasks.daily_snapshots",
        "schedule": 24 * 60 * 60.0,
    },
    "analytics-rollups-refresh": {
        # The dashboards read per-day rollups; a quarter of an hour keeps them close to live
        # while each run rewrites only today, yesterday and the days of records changed since.
        "task": "analytics.tasks.rollups_refresh",
        "schedule": 15 * 60.0,
    },
    "analytics-rollups-rebuild": {
        # Daily, a full rewrite catches what the refresh cannot see (deleted records, bulk
        # updates, teams changing hands); it takes minutes at a million records.
        "task": "analytics.tasks.rollups_rebuild",
        "schedule": 24 * 60 * 60.0,
    },
    "analytics-clv-refit": {
        # Orders change daily and a fit takes minutes at scale: nightly keeps CLV a day fresh;
        # the dashboard's button refits sooner, and only one fit runs at a time.
        "task": "analytics.tasks.clv_refit",
        "schedule": 24 * 60 * 60.0,
    },
}

# CSV uploads (lead, order and usage imports), checked before anything is kept (crm/uploads.py):
# the largest file, rows, header columns and line length accepted.
CSV_UPLOAD_MAX_BYTES = env.int("CSV_UPLOAD_MAX_BYTES", default=100 * 1024 * 1024)
CSV_UPLOAD_MAX_ROWS = env.int("CSV_UPLOAD_MAX_ROWS", default=1_000_000)
CSV_UPLOAD_MAX_COLUMNS = env.int("CSV_UPLOAD_MAX_COLUMNS", default=200)
CSV_UPLOAD_MAX_LINE_BYTES = env.int("CSV_UPLOAD_MAX_LINE_BYTES", default=64 * 1024)
# XLSX uploads (record imports): the file itself, and what its parts may unpack to (a small
# file can unpack to gigabytes). Rows and columns are capped by the CSV limits above.
XLSX_UPLOAD_MAX_BYTES = env.int("XLSX_UPLOAD_MAX_BYTES", default=20 * 1024 * 1024)
XLSX_UPLOAD_MAX_UNPACKED_BYTES = env.int(
    "XLSX_UPLOAD_MAX_UNPACKED_BYTES", default=200 * 1024 * 1024
)
# Rows of an uploaded record file the dry run checks before the import starts.
IMPORT_DRY_RUN_ROWS = env.int("IMPORT_DRY_RUN_ROWS", default=100)
# Ticket attachments (replies, notes, the public form, inbound email): the largest file and how
# many a message keeps; each is typed by its first bytes (support/services/attachments.py).
SUPPORT_ATTACHMENT_MAX_BYTES = env.int("SUPPORT_ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
SUPPORT_ATTACHMENT_MAX_FILES = env.int("SUPPORT_ATTACHMENT_MAX_FILES", default=5)
# Emails written from a record (README, "Writing email from a record"): the largest attached
# file and how many one email carries (typed by their first bytes, crm/services/compose.py),
# and whether opens and clicks are counted for recipients whose consent allows it.
COMPOSE_ATTACHMENT_MAX_BYTES = env.int("COMPOSE_ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
COMPOSE_ATTACHMENT_MAX_FILES = env.int("COMPOSE_ATTACHMENT_MAX_FILES", default=5)
MAIL_TRACKING = env.bool("MAIL_TRACKING", default=True)

# REST API (README, "API"): personal access tokens (crm.api.authentication) or the browser's
# session (with its CSRF check, for the docs page), JSON in and out, cursor pages, and one
# request budget per token (or signed-in user) counted in the shared cache.
API_THROTTLE_RATE = env.str("API_THROTTLE_RATE", default="600/min")
API_PAGE_SIZE = env.int("API_PAGE_SIZE", default=50)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "crm.api.authentication.TokenAuthentication",
        "crm.api.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "crm.api.permissions.TokenScope",
        "crm.api.permissions.HoldsRole",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["crm.api.throttling.TokenRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "crm.api.pagination.IdCursorPagination",
    "DEFAULT_FILTER_BACKENDS": ["crm.api.filters.FilterSetBackend"],
    "DEFAULT_SCHEMA_CLASS": "crm.api.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "crm.api.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "PAGE_SIZE": API_PAGE_SIZE,
    "COERCE_DECIMAL_TO_STRING": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CRM API",
    "DESCRIPTION": (
        "The CRM's records over the same visibility, validation and history as its pages. "
        "Authenticate with `Authorization: Bearer <personal access token>` (create one on your "
        "settings page, /me/)."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "ActivityKindEnum": "crm.choices.ActivityKind",
        "LoggedActivityKindEnum": "crm.api.resources.LOGGED_KINDS",
        "TicketMessageKindEnum": "support.choices.MessageKind",
        "LostReasonEnum": "sales.choices.LostReason",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "crm.api.schema.postprocess_security",
    ],
}

# Lists: rows a page, and from how many estimated rows the list stops counting exactly.
LIST_PAGE_SIZE = 50
EXACT_COUNT_LIMIT = env.int("EXACT_COUNT_LIMIT", default=10_000)
# A list's estimated count (above EXACT_COUNT_LIMIT) is kept this many seconds by each web process
# for the same rows: finding it cost a filtered list two queries. 0: find it on every page.
ESTIMATED_COUNT_CACHE_SECONDS = env.int("ESTIMATED_COUNT_CACHE_SECONDS", default=60)
# The quality summary above a list (average score, share below 50) reads at most this many of
# the list's rows: exact for shorter lists, a sample of longer ones (said so on the page).
# 5,000 rows put the average within about half a point; reading 20,000 of a rep's contacts
# cost a million-row list page 60 ms.
QUALITY_SUMMARY_ROWS = env.int("QUALITY_SUMMARY_ROWS", default=5_000)
# A sampled summary (of a list longer than QUALITY_SUMMARY_ROWS) is kept this many seconds in the
# cache for the same rows (the same filters and visibility): it cost a million-row list page more
# than the rest of its queries together. 0: read it on every page.
QUALITY_SUMMARY_CACHE_SECONDS = env.int("QUALITY_SUMMARY_CACHE_SECONDS", default=60)
# Each web process keeps what it reads of the catalog (custom fields, saved views, the people,
# campaigns, stages and queues of filter bars) until the catalog changes (crm.catalog). Off: read
# on every request.
CATALOG_CACHE = env.bool("CATALOG_CACHE", default=True)
# The queries a record page runs for each user are built and compiled once and kept with the
# catalog (crm.compiled). On, each run is also compared with the query built afresh and fails
# when they differ: the tests run with it; it doubles the work, so not in production.
COMPILED_QUERIES_CHECK = env.bool("COMPILED_QUERIES_CHECK", default=False)

# Logging (README, "Operations"): LOG_FORMAT=text (a terminal) or json (one object per line,
# with the request id, user and path); LOG_REQUESTS logs one line per request (on with json).
LOG_FORMAT = env.str("LOG_FORMAT", default="text").lower()
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOG_REQUESTS = env.bool("LOG_REQUESTS", default=LOG_FORMAT == "json")
try:
    LOGGING = logging_config(LOG_FORMAT, LOG_LEVEL)
except ValueError as error:
    raise ImproperlyConfigured(str(error)) from None
LOGGING["loggers"]["django.db.backends"] = {"level": "INFO"}

# Prometheus metrics at /metrics (README, "Operations"): off (404) unless METRICS_TOKEN (a bearer
# token the scraper sends) or METRICS_ALLOWED_IPS (client addresses, as REMOTE_ADDR sees them)
# is set. With several processes (gunicorn workers) set PROMETHEUS_MULTIPROC_DIR too.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=[])

# Liveness files for the compose healthchecks (crm.workers, ``manage.py worker_health``): a
# worker touches WORKER_HEARTBEAT_FILE every WORKER_HEARTBEAT_SECONDS, beat BEAT_HEARTBEAT_FILE.
WORKER_HEARTBEAT_FILE = env.str(
    "WORKER_HEARTBEAT_FILE", default=str(VAR_DIR / "heartbeat" / "worker")
)
BEAT_HEARTBEAT_FILE = env.str("BEAT_HEARTBEAT_FILE", default=str(VAR_DIR / "heartbeat" / "beat"))
WORKER_HEARTBEAT_SECONDS = env.int("WORKER_HEARTBEAT_SECONDS", default=15)

# Beat leadership (crm.beat): every beat takes or renews a lease row at each tick and only the
# holder sends due tasks; another beat takes over once the lease runs out (a stopping beat gives
# it up at once). So two beats are safe: one sends, the other stands by.
BEAT_LEASE_SECONDS = max(env.int("BEAT_LEASE_SECONDS", default=30), 3)
