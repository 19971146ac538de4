"""Public survey links ``/surveys/<token>/``, shared by every kind of survey.

A token is signed (``django.core.signing``, with this module's salt) and carries the survey's
kind and key, so one URL pattern serves CSAT here and, later, other kinds (retention's NPS)
without guessing. A later app registers its page from its ``apps.py``::

    from support import surveys
    surveys.register("nps", nps_survey_view)   # view(request, key) -> HttpResponse
"""

import secrets
from collections.abc import Callable

from django.conf import settings
from django.core import signing
from django.http import HttpResponse
from django.shortcuts import render

SALT = "support.surveys"

#: kind → view(request, key)
handlers: dict[str, Callable] = {}


def register(kind: str, view: Callable) -> None:
    handlers[kind] = view


def new_key() -> str:
    return secrets.token_urlsafe(24)


def make_token(*, kind: str, key: str) -> str:
    return signing.dumps({"k": kind, "v": key}, salt=SALT, compress=False)


def max_age_seconds() -> int:
    return getattr(settings, "SURVEY_TOKEN_MAX_AGE", 120 * 24 * 3600)


def read_token(token: str) -> tuple[str, str] | None:
    """(kind, key) of a valid token, else None (bad signature, expired, malformed)."""
    try:
        data = signing.loads(token, salt=SALT, max_age=max_age_seconds())
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("k"), str):
        return None
    if not isinstance(data.get("v"), str):
        return None
    return data["k"], data["v"]


def survey_dispatch(request, token: str) -> HttpResponse:
    """Hand a survey link to the page registered for its kind; 400 for a bad link."""
    parsed = read_token(token)
    handler = handlers.get(parsed[0]) if parsed else None
    if handler is None:
        return render(
            request,
            "support/survey_message.html",
            {
                "title": "This survey link is not valid",
                "text": "It may be mistyped or too old. Thank you all the same!",
            },
            status=400,
        )
    return handler(request, parsed[1])
