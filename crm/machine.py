"""Endpoints that other systems call with a token instead of a session: the mail provider's
inbound-email and bounce webhooks and the usage API. One decorator reads the token, checks it
and answers refusals in JSON, so each endpoint is only its own parsing and service call."""

import functools
import hmac

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt


def shared_secret(setting: str):
    """A token check against the secret in ``settings.<setting>`` (read at each call,
    compared in constant time); an empty setting refuses every call."""

    def check(given: str):
        expected = getattr(settings, setting, "")
        if expected and given and hmac.compare_digest(given.encode(), expected.encode()):
            return True
        return None

    return check


def token_endpoint(
    *,
    check,
    header: str = "",
    query_param: str = "",
    realm: str = "",
    denied_status: int = 403,
    denied_message: str = "Not authorised.",
):
    """Decorate a view that takes ``(request, credential)``: POST only (405 otherwise), CSRF
    exempt (the token is the credential), the token from ``header``, ``?query_param=`` or
    ``Authorization: Bearer``, and ``check(token)`` giving the credential (anything true) or
    None, which answers ``denied_status`` with ``{"error": denied_message}`` (401 also names the
    ``realm`` in ``WWW-Authenticate``)."""

    def decorator(view):
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method != "POST":
                response = JsonResponse({"error": "Use POST."}, status=405)
                response["Allow"] = "POST"
                return response
            given = request.headers.get(header, "") if header else ""
            if not given and query_param:
                given = request.GET.get(query_param, "")
            if not given:
                scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
                given = raw.strip() if scheme.lower() == "bearer" else ""
            credential = check(given) if given else None
            if not credential:
                response = JsonResponse({"error": denied_message}, status=denied_status)
                if denied_status == 401:
                    response["WWW-Authenticate"] = f'Bearer realm="{realm}"'
                return response
            return view(request, credential, *args, **kwargs)

        return wrapper

    return decorator
