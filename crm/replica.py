"""Reads that may lag go to a read replica, when one is configured (``DATABASE_REPLICA_URL``).

Most pages read and write the primary. A few read much and may show data a second or two old:
dashboards, segment counts and previews, global search and exports. They run inside
``lagging_reads()`` (views: the ``reads_may_lag`` decorator), and ``ReplicaRouter`` sends
their reads to the ``replica`` database alias. Everything else, every write and every read
inside a transaction on the primary stays on the primary.

Read-your-writes: ``ReadYourWritesMiddleware`` notes when a request wrote (the router sees
every write) and sets a short-lived cookie (``REPLICA_READ_YOUR_WRITES_SECONDS``, default 10);
while it lasts, that browser's lagging reads go to the primary too, so a person who just
saved something sees it on the next dashboard or export even if the replica is behind.

Without ``DATABASE_REPLICA_URL`` there is no ``replica`` alias and all of this is a no-op.
"""

from __future__ import annotations

import contextlib
import functools
from contextvars import ContextVar

from django.conf import settings
from django.db import connections

ALIAS = "replica"
COOKIE = "crm_primary"

_lagging: ContextVar[bool] = ContextVar("crm_lagging_reads", default=False)
_pinned: ContextVar[bool] = ContextVar("crm_primary_pinned", default=False)
_wrote: ContextVar[bool] = ContextVar("crm_request_wrote", default=False)


def replica_configured() -> bool:
    return ALIAS in settings.DATABASES


def read_alias() -> str:
    """Where a read that may lag goes now: the replica, unless none is configured, this
    browser wrote moments ago, or the primary is inside a transaction (whose own writes a
    replica cannot see)."""
    if not replica_configured() or _pinned.get() or connections["default"].in_atomic_block:
        return "default"
    return ALIAS


@contextlib.contextmanager
def lagging_reads():
    """Inside the block, reads go to ``read_alias()``."""
    token = _lagging.set(True)
    try:
        yield
    finally:
        _lagging.reset(token)


@contextlib.contextmanager
def primary_reads():
    """Inside the block, reads go to the primary even in a view whose reads may lag (what is
    kept for later requests must be as new as what the primary holds: ``crm.catalog``)."""
    token = _lagging.set(False)
    try:
        yield
    finally:
        _lagging.reset(token)


def reads_may_lag(view):
    """A view decorator: the view's reads may come from the replica."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        with lagging_reads():
            return view(*args, **kwargs)

    return wrapper


class ReplicaRouter:
    """``DATABASE_ROUTERS`` entry when a replica is configured."""

    def db_for_read(self, model, **hints):
        instance = hints.get("instance")
        if instance is not None and instance._state.db:
            return instance._state.db
        if _lagging.get():
            return read_alias()
        return "default"

    def db_for_write(self, model, **hints):
        _wrote.set(True)
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "default"


class ReadYourWritesMiddleware:
    """Pins a browser's lagging reads to the primary for a few seconds after it wrote."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not replica_configured():
            return self.get_response(request)
        pinned = _pinned.set(COOKIE in request.COOKIES)
        wrote = _wrote.set(False)
        try:
            response = self.get_response(request)
            if _wrote.get():
                response.set_cookie(
                    COOKIE,
                    "1",
                    max_age=getattr(settings, "REPLICA_READ_YOUR_WRITES_SECONDS", 10),
                    httponly=True,
                    samesite="Lax",
                    secure=settings.SESSION_COOKIE_SECURE,
                )
            return response
        finally:
            _pinned.reset(pinned)
            _wrote.reset(wrote)
