"""The kit of every test that starts a real Celery worker process.

The worker is started the way ``make run`` starts it and finds everything from its environment:
it shares this test's database (``test_<name>`` on the embedded server or on DATABASE_URL's) and
gets a broker of its own, a filesystem broker under the test's ``VAR_DIR`` (the folders base
settings derive from it, so the test's publisher and the worker meet, and kombu's control folder
stays inside it, not in the checkout) or a Redis database no other test run consumes from. A test typically reads::

    env = worker_env(var_dir=var_dir)
    with publishing_to(**worker_broker(var_dir)), worker_started(env, log_path) as worker:
        some_task.delay()
        wait_until(lambda: succeeded_runs(log_path, "app.tasks.some_task") >= 1,
                   what="one run", log_path=log_path, worker=worker)
"""

import os
import subprocess
import sys
import time
from contextlib import contextmanager
from urllib.parse import quote

import kombu.pools
import pytest
from django.conf import settings
from django.db import connection

from crm.celery import app as celery_app

WORKER_COMMAND = [
    sys.executable,
    "-m",
    "celery",
    "-A",
    "crm",
    "worker",
    "--pool=solo",
    "--concurrency=1",
    "-Q",
    "celery",
    "--without-heartbeat",
    "--without-gossip",
    "--without-mingle",
    "-l",
    "info",
]

#: Default upper bound for the worker to start and handle the messages; usually a few seconds.
TIMEOUT_SECONDS = 60


def filesystem_broker(var_dir) -> dict:
    """Transport options of a filesystem broker under ``var_dir/broker`` (folders made)."""
    broker_dir = var_dir / "broker"
    for sub in ("in", "processed", "control"):
        (broker_dir / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(broker_dir / "in"),
        "data_folder_out": str(broker_dir / "in"),
        "processed_folder": str(broker_dir / "processed"),
        "store_processed": False,
        "control_folder": str(broker_dir / "control"),
    }


def redis_url_for_tests() -> str:
    """The Redis a worker test may use, from ``TEST_REDIS_URL`` (empty: the filesystem broker).
    Under pytest-xdist each test process takes a database of its own, counting down from the
    one named (``/15`` for gw0, ``/14`` for gw1…), so two workers never take each other's
    messages."""
    url = os.environ.get("TEST_REDIS_URL", "")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not url or not worker.startswith("gw"):
        return url
    base, _, number = url.rpartition("/")
    return f"{base}/{int(number or 0) - int(worker[2:])}"


def worker_broker(var_dir, *, redis_url: str = "") -> dict:
    """The broker a worker with ``VAR_DIR=var_dir`` and ``REDIS_URL=redis_url`` consumes from, as
    keyword arguments of ``publishing_to``: Redis at ``redis_url``, or when it is empty the
    filesystem broker under ``var_dir``."""
    if redis_url:
        return {"broker_url": redis_url, "transport_options": {"visibility_timeout": 3600}}
    return {"broker_url": "filesystem://", "transport_options": filesystem_broker(var_dir)}


def database_url() -> str:
    """The URL of the database this test runs on (the test database, not the configured one):
    the embedded server's socket folder or the server of DATABASE_URL."""
    db = connection.settings_dict
    auth = ""
    if db.get("USER"):
        auth = quote(db["USER"], safe="")
        if db.get("PASSWORD"):
            auth += ":" + quote(db["PASSWORD"], safe="")
        auth += "@"
    host = quote(db.get("HOST") or "", safe="")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{quote(db['NAME'], safe='')}"


@contextmanager
def publishing_to(*, broker_url: str, transport_options: dict):
    """Point this process's Celery app at the worker's broker; pooled connections to the
    configured broker are dropped on the way in and out so ``.delay()`` really goes there."""
    keys = ("broker_url", "broker_write_url", "broker_transport_options")
    saved = {key: celery_app.conf[key] for key in keys}

    def reset_pools():
        # Celery's pools are kombu's process-wide ones, keyed by broker URL: closing one leaves
        # a closed pool behind for the next test on the same URL, so clear kombu's registry too.
        kombu.pools.reset()
        celery_app._after_fork()

    reset_pools()
    celery_app.conf["broker_url"] = broker_url
    celery_app.conf["broker_write_url"] = None
    celery_app.conf["broker_transport_options"] = transport_options
    try:
        yield
    finally:
        reset_pools()
        for key, value in saved.items():
            celery_app.conf[key] = value


def worker_env(*, var_dir, mail_dir=None, **overrides) -> dict:
    """The environment of a worker on this test's database with ``VAR_DIR=var_dir`` (so the
    filesystem broker of ``worker_broker(var_dir)``; pass ``REDIS_URL=...`` for Redis). Email
    goes to files in ``mail_dir`` when given, else to the console (the log). ``overrides`` are
    further variables."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "crm.settings.base",
        "DATABASE_URL": database_url(),
        "DEBUG": "false",
        "SECRET_KEY": "worker-test-secret-key-not-for-production",
        "VAR_DIR": str(var_dir),
        "REDIS_URL": "",  # empty means the filesystem broker under VAR_DIR
        # django-environ drops the first slash of the path: four slashes for an absolute one.
        "EMAIL_URL": f"filemail:///{mail_dir}" if mail_dir is not None else "consolemail://",
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "INFO",
        **overrides,
    }


def worker_start(env, log_path) -> subprocess.Popen:
    """Start a worker process with ``env`` from the checkout, its output appended to
    ``log_path``; the caller must ``worker_stop`` it (``worker_started`` does)."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            WORKER_COMMAND, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
        )


def worker_stop(worker: subprocess.Popen) -> None:
    """Stop a worker if it still runs: a warm shutdown, killed if it takes over 15 s."""
    if worker.poll() is None:
        worker.terminate()
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


@contextmanager
def worker_started(env, log_path):
    """A worker process (yielded) that runs for the block and is stopped however it ends."""
    worker = worker_start(env, log_path)
    try:
        yield worker
    finally:
        worker_stop(worker)


def log_tail(log_path, chars: int = 4000) -> str:
    """The end of the worker's log, for a failure message."""
    return log_path.read_text()[-chars:]


def wait_until(
    condition,
    *,
    what: str,
    log_path,
    worker: subprocess.Popen | None = None,
    timeout: float = TIMEOUT_SECONDS,
    interval: float = 0.2,
) -> None:
    """Poll ``condition()`` every ``interval`` seconds until it is true; fail with the log's tail
    if ``worker`` (when given) exits or ``timeout`` seconds pass first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if worker is not None and worker.poll() is not None:
            pytest.fail(f"worker exited ({worker.returncode}):\n{log_tail(log_path)}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}:\n{log_tail(log_path)}")
        time.sleep(interval)


def succeeded_runs(log_path, task_name: str) -> int:
    """How many runs of the task named ``task_name`` (its full name) the log says succeeded."""
    return sum(
        1
        for line in log_path.read_text().splitlines()
        if f"{task_name}[" in line and "succeeded" in line
    )
