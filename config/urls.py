from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from . import login, views
from .docs import RedocDocsView, SwaggerDocsView

api_patterns = [
    path("auth/token/", login.TokenLoginApi.as_view(), name="api-token"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SwaggerDocsView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", RedocDocsView.as_view(url_name="api-schema"), name="api-redoc"),
    path("", include("jobs.api_urls")),
    path("", include("annotate.api_urls")),
    path("", include("datasets.api_urls")),
    path("", include("export.api_urls")),
    path("", include("augment.api_urls")),
    path("", include("synth.api_urls")),
    path("", include("training.api_urls")),
]

urlpatterns = [
    path("admin/login/", login.AdminLoginView.as_view(), name="admin-login"),  # before the admin: throttled
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("accounts/login/", login.LoginView.as_view(), name="login"),  # failed logins throttled
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # Pages that link no icon (the admin's, the API docs) make the browser ask for /favicon.ico.
    path("favicon.ico", views.favicon, name="favicon"),
    path("", include("annotate.urls")),
    path("", include("export.urls")),
    path("", include("augment.urls")),
    path("", include("synth.urls")),
    path("", include("training.urls")),
]
