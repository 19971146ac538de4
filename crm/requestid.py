"""A request id on every log line of a request, and of the tasks it queues.

``RequestIdMiddleware`` (first in ``MIDDLEWARE``) takes the proxy's ``X-Request-ID`` when it is a
safe token (letters, digits and ``._:-``, at most 128 characters; anything else could forge log
lines), otherwise makes one, returns it in the response's ``X-Request-ID`` and keeps it in a
context variable for the request. ``RequestContextFilter`` (on the log handlers) puts it, the
user's id and the path on every record. Tasks published meanwhile carry it in a message header,
and the worker sets it for the task's run, so its log lines carry the same id.

The middleware also logs one line per request (logger ``crm.requests``) with method, path,
status, view and duration when ``LOG_REQUESTS`` is on (the default with ``LOG_FORMAT=json``).
"""

import contextvars
import logging
import re
import time
import uuid

from django.conf import settings
from django.utils.functional import empty

HEADER = "X-Request-ID"
TASK_HEADER = "request_id"
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_request: contextvars.ContextVar = contextvars.ContextVar("request", default=None)

access_logger = logging.getLogger("crm.requests")


def current_request_id() -> str | None:
    return _request_id.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


def request_id_from(value: str | None) -> str:
    """The proxy's id when it is a safe token, else a new one."""
    value = (value or "").strip()
    return value if SAFE_ID.match(value) else new_request_id()


def _user_id(request) -> int | None:
    """The signed-in user's id, only if the request already looked the user up (a log line
    must never cost a query)."""
    user = getattr(request, "user", None)
    if user is None:
        return None
    if getattr(user, "_wrapped", None) is empty:
        return None
    return getattr(user, "pk", None)


def _view_name(request) -> str:
    match = getattr(request, "resolver_match", None)
    return (match.view_name if match else "") or "<unresolved>"


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_from(request.headers.get(HEADER))
        request.request_id = request_id
        id_token = _request_id.set(request_id)
        request_token = _request.set(request)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            response[HEADER] = request_id
            if getattr(settings, "LOG_REQUESTS", False):
                duration_ms = round((time.perf_counter() - started) * 1000, 1)
                access_logger.info(
                    "%s %s %s %sms",
                    request.method,
                    request.path,
                    response.status_code,
                    duration_ms,
                    extra={
                        "method": request.method,
                        "status": response.status_code,
                        "duration_ms": duration_ms,
                        "view": _view_name(request),
                    },
                )
            return response
        finally:
            _request.reset(request_token)
            _request_id.reset(id_token)


class RequestContextFilter(logging.Filter):
    """Adds ``request_id``, ``user_id`` and ``path`` to every record (unless it has them)."""

    def filter(self, record):
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get()
        request = _request.get()
        if not hasattr(record, "user_id"):
            record.user_id = _user_id(request) if request is not None else None
        if not hasattr(record, "path"):
            record.path = request.path if request is not None else None
        return True


# --- Celery: the id travels with the task --------------------------------------------------------


def _before_publish(headers=None, **kwargs):
    request_id = _request_id.get()
    if request_id and headers is not None and TASK_HEADER not in headers:
        headers[TASK_HEADER] = request_id


_task_tokens: dict[str, contextvars.Token] = {}


def _task_started(task_id=None, task=None, **kwargs):
    request_id = getattr(task.request, TASK_HEADER, None) if task is not None else None
    if request_id and SAFE_ID.match(str(request_id)):
        _task_tokens[task_id] = _request_id.set(str(request_id))


def _task_finished(task_id=None, **kwargs):
    token = _task_tokens.pop(task_id, None)
    if token is not None:
        try:
            _request_id.reset(token)
        except ValueError:
            _request_id.set(None)


def install_celery_hooks() -> None:
    from celery.signals import before_task_publish, task_postrun, task_prerun

    before_task_publish.connect(_before_publish, weak=False)
    task_prerun.connect(_task_started, weak=False)
    task_postrun.connect(_task_finished, weak=False)
