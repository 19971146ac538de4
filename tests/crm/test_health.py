"""``/healthz`` tells a load balancer (and a person) whether the database and the broker answer;
it needs no login and answers 503, never an error page, when either is down."""

from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from crm.celery import app as celery_app
from crm.models import WorkHeartbeat
from crm.views import health
from crm.work import work_sweep

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_conf():
    """Lets a test point the Celery app at another broker, restored afterwards."""
    saved = {key: celery_app.conf[key] for key in ("broker_url", "broker_transport_options")}

    def configure(**values):
        for key, value in values.items():
            celery_app.conf[key] = value

    yield configure
    for key, value in saved.items():
        celery_app.conf[key] = value


def test_healthy_without_login(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True}
    assert body["broker"]["ok"] is True
    assert body["broker"]["transport"]  # filesystem or redis, whichever is configured
    assert "no-cache" in response["Cache-Control"]


def test_filesystem_broker_with_writable_folders_is_ok(client, broker_conf, tmp_path):
    for name in ("in", "processed"):
        (tmp_path / name).mkdir()
    broker_conf(
        broker_url="filesystem://",
        broker_transport_options={
            "data_folder_in": str(tmp_path / "in"),
            "data_folder_out": str(tmp_path / "in"),
            "processed_folder": str(tmp_path / "processed"),
        },
    )

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["broker"] == {"ok": True, "transport": "filesystem"}


def test_missing_broker_folder_is_an_error(client, broker_conf, tmp_path):
    broker_conf(
        broker_url="filesystem://",
        broker_transport_options={
            "data_folder_in": str(tmp_path / "gone"),
            "data_folder_out": str(tmp_path / "gone"),
        },
    )

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["database"] == {"ok": True}
    assert body["broker"]["ok"] is False
    assert body["broker"]["transport"] == "filesystem"
    assert "does not exist" in body["broker"]["error"]


def test_unreachable_redis_is_an_error_quickly(client, broker_conf):
    # Nothing listens on port 1, so the connection is refused at once.
    broker_conf(broker_url="redis://127.0.0.1:1/0", broker_transport_options={})

    response = client.get("/healthz")

    assert response.status_code == 503
    broker = response.json()["broker"]
    assert broker["ok"] is False
    assert broker["transport"] == "redis"
    assert broker["error"]


def test_database_failure_is_an_error_not_an_exception(client, monkeypatch):
    class BrokenConnection:
        def cursor(self):
            raise OperationalError("could not connect to server")

    monkeypatch.setattr(health, "connection", BrokenConnection())

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["database"] == {
        "ok": False,
        "error": "OperationalError: could not connect to server",
    }


def test_only_reads_are_allowed(client):
    assert client.post("/healthz").status_code == 405
    assert client.head("/healthz").status_code == 200


def test_it_says_whether_background_work_flows_without_changing_the_status(client, settings):
    settings.WORK_SWEEP_SECONDS = 60

    never = client.get("/healthz")
    assert never.status_code == 200
    assert never.json()["background"]["ok"] is False
    assert "never run" in never.json()["background"]["error"]

    work_sweep()
    fresh = client.get("/healthz").json()["background"]
    assert fresh["ok"] is True and fresh["last_sweep_seconds_ago"] <= 1

    WorkHeartbeat.objects.update(at=timezone.now() - timedelta(minutes=5))
    late = client.get("/healthz")
    assert late.status_code == 200
    assert late.json()["background"]["ok"] is False
    assert "beat or the worker" in late.json()["background"]["error"]
