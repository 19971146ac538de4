"""Delivering webhook events: one row at a time, leased, signed, sent, recorded.

``webhooks_deliver`` claims the oldest due delivery in one UPDATE (pending → sending, with the
worker's lease, ``crm.work``), sends it, and records the outcome. A 2xx answer delivers it; any
other answer, a redirect, a timeout or a refused address is a failed attempt, tried again after
the next delay of ``WEBHOOK_RETRY_SCHEDULE`` (with jitter) until the schedule runs out, when the
delivery fails. ``WEBHOOK_DISABLE_AFTER`` failed attempts in a row at one endpoint, over at
least ``WEBHOOK_DISABLE_FAILING_HOURS``, disable it and tell the admins by email.

A worker killed while sending leaves its row ``sending``; when the lease runs out the sweep
(``webhook_sweep``) returns it to the queue marked *uncertain*: the receiver may have it, so it
is sent again with the same ``webhook-id``, which lets the receiver drop the copy. Nothing else
is sent twice.
"""

import json
import logging
import random
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from crm.choices import Role, WebhookDeliveryState
from crm.models import User, WebhookDelivery, WebhookEndpoint
from crm.webhooks import TEST_EVENT, wake, wake_on_commit
from crm.webhooks.signing import signed_headers
from crm.webhooks.targets import TargetRefused, post, target_check
from crm.work import Problem, lease_end, lease_release, worker_name

logger = logging.getLogger(__name__)

State = WebhookDeliveryState
#: Characters of the receiver's answer kept on the row.
RESPONSE_EXCERPT = 1000


def max_attempts() -> int:
    return len(settings.WEBHOOK_RETRY_SCHEDULE) + 1


def retry_delay(*, attempts: int) -> timedelta | None:
    """The wait after the ``attempts``-th failed attempt (+/-20% jitter, so deliveries that
    failed together spread out), or None when the schedule is used up."""
    schedule = settings.WEBHOOK_RETRY_SCHEDULE
    if attempts > len(schedule):
        return None
    base = schedule[attempts - 1]
    return timedelta(seconds=base * random.uniform(0.8, 1.2))


def request_body(delivery: WebhookDelivery) -> bytes:
    return json.dumps(delivery.payload, separators=(",", ":"), ensure_ascii=False).encode()


def _due(now) -> Q:
    return (
        Q(state=State.PENDING)
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        & (Q(endpoint__active=True) | Q(event_type=TEST_EVENT))
    )


def _claim_next(*, owner: str) -> WebhookDelivery | None:
    """Lease the oldest due delivery (pending → sending) and return it, or None. Rows another
    worker is claiming are skipped, so concurrent workers never wait on each other."""
    now = timezone.now()
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.filter(_due(now))
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint")
            .order_by("next_attempt_at", "id")
            .first()
        )
        if delivery is None:
            return None
        delivery.state = State.SENDING
        delivery.lease_owner = owner
        delivery.lease_until = lease_end(now)
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.save(
            update_fields=["state", "lease_owner", "lease_until", "attempts", "last_attempt_at"]
        )
    return delivery


def webhooks_deliver(*, batch_size: int = 20) -> int:
    """Send up to ``batch_size`` due deliveries; returns how many were attempted. Safe to run
    concurrently and repeatedly: each row is leased by one worker while it is sent."""
    owner = worker_name()
    attempted = 0
    for _ in range(batch_size):
        delivery = _claim_next(owner=owner)
        if delivery is None:
            break
        delivery_attempt(delivery=delivery, owner=owner)
        attempted += 1
    return attempted


def _mine(delivery: WebhookDelivery, owner: str):
    return WebhookDelivery.objects.filter(pk=delivery.pk, state=State.SENDING, lease_owner=owner)


def delivery_attempt(*, delivery: WebhookDelivery, owner: str) -> bool:
    """Send one leased delivery and record the outcome; True when the receiver took it."""
    endpoint = delivery.endpoint
    body = request_body(delivery)
    headers = {
        **signed_headers(
            endpoint=endpoint,
            msg_id=delivery.event_id,
            body=body,
            timestamp=int(timezone.now().timestamp()),
        ),
        "Content-Type": "application/json",
        "User-Agent": "CRM-Webhooks/1",
    }
    code, answer, duration = None, "", None
    try:
        # Resolved and checked again now: what the name points at may have changed since save.
        target = target_check(endpoint.url)
        response = post(target, body=body, headers=headers)
        code, duration = response.status, response.duration_ms
        answer = response.body.decode("utf-8", "replace")[:RESPONSE_EXCERPT]
    except SoftTimeLimitExceeded:
        # Stopped mid-send: the receiver may have it. Sent again with the same webhook-id.
        lease_release(
            _mine(delivery, owner),
            owner=owner,
            state=State.PENDING,
            uncertain=True,
            next_attempt_at=timezone.now(),
            last_error="Stopped by the time limit while sending; it may have arrived.",
        )
        raise
    except TargetRefused as exc:
        error = f"Refused: {exc}"
    except Exception as exc:  # connection trouble, timeouts, TLS, malformed answers
        error = f"{type(exc).__name__}: {exc}"[:2000]
    else:
        if 200 <= code < 300:
            _record_success(delivery, code=code, answer=answer, duration=duration)
            return True
        error = f"HTTP {code}"
        if 300 <= code < 400:
            error += " (redirects are not followed)"
    _record_failure(delivery, owner=owner, error=error, code=code, answer=answer, duration=duration)
    return False


def _record_success(delivery, *, code, answer, duration) -> None:
    now = timezone.now()
    # Whatever happened to the lease meanwhile, the receiver has it now: never sent again.
    WebhookDelivery.objects.filter(pk=delivery.pk).exclude(state=State.DELIVERED).update(
        state=State.DELIVERED,
        delivered_at=now,
        next_attempt_at=None,
        last_response_code=code,
        last_response_body=answer,
        last_error="",
        last_duration_ms=duration,
        lease_owner="",
        lease_until=None,
    )
    WebhookEndpoint.objects.filter(pk=delivery.endpoint_id, consecutive_failures__gt=0).update(
        consecutive_failures=0, failing_since=None
    )


def _record_failure(delivery, *, owner, error, code, answer, duration) -> None:
    now = timezone.now()
    delay = retry_delay(attempts=delivery.attempts)
    if delay is not None:
        state, next_attempt_at = State.PENDING, now + delay
        logger.warning(
            "Webhook %s: attempt %s failed, next in %ss: %s",
            delivery.pk,
            delivery.attempts,
            round(delay.total_seconds()),
            error,
        )
    else:
        state, next_attempt_at = State.FAILED, None
        logger.error(
            "Webhook %s failed after %s attempts: %s", delivery.pk, delivery.attempts, error
        )
    with transaction.atomic():
        lease_release(
            _mine(delivery, owner),
            owner=owner,
            state=state,
            next_attempt_at=next_attempt_at,
            last_response_code=code,
            last_response_body=answer,
            last_error=error,
            last_duration_ms=duration,
        )
        if delivery.event_type != TEST_EVENT:
            _count_failure(delivery.endpoint_id, now=now)
    if delay is not None and delay.total_seconds() < settings.WORK_SWEEP_SECONDS:
        # A short wait is a wake-up message with a countdown; longer ones are the sweep's.
        transaction.on_commit(lambda: wake(countdown=delay.total_seconds()))


def _count_failure(endpoint_id: int, *, now) -> None:
    WebhookEndpoint.objects.filter(pk=endpoint_id).update(
        consecutive_failures=F("consecutive_failures") + 1,
        failing_since=Coalesce(F("failing_since"), now),
    )
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
    failing_for = now - (endpoint.failing_since or now)
    if (
        endpoint.active
        and endpoint.consecutive_failures >= settings.WEBHOOK_DISABLE_AFTER
        and failing_for >= timedelta(hours=settings.WEBHOOK_DISABLE_FAILING_HOURS)
    ):
        endpoint_disable(endpoint=endpoint, now=now)


def endpoint_disable(*, endpoint: WebhookEndpoint, now) -> None:
    """Stop sending to a failing endpoint and tell the admins (through the outbox). Its pending
    deliveries wait; events while it is disabled are not recorded for it."""
    from crm.services.outbox import email_queue

    days = (now - (endpoint.failing_since or now)).total_seconds() / 86400
    endpoint.active = False
    endpoint.disabled_at = now
    endpoint.disabled_reason = (
        f"Disabled after {endpoint.consecutive_failures} failed attempts in a row over "
        f"{days:.1f} days."
    )
    endpoint.save(update_fields=["active", "disabled_at", "disabled_reason", "updated_at"])
    logger.error("Webhook endpoint %s disabled: %s", endpoint.pk, endpoint.disabled_reason)
    link = settings.SITE_URL + endpoint.get_absolute_url()
    admins = User.objects.filter(is_active=True).filter(
        Q(groups__name=Role.ADMIN) | Q(is_superuser=True)
    )
    for admin in admins.distinct().order_by("pk"):
        email_queue(
            to_email=admin.email,
            subject=f"Webhook endpoint disabled: {endpoint}",
            body_text=(
                f"The webhook endpoint {endpoint.url} kept failing and no longer receives "
                f"events.\n\n{endpoint.disabled_reason}\nLast error: see its delivery log.\n\n"
                f"Fix the receiver, then enable it again at {link}\n"
            ),
            related=endpoint,
            idempotency_key=f"webhook-disabled:{endpoint.pk}:{now.isoformat()}:{admin.pk}",
        )


# --- the sweep and the operators' page ---------------------------------------------------------


def webhook_pending() -> int:
    """Deliveries waiting for or being sent (the queue depth metric)."""
    return WebhookDelivery.objects.filter(
        state__in=[WebhookDeliveryState.PENDING, WebhookDeliveryState.SENDING]
    ).count()


def webhook_sweep(*, now=None) -> int:
    """Return to the queue every delivery whose sender's lease ran out, marked uncertain (sent
    again with the same webhook-id); one that has used up its attempts fails. Then wake a
    worker if anything is due. Returns how many came back."""
    now = now or timezone.now()
    expired = WebhookDelivery.objects.filter(state=State.SENDING, lease_until__lt=now)
    stopped = "The worker stopped while sending it; it may have arrived."
    with transaction.atomic():
        failed = expired.filter(attempts__gte=max_attempts()).update(
            state=State.FAILED,
            uncertain=True,
            lease_owner="",
            lease_until=None,
            last_error=f"{stopped} No attempts left.",
        )
        returned = expired.update(
            state=State.PENDING,
            uncertain=True,
            lease_owner="",
            lease_until=None,
            next_attempt_at=now,
            last_error=stopped,
        )
    if failed or returned:
        logger.warning("Webhook sweep: %s back in the queue, %s failed", returned, failed)
    if WebhookDelivery.objects.filter(_due(now)).exists():
        transaction.on_commit(wake)
    return returned


def webhook_problems(limit: int) -> list[Problem]:
    """Failed deliveries, uncertain ones, and ones whose lease ran out not yet swept."""
    now = timezone.now()
    rows = (
        WebhookDelivery.objects.filter(
            Q(state=State.FAILED)
            | Q(uncertain=True, state__in=[State.PENDING, State.SENDING])
            | Q(state=State.SENDING, lease_until__lt=now)
        )
        .select_related("endpoint")
        .only(
            "pk",
            "event_type",
            "event_id",
            "state",
            "uncertain",
            "last_error",
            "created_at",
            "endpoint__url",
            "endpoint__description",
        )
        .order_by("-id")[:limit]
    )
    problems = []
    for delivery in rows:
        state = delivery.get_state_display() + (" (uncertain)" if delivery.uncertain else "")
        problems.append(
            Problem(
                pk=delivery.pk,
                title=f"{delivery.event_type} {delivery.event_id} → {delivery.endpoint.url}",
                state=state,
                detail=delivery.last_error,
                since=delivery.created_at,
                url=reverse("webhook_detail", args=[delivery.endpoint_id]),
                retryable=delivery.state == State.FAILED,
            )
        )
    return problems


def webhook_retry(pk: int) -> bool:
    """The operators' page's retry: a failed delivery back in the queue with a fresh schedule
    and the same webhook-id (a disabled endpoint's waits until it is enabled)."""
    with transaction.atomic():
        updated = WebhookDelivery.objects.filter(pk=pk, state=State.FAILED).update(
            state=State.PENDING, attempts=0, next_attempt_at=timezone.now()
        )
        if updated:
            wake_on_commit()
    return bool(updated)
