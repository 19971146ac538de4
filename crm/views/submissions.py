"""Action forms that do their work once. A double click, the browser sending a form again or a
retry after a timeout is answered with the first answer's page, and nothing is done twice.

Each action form carries a fresh random key (``{% submission_field %}`` from the template
library ``submissions``); a view wrapped in :func:`submitted_once` (a class-based one:
:class:`SubmittedOnceMixin`) claims the key for the signed-in user in the transaction that does
the work, before the work:

- the first send does the work; when its answer is a redirect (or any answer to an HTMX
  request) the key stays used, with where the answer went; when the form comes back with its
  errors the key is free again;
- a send of a used key does nothing and goes where the first went, saying so (an HTMX request
  gets 204, which swaps nothing);
- a send that arrives while the first is still at work waits for it (the unique index holds it)
  and then finds its key used; if the first failed, nothing of it was kept, so it runs itself;
- a form without a key (a page opened before keys existed, an API client) works as before.
"""

import functools
import re
import secrets

from django.contrib import messages
from django.db import transaction
from django.http import HttpResponse, HttpResponseRedirect
from django.utils.http import url_has_allowed_host_and_scheme

from crm.services import submissions
from crm.views.lists import is_htmx

#: The hidden field that carries a form's key.
SUBMISSION_FIELD = "_submission"
KEY_FORMAT = re.compile(r"[A-Za-z0-9_-]{8,64}")
ALREADY_DONE = (
    "This was already done: the form was sent more than once, and only the first was carried out."
)


def new_submission_key() -> str:
    return secrets.token_urlsafe(16)


def submission_key(request) -> str:
    """The form's key when the request may claim one (a signed-in user's POST with a
    well-formed key), else ``""``."""
    if request.method != "POST" or not request.user.is_authenticated:
        return ""
    key = request.POST.get(SUBMISSION_FIELD, "")
    return key if KEY_FORMAT.fullmatch(key) else ""


def submission_done(request) -> None:
    """Tell :func:`submitted_once` that the work is done though the answer is a page (a report
    of what a file brought in): the same form sent again then goes back to the form's page."""
    request.submission_done = True


def _answer_location(request, response) -> str | None:
    """Where the answer took the user ("" when it stays on the page: an HTMX swap), or None
    when it did nothing a second send would repeat (the form came back with its errors)."""
    if getattr(request, "submission_done", False):
        return request.path
    if response.has_header("HX-Redirect"):
        return response["HX-Redirect"]
    if 300 <= response.status_code < 400 and response.has_header("Location"):
        return response["Location"]
    if is_htmx(request) and 200 <= response.status_code < 300:
        return ""
    return None


def _already_done(request, submission):
    if is_htmx(request):
        return HttpResponse(status=204)
    messages.info(request, ALREADY_DONE)
    location = submission.location
    if not location:
        referer = request.headers.get("Referer", "")
        allowed = url_has_allowed_host_and_scheme(
            referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
        )
        location = referer if referer and allowed else "/"
    return HttpResponseRedirect(location)


def submitted_once(view):
    """Run ``view`` once per form key and user (see the module's docstring)."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        key = submission_key(request)
        if not key:
            return view(request, *args, **kwargs)
        submissions.submissions_forget(user=request.user)
        with transaction.atomic():
            submission, first = submissions.submission_claim(
                user=request.user, key=key, path=request.path
            )
            if not first:
                return _already_done(request, submission)
            response = view(request, *args, **kwargs)
            location = _answer_location(request, response)
            if location is None:
                submissions.submission_release(submission=submission)
            else:
                submissions.submission_answered(submission=submission, location=location)
        return response

    return wrapper


class SubmittedOnceMixin:
    """A class-based view that runs once per form key (:func:`submitted_once`): the key is
    claimed before ``dispatch``, so a second send finds the first answer even when the first
    changed what ``dispatch`` checks (a deleted record)."""

    @classmethod
    def as_view(cls, **initkwargs):
        return submitted_once(super().as_view(**initkwargs))
