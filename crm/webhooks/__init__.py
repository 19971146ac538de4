"""Outbound webhooks: events the CRM tells other systems about, signed and delivered durably.

``emit(event_type, record_or_data)`` is the one way an event starts: each app calls it at the
point the event happens (its services, or a receiver of its own signal), inside the caller's
transaction. It writes one ``WebhookDelivery`` per active endpoint subscribed to the type, so
the event exists exactly when the change does (a rolled-back change reports nothing), and wakes
the delivery task after commit. The event types and their payloads are the registry
``crm.registry.webhook_events``, filled by each app's ``apps.py``.

Delivery (``crm.webhooks.delivery``) is durable work in the shape of the email outbox: a worker
leases one row, signs and sends it (``crm.webhooks.signing``) to an address checked against
server-side request forgery (``crm.webhooks.targets``), and records the outcome; failed attempts
are retried on ``WEBHOOK_RETRY_SCHEDULE``.
"""

import datetime as dt
import json
import logging
import secrets

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

logger = logging.getLogger(__name__)

#: The event "Send test event" sends; not in the catalogue, never subscribed to.
TEST_EVENT = "webhook.test"


def event_id_new() -> str:
    return "msg_" + secrets.token_urlsafe(18)


def record_url(obj) -> str:
    """The record's page, as a link from outside (``SITE_URL``)."""
    return settings.SITE_URL + obj.get_absolute_url()


def event_payload(event_type: str, data: dict, *, now=None) -> dict:
    """The body every endpoint receives: ``{"type", "timestamp", "data"}``, made plain JSON
    (decimals, dates and times as strings)."""
    when = (now or timezone.now()).astimezone(dt.UTC)
    payload = {
        "type": event_type,
        "timestamp": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "data": data,
    }
    return json.loads(json.dumps(payload, cls=DjangoJSONEncoder))


def emit(event_type: str, subject, **extra) -> int:
    """Record the event ``event_type`` about ``subject`` (a record, built into ``data`` by the
    type's payload builder, or the ``data`` dict itself) for every active endpoint subscribed to
    it; ``extra`` are added to ``data``. Returns how many deliveries it wrote. Call it inside
    the transaction of the change it reports."""
    from crm.models import WebhookDelivery, WebhookEndpoint
    from crm.registry import webhook_events

    event = webhook_events.get(event_type)
    if event is None:
        raise ValueError(f"Unknown webhook event type {event_type!r}; register it first.")
    endpoints = list(
        WebhookEndpoint.objects.filter(active=True)
        .filter(Q(event_types=[]) | Q(event_types__contains=[event_type]))
        .values_list("pk", flat=True)
    )
    if not endpoints:
        return 0
    data = dict(subject) if isinstance(subject, dict) else event.build(subject)
    data.update(extra)
    now = timezone.now()
    payload = event_payload(event_type, data, now=now)
    event_id = event_id_new()
    WebhookDelivery.objects.bulk_create(
        WebhookDelivery(
            endpoint_id=pk,
            event_id=event_id,
            event_type=event_type,
            payload=payload,
            next_attempt_at=now,
        )
        for pk in endpoints
    )
    wake_on_commit()
    return len(endpoints)


def wake_on_commit() -> None:
    """Ask a worker to deliver after commit, once per transaction."""
    pending = getattr(connection, "run_on_commit", None) or ()
    if any(entry[1] is wake for entry in pending):
        return
    transaction.on_commit(wake)


def wake(countdown: float | None = None) -> None:
    """Publish the delivery task; a broker outage is logged, never raised into a request (the
    sweep and beat wake a worker anyway)."""
    from crm.tasks import webhooks_deliver  # tasks import services, not the other way round

    try:
        if countdown:
            webhooks_deliver.apply_async(countdown=countdown)
        else:
            webhooks_deliver.delay()
    except Exception:
        logger.warning("Could not enqueue webhook delivery; the sweep will.", exc_info=True)
