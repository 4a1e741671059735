"""Production settings: gunicorn + whitenoise, refuses to start while unsafe."""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import DEBUG, SECRET_KEY

if DEBUG:
    raise ImproperlyConfigured("Production settings refuse to run with DEBUG on (set DEBUG=0).")
if not SECRET_KEY or SECRET_KEY.startswith(("insecure-", "django-insecure-")):
    raise ImproperlyConfigured("Set SECRET_KEY to a long random value in production.")
# The bar `manage.py check --deploy` sets (security.W009): sessions, password resets and CSRF
# tokens are signed with it, so a short or repetitive key is a guessable one.
if len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5:
    raise ImproperlyConfigured(
        f"SECRET_KEY is {len(SECRET_KEY)} characters with {len(set(SECRET_KEY))} distinct ones; production needs "
        "at least 50 characters and 5 distinct ones, e.g. from "
        "`python -c 'import secrets; print(secrets.token_urlsafe(50))'`."
    )

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
# Behind a TLS-terminating proxy, say which header carries the scheme (e.g.
# SECURE_PROXY_SSL_HEADER=HTTP_X_FORWARDED_PROTO), else the redirect below loops.
_proxy_header = env("SECURE_PROXY_SSL_HEADER", default="")  # noqa: F405
if _proxy_header:
    SECURE_PROXY_SSL_HEADER = (_proxy_header, "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)  # noqa: F405
# HSTS is hard to undo (browsers remember it), so it is opt-in: SECURE_HSTS_SECONDS=31536000.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)  # noqa: F405
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)  # noqa: F405
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)  # noqa: F405
