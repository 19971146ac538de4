"""A real worker told to stop (SIGTERM, as ``docker compose stop`` does) in the middle of a long
import: it finishes the chunk in progress, gives the job's lease up and queues it again, and exits;
another worker goes on from that chunk at once (not after the lease runs out), and every row is
imported once. Its log lines are JSON carrying the id of the request that queued the import, and
it keeps its heartbeat file fresh for ``manage.py worker_health``."""

import contextlib
import json
import signal
import subprocess
import time

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from crm import requestid
from crm.choices import TabularImportStatus
from crm.models import Account, TabularImportJob
from crm.tabular import imports
from crm.workers import heartbeat_age
from tests.tabular.conftest import csv_bytes, import_file
from tests.worker import (
    WORKER_COMMAND,
    publishing_to,
    redis_url_for_tests,
    wait_until,
    worker_broker,
    worker_env,
    worker_stop,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

ROWS = 2000


@pytest.fixture
def var_dir(tmp_path, settings):
    """The worker's VAR_DIR; uploads go to its media folder, where the worker reads them."""
    settings.MEDIA_ROOT = tmp_path / "var" / "media"
    return tmp_path / "var"


def _start(env, log_path, pool: str) -> subprocess.Popen:
    command = [f"--pool={pool}" if arg.startswith("--pool=") else arg for arg in WORKER_COMMAND]
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            command, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
        )


def _json_lines(log_path) -> list[dict]:
    lines = []
    for line in log_path.read_text().splitlines():
        if line.startswith("{"):
            with contextlib.suppress(ValueError):
                lines.append(json.loads(line))
    return lines


@pytest.mark.parametrize("pool", ["prefork", "solo"])
def test_a_worker_stopped_mid_import_hands_it_over_and_another_finishes_it_at_once(
    tmp_path, var_dir, admin, pool
):
    # Given a long import queued by a request
    content = csv_bytes([["name"]] + [[f"Stop {n}"] for n in range(ROWS)])
    job = import_file(admin, "accounts", content, run=False)
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    redis_url = redis_url_for_tests()
    env = worker_env(var_dir=var_dir, REDIS_URL=redis_url, LOG_FORMAT="json")
    rows = TabularImportJob.objects.filter(pk=job.pk)

    def processed() -> int:
        return rows.values_list("processed_rows", flat=True).get()

    with publishing_to(**worker_broker(var_dir, redis_url=redis_url)):
        token = requestid._request_id.set("req-import-42")
        try:
            with transaction.atomic():
                imports.tabular_import_queue(job)
        finally:
            requestid._request_id.reset(token)
        worker = _start(env, first_log, pool)
        try:
            wait_until(
                lambda: processed() > 200,
                what="the first chunk",
                log_path=first_log,
                worker=worker,
            )
            assert heartbeat_age(var_dir / "heartbeat" / "worker") < 30
            # When the worker is told to stop mid-import
            worker.send_signal(signal.SIGTERM)
            exit_code = worker.wait(timeout=60)
        finally:
            worker_stop(worker)
        at_stop = rows.get()

        # Then it stopped at a checkpoint: the job is not lost, nor held by a dead worker
        assert exit_code == 0, first_log.read_text()[-3000:]
        assert at_stop.status == TabularImportStatus.RUNNING, first_log.read_text()[-3000:]
        assert 200 < at_stop.processed_rows < ROWS
        assert at_stop.lease_until is not None and at_stop.lease_until <= timezone.now()
        assert Account.objects.filter(name__startswith="Stop ").count() == (
            at_stop.processed_rows - 1
        )

        # And another worker takes it from there at once (the queued message, not the sweep
        # after the lease)
        started = time.monotonic()
        second = _start(env, second_log, pool)
        try:
            wait_until(
                lambda: rows.filter(runs=2).exists(),
                what="another worker to take the import",
                log_path=second_log,
                worker=second,
            )
            taken = time.monotonic() - started
            wait_until(
                lambda: rows.filter(status=TabularImportStatus.DONE).exists(),
                what="the import to finish",
                log_path=second_log,
                worker=second,
                timeout=300,
            )
        finally:
            worker_stop(second)

    assert Account.objects.filter(name__startswith="Stop ").count() == ROWS
    assert rows.get().runs == 2
    assert taken < settings.WORK_LEASE_SECONDS
    # The log lines are JSON, and the task's carry the id of the request that queued it
    lines = _json_lines(first_log)
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    handed = [line for line in lines if "queued again" in line["message"]]
    if redis_url or pool == "solo":
        # (the filesystem broker may hand a stopping worker its own message again: it takes
        # nothing and passes it on once more)
        assert handed and all(line["request_id"] == "req-import-42" for line in handed)
        assert len(handed) == 1 or not redis_url
    else:
        # The filesystem broker has no asynchronous consumer: on a warm shutdown billiard ends
        # the pool process mid-task. Its lease runs out as it exits and the unacknowledged
        # message is restored, so the hand-over above happened all the same.
        assert any("Restoring 1 unacknowledged" in line["message"] for line in lines)
    print(
        f"{pool}: stopped after {at_stop.processed_rows - 1} of {ROWS} rows; "
        f"the next worker took it {taken:.1f} s after it started"
    )
