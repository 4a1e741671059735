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
