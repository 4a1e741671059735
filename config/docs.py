"""The API docs pages, Swagger UI at /api/docs/ and ReDoc at /api/redoc/, that work offline.

Their JS and CSS are drf_spectacular_sidecar's static files (settings: ``SWAGGER_UI_DIST`` etc.);
what the bundles would still fetch from elsewhere is refused by the browser: ReDoc's side menu
loads the Redocly logo from cdn.redoc.ly whatever its options say, and Swagger UI can load a
validator badge. The policy covers only images, fonts and fetches, so the pages' inline scripts
and styles keep working.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

DOCS_CONTENT_SECURITY_POLICY = "img-src 'self' data:; font-src 'self' data:; connect-src 'self'"


class _LocalOnly:
    @extend_schema(exclude=True)  # a page, not an API operation
    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        response["Content-Security-Policy"] = DOCS_CONTENT_SECURITY_POLICY
        return response


class SwaggerDocsView(_LocalOnly, SpectacularSwaggerView):
    pass


class RedocDocsView(_LocalOnly, SpectacularRedocView):
    # drf-spectacular's page without its Google Fonts links.
    template_name = "api/redoc.html"
