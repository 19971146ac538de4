"""The outbox sends each stored message exactly once, retries transient SMTP failures with backoff,
and sends a message whose fate is unknown (its worker died mid hand-off) again only under the
same Message-ID."""

import smtplib
from datetime import timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.contrib.contenttypes.models import ContentType
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.utils import timezone

from crm.choices import ActivityKind, OutboxStatus
from crm.models import Activity, OutboundEmail
from crm.services import outbox
from crm.services.outbox import (
    MAX_ATTEMPTS,
    OutboxMessage,
    email_queue,
    email_queue_many,
    outbox_message_id,
    outbox_problems,
    outbox_requeue,
    outbox_send_queued,
    outbox_sweep,
    retry_delay,
)
from crm.tasks import outbox_send_queued as outbox_send_queued_task
from crm.tasks import work_sweep as work_sweep_task
from tests.factories import ContactFactory, OutboundEmailFactory

pytestmark = [pytest.mark.django_db, pytest.mark.pgbouncer]


class _RaisingBackend(BaseEmailBackend):
    """An SMTP server that refuses everything with the exception in ``error``."""

    error: Exception

    def send_messages(self, email_messages):
        raise type(self).error


class _TemporaryFailureBackend(_RaisingBackend):
    error = smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


class _PermanentFailureBackend(_RaisingBackend):
    error = smtplib.SMTPRecipientsRefused({"x@example.com": (550, b"No such user")})


def _queue(**overrides):
    values = {
        "to_email": "customer@example.com",
        "subject": "Your quote",
        "body_text": "Please find your quote.",
        "idempotency_key": "quote-sent:1",
    }
    values.update(overrides)
    return email_queue(**values)


@pytest.fixture
def delay_calls(monkeypatch):
    """Records enqueues instead of publishing to the broker."""
    calls = []
    monkeypatch.setattr(outbox_send_queued_task, "delay", lambda *a, **kw: calls.append(a))
    return calls


def test_email_queue_stores_a_queued_row_and_enqueues_delivery_after_commit(
    django_capture_on_commit_callbacks, delay_calls
):
    with django_capture_on_commit_callbacks(execute=True):
        email = _queue()
        assert delay_calls == []  # nothing is published before the transaction commits

    assert email.status == OutboxStatus.QUEUED
    assert email.attempts == 0
    assert len(delay_calls) == 1


def test_the_same_idempotency_key_queues_one_message(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        first = _queue()
        second = _queue(subject="A different subject")

    assert second.pk == first.pk
    assert second.subject == "Your quote"
    assert OutboundEmail.objects.count() == 1
    assert len(callbacks) == 1


def test_many_messages_in_one_transaction_enqueue_delivery_once(
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks() as callbacks:
        for n in range(3):
            _queue(idempotency_key=f"bulk:{n}")

    assert OutboundEmail.objects.count() == 3
    assert len(callbacks) == 1


def test_a_broker_outage_does_not_fail_the_users_request(
    django_capture_on_commit_callbacks, monkeypatch, caplog
):
    def broker_down(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(outbox_send_queued_task, "delay", broker_down)

    with django_capture_on_commit_callbacks(execute=True):
        email = _queue()

    assert OutboundEmail.objects.get(pk=email.pk).status == OutboxStatus.QUEUED
    assert "Could not enqueue outbox delivery" in caplog.text


def _messages(keys, **overrides):
    return [
        OutboxMessage(
            to_email=f"{key.replace(':', '-')}@example.com",
            subject=f"Hello {key}",
            body_text="Hello.",
            idempotency_key=key,
            **overrides,
        )
        for key in keys
    ]


def test_email_queue_many_inserts_in_batches_and_enqueues_delivery_once(
    django_capture_on_commit_callbacks, django_assert_max_num_queries, delay_calls
):
    contact = ContactFactory()
    related = {
        "content_type_id": ContentType.objects.get_for_model(contact).pk,
        "object_id": contact.pk,
    }
    keys = [f"many:{n}" for n in range(25)]

    # A few statements per batch of 10 (PostgreSQL: COPY to a temporary table, then one
    # INSERT … SELECT), not one per message.
    with (
        django_capture_on_commit_callbacks(execute=True),
        django_assert_max_num_queries(3 * 3 + 2),
    ):
        new = email_queue_many(messages=_messages(keys, **related), batch_size=10)

    assert new == 25
    assert len(delay_calls) == 1
    emails = OutboundEmail.objects.order_by("id")
    assert [e.idempotency_key for e in emails] == keys
    assert {e.status for e in emails} == {OutboxStatus.QUEUED}
    assert emails[0].related == contact


def test_email_queue_many_never_queues_a_key_twice(django_capture_on_commit_callbacks):
    before = _queue(idempotency_key="many:1", subject="First")
    keys = ["many:0", "many:1", "many:2", "many:2"]

    first = email_queue_many(messages=_messages(keys), batch_size=2)
    with django_capture_on_commit_callbacks() as callbacks:
        again = email_queue_many(messages=_messages(keys))

    assert (first, again) == (2, 0)  # many:1 was queued before; many:2 appears twice
    assert callbacks == []  # nothing new, nothing to deliver
    assert OutboundEmail.objects.count() == 3
    assert OutboundEmail.objects.get(idempotency_key="many:1").subject == before.subject


def test_email_queue_many_drops_messages_without_an_address():
    messages = _messages(["many:0"]) + [
        OutboxMessage(to_email=" ", subject="x", body_text="x", idempotency_key="many:1")
    ]
    assert email_queue_many(messages=messages) == 1
    assert list(OutboundEmail.objects.values_list("idempotency_key", flat=True)) == ["many:0"]


def test_no_address_queues_nothing():
    assert _queue(to_email="  ") is None
    assert not OutboundEmail.objects.exists()


def test_running_twice_sends_one_email():
    email = _queue(body_html="<p>Please find your quote.</p>")

    assert outbox_send_queued() == 1
    assert outbox_send_queued() == 0

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["customer@example.com"]
    assert message.subject == "Your quote"
    assert message.body == "Please find your quote."
    assert message.alternatives[0][1] == "text/html"
    email.refresh_from_db()
    assert email.status == OutboxStatus.SENT
    assert email.sent_at is not None
    assert email.attempts == 1


def test_a_text_only_message_has_no_html_part():
    _queue()

    outbox_send_queued()

    assert mail.outbox[0].alternatives == []


def test_the_celery_task_calls_the_service():
    _queue()

    assert outbox_send_queued_task.apply().get() == 1
    assert len(mail.outbox) == 1


def test_a_run_that_sends_a_full_batch_asks_for_the_next(monkeypatch):
    OutboundEmailFactory.create_batch(3)
    monkeypatch.setattr("crm.tasks.OUTBOX_BATCH", 2)
    follow_ups = []
    monkeypatch.setattr("crm.tasks.enqueue_quietly", lambda task: follow_ups.append(task))

    assert outbox_send_queued_task.apply().get() == 2
    assert follow_ups == [outbox_send_queued_task]

    follow_ups.clear()
    assert outbox_send_queued_task.apply().get() == 1
    assert follow_ups == []  # the queue is empty: no further run
    assert len(mail.outbox) == 3


def test_a_message_whose_sender_holds_a_live_lease_is_left_alone():
    """Another worker is handing it to SMTP right now: no run touches it, nor does the sweep."""
    busy = OutboundEmailFactory(
        status=OutboxStatus.SENDING,
        attempts=1,
        claimed_at=timezone.now(),
        lease_owner="other-host:1:abc",
        lease_until=timezone.now() + timedelta(minutes=1),
    )

    assert outbox_send_queued() == 0
    assert outbox_sweep() == 0

    busy.refresh_from_db()
    assert busy.status == OutboxStatus.SENDING
    assert mail.outbox == []


def test_the_sweep_resends_a_message_whose_sender_died_as_uncertain_with_the_same_message_id(
    django_capture_on_commit_callbacks,
):
    """A worker killed between the SMTP server's 250 and its commit leaves the row ``sending``.
    When the lease runs out the sweep returns it, marked uncertain, and it goes out again under
    the Message-ID it had, so a receiver can drop the copy."""
    stranded = OutboundEmailFactory(
        status=OutboxStatus.SENDING,
        attempts=1,
        claimed_at=timezone.now() - timedelta(minutes=5),
        lease_owner="dead-host:1:abc",
        lease_until=timezone.now() - timedelta(seconds=1),
    )

    with django_capture_on_commit_callbacks() as callbacks:
        assert outbox_sweep() == 1
    assert len(callbacks) == 1  # a worker is woken

    stranded.refresh_from_db()
    assert (stranded.status, stranded.uncertain) == (OutboxStatus.QUEUED, True)
    assert outbox_send_queued() == 1
    stranded.refresh_from_db()
    assert (stranded.status, stranded.attempts) == (OutboxStatus.SENT, 2)
    assert mail.outbox[0].extra_headers["Message-ID"] == outbox_message_id(stranded)


def test_a_message_claimed_before_leases_existed_is_swept_after_one_lease(settings):
    settings.WORK_LEASE_SECONDS = 60
    old = OutboundEmailFactory(
        status=OutboxStatus.SENDING, attempts=1, claimed_at=timezone.now() - timedelta(hours=2)
    )
    recent = OutboundEmailFactory(
        status=OutboxStatus.SENDING, attempts=1, claimed_at=timezone.now()
    )

    assert outbox_sweep() == 1

    old.refresh_from_db()
    recent.refresh_from_db()
    assert (old.status, old.uncertain) == (OutboxStatus.QUEUED, True)
    assert recent.status == OutboxStatus.SENDING


def test_a_message_that_keeps_stopping_its_worker_fails_for_an_admin():
    poison = OutboundEmailFactory(
        status=OutboxStatus.SENDING,
        attempts=MAX_ATTEMPTS,
        lease_owner="dead-host:1:abc",
        lease_until=timezone.now() - timedelta(seconds=1),
    )

    assert outbox_sweep() == 0

    poison.refresh_from_db()
    assert (poison.status, poison.uncertain) == (OutboxStatus.FAILED, True)
    assert "left for an admin" in poison.last_error
    [problem] = outbox_problems(10)
    assert problem.pk == poison.pk and problem.retryable
    assert "uncertain" in problem.state


def test_a_sender_that_lost_its_lease_still_marks_the_message_sent(monkeypatch):
    """The sweep judged the worker dead and requeued the row, then the worker's send
    completed: the row is marked sent, so the requeued copy is not sent again."""
    email = _queue()
    real_claim = outbox._claim_next

    def claim_then_lose_lease(*, owner):
        claimed = real_claim(owner=owner)
        if claimed is not None:
            OutboundEmail.objects.filter(pk=claimed.pk).update(
                lease_until=timezone.now() - timedelta(seconds=1)
            )
            outbox_sweep()
        return claimed

    monkeypatch.setattr(outbox, "_claim_next", claim_then_lose_lease)
    assert outbox_send_queued(batch_size=1) == 1
    monkeypatch.undo()

    email.refresh_from_db()
    assert email.status == OutboxStatus.SENT
    assert outbox_send_queued() == 0
    assert len(mail.outbox) == 1


def test_the_work_sweep_task_runs_every_registered_sweep():
    stranded = OutboundEmailFactory(
        status=OutboxStatus.SENDING,
        attempts=1,
        lease_owner="dead-host:1:abc",
        lease_until=timezone.now() - timedelta(seconds=1),
    )

    result = work_sweep_task.apply().get()

    assert result["outbox"] == 1
    stranded.refresh_from_db()
    assert stranded.status == OutboxStatus.QUEUED


def test_a_message_waiting_for_its_retry_time_is_not_sent_early():
    OutboundEmailFactory(next_attempt_at=timezone.now() + timedelta(minutes=5))

    assert outbox_send_queued() == 0
    assert mail.outbox == []


def test_batch_size_limits_one_run():
    OutboundEmailFactory.create_batch(3)

    assert outbox_send_queued(batch_size=2) == 2
    assert outbox_send_queued(batch_size=2) == 1
    assert len(mail.outbox) == 3


def test_a_transient_failure_requeues_with_backoff_and_fails_after_five_attempts(settings):
    settings.EMAIL_BACKEND = f"{__name__}._TemporaryFailureBackend"
    email = _queue()
    delays = []

    for attempt in range(1, MAX_ATTEMPTS):
        before = timezone.now()
        assert outbox_send_queued() == 0
        email.refresh_from_db()
        assert email.status == OutboxStatus.QUEUED
        assert email.attempts == attempt
        assert "SMTPServerDisconnected" in email.last_error
        delays.append(email.next_attempt_at - before)
        # Not due yet: an immediate re-run leaves it alone.
        assert outbox_send_queued() == 0
        email.refresh_from_db()
        assert email.attempts == attempt
        OutboundEmail.objects.filter(pk=email.pk).update(
            next_attempt_at=timezone.now() - timedelta(seconds=1)
        )

    assert outbox_send_queued() == 0

    email.refresh_from_db()
    assert email.status == OutboxStatus.FAILED
    assert email.attempts == MAX_ATTEMPTS
    assert email.next_attempt_at is None
    assert "Connection unexpectedly closed" in email.last_error
    # Exponential: each wait is between half and all of 60 s, 120 s, 240 s, 480 s.
    for attempt, delay in enumerate(delays, start=1):
        ceiling = 60 * 2 ** (attempt - 1)
        assert timedelta(seconds=ceiling / 2) <= delay <= timedelta(seconds=ceiling + 1)
    # Once failed, it stays failed.
    assert outbox_send_queued() == 0
    assert mail.outbox == []


def test_retry_delay_has_jitter_and_a_ceiling():
    assert len({retry_delay(attempts=3) for _ in range(20)}) > 1
    assert retry_delay(attempts=30) <= timedelta(hours=1)


def test_a_permanent_refusal_fails_without_retrying(settings):
    settings.EMAIL_BACKEND = f"{__name__}._PermanentFailureBackend"
    email = _queue()

    outbox_send_queued()

    email.refresh_from_db()
    assert email.status == OutboxStatus.FAILED
    assert email.attempts == 1
    assert "SMTPRecipientsRefused" in email.last_error


def test_one_bad_message_does_not_stop_the_batch(monkeypatch):
    bad = OutboundEmailFactory(subject="Bad")
    good = OutboundEmailFactory(subject="Good")
    real_deliver = outbox._deliver

    def deliver(*, email, backend, owner):
        if email.pk == bad.pk:
            email.to_email = "not an address\n"  # a header injection the backend refuses
        return real_deliver(email=email, backend=backend, owner=owner)

    monkeypatch.setattr(outbox, "_deliver", deliver)

    assert outbox_send_queued() == 1

    bad.refresh_from_db()
    good.refresh_from_db()
    assert bad.status == OutboxStatus.FAILED
    assert good.status == OutboxStatus.SENT
    assert [m.subject for m in mail.outbox] == ["Good"]


def test_sending_writes_an_event_on_the_related_record():
    contact = ContactFactory()
    _queue(related=contact)

    outbox_send_queued()

    event = Activity.objects.for_object(contact).get()
    assert event.kind == ActivityKind.SYSTEM
    assert event.summary == "Email sent to customer@example.com: Your quote"


def test_an_admin_can_requeue_a_message_whose_lease_ran_out(django_capture_on_commit_callbacks):
    stuck = OutboundEmailFactory(
        status=OutboxStatus.SENDING,
        attempts=1,
        lease_owner="dead-host:1:abc",
        lease_until=timezone.now() - timedelta(seconds=1),
    )

    with django_capture_on_commit_callbacks() as callbacks:
        assert outbox_requeue(email=stuck) is True

    assert stuck.status == OutboxStatus.QUEUED
    assert stuck.attempts == 0
    assert len(callbacks) == 1
    assert outbox_send_queued() == 1
    assert len(mail.outbox) == 1


def test_a_message_a_live_worker_is_sending_cannot_be_requeued():
    busy = OutboundEmailFactory(
        status=OutboxStatus.SENDING,
        attempts=1,
        lease_owner="other-host:1:abc",
        lease_until=timezone.now() + timedelta(minutes=1),
    )

    assert outbox_requeue(email=busy) is False


def test_an_admin_can_requeue_a_failed_message_with_fresh_attempts():
    failed = OutboundEmailFactory(status=OutboxStatus.FAILED, attempts=MAX_ATTEMPTS)

    assert outbox_requeue(email=failed) is True

    failed.refresh_from_db()
    assert failed.status == OutboxStatus.QUEUED
    assert failed.attempts == 0


def test_a_sent_message_is_never_requeued():
    sent = OutboundEmailFactory(status=OutboxStatus.SENT, sent_at=timezone.now())

    assert outbox_requeue(email=sent) is False

    sent.refresh_from_db()
    assert sent.status == OutboxStatus.SENT
    assert outbox_send_queued() == 0


class _TimeLimitBackend(_RaisingBackend):
    error = SoftTimeLimitExceeded()


def test_a_run_cut_short_by_its_time_limit_resends_the_message_in_hand_as_uncertain(settings):
    """The message being handed over when the limit hits may have arrived: back in the queue,
    uncertain (same Message-ID next time). The ones not tried yet were never claimed."""
    settings.EMAIL_BACKEND = f"{__name__}._TimeLimitBackend"
    first, second, third = OutboundEmailFactory.create_batch(3)

    with pytest.raises(SoftTimeLimitExceeded):
        outbox_send_queued()

    first.refresh_from_db()
    assert (first.status, first.uncertain, first.lease_owner) == (OutboxStatus.QUEUED, True, "")
    for email in (second, third):
        email.refresh_from_db()
        assert (email.status, email.attempts, email.claimed_at) == (OutboxStatus.QUEUED, 0, None)
