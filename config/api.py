"""API-wide pieces: the error format every endpoint shares."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    """DRF's handler, plus: a model/service ``ValidationError`` is the caller's mistake (400).

    Services raise Django's ``ValidationError`` so they stay usable outside the API (admin,
    management commands, tasks); here it becomes the same JSON a serializer error would.
    """
    if isinstance(exc, DjangoValidationError):
        if hasattr(exc, "message_dict"):
            exc = exceptions.ValidationError(exc.message_dict)
        else:
            exc = exceptions.ValidationError({"detail": " ".join(exc.messages)})
    return drf_exception_handler(exc, context)
