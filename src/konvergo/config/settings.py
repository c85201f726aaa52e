"""Konvergo settings, all read from KONVERGO_* environment variables (see README)."""

from __future__ import annotations

import os
from pathlib import Path

from django.utils.translation import gettext_lazy as _

from konvergo.config.env import (
    ConfigurationError,
    database_config,
    env_bool,
    env_int,
    env_list,
    secret_key,
    writable_dir,
)

PACKAGE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("KONVERGO_VAR_DIR", "var")).resolve()

DEBUG = env_bool("KONVERGO_DEBUG", False)
SECRET_KEY = secret_key(VAR_DIR)
ALLOWED_HOSTS = env_list("KONVERGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("KONVERGO_CSRF_TRUSTED_ORIGINS", [])

DATABASES = {
    "default": database_config(
        os.environ.get("KONVERGO_DATABASE_URL", ""),
        sqlite_default=VAR_DIR / "konvergo.sqlite3",
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.admin",
    "django.contrib.humanize",
    "simple_history",
    "django_tasks",
    "django_tasks_db",
    "konvergo.core",
    "konvergo.org",
    "konvergo.processes",
    "konvergo.crm",
    "konvergo.imports",
    "konvergo.tickets",
    "konvergo.triggers",
    "konvergo.inbox",
    "konvergo.integrations",
    "konvergo.designer",
    "konvergo.documents",
    "django_filters",
    "konvergo.api",
    "konvergo.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "konvergo.web.middleware.UserPreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "konvergo.web.htmx.HtmxLoginRedirectMiddleware",
]

ROOT_URLCONF = "konvergo.config.urls"
WSGI_APPLICATION = "konvergo.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "konvergo.org.context_processors.navigation",
            ],
        },
    }
]

AUTH_USER_MODEL = "org.User"
AUTHENTICATION_BACKENDS = ["konvergo.org.permissions.RoleBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "web:home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Internationalisation: five UI languages; Persian is right-to-left.
LANGUAGE_CODE = "en"
LANGUAGES = [
    ("en", _("English")),
    ("de", _("German")),
    ("pl", _("Polish")),
    ("ru", _("Russian")),
    ("fa", _("Persian")),
]
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = os.environ.get("KONVERGO_TIME_ZONE", "UTC")

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
MEDIA_ROOT = Path(os.environ.get("KONVERGO_MEDIA_ROOT", str(VAR_DIR / "media"))).resolve()
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve static files straight from the app directories: `make run` needs no collectstatic.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Mail (outgoing); any Django mail backend works, SMTP by default.
EMAIL_BACKEND = os.environ.get(
    "KONVERGO_EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if os.environ.get("KONVERGO_EMAIL_HOST")
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = os.environ.get("KONVERGO_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("KONVERGO_EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = os.environ.get("KONVERGO_EMAIL_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("KONVERGO_EMAIL_PASSWORD", "")
EMAIL_USE_TLS = env_bool("KONVERGO_EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("KONVERGO_EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = os.environ.get("KONVERGO_EMAIL_FROM", "Konvergo <konvergo@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ConfigurationError("KONVERGO_EMAIL_USE_TLS and KONVERGO_EMAIL_USE_SSL exclude each other")

# Background jobs: Django's Tasks API on the database backend, so a job row commits (or rolls
# back) together with the change that needs it.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
KONVERGO_JOB_MAX_ATTEMPTS = env_int("KONVERGO_JOB_MAX_ATTEMPTS", 5, minimum=1)
KONVERGO_JOB_BACKOFF_SECONDS = env_int("KONVERGO_JOB_BACKOFF_SECONDS", 10, minimum=0)
KONVERGO_WORKER_POLL_SECONDS = env_int("KONVERGO_WORKER_POLL_SECONDS", 1, minimum=0)
KONVERGO_WORKER_HEARTBEAT_SECONDS = env_int("KONVERGO_WORKER_HEARTBEAT_SECONDS", 10, minimum=1)
KONVERGO_WORKER_STALE_SECONDS = env_int("KONVERGO_WORKER_STALE_SECONDS", 60, minimum=1)

KONVERGO_DEMO = env_bool("KONVERGO_DEMO", True)

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True  # htmx gets the token from hx-headers on <body>, not the cookie
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if env_bool("KONVERGO_HTTPS", False):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("KONVERGO_LOG_LEVEL", "INFO")},
    "loggers": {"django_tasks_db": {"level": "WARNING"}, "django.tasks": {"level": "WARNING"}},
}

writable_dir(MEDIA_ROOT, purpose="KONVERGO_MEDIA_ROOT")
writable_dir(STATIC_ROOT, purpose="static files directory")
