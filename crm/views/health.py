"""Liveness for load balancers, compose healthchecks and people: can we reach the database and
the broker? Public (no login) and never raises, so it answers even when everything else fails.

It also says whether background work flows (the sweep ran lately, so beat and a worker run);
that part does not change the status code: a stopped worker is no reason to take a web server
out of a load balancer."""

import os

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from crm.celery import app as celery_app
from crm.work import sweep_state

#: Seconds the broker check may take; a health check that hangs is worse than one that fails.
BROKER_TIMEOUT = 2


@never_cache
@require_safe
def healthz(request):
    database = _database_state()
    broker = _broker_state()
    ok = database["ok"] and broker["ok"]
    return JsonResponse(
        {
            "status": "ok" if ok else "error",
            "database": database,
            "broker": broker,
            "background": _background_state() if database["ok"] else {"ok": False},
        },
        status=200 if ok else 503,
    )


def service_states() -> list[tuple[str, dict]]:
    """The broker's and the background work's state, for the admins' home page (the database
    answered, or the page would not show)."""
    return [("Broker", _broker_state()), ("Background work", _background_state())]


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


def _database_state() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return {"ok": False, "error": _error(exc)}
    return {"ok": True}


def _background_state() -> dict:
    try:
        return sweep_state()
    except Exception as exc:
        return {"ok": False, "error": _error(exc)}


def _broker_state() -> dict:
    transport = "unknown"
    try:
        url = celery_app.conf.broker_write_url or ""
        scheme = url.partition("://")[0] or "unknown"
        transport = "redis" if scheme in ("redis", "rediss") else scheme
        if transport == "filesystem":
            _check_broker_folders(celery_app.conf.broker_transport_options or {})
        else:
            with celery_app.connection_for_write(connect_timeout=BROKER_TIMEOUT) as conn:
                conn.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT)
    except Exception as exc:
        return {"ok": False, "transport": transport, "error": _error(exc)}
    return {"ok": True, "transport": transport}


def _check_broker_folders(options: dict) -> None:
    """The filesystem transport has no server: it works when its folders exist and are
    writable by this process (the web process publishes, the worker consumes)."""
    for key in ("data_folder_in", "data_folder_out", "processed_folder"):
        folder = options.get(key)
        if not folder:
            continue
        if not os.path.isdir(folder):
            raise OSError(f"{key} {folder} does not exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise OSError(f"{key} {folder} is not writable")
