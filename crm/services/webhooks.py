"""Webhook endpoints, as admins manage them: create, change, rotate the secret, enable again,
send a test event, replay a delivery. Every URL is checked against server-side request forgery
on save (``crm.webhooks.targets``); the sender checks it again at every attempt."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from crm.choices import AuditAction, WebhookDeliveryState
from crm.db import lock_rows
from crm.models import WebhookDelivery, WebhookEndpoint
from crm.registry import webhook_events
from crm.services.audit import audit_record
from crm.webhooks import TEST_EVENT, event_id_new, event_payload, wake_on_commit
from crm.webhooks.signing import secret_new
from crm.webhooks.targets import TargetRefused, target_check

ENDPOINT_FIELDS = ("url", "description", "event_types")


def webhook_url_check(url: str) -> None:
    """A form error unless ``url`` may receive webhooks now (scheme, and every address its
    host resolves to)."""
    try:
        target_check(url)
    except TargetRefused as exc:
        raise ValidationError({"url": str(exc)}) from None


def _check_types(event_types) -> list[str]:
    known = {e.type for e in webhook_events.events()}
    unknown = sorted(set(event_types or ()) - known)
    if unknown:
        raise ValidationError({"event_types": f"Unknown event types: {', '.join(unknown)}."})
    return sorted(set(event_types or ()))


@transaction.atomic
def webhook_endpoint_create(
    *, user, url: str, description: str = "", event_types=()
) -> WebhookEndpoint:
    webhook_url_check(url)
    endpoint = WebhookEndpoint.objects.create(
        url=url,
        description=description,
        event_types=_check_types(event_types),
        secret=secret_new(),
        created_by=user,
    )
    audit_record(
        action=AuditAction.WEBHOOK_CREATED,
        actor=user,
        target=endpoint,
        detail={"url": url, "event_types": endpoint.event_types},
    )
    return endpoint


@transaction.atomic
def webhook_endpoint_update(*, endpoint: WebhookEndpoint, user, **data) -> WebhookEndpoint:
    if "event_types" in data:
        data["event_types"] = _check_types(data["event_types"])
    changed = [f for f in ENDPOINT_FIELDS if f in data and getattr(endpoint, f) != data[f]]
    if "url" in changed:
        webhook_url_check(data["url"])
    before = {name: getattr(endpoint, name) for name in changed}
    for name in changed:
        setattr(endpoint, name, data[name])
    if changed:
        endpoint.save(update_fields=[*changed, "updated_at"])
        audit_record(
            action=AuditAction.WEBHOOK_CHANGED,
            actor=user,
            target=endpoint,
            detail={name: [before[name], data[name]] for name in changed},
        )
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, user) -> None:
    audit_record(
        action=AuditAction.WEBHOOK_DELETED,
        actor=user,
        target=endpoint,
        detail={"url": endpoint.url},
    )
    endpoint.delete()


@transaction.atomic
def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint, user) -> WebhookEndpoint:
    """A new secret; the old one still signs (a second signature in the header) for
    ``WEBHOOK_SECRET_ROTATION_HOURS``, so receivers can switch without losing events."""
    lock_rows(WebhookEndpoint, endpoint.pk)
    endpoint.refresh_from_db()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = timezone.now() + timedelta(
        hours=settings.WEBHOOK_SECRET_ROTATION_HOURS
    )
    endpoint.secret = secret_new()
    audit_record(action=AuditAction.WEBHOOK_SECRET_ROTATED, actor=user, target=endpoint)
    endpoint.save(
        update_fields=["secret", "previous_secret", "previous_secret_expires_at", "updated_at"]
    )
    return endpoint


@transaction.atomic
def webhook_endpoint_enable(*, endpoint: WebhookEndpoint, user) -> WebhookEndpoint:
    """Send to a disabled endpoint again, with a clean failure count; the deliveries that
    waited while it was disabled go out now."""
    lock_rows(WebhookEndpoint, endpoint.pk)
    endpoint.refresh_from_db()
    if endpoint.active:
        return endpoint
    endpoint.active = True
    endpoint.disabled_reason = ""
    endpoint.disabled_at = None
    endpoint.consecutive_failures = 0
    endpoint.failing_since = None
    endpoint.save(
        update_fields=[
            "active",
            "disabled_reason",
            "disabled_at",
            "consecutive_failures",
            "failing_since",
            "updated_at",
        ]
    )
    WebhookDelivery.objects.filter(endpoint=endpoint, state=WebhookDeliveryState.PENDING).update(
        next_attempt_at=timezone.now()
    )
    wake_on_commit()
    return endpoint


@transaction.atomic
def webhook_endpoint_send_test(*, endpoint: WebhookEndpoint, user) -> WebhookDelivery:
    """A ``webhook.test`` event to this endpoint only (whatever it subscribes to, even while
    disabled), to check the receiver and its signature check."""
    now = timezone.now()
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id=event_id_new(),
        event_type=TEST_EVENT,
        payload=event_payload(
            TEST_EVENT,
            {"endpoint_id": endpoint.pk, "sent_by": user.get_username() if user else ""},
            now=now,
        ),
        next_attempt_at=now,
    )
    wake_on_commit()
    return delivery


@transaction.atomic
def webhook_delivery_replay(*, delivery: WebhookDelivery, user) -> WebhookDelivery:
    """Send a finished (delivered or failed) delivery again: a new delivery row with the same
    payload and the same ``webhook-id`` (it is the same event: a receiver that processed it
    drops the copy), attempted at once with a fresh schedule. The original row keeps its
    history; the new one names it in ``replay_of``."""
    if delivery.state not in (WebhookDeliveryState.DELIVERED, WebhookDeliveryState.FAILED):
        raise ValidationError("This delivery is still on its way; it cannot be replayed yet.")
    replay = WebhookDelivery.objects.create(
        endpoint_id=delivery.endpoint_id,
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        payload=delivery.payload,
        replay_of=delivery,
        next_attempt_at=timezone.now(),
    )
    wake_on_commit()
    return replay
