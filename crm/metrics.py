"""Prometheus metrics at ``/metrics``, with the official client (``prometheus-client``).

Why this library and not django-prometheus: the official client has no dependencies and a
documented multi-process mode for gunicorn's workers; django-prometheus would also replace the
database and cache backends to count their calls, which this product does not need. What is
exported:

- ``crm_http_requests_total{view,method,status}`` and
  ``crm_http_request_duration_seconds{view,method}`` (a histogram), counted by
  ``MetricsMiddleware`` in each web process; ``view`` is the URL's name, never the raw path;
- computed at scrape time from the database and the broker, so they are right whatever process
  answers: ``crm_work_pending{kind}`` (durable work rows waiting for or held by a worker, per
  kind of ``crm.registry.work``), ``crm_broker_queue_length{queue}`` (messages waiting in the
  broker), ``crm_outbox_oldest_unsent_age_seconds`` (how long the oldest email not sent yet
  has waited) and ``crm_task_failures_total{task}`` (Celery tasks that failed, counted by the
  worker in ``TaskFailureCount`` from the ``task_failure`` signal).

With several web processes (gunicorn ``--workers``), set ``PROMETHEUS_MULTIPROC_DIR`` to an empty
folder writable by them (``crm/gunicorn_conf.py`` empties it on start and cleans up after a
worker exits): each process writes its counters there and a scrape adds them all up.
"""

import hmac
import ipaddress
import logging
import os
import time

from django.conf import settings
from django.db import connection, transaction
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

logger = logging.getLogger(__name__)

_registry = CollectorRegistry()

REQUESTS = Counter(
    "crm_http_requests",
    "HTTP requests answered, by URL name, method and status code.",
    ["view", "method", "status"],
    registry=_registry,
)
LATENCY = Histogram(
    "crm_http_request_duration_seconds",
    "Time to answer an HTTP request, by URL name and method.",
    ["view", "method"],
    registry=_registry,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

#: Methods counted by name; anything else is counted as "other" (bounded label values).
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


class MetricsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = (match.view_name if match else "") or "<unresolved>"
        method = request.method if request.method in METHODS else "other"
        try:
            REQUESTS.labels(view, method, str(response.status_code)).inc()
            LATENCY.labels(view, method).observe(time.perf_counter() - started)
        except Exception:  # a metric must never break a page
            logger.warning("Could not count a request", exc_info=True)
        return response


# --- computed when scraped ------------------------------------------------------------------------


class WorkCollector:
    """Gauges read from the database and the broker at each scrape."""

    def collect(self):
        yield from _safely(self.work_pending)
        yield from _safely(self.broker_queue_length)
        yield from _safely(self.outbox_age)
        yield from _safely(self.task_failures)

    def work_pending(self):
        from crm.registry import work

        family = GaugeMetricFamily(
            "crm_work_pending",
            "Durable work rows waiting for or held by a worker, by kind.",
            labels=["kind"],
        )
        for kind in work.kinds():
            if kind.pending is not None:
                family.add_metric([kind.name], kind.call("pending"))
        yield family

    def broker_queue_length(self):
        from crm.celery import app as celery_app

        queue = celery_app.conf.task_default_queue or "celery"
        with celery_app.connection_for_write(connect_timeout=2) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=2)
            declared = conn.default_channel.queue_declare(queue=queue, passive=True)
        family = GaugeMetricFamily(
            "crm_broker_queue_length", "Messages waiting in the broker.", labels=["queue"]
        )
        family.add_metric([queue], declared.message_count)
        yield family

    def outbox_age(self):
        from django.db.models import Min

        from crm.choices import OutboxStatus
        from crm.models import OutboundEmail

        oldest = OutboundEmail.objects.filter(
            status__in=[OutboxStatus.QUEUED, OutboxStatus.SENDING]
        ).aggregate(oldest=Min("created_at"))["oldest"]
        age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily(
            "crm_outbox_oldest_unsent_age_seconds",
            "Seconds the oldest email not sent yet has waited (0 when none waits).",
            value=max(0.0, age),
        )

    def task_failures(self):
        from crm.models import TaskFailureCount

        family = CounterMetricFamily(
            "crm_task_failures", "Celery task runs that failed, by task.", labels=["task"]
        )
        for task, count in TaskFailureCount.objects.order_by("task").values_list("task", "count"):
            family.add_metric([task], count)
        yield family


def _safely(method):
    """One gauge's failure (the broker is down) leaves the others and the scrape working."""
    try:
        return list(method())
    except Exception as exc:
        logger.warning("Metric %s failed: %s", method.__name__, exc)
        return []


def exposition() -> bytes:
    registry = CollectorRegistry()
    if multiprocess_dir():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_registry)
    registry.register(WorkCollector())
    return generate_latest(registry)


# --- the endpoint ---------------------------------------------------------------------------------


def metrics_enabled() -> bool:
    return bool(settings.METRICS_TOKEN or settings.METRICS_ALLOWED_IPS)


def _token_ok(request) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        return False
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), token)


def _address_ok(request) -> bool:
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    for allowed in settings.METRICS_ALLOWED_IPS:
        try:
            if address in ipaddress.ip_network(allowed.strip(), strict=False):
                return True
        except ValueError:
            continue
    return False


@never_cache
@require_safe
def metrics_view(request):
    """Off (404) unless METRICS_TOKEN or METRICS_ALLOWED_IPS is set; then the bearer token or
    an allowed address is required."""
    if not metrics_enabled():
        raise Http404
    if not (_token_ok(request) or _address_ok(request)):
        response = HttpResponse("Metrics need the bearer token.\n", status=401)
        if settings.METRICS_TOKEN:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        else:
            response.status_code = 403
            response.content = b"Metrics are not served to this address.\n"
        response["Content-Type"] = "text/plain; charset=utf-8"
        return response
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)


# --- Celery: failures counted in the database -----------------------------------------------------


def task_failure_count(task_name: str) -> None:
    """Add one failure of ``task_name`` (one upsert); never raises."""
    from crm.models import TaskFailureCount

    table = TaskFailureCount._meta.db_table
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {table} (task, count, last_failed_at) VALUES (%s, 1, %s) "
                f"ON CONFLICT (task) DO UPDATE SET count = {table}.count + 1, "
                "last_failed_at = EXCLUDED.last_failed_at",
                [task_name[:200], timezone.now()],
            )
    except Exception:
        logger.warning("Could not count the failure of %s", task_name, exc_info=True)


def _on_task_failure(sender=None, **kwargs):
    task_failure_count(getattr(sender, "name", None) or "unknown")


def install_celery_hooks() -> None:
    from celery.signals import task_failure

    task_failure.connect(_on_task_failure, weak=False)
