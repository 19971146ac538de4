"""Health endpoints for load balancers, orchestrators, compose healthchecks and people. Public
(no login), never cached, and they never raise, so they answer even when everything else fails.

- ``/livez``: the process answers (no dependency checked): restart it when this fails.
- ``/readyz``: what a web process needs to serve pages: the database answers and has every
  migration of this code applied, the broker answers, the cache does (when it is Redis), and
  so does the bucket of stored files (when it is S3); 503 naming the failing part. Take the process out of the load balancer while it fails.
- ``/healthz``: the database and the broker, plus whether background work flows (the sweep ran
  lately, so beat and a worker run); that last part does not change the status code: a stopped
  worker is no reason to take a web server out of a load balancer.

Workers and beat have no HTTP server: ``manage.py worker_health`` checks them (crm.workers)."""

import os
import threading

from django.conf import settings
from django.core.cache import cache
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


@never_cache
@require_safe
def livez(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request):
    checks = {"database": _database_state(migrations=True), "broker": _broker_state()}
    cache_state = _cache_state()
    if cache_state is not None:
        checks["cache"] = cache_state
    storage_state = _storage_state()
    if storage_state is not None:
        checks["storage"] = storage_state
    ok = all(check["ok"] for check in checks.values())
    failing = [name for name, check in checks.items() if not check["ok"]]
    return JsonResponse(
        {"status": "ok" if ok else "error", **({"failing": failing} if failing else {}), **checks},
        status=200 if ok else 503,
    )


def service_states() -> list[tuple[str, dict]]:
    """The broker's and the background work's state, for the admins' home page (the database
    answered, or the page would not show)."""
    return [("Broker", _broker_state()), ("Background work", _background_state())]


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


#: Once every migration of this code is applied it stays so for this process's life.
_migrated = threading.Event()


def _database_state(*, migrations: bool = False) -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        if migrations and not _migrated.is_set():
            unapplied = _unapplied_migrations()
            if unapplied:
                return {
                    "ok": False,
                    "error": f"{len(unapplied)} migration(s) not applied, first {unapplied[0]}: "
                    "run manage.py migrate.",
                }
            _migrated.set()
    except Exception as exc:
        return {"ok": False, "error": _error(exc)}
    return {"ok": True}


def _unapplied_migrations() -> list[str]:
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def _cache_state() -> dict | None:
    """The shared cache when it is a server of its own (Redis); the database cache is the
    database, checked already. None when there is nothing more to check."""
    backend = settings.CACHES["default"]["BACKEND"]
    if "redis" not in backend.lower():
        return None
    try:
        cache.set("readyz", "1", timeout=10)
        if cache.get("readyz") != "1":
            return {"ok": False, "backend": "redis", "error": "The cache lost what it was given."}
    except Exception as exc:
        return {"ok": False, "backend": "redis", "error": _error(exc)}
    return {"ok": True, "backend": "redis"}


#: Seconds the bucket check may take (one attempt, no retries).
STORAGE_TIMEOUT = 2


def _storage_state() -> dict | None:
    """The S3 bucket stored files live in (README, "Stored files"), when there is one: it
    answers to these keys. None on the local disk, which needs no check."""
    options = settings.STORAGES["default"].get("OPTIONS") or {}
    if not options.get("bucket_name"):
        return None
    try:
        import boto3
        from botocore.config import Config

        client = boto3.session.Session().client(
            "s3",
            endpoint_url=options.get("endpoint_url"),
            aws_access_key_id=options.get("access_key"),
            aws_secret_access_key=options.get("secret_key"),
            region_name=options.get("region_name"),
            config=Config(
                connect_timeout=STORAGE_TIMEOUT,
                read_timeout=STORAGE_TIMEOUT,
                retries={"total_max_attempts": 1},
                s3={"addressing_style": options.get("addressing_style") or "auto"},
            ),
        )
        client.head_bucket(Bucket=options["bucket_name"])
    except Exception as exc:
        return {"ok": False, "backend": "s3", "error": _error(exc)}
    return {"ok": True, "backend": "s3"}


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
