"""Logging in, with failed attempts throttled: the API token endpoint, the login page and the
admin's login page.

All three count failed logins (a wrong password, a missing field) in Django's cache, under two keys:
the username tried and the client's address. While either has reached its rate
(``DEFAULT_THROTTLE_RATES["login_username"]`` / ``["login_address"]`` in ``REST_FRAMEWORK``), a
login with that username or from that address is answered 429 without looking at the password,
so guessing stops there. Only failures count: someone logging in successfully, many times, is
never throttled, nor is anyone by failures for other usernames from other addresses. The per-
username key caps guessing spread over many addresses; the per-address key caps one client
trying many usernames.
"""

from __future__ import annotations

import hashlib
import ipaddress

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.core.exceptions import NON_FIELD_ERRORS
from django.forms.utils import ErrorDict
from django.http import HttpResponse
from django.urls import reverse
from rest_framework import exceptions, parsers
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle, SimpleRateThrottle

from .parsers import JSONParser


class FailedLoginThrottle(SimpleRateThrottle):
    """A rate on failed logins only: :meth:`allow_request` looks, :meth:`record_failure` counts.

    DRF's throttles count every request they let through; here successes are free, so a script
    that logs in often is never throttled and only guesses use up the rate. Subclasses name the
    scope and what a request is counted under (:meth:`ident`).
    """

    def get_rate(self) -> str | None:
        # Read at use, not import (DRF's class attribute), so settings overrides take effect.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def ident(self, request) -> str | None:
        raise NotImplementedError

    def get_cache_key(self, request, view=None) -> str | None:
        ident = self.ident(request)
        if not ident:
            return None
        return self.cache_format % {"scope": self.scope, "ident": hashlib.sha256(ident.encode()).hexdigest()}

    def _history(self, key: str) -> list[float]:
        self.now = self.timer()
        return [moment for moment in self.cache.get(key, []) if moment > self.now - self.duration]

    def allow_request(self, request, view) -> bool:
        """False while the failures counted under this request's key have reached the rate."""
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.history = self._history(self.key)
        return len(self.history) < self.num_requests

    def record_failure(self, request) -> None:
        if self.rate is None:
            return
        key = self.get_cache_key(request)
        if key is not None:
            self.history = [self.timer(), *self._history(key)]
            self.cache.set(key, self.history, self.duration)


class UsernameLoginThrottle(FailedLoginThrottle):
    scope = "login_username"

    def ident(self, request) -> str | None:
        # A DRF request carries the parsed body in .data (any parser); a Django one, the form.
        data = request.data if hasattr(request, "data") else request.POST
        username = data.get("username") if hasattr(data, "get") else None
        if username is None:
            return None
        return str(username).strip().casefold() or None


class AddressLoginThrottle(FailedLoginThrottle):
    scope = "login_address"

    def ident(self, request) -> str | None:
        """The client's address: ``REMOTE_ADDR``, or DRF's reading of X-Forwarded-For when
        ``NUM_PROXIES`` says how many proxies of ours add to it (else the header is the client's
        to forge). An IPv6 client is its /64, which one machine usually holds whole."""
        if api_settings.NUM_PROXIES is not None:
            address = BaseThrottle().get_ident(request)
        else:
            address = request.META.get("REMOTE_ADDR", "")
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return address or None
        return str(ipaddress.ip_network(f"{ip}/64", strict=False)) if ip.version == 6 else str(ip)


LOGIN_THROTTLES = (UsernameLoginThrottle, AddressLoginThrottle)


def _wait_sentence(wait: float | None) -> str:
    seconds = max(int(wait or 0) + 1, 1)
    return f"Too many failed logins for this username or from this address; try again in {seconds} seconds."


class TokenLoginApi(ObtainAuthToken):
    """The API token of a username and password.

    Failed attempts are throttled per username and per client address: past the rate the answer
    is 429 with ``Retry-After``, whatever the password.
    """

    throttle_classes = LOGIN_THROTTLES
    parser_classes = (parsers.FormParser, parsers.MultiPartParser, JSONParser)

    def throttled(self, request, wait):
        raise exceptions.Throttled(wait, detail=_wait_sentence(wait))

    def post(self, request, *args, **kwargs):
        try:
            return super().post(request, *args, **kwargs)
        except exceptions.ValidationError:
            for throttle in self.get_throttles():
                throttle.record_failure(request)
            raise


class LoginView(auth_views.LoginView):
    """Django's login page; a failed login counts as on the API, and past the rate the form comes
    back with the reason and status 429, without checking the password."""

    def post(self, request, *args, **kwargs) -> HttpResponse:
        blocked = [t for t in (cls() for cls in LOGIN_THROTTLES) if not t.allow_request(request, self)]
        if blocked:
            wait = max(t.wait() or 0 for t in blocked)
            context = self.get_context_data(form=self.get_form_class()(request), throttled=_wait_sentence(wait))
            response = self.render_to_response(context, status=429)
            response["Retry-After"] = str(int(wait) + 1)
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form) -> HttpResponse:
        for cls in LOGIN_THROTTLES:
            cls().record_failure(self.request)
        return super().form_invalid(form)


class AdminLoginView(LoginView):
    """The admin's login page (its form and template, staff only) with the same throttle: a guess
    here counts against the same username and address as on the API and the login page."""

    form_class = AdminAuthenticationForm
    template_name = "admin/login.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context.update(admin.site.each_context(self.request), title="Log in", subtitle=None,
                       app_path=self.request.get_full_path(), username=self.request.user.get_username())
        if context.get("throttled"):
            # The admin template shows only the form's errors; the form is left unbound (its
            # clean would check the password), so the reason is set as its non-field error.
            form = context["form"]
            form._errors = ErrorDict({NON_FIELD_ERRORS: form.error_class([context["throttled"]], error_class="nonfield")})
        return context

    def get_default_redirect_url(self) -> str:
        return reverse("admin:index")
