"""Operations: liveness and readiness, request ids on responses, log lines and tasks, JSON logs,
the protected Prometheus endpoint with its gauges, and leases given up by a stopping worker."""

import io
import json
import logging
import os
import re
import time
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError
from django.utils import timezone
from kombu import Connection

from crm import requestid, work
from crm.celery import app as celery_app
from crm.choices import OutboxStatus, TabularImportStatus
from crm.logs import JsonLineFormatter, logging_config
from crm.metrics import task_failure_count
from crm.models import Account, OutboundEmail, TabularImportJob, TaskFailureCount
from crm.services.outbox import email_queue
from crm.tabular import imports
from crm.views import health
from crm.workers import heartbeat_age, touch
from tests.tabular.conftest import csv_bytes, import_file

pytestmark = [pytest.mark.django_db, pytest.mark.pgbouncer]


# --- /livez and /readyz ---------------------------------------------------------------------------


def test_livez_answers_without_touching_anything(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/livez")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_readyz_is_ok_when_the_database_is_migrated_and_the_broker_answers(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and "failing" not in body
    assert body["database"] == {"ok": True}
    assert body["broker"]["ok"] is True


def test_readyz_is_503_naming_the_database_when_it_does_not_answer(client, monkeypatch):
    class BrokenConnection:
        def cursor(self):
            raise OperationalError("could not connect to server")

    monkeypatch.setattr(health, "connection", BrokenConnection())

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["database"]
    assert body["database"]["error"] == "OperationalError: could not connect to server"


def test_readyz_is_503_while_migrations_are_not_applied(client, monkeypatch):
    monkeypatch.setattr(health, "_migrated", type(health._migrated)())
    monkeypatch.setattr(health, "_unapplied_migrations", lambda: ["crm.0999_next"])

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["failing"] == ["database"]
    assert "crm.0999_next" in response.json()["database"]["error"]


def test_readyz_checks_the_real_migration_state(client, monkeypatch):
    monkeypatch.setattr(health, "_migrated", type(health._migrated)())
    assert health._unapplied_migrations() == []
    assert client.get("/readyz").status_code == 200
    assert health._migrated.is_set()  # not asked again by this process


def test_readyz_is_503_naming_the_broker_when_it_does_not_answer(client):
    saved = {key: celery_app.conf[key] for key in ("broker_url", "broker_transport_options")}
    celery_app.conf["broker_url"] = "redis://127.0.0.1:1/0"  # nothing listens there
    celery_app.conf["broker_transport_options"] = {}
    try:
        response = client.get("/readyz")
    finally:
        for key, value in saved.items():
            celery_app.conf[key] = value

    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["broker"]
    assert body["broker"]["transport"] == "redis" and body["broker"]["error"]


def test_readyz_checks_a_redis_cache_and_names_it_when_down(client, settings):
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"socket_connect_timeout": 1},
        }
    }

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["cache"]
    assert body["cache"]["backend"] == "redis" and body["cache"]["error"]


def test_healthz_still_answers_as_before(client):
    body = client.get("/healthz").json()
    assert set(body) == {"status", "database", "broker", "background"}


def test_probes_take_only_reads(client):
    for path in ("/livez", "/readyz"):
        assert client.post(path).status_code == 405
        assert client.head(path).status_code == 200


# --- request ids ------------------------------------------------------------------------------------


def test_a_request_gets_an_id_in_its_response(client):
    response = client.get("/livez")

    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])
    assert client.get("/livez")["X-Request-ID"] != response["X-Request-ID"]


def test_the_proxys_id_is_kept_when_it_is_a_safe_token(client):
    response = client.get("/livez", headers={"X-Request-ID": "edge-4f2a.91:7"})

    assert response["X-Request-ID"] == "edge-4f2a.91:7"


@pytest.mark.parametrize(
    "unsafe",
    ['abc" "level": "forged', "a b", "x" * 129, "<script>", "-leading-dash", "é"],
)
def test_an_unsafe_id_from_outside_is_replaced(client, unsafe):
    response = client.get("/livez", headers={"X-Request-ID": unsafe})

    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


@pytest.fixture
def json_lines():
    """Records of every logger, formatted as the JSON log handler of ``LOG_FORMAT=json`` does
    (its formatter and request filter, as ``logging_config("json")`` builds them)."""
    config = logging_config("json")
    assert config["formatters"]["main"] == {"()": "crm.logs.JsonLineFormatter"}
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLineFormatter())
    handler.addFilter(requestid.RequestContextFilter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(level)


def test_every_log_line_of_a_request_is_one_json_object_with_its_id(
    rep_client, rep, settings, json_lines
):
    settings.LOG_REQUESTS = True

    response = rep_client.get("/accounts/", headers={"X-Request-ID": "trace-1234"})

    assert response.status_code == 200
    lines = [line for line in json_lines() if line.get("request_id") == "trace-1234"]
    access = [line for line in lines if line["logger"] == "crm.requests"]
    assert len(access) == 1
    line = access[0]
    assert line["level"] == "INFO"
    assert line["message"].startswith("GET /accounts/ 200")
    assert line["path"] == "/accounts/"
    assert line["status"] == 200 and line["method"] == "GET"
    assert line["view"] == "account_list"
    assert line["user_id"] == rep.pk
    assert isinstance(line["duration_ms"], float)
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", line["time"])


def test_a_line_logged_inside_a_view_carries_the_request_id(client, json_lines, monkeypatch):
    def logging_state():
        logging.getLogger("crm.views.health").warning("checked %s", "state")
        return {"ok": True}

    monkeypatch.setattr(health, "_broker_state", logging_state)

    response = client.get("/readyz")

    lines = [line for line in json_lines() if line["message"] == "checked state"]
    assert len(lines) == 1
    assert lines[0]["request_id"] == response["X-Request-ID"]
    assert lines[0]["path"] == "/readyz"
    assert lines[0]["user_id"] is None  # anonymous
    assert lines[0]["logger"] == "crm.views.health" and lines[0]["level"] == "WARNING"


def test_outside_a_request_the_id_is_empty(json_lines):
    logging.getLogger("crm.test").info("no request here")

    (line,) = [line for line in json_lines() if line["message"] == "no request here"]
    assert line["request_id"] is None and line["path"] is None


def test_an_unknown_log_format_is_refused():
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logging_config("xml")


def test_tasks_queued_during_a_request_carry_its_id_and_the_worker_takes_it_up():
    from crm.tasks import work_sweep

    with Connection("memory://") as conn:
        conn.SimpleQueue("celery").clear()
        token = requestid._request_id.set("req-5678")
        try:
            work_sweep.apply_async()
        finally:
            requestid._request_id.reset(token)
        work_sweep.apply_async()  # outside a request: no id
        queue = conn.SimpleQueue("celery")
        first, second = queue.get(timeout=1), queue.get(timeout=1)
    assert first.headers[requestid.TASK_HEADER] == "req-5678"
    assert requestid.TASK_HEADER not in second.headers

    # The worker's side: the header becomes the id of the task's log lines, then is dropped.
    class Task:
        class request:
            request_id = "req-5678"

    requestid._task_started(task_id="t1", task=Task)
    assert requestid.current_request_id() == "req-5678"
    requestid._task_finished(task_id="t1")
    assert requestid.current_request_id() is None


# --- /metrics -------------------------------------------------------------------------------------


def test_metrics_are_off_by_default(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = []

    assert client.get("/metrics").status_code == 404


def test_metrics_need_the_bearer_token(client, settings):
    settings.METRICS_TOKEN = "s3cret-scrape-token"
    settings.METRICS_ALLOWED_IPS = []

    missing = client.get("/metrics")
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    basic = client.get("/metrics", headers={"Authorization": "Basic s3cret-scrape-token"})
    right = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"})

    assert missing.status_code == wrong.status_code == basic.status_code == 401
    assert missing["WWW-Authenticate"].startswith("Bearer")
    assert b"crm_" not in wrong.content
    assert right.status_code == 200
    assert right["Content-Type"].startswith("text/plain; version=")


def test_metrics_by_allowed_address(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert client.get("/metrics").status_code == 403  # the test client is 127.0.0.1

    settings.METRICS_ALLOWED_IPS = ["not an address", "127.0.0.1"]
    assert client.get("/metrics").status_code == 200


def _scrape(client, settings) -> str:
    settings.METRICS_TOKEN = "t0ken-for-the-scraper"
    response = client.get("/metrics", headers={"Authorization": "Bearer t0ken-for-the-scraper"})
    assert response.status_code == 200
    return response.content.decode()


def _value(text: str, sample: str) -> float:
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{sample} not in the metrics:\n{text}")


def test_requests_are_counted_by_view_and_status_with_latency(client, rep_client, settings):
    before = _scrape(client, settings)
    key = 'crm_http_requests_total{method="GET",status="200",view="account_list"}'
    start = _value(before, key) if key in before else 0.0

    rep_client.get("/accounts/")
    rep_client.get("/no-such-page/")
    text = _scrape(client, settings)

    assert _value(text, key) == start + 1
    assert 'view="<unresolved>"' in text and 'status="404"' in text
    assert (
        'crm_http_request_duration_seconds_bucket{le="0.5",method="GET",view="account_list"}'
        in (text)
    )
    assert "/no-such-page/" not in text  # raw paths never become labels


def test_the_custom_gauges_are_computed_at_scrape_time(client, settings):
    email_queue(
        to_email="waiting@x.example",
        subject="Waiting",
        body_text="Hello",
        idempotency_key="test:metrics:waiting",
    )
    OutboundEmail.objects.update(created_at=timezone.now() - timedelta(minutes=10))
    task_failure_count("crm.tasks.example")
    task_failure_count("crm.tasks.example")

    text = _scrape(client, settings)

    assert _value(text, 'crm_work_pending{kind="outbox"}') == 1
    assert _value(text, 'crm_work_pending{kind="tabular_imports"}') == 0
    assert 'crm_work_pending{kind="nps_runs"}' in text
    assert 'crm_work_pending{kind="lead_imports"}' in text
    assert 590 <= _value(text, "crm_outbox_oldest_unsent_age_seconds") <= 700
    assert _value(text, 'crm_task_failures_total{task="crm.tasks.example"}') == 2
    assert "# TYPE crm_task_failures_total counter" in text


def test_no_unsent_email_means_an_outbox_age_of_zero(client, settings):
    OutboundEmail.objects.update(status=OutboxStatus.SENT)
    assert _value(_scrape(client, settings), "crm_outbox_oldest_unsent_age_seconds") == 0


def test_a_failing_task_is_counted_by_the_task_failure_signal():
    @celery_app.task(name="tests.operations.always_fails")
    def always_fails():
        raise RuntimeError("boom")

    always_fails.apply()
    always_fails.apply()

    assert TaskFailureCount.objects.get(task="tests.operations.always_fails").count == 2


def test_the_broker_queue_length_is_read_from_the_broker(tmp_path, client, settings):
    from crm.tasks import work_sweep
    from tests.worker import filesystem_broker, publishing_to

    with publishing_to(broker_url="filesystem://", transport_options=filesystem_broker(tmp_path)):
        work_sweep.delay()
        work_sweep.delay()
        text = _scrape(client, settings)
    assert _value(text, 'crm_broker_queue_length{queue="celery"}') == 2


# --- worker health and stopping -------------------------------------------------------------------


def test_worker_health_is_ok_only_with_a_fresh_heartbeat(tmp_path, settings):
    settings.WORKER_HEARTBEAT_FILE = str(tmp_path / "run" / "worker")
    settings.WORKER_HEARTBEAT_SECONDS = 10
    with pytest.raises(CommandError, match="has not started"):
        call_command("worker_health")

    touch(settings.WORKER_HEARTBEAT_FILE)
    out = io.StringIO()
    call_command("worker_health", stdout=out)
    assert "worker ok" in out.getvalue()

    stale = time.time() - 60
    os.utime(settings.WORKER_HEARTBEAT_FILE, (stale, stale))
    assert heartbeat_age(settings.WORKER_HEARTBEAT_FILE) >= 59
    with pytest.raises(CommandError, match="stuck or stopped"):
        call_command("worker_health")


def test_beat_health_reads_the_file_beats_loop_touches(tmp_path, settings, monkeypatch):
    from django_celery_beat.schedulers import DatabaseScheduler as BaseScheduler

    from crm.beat import DatabaseScheduler

    settings.BEAT_HEARTBEAT_FILE = str(tmp_path / "beat")
    with pytest.raises(CommandError, match="beat has not started"):
        call_command("worker_health", "--beat")

    monkeypatch.setattr(BaseScheduler, "tick", lambda self, *args, **kwargs: 2.0)
    monkeypatch.setattr(DatabaseScheduler, "hold_lead", lambda self: True)
    scheduler = object.__new__(DatabaseScheduler)  # its loop, without a database schedule
    scheduler._dirty = set()
    assert scheduler.tick() == 2.0

    assert heartbeat_age(settings.BEAT_HEARTBEAT_FILE) < 5
    out = io.StringIO()
    call_command("worker_health", "--beat", stdout=out)
    assert "beat ok" in out.getvalue()


@pytest.fixture
def stopping():
    """This process behaves as a worker asked to stop, for the test."""
    work.request_stop()
    yield
    work._stop.clear()
    work._handed_over.clear()


def test_a_stopping_worker_hands_an_import_over_at_its_next_checkpoint(
    admin, stopping, monkeypatch
):
    content = csv_bytes([["name"]] + [[f"Handed {n}"] for n in range(25)])
    job = import_file(admin, "accounts", content, run=False)
    TabularImportJob.objects.filter(pk=job.pk).update(status=TabularImportStatus.QUEUED)
    work._stop.clear()
    commit_chunk = imports._commit_chunk

    def commit_then_stop(*args):
        commit_chunk(*args)
        work.request_stop()  # the stop signal arrives during the first chunk

    monkeypatch.setattr(imports, "_commit_chunk", commit_then_stop)

    job = imports.tabular_import_run(job_id=job.pk, chunk_size=10, owner="stopping")

    # One chunk committed, the rest left for another worker, which may take it at once
    assert job.status == TabularImportStatus.RUNNING
    assert job.processed_rows == 11 and job.lease_until <= timezone.now()  # header + 10 rows
    assert work.handed_over_take()  # the task is queued again once it returns
    assert Account.objects.filter(name__startswith="Handed").count() == 10
    work._stop.clear()
    monkeypatch.setattr(imports, "_commit_chunk", commit_chunk)
    job = imports.tabular_import_run(job_id=job.pk, chunk_size=10, owner="another")
    assert job.status == TabularImportStatus.DONE
    assert Account.objects.filter(name__startswith="Handed").count() == 25


def test_lease_renew_gives_the_row_up_when_stopping(admin, stopping):
    job = import_file(admin, "accounts", csv_bytes([["name"], ["A"]]), run=False)
    rows = TabularImportJob.objects.filter(pk=job.pk)
    work._stop.clear()
    assert work.lease_take(rows, owner="me")
    work.request_stop()

    assert work.lease_renew(rows, owner="me") is False
    assert rows.get().lease_until <= timezone.now()
    assert work.handed_over_take() and not work.handed_over_take()
    work._stop.clear()  # another worker, which is not stopping
    assert work.lease_take(rows, owner="someone else")  # free at once


def test_a_stopping_worker_takes_no_new_work_and_queues_the_message_again(admin, stopping):
    from crm import workers

    queued = []

    class Task:
        name = "crm.tasks.tabular_import_run"

        def apply_async(self, args, kwargs):
            queued.append(args)

    job = import_file(admin, "accounts", csv_bytes([["name"], ["A"]]), run=False)
    TabularImportJob.objects.filter(pk=job.pk).update(status=TabularImportStatus.QUEUED)

    job = imports.tabular_import_run(job_id=job.pk, owner="stopping")
    workers._task_returned(task=Task(), args=(job.pk,), kwargs={})

    # Nothing taken, nothing counted as a run, and the message goes back for another worker
    assert job.status == TabularImportStatus.QUEUED and job.runs == 0 and not job.lease_owner
    assert queued == [(job.pk,)]


def test_an_exiting_process_lets_go_of_every_lease_it_holds(admin):
    job = import_file(admin, "accounts", csv_bytes([["name"], ["A"]]), run=False)
    rows = TabularImportJob.objects.filter(pk=job.pk)
    assert work.lease_take(rows, owner=work.worker_name())
    email_queue(to_email="a@x.example", subject="S", body_text="B", idempotency_key="t:exit")
    OutboundEmail.objects.update(status=OutboxStatus.SENDING, lease_owner="someone-else")
    OutboundEmail.objects.update(lease_until=timezone.now() + timedelta(minutes=2))

    assert work.leases_expire_mine() == 1

    assert rows.get().lease_until <= timezone.now()
    assert OutboundEmail.objects.get().lease_until > timezone.now()  # not ours


def test_a_task_returning_while_stopping_is_queued_again_when_it_left_work(admin, stopping):
    from crm import workers

    queued = []

    class Task:
        name = "crm.tasks.example"

        def apply_async(self, args, kwargs):
            queued.append(args)

    job = import_file(admin, "accounts", csv_bytes([["name"], ["A"]]), run=False)
    rows = TabularImportJob.objects.filter(pk=job.pk)
    work._stop.clear()
    assert work.lease_take(rows, owner=work.worker_name())
    work.request_stop()

    workers._task_returned(task=Task(), args=(job.pk,), kwargs={})
    assert queued == [(job.pk,)]
    assert rows.get().lease_until <= timezone.now()

    workers._task_returned(task=Task(), args=(job.pk,), kwargs={})  # it left nothing this time
    assert queued == [(job.pk,)]
    work._stop.clear()
    assert work.lease_take(rows, owner=work.worker_name())
    workers._task_returned(task=Task(), args=(job.pk,), kwargs={})  # not stopping: nothing
    assert queued == [(job.pk,)]


# --- PgBouncer in transaction mode -----------------------------------------------------------------


def _database_settings(**env) -> dict:
    import subprocess
    import sys

    from django.conf import settings

    script = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "d = s.DATABASES['default']; print(json.dumps({'options': d['OPTIONS'], "
        "'no_cursors': d.get('DISABLE_SERVER_SIDE_CURSORS', False)}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "crm.settings.base", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_transaction_pooling_turns_off_what_lives_in_a_session():
    pooled = _database_settings(DATABASE_POOL_MODE="transaction")
    assert pooled == {"options": {"prepare_threshold": None}, "no_cursors": True}

    direct = _database_settings(DATABASE_POOL_MODE="session")
    assert direct["options"]["options"] == "-c jit=off" and direct["no_cursors"] is False
    # prepared statements on a connection of our own (crm.prepared), off at will
    assert direct["options"]["prepare_threshold"] == 2
    assert direct["options"]["server_side_binding"] is True
    unprepared = _database_settings(DATABASE_POOL_MODE="session", PREPARED_STATEMENTS="false")
    assert "prepare_threshold" not in unprepared["options"]
    assert "server_side_binding" not in unprepared["options"]
