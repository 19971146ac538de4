"""The OpenAPI schema's common parts: the ``fields`` parameter of reads, the headers of
optimistic locking and idempotency, the error answers every operation may give, and the
authentication schemes."""

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter

from crm.api.custom_fields import CustomValuesFieldExtension, filter_parameters
from crm.api.serializers import FIELDS_PARAM

__all__ = ["ApiAutoSchema", "CustomValuesFieldExtension", "postprocess_security"]

ERROR = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA = {
    "type": "object",
    "description": "What went wrong: `detail`, or the fields' errors (`non_field_errors` for "
    "the record as a whole); a 409 adds the record's `current` values.",
    "properties": {
        "detail": {"type": "string"},
        "non_field_errors": {"type": "array", "items": {"type": "string"}},
        "current": {"type": "object", "additionalProperties": True},
    },
    "additionalProperties": True,
}
ERRORS = {
    "400": "Bad input: the fields' errors.",
    "401": "No valid token (or session).",
    "403": "The token is read only, or the role does not allow this.",
    "404": "No such record, or not one the caller may see (or change).",
    "409": "The record changed since the version in If-Match; its current values.",
    "422": "The Idempotency-Key was used before for a different request.",
    "429": "Too many requests for this token; see Retry-After.",
}
ETAG_HEADER = {"description": "The record's version, for If-Match.", "schema": {"type": "string"}}


class ApiAutoSchema(AutoSchema):
    def get_override_parameters(self):
        params = list(super().get_override_parameters())
        method = self.method.upper()
        if method == "GET":
            params.append(
                OpenApiParameter(
                    FIELDS_PARAM,
                    str,
                    description="Comma-separated fields to return (id always comes).",
                )
            )
            if self._is_list_view():
                params.extend(filter_parameters(self._view_model(), self))
        if method in ("PATCH", "POST") and "{id}" in self.path:
            params.append(
                OpenApiParameter(
                    "If-Match",
                    str,
                    OpenApiParameter.HEADER,
                    description="The ETag you read: refused with 409 if the record changed since.",
                )
            )
        if method == "POST":
            params.append(
                OpenApiParameter(
                    "Idempotency-Key",
                    str,
                    OpenApiParameter.HEADER,
                    description="A unique key per request: sent again, it answers the first "
                    "answer and does nothing twice (kept a day).",
                )
            )
        return params

    def _view_model(self):
        try:
            serializer = self.view.get_serializer_class()
        except Exception:  # a view without a serializer lists no custom filters
            return None
        return getattr(getattr(serializer, "Meta", None), "model", None)


def postprocess_security(result, generator, request, public):
    """Error answers and authentication on every operation; ETag on a record's answers."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, component in schemas.items():
        # A record read with ?fields= carries only those: only its id is always there.
        is_record = "id" in component.get("properties", {})
        if is_record and not name.endswith("Request") and not name.startswith("Paginated"):
            component["required"] = ["id"]
    schemas["Error"] = ERROR_SCHEMA
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for code, description in ERRORS.items():
                responses.setdefault(
                    code,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": ERROR}},
                    },
                )
            if "{id}" in path:
                for code in ("200", "201"):
                    if code in responses:
                        responses[code].setdefault("headers", {})["ETag"] = ETAG_HEADER
    return result


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "crm.api.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal access token from your settings page (/me/).",
        }


class SessionAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "crm.api.authentication.SessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": settings.SESSION_COOKIE_NAME}
