"""Small project-wide views."""

from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static


def favicon(request) -> HttpResponsePermanentRedirect:
    """``/favicon.ico`` → the static icon. Resolved per request: with the manifest storage of
    production, the hashed name exists only once ``collectstatic`` has run."""
    return HttpResponsePermanentRedirect(static("favicon.svg"))
