"""Custos settings. Everything that varies between deployments comes from CUSTOS_* variables
(see config/env.py and the README); the defaults are the embedded mode that `make run` serves."""
from __future__ import annotations

import dj_database_url

from .env import BASE_DIR, env_bool, env_duration, env_int, env_list, env_str, secret_key, var_dir

VAR_DIR = var_dir()
SECRET_KEY = secret_key()
DEBUG = env_bool("CUSTOS_DEBUG", False)
ALLOWED_HOSTS = env_list("CUSTOS_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CUSTOS_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "config.apps.ConsoleConfig",  # django.contrib.admin with the console's door (config/admin.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_otp",
    "django_prometheus",
    "custos",
    "audit",
    "keys",
    "accounts",
    "authz",
    "sessions_app",
    "federation",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "custos.middleware.RequestContextMiddleware",
    "custos.middleware.AdminStackMiddleware",
    "custos.prometheus.LeanPrometheusAfterMiddleware",
]

# The admin's session, auth and messages middlewares run inside custos.middleware's admin
# stack, for the admin only; the admin's check cannot see through it.
SILENCED_SYSTEM_CHECKS = ["admin.E408", "admin.E409", "admin.E410"]

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
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------
DATABASE_URL = env_str("CUSTOS_DATABASE_URL", f"sqlite:///{VAR_DIR / 'custos.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("CUSTOS_DB_CONN_MAX_AGE", 600))}
_engine = DATABASES["default"]["ENGINE"]
# Django's backends with django-prometheus' query and error metrics (custos/db).
DATABASES["default"]["ENGINE"] = {
    "django.db.backends.sqlite3": "custos.db.sqlite3",
    "django.db.backends.mysql": "custos.db.mysql",
}.get(_engine, _engine)
if "sqlite" in _engine:
    # Tests use a file, not the in-memory default: threads in the refresh race need real
    # SQLite locking (busy timeout), which shared-cache memory databases do not give.
    _suffix = env_str("CUSTOS_TEST_DB_SUFFIX", "default")
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{_suffix}.sqlite3")}
    # WAL lets readers run beside the one writer; the busy timeout makes concurrent writers
    # (several gunicorn workers, the refresh race) wait for the lock instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
elif "mysql" in _engine:
    DATABASES["default"]["OPTIONS"] = {
        "charset": "utf8mb4",
        "isolation_level": "read committed",
        "init_command": "SET sql_mode='STRICT_TRANS_TABLES'",
    }
    DATABASES["default"]["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
# A ping before each request's first query costs a round trip: off by default, like Django.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env_bool("CUSTOS_DB_HEALTH_CHECKS", False)
# A read replica for the reads that may lag (custos/replica.py, docs/scaling.md): the console's
# lists and the audit export. Same engine and options as the primary; tests mirror the primary.
_replica_url = env_str("CUSTOS_DATABASE_REPLICA_URL", "")
if _replica_url:
    DATABASES["replica"] = {**dj_database_url.parse(_replica_url, conn_max_age=env_int("CUSTOS_DB_CONN_MAX_AGE", 600)),
                            "ENGINE": DATABASES["default"]["ENGINE"],
                            "OPTIONS": dict(DATABASES["default"].get("OPTIONS", {})),
                            "CONN_HEALTH_CHECKS": DATABASES["default"]["CONN_HEALTH_CHECKS"],
                            "TEST": {"MIRROR": "default"}}
# How far behind the replica may be for the audit export to read it (seconds).
CUSTOS_REPLICA_MAX_LAG = env_int("CUSTOS_REPLICA_MAX_LAG", 30)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- cache ----------------------------------------------------------------------------------
REDIS_URL = env_str("CUSTOS_REDIS_URL", "")
# Redis Sentinel (docs/scaling.md): the URL's host is the master's service name
# (redis://custos-master/0) and these sentinels say where that master is now.
REDIS_SENTINELS = [(h.rsplit(":", 1)[0], int(h.rsplit(":", 1)[1])) for h in env_list("CUSTOS_REDIS_SENTINELS", [])]
REDIS_SENTINEL_PASSWORD = env_str("CUSTOS_REDIS_SENTINEL_PASSWORD", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CUSTOS_CACHE_PREFIX", "custos"),
            "OPTIONS": {"CLIENT_CLASS": "django_redis.client.DefaultClient"},
        }
    }
    if REDIS_SENTINELS:
        CACHES["default"]["OPTIONS"] = {
            "CLIENT_CLASS": "django_redis.client.SentinelClient", "SENTINELS": REDIS_SENTINELS,
            "SENTINEL_KWARGS": {"password": REDIS_SENTINEL_PASSWORD} if REDIS_SENTINEL_PASSWORD else {}}
        DJANGO_REDIS_CONNECTION_FACTORY = "django_redis.pool.SentinelConnectionFactory"
else:
    CACHES = {"default": {"BACKEND": "django_prometheus.cache.backends.locmem.LocMemCache", "LOCATION": "custos"}}

# --- celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CUSTOS_BROKER_URL", "memory://localhost/")
CELERY_TASK_ALWAYS_EAGER = env_bool("CUSTOS_CELERY_EAGER", not env_str("CUSTOS_BROKER_URL"))
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# One queue of Custos's own: a broker shared with other services never hands Custos their tasks,
# nor them Custos's. Workers listen on it (`celery -A config worker -Q $CUSTOS_CELERY_QUEUE`).
CELERY_TASK_DEFAULT_QUEUE = env_str("CUSTOS_CELERY_QUEUE", "custos")

# --- auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.CustosModelBackend", "authz.backends.CasbinAdminBackend"]
PASSWORD_HASHERS = [
    "accounts.hashers.PinnedArgon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
]
# OWASP's Argon2id minimum (m=19 MiB, t=2, p=1): ~20 ms per hash here instead of ~110 ms for
# Django's defaults. Changing these makes every login rehash the stored hash once.
CUSTOS_ARGON2 = {
    "TIME_COST": env_int("CUSTOS_ARGON2_TIME_COST", 2),
    "MEMORY_COST": env_int("CUSTOS_ARGON2_MEMORY_KIB", 19456),
    "PARALLELISM": env_int("CUSTOS_ARGON2_PARALLELISM", 1),
}
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
     "OPTIONS": {"user_attributes": ("username", "email", "phone")}},
    # NIST SP 800-63B-4: 15 characters when the password is the only factor, 8 with a second one
    {"NAME": "accounts.validators.MinimumLengthValidator",
     "OPTIONS": {"min_length": env_int("CUSTOS_PASSWORD_MIN_LENGTH", 8),
                 "min_length_single_factor": env_int("CUSTOS_PASSWORD_MIN_LENGTH_SINGLE_FACTOR", 15)}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    # zxcvbn's breach and word lists, patterns and context words (accounts/validators.py)
    {"NAME": "accounts.validators.GuessablePasswordValidator",
     "OPTIONS": {"min_guesses_log10": env_int("CUSTOS_PASSWORD_MIN_GUESSES_LOG10", 8),
                 "min_guesses_log10_single_factor": env_int("CUSTOS_PASSWORD_MIN_GUESSES_LOG10_SINGLE_FACTOR", 10),
                 "context_words": env_list("CUSTOS_PASSWORD_CONTEXT_WORDS", ["custos", "fly"])}},
    {"NAME": "accounts.validators.MaximumLengthValidator"},
    # optional k-anonymity range check (HIBP's API shape); off unless a URL is set, fails open
    {"NAME": "accounts.validators.BreachedPasswordValidator",
     "OPTIONS": {"url": env_str("CUSTOS_BREACHED_PASSWORD_URL", ""),
                 "timeout": env_int("CUSTOS_BREACHED_PASSWORD_TIMEOUT_MS", 1500) / 1000}},
]

# --- HTTP -----------------------------------------------------------------------------------
CUSTOS_MAX_BODY_BYTES = env_int("CUSTOS_MAX_BODY_BYTES", 64 * 1024)
# Endpoints whose contract needs a larger body, each sized from it (README, Configuration):
# check-batch takes 1,000 checks, at most ~512 bytes each with the longest subject, tenant,
# object (255) and action, hence 512 KiB.
CUSTOS_BODY_LIMITS = {"/v1/authz/check-batch": env_int("CUSTOS_MAX_BODY_BYTES_CHECK_BATCH", 512 * 1024)}
# Django's own cap on reading a body: the largest limit above (the middleware enforces each).
DATA_UPLOAD_MAX_MEMORY_SIZE = max(CUSTOS_MAX_BODY_BYTES, *CUSTOS_BODY_LIMITS.values())
CUSTOS_TRUSTED_PROXIES = env_list("CUSTOS_TRUSTED_PROXIES", [])
# Networks (CIDRs) whose clients may read /metrics; loopback only by default.
CUSTOS_METRICS_ALLOW = env_list("CUSTOS_METRICS_ALLOW", ["127.0.0.0/8", "::1/128"])
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Behind a TLS-terminating proxy: the header it sets to say the client spoke HTTPS, e.g.
# "X-Forwarded-Proto: https". Only set this when the proxy always sets (or strips) the header.
_proxy_ssl = env_str("CUSTOS_PROXY_SSL_HEADER", "")
if _proxy_ssl:
    _name, _, _value = _proxy_ssl.partition(":")
    if not _name.strip() or not _value.strip():
        raise RuntimeError("CUSTOS_PROXY_SSL_HEADER is 'Header-Name: value', e.g. 'X-Forwarded-Proto: https'")
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _name.strip().upper().replace("-", "_"), _value.strip())
# The console's session and CSRF cookies only over HTTPS (on in production; off for make run's http).
CUSTOS_SECURE_COOKIES = env_bool("CUSTOS_SECURE_COOKIES", False)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = CUSTOS_SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = CSRF_COOKIE_SAMESITE = "Lax"
# Strict-Transport-Security on HTTPS answers (custos.middleware); 0 sends none.
CUSTOS_HSTS_SECONDS = env_int("CUSTOS_HSTS_SECONDS", 0)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["sessions_app.authentication.AccessTokenAuthentication",
                                       "authz.authentication.ServiceKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["custos.permissions.IsUserPrincipal"],
    "DEFAULT_PARSER_CLASSES": ["custos.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "custos.exceptions.exception_handler",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "custos.negotiation.JsonOnlyNegotiation",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    # API.md's export takes ?format=ndjson|csv: not DRF's renderer override.
    "URL_FORMAT_OVERRIDE": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Custos API",
    "DESCRIPTION": "The user domain of the Fly platform. Contract: shared/API.md.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # error answers, the error envelope and the plain Django paths (JWKS, discovery, health)
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "custos.schema.postprocess"],
    "ENUM_NAME_OVERRIDES": {"UserStatusEnum": "accounts.models.User.Status",
                            "UserTypeEnum": "accounts.models.User.UserType",
                            "TenantStatusEnum": "accounts.models.Tenant.Status",
                            "AuditResultEnum": "audit.models.Result",
                            "LoginResultEnum": "accounts.api.serializers.LOGIN_RESULTS"},
}

# --- per-app settings (read through each app's conf.py) -------------------------------------
CUSTOS_DEFAULT_PHONE_REGION = env_str("CUSTOS_DEFAULT_PHONE_REGION", "") or None
CUSTOS_AUDIT = {
    # sinks the export task sends to, in order: any of rabbitmq, webhook, elasticsearch
    "SINKS": env_list("CUSTOS_AUDIT_SINKS", []),
    "AMQP_URL": env_str("CUSTOS_AUDIT_AMQP_URL", env_str("CUSTOS_BROKER_URL", "")),
    "AMQP_EXCHANGE": env_str("CUSTOS_AUDIT_AMQP_EXCHANGE", "custos.audit"),
    "WEBHOOK_URL": env_str("CUSTOS_AUDIT_WEBHOOK_URL", ""),
    "WEBHOOK_SECRET": env_str("CUSTOS_AUDIT_WEBHOOK_SECRET", ""),
    "ES_URL": env_str("CUSTOS_AUDIT_ES_URL", ""),
    "ES_INDEX": env_str("CUSTOS_AUDIT_ES_INDEX", "custos-audit"),
    "ES_API_KEY": env_str("CUSTOS_AUDIT_ES_API_KEY", ""),
    "BATCH": env_int("CUSTOS_AUDIT_EXPORT_BATCH", 500),
    "SETTLE_SECONDS": env_int("CUSTOS_AUDIT_SETTLE_SECONDS", 10),
    "RETENTION_DAYS": env_int("CUSTOS_AUDIT_RETENTION_DAYS", 365),
    "PURGE_BATCH": env_int("CUSTOS_AUDIT_PURGE_BATCH", 1000),
}
CELERY_BEAT_SCHEDULE = {
    "audit-export": {"task": "audit.tasks.export_all", "schedule": 10.0},
    "audit-purge": {"task": "audit.tasks.purge", "schedule": 3600.0},
    "accounts-purge-deleted-identifiers": {"task": "accounts.tasks.purge_deleted_identifiers",
                                           "schedule": 24 * 3600.0},
    "sessions-purge-expired": {"task": "sessions_app.tasks.purge_expired", "schedule": 3600.0},
    "accounts-purge-spent": {"task": "accounts.tasks.purge_spent", "schedule": 3600.0},
    "keys-prune": {"task": "keys.tasks.prune", "schedule": 3600.0},
    "keys-rotate-if-due": {"task": "keys.tasks.rotate_if_due", "schedule": 3600.0},
}
# Beat's intervals, per job: `audit-export=5s,keys-prune=10m` (make cluster's test runs them all
# within seconds). A name not in the schedule stops the process rather than being ignored.
for _job, _, _every in (part.partition("=") for part in env_list("CUSTOS_BEAT_EVERY", [])):
    _job, _every = _job.strip(), _every.strip().lower()
    _unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}.get(_every[-1:], 0)
    _number = _every[:-1] if _unit else _every
    if _job not in CELERY_BEAT_SCHEDULE or not _number.replace(".", "", 1).isdigit() or float(_number) <= 0:
        raise RuntimeError(f"CUSTOS_BEAT_EVERY is job=duration,... (jobs: {', '.join(CELERY_BEAT_SCHEDULE)}; "
                           f"durations like 5s, 10m, 1h), not {_job}={_every}")
    CELERY_BEAT_SCHEDULE[_job]["schedule"] = float(_number) * (_unit or 1)
CUSTOS_ISSUER = env_str("CUSTOS_ISSUER", "http://127.0.0.1:8000")
CUSTOS_AUTHZ = {
    # 403 denials are audited once per principal, permission and window, then at counts 10, 100...
    "DENIAL_WINDOW": env_int("CUSTOS_AUTHZ_DENIAL_WINDOW", 60),
}
CUSTOS_AUDIENCE = env_str("CUSTOS_AUDIENCE", "fly")
CUSTOS_KEYS = {
    "KEY_DIR": env_str("CUSTOS_KEY_DIR", str(VAR_DIR / "keys")),
    "ALGORITHM": env_str("CUSTOS_SIGNING_ALG", "ES256"),
    "PUBLISH_DELAY": env_int("CUSTOS_KEY_PUBLISH_DELAY", 600),
    "JWKS_MAX_AGE": env_int("CUSTOS_JWKS_MAX_AGE", 300),
    "KEYRING_REFRESH": env_int("CUSTOS_KEYRING_REFRESH", 10),
    # where private keys live (keys/store.py): the filesystem under KEY_DIR, or the database,
    # envelope-encrypted under a master key (keys.store.DatabaseKeyStore)
    "STORE": env_str("CUSTOS_KEY_STORE", "keys.store.FilesystemKeyStore"),
    "STORE_WRAPPER": env_str("CUSTOS_KEY_STORE_WRAPPER", "keys.store.LocalMasterKey"),
    "STORE_MASTER_KEY": env_str("CUSTOS_KEY_STORE_MASTER_KEY", ""),
    # beat stages the next key when the newest is this old (0: never; rotate_keys by hand)
    "ROTATE_EVERY": env_duration("CUSTOS_KEY_ROTATE_EVERY", 90 * 86400),
}
CUSTOS_SESSIONS = {
    "ACCESS_TTL": env_int("CUSTOS_ACCESS_TTL", 900),
    "REFRESH_TTL": env_int("CUSTOS_REFRESH_TTL", 30 * 24 * 3600),
    "REFRESH_GRACE": env_int("CUSTOS_REFRESH_GRACE", 10),
    "LEEWAY": env_int("CUSTOS_TOKEN_LEEWAY", 30),
    "REVOCATION_POLL": float(env_str("CUSTOS_REVOCATION_POLL", "0.5")),
    # absolute and idle session limits (seconds; 0 = off) and live sessions per user (0 = no cap)
    "SESSION_MAX_AGE": env_int("CUSTOS_SESSION_MAX_AGE", 30 * 24 * 3600),
    "SESSION_IDLE_TIMEOUT": env_int("CUSTOS_SESSION_IDLE_TIMEOUT", 14 * 24 * 3600),
    "CONSOLE_IDLE_TIMEOUT": env_int("CUSTOS_CONSOLE_IDLE_TIMEOUT", 1800),
    "SESSION_RETENTION_DAYS": env_int("CUSTOS_SESSION_RETENTION_DAYS", 30),
    "MAX_SESSIONS": env_int("CUSTOS_MAX_SESSIONS", 50),
}

# simplejwt builds and parses the access tokens; keys.backends supplies the key ring.
SIMPLE_JWT = {
    "ALGORITHM": CUSTOS_KEYS["ALGORITHM"],
    "ACCESS_TOKEN_LIFETIME": __import__("datetime").timedelta(seconds=CUSTOS_SESSIONS["ACCESS_TTL"]),
    "AUDIENCE": CUSTOS_AUDIENCE,
    "ISSUER": CUSTOS_ISSUER,
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "sub",
    "TOKEN_TYPE_CLAIM": None,
    "JTI_CLAIM": "jti",
    "LEEWAY": CUSTOS_SESSIONS["LEEWAY"],
    "UPDATE_LAST_LOGIN": False,
}

# --- i18n, static ---------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

EMAIL_BACKEND = env_str("CUSTOS_EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("CUSTOS_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("CUSTOS_EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("CUSTOS_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = env_str("CUSTOS_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = env_bool("CUSTOS_EMAIL_TLS", False)
DEFAULT_FROM_EMAIL = env_str("CUSTOS_EMAIL_FROM", "Custos <no-reply@localhost>")
CUSTOS_FIELD_KEYS = env_list("CUSTOS_FIELD_KEYS", [])

CUSTOS_ACCOUNTS = {
    "SMS_BACKEND": env_str("CUSTOS_SMS_BACKEND", "accounts.sms.ConsoleSmsBackend"),
    "SMS_HTTP_URL": env_str("CUSTOS_SMS_HTTP_URL", ""),
    "SMS_HTTP_TOKEN": env_str("CUSTOS_SMS_HTTP_TOKEN", ""),
    "DEFAULT_PHONE_REGION": env_str("CUSTOS_DEFAULT_PHONE_REGION", "") or None,
    "RESET_TOKEN_TTL": env_int("CUSTOS_RESET_TOKEN_TTL", 1800),
    "INVITE_TOKEN_TTL": env_int("CUSTOS_INVITE_TOKEN_TTL", 7 * 24 * 3600),
    # where the mailed links point (a front end's pages); by default beside the issuer
    "RESET_URL": env_str("CUSTOS_RESET_URL", env_str("CUSTOS_ISSUER", "http://127.0.0.1:8000").rstrip("/")
                         + "/reset-password#token={token}"),
    "INVITE_URL": env_str("CUSTOS_INVITE_URL", env_str("CUSTOS_ISSUER", "http://127.0.0.1:8000").rstrip("/")
                          + "/accept-invite#token={token}"),
    "DELETED_RETENTION_DAYS": env_int("CUSTOS_DELETED_RETENTION_DAYS", 30),
    "OTP_TTL": env_int("CUSTOS_OTP_TTL", 300),
    "OTP_MAX_ATTEMPTS": env_int("CUSTOS_OTP_MAX_ATTEMPTS", 5),
    "OTP_RESEND_COOLDOWN": env_int("CUSTOS_OTP_RESEND_COOLDOWN", 60),
    "OTP_SELF_REGISTRATION": env_bool("CUSTOS_OTP_SELF_REGISTRATION", True),
    # login security (accounts/security): brute force, second factors, risk
    "LOGIN_DELAY_AFTER": env_int("CUSTOS_LOGIN_DELAY_AFTER", 5),
    "LOGIN_DELAY_MAX": env_int("CUSTOS_LOGIN_DELAY_MAX", 900),
    "LOGIN_HARD_LOCK_AFTER": env_int("CUSTOS_LOGIN_HARD_LOCK_AFTER", 100),
    "IP_FAILURES_LIMIT": env_int("CUSTOS_IP_FAILURES_LIMIT", 50),
    "IP_FAILURES_WINDOW": env_int("CUSTOS_IP_FAILURES_WINDOW", 900),
    "IP_REQUESTS_LIMIT": env_int("CUSTOS_IP_REQUESTS_LIMIT", 300),
    "IP_REQUESTS_WINDOW": env_int("CUSTOS_IP_REQUESTS_WINDOW", 60),
    "OTP_DEST_SENDS_PER_HOUR": env_int("CUSTOS_OTP_DEST_SENDS_PER_HOUR", 10),
    "OTP_IP_SENDS_PER_HOUR": env_int("CUSTOS_OTP_IP_SENDS_PER_HOUR", 30),
    # sign-ups per client IP, and reset requests per client IP and per identifier typed
    "REGISTER_IP_PER_HOUR": env_int("CUSTOS_REGISTER_IP_PER_HOUR", 30),
    "RESET_IP_PER_HOUR": env_int("CUSTOS_RESET_IP_PER_HOUR", 30),
    "RESET_DEST_PER_HOUR": env_int("CUSTOS_RESET_DEST_PER_HOUR", 5),
    "REQUIRE_VERIFIED_EMAIL": env_bool("CUSTOS_REQUIRE_VERIFIED_EMAIL", False),
    "MFA_TOKEN_TTL": env_int("CUSTOS_MFA_TOKEN_TTL", 300),
    "MFA_FAILURES_DELAY_AFTER": env_int("CUSTOS_MFA_FAILURES_DELAY_AFTER", 5),
    "TOTP_ISSUER": env_str("CUSTOS_TOTP_ISSUER", "Fly"),
    "SETUP_LINK_TTL": env_int("CUSTOS_SETUP_LINK_TTL", 24 * 3600),
    "LOGIN_HISTORY_RETENTION_DAYS": env_int("CUSTOS_LOGIN_HISTORY_RETENTION_DAYS", 180),
    "RISK_MAX_SESSIONS": env_int("CUSTOS_RISK_MAX_SESSIONS", 10),
    "RISK_TRAVEL_KMH": env_int("CUSTOS_RISK_TRAVEL_KMH", 1000),
    "RISK_FAILURE_BURST": env_int("CUSTOS_RISK_FAILURE_BURST", 3),
    # what follows a risk score: below NOTIFY allow; from NOTIFY allow and tell the user;
    # from STEP_UP ask for the second factor (or an emailed code); from DENY refuse.
    "RISK_NOTIFY_AT": env_int("CUSTOS_RISK_NOTIFY_AT", 20),
    "RISK_STEP_UP_AT": env_int("CUSTOS_RISK_STEP_UP_AT", 60),
    "RISK_DENY_AT": env_int("CUSTOS_RISK_DENY_AT", 101),
    "PROFILE_EXTRA_MAX_BYTES": 8192,
    "PROFILE_EXTRA_MAX_DEPTH": 5,
}

# --- logging: JSON lines, secrets never logged ---------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "custos.logging.JsonFormatter"}},
    "filters": {"context": {"()": "custos.logging.RequestContextFilter"}},
    # the real stderr, not sys.stderr: prints are routed into logging (custos.logging.capture_std_streams)
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["context"],
                             "stream": "ext://sys.__stderr__"}},
    "root": {"handlers": ["console"], "level": env_str("CUSTOS_LOG_LEVEL", "INFO")},
    "loggers": {"django.request": {"level": "ERROR"}, "django.server": {"level": "WARNING"},
                # Casbin logs the whole policy at INFO: at a million rules that is no log line.
                "casbin": {"level": "WARNING"}},
}

# --- federation (federation/conf.py): external identity providers ----------------------------
# The front end's callback URLs, matched exactly; a login's redirect_uri off this list is a 400.
CUSTOS_OAUTH_REDIRECT_URIS = env_list("CUSTOS_OAUTH_REDIRECT_URIS", [])
CUSTOS_OAUTH_FLOW_TTL = env_int("CUSTOS_OAUTH_FLOW_TTL", 600)  # seconds a started sign-in may take
CUSTOS_OAUTH_HTTP_TIMEOUT = env_int("CUSTOS_OAUTH_HTTP_TIMEOUT", 10)  # seconds, each call to a provider
# An unknown `kid` refetches a provider's JWKS at most this often (seconds).
CUSTOS_OAUTH_JWKS_MIN_REFETCH = env_int("CUSTOS_OAUTH_JWKS_MIN_REFETCH", 30)
# Started external sign-ins per client IP per hour (each one is a row until spent or expired).
CUSTOS_OAUTH_LOGINS_PER_IP_PER_HOUR = env_int("CUSTOS_OAUTH_LOGINS_PER_IP_PER_HOUR", 300)
