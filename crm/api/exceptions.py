"""Every API error as JSON: 400 with field errors for bad input (a form's or a service's
``ValidationError``), 404 for what the caller may not see, 409 for a stale ``If-Match``, and
never a 500 for a value the database refuses."""

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

NON_FIELD = "non_field_errors"


class VersionConflict(exceptions.APIException):
    """The record changed since the version the client sent in ``If-Match``."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The record changed since you read it; nothing was saved."
    default_code = "version_conflict"

    def __init__(self, *, current: dict, version: str):
        super().__init__()
        self.current = current
        self.version = version


class IdempotencyKeyReused(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = (
        "This Idempotency-Key was used for a different request: send a new key for a new request."
    )
    default_code = "idempotency_key_reused"


def validation_detail(exc: DjangoValidationError) -> dict:
    """A Django ``ValidationError`` as ``{field: [messages]}`` (``non_field_errors`` for the
    record as a whole)."""
    if hasattr(exc, "error_dict"):
        return {
            (NON_FIELD if field == "__all__" else field): [str(m) for m in messages]
            for field, messages in exc.message_dict.items()
        }
    return {NON_FIELD: [str(m) for m in exc.messages]}


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(validation_detail(exc))
    elif isinstance(exc, DataError):
        exc = exceptions.ValidationError({NON_FIELD: ["A value is out of range or malformed."]})
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, VersionConflict):
        response.data = {"detail": str(exc.detail), "current": exc.current}
        response["ETag"] = f'"{exc.version}"'
    elif isinstance(response.data, list):
        response.data = {NON_FIELD: response.data}
    return response


def error_response(status_code: int, detail: str) -> Response:
    return Response({"detail": detail}, status=status_code)
