"""API-wide pieces: the error format every endpoint shares."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.parsers import BaseParser
from rest_framework.views import exception_handler as drf_exception_handler

from .parsers import TOO_DEEP


def exception_handler(exc, context):
    """DRF's handler, plus: a model/service ``ValidationError`` is the caller's mistake (400).

    Services raise Django's ``ValidationError`` so they stay usable outside the API (admin,
    management commands, tasks); here it becomes the same JSON a serializer error would. And a
    body nested too deeply for the JSON decoder is a 400 too, whichever JSON parser read it.
    """
    if isinstance(exc, RecursionError) and _raised_by_a_parser(exc):
        # A view naming DRF's own JSONParser bypasses config.parsers, which says this for the rest.
        exc = exceptions.ParseError(TOO_DEEP)
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "message_dict"):
            exc = exceptions.ValidationError(exc.message_dict)
        else:
            exc = exceptions.ValidationError({"detail": " ".join(exc.messages)})
    return drf_exception_handler(exc, context)


def _raised_by_a_parser(exc: BaseException) -> bool:
    """Whether ``exc`` came out of a request parser reading the body (not from a view's own code)."""
    tb = exc.__traceback__
    while tb is not None:
        if isinstance(tb.tb_frame.f_locals.get("self"), BaseParser):
            return True
        tb = tb.tb_next
    return False
