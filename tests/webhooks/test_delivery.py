"""Deliveries reach a real local HTTP receiver, signed per Standard Webhooks (checked with the
reference ``standardwebhooks`` package), retried on failure, never delivered twice, and a
failing endpoint is disabled with an email to the admins."""

import json
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from crm import webhooks
from crm.choices import WebhookDeliveryState as State
from crm.models import OutboundEmail, WebhookDelivery
from crm.services import webhooks as webhook_services
from crm.webhooks.delivery import _claim_next, retry_delay, webhook_sweep, webhooks_deliver
from tests.factories import AccountFactory, WebhookEndpointFactory
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.django_db


def verify(endpoint_secret: str, request) -> dict:
    """What a receiver does with the reference library: raises unless the signature holds."""
    return Webhook(endpoint_secret).verify(request.body, request.headers)


def test_a_delivery_is_signed_so_the_reference_library_verifies_it(receiver):
    endpoint = WebhookEndpointFactory(url=receiver.url)
    account = AccountFactory(name="Acme")

    webhooks.emit("account.created", account)
    webhooks_deliver()

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    payload = verify(endpoint.secret, request)
    assert payload["type"] == "account.created"
    assert payload["data"]["id"] == account.pk
    assert payload["data"]["name"] == "Acme"
    assert payload["data"]["url"].endswith(f"/accounts/{account.pk}/")
    assert payload["timestamp"].endswith("Z")
    assert request.headers["webhook-id"].startswith("msg_")
    assert request.headers["content-type"] == "application/json"
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.last_response_code) == (
        State.DELIVERED,
        1,
        200,
    )
    assert delivery.event_id == request.headers["webhook-id"]


def test_a_tampered_body_or_another_secret_fails_verification(receiver):
    endpoint = WebhookEndpointFactory(url=receiver.url)
    webhooks.emit("account.created", AccountFactory())
    webhooks_deliver()
    request = receiver.requests[0]

    from standardwebhooks.webhooks import WebhookVerificationError

    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint.secret).verify(request.body + b" ", request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(WebhookEndpointFactory().secret).verify(request.body, request.headers)


def test_after_a_rotation_both_the_old_and_the_new_secret_verify(receiver, admin):
    endpoint = WebhookEndpointFactory(url=receiver.url)
    old = endpoint.secret

    endpoint = webhook_services.webhook_endpoint_rotate_secret(endpoint=endpoint, user=admin)
    webhooks.emit("account.created", AccountFactory())
    webhooks_deliver()

    request = receiver.requests[0]
    assert endpoint.secret != old and endpoint.secret.startswith("whsec_")
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    verify(old, request)
    verify(endpoint.secret, request)


def test_the_old_secret_stops_signing_when_its_grace_period_ends(receiver, admin):
    endpoint = WebhookEndpointFactory(url=receiver.url)
    endpoint = webhook_services.webhook_endpoint_rotate_secret(endpoint=endpoint, user=admin)
    endpoint.previous_secret_expires_at = timezone.now() - timedelta(seconds=1)
    endpoint.save()

    webhooks.emit("account.created", AccountFactory())
    webhooks_deliver()

    assert len(receiver.requests[0].headers["webhook-signature"].split(" ")) == 1


def test_a_receiver_failing_three_times_gets_the_event_on_the_fourth_try_once(local_targets):
    with Receiver(statuses=[500, 500, 500]) as receiver:
        endpoint = WebhookEndpointFactory(url=receiver.url)
        webhooks.emit("account.created", AccountFactory())

        webhooks_deliver()
        webhooks_deliver()  # nothing left to do: sends nothing more

    assert [r.headers["webhook-id"] for r in receiver.requests] == [
        receiver.requests[0].headers["webhook-id"]
    ] * 4
    for request in receiver.requests:
        verify(endpoint.secret, request)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts) == (State.DELIVERED, 4)
    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0 and endpoint.active


def test_retries_wait_on_the_schedule_with_jitter(settings):
    settings.WEBHOOK_RETRY_SCHEDULE = [5, 300, 1800]

    delays = [retry_delay(attempts=1).total_seconds() for _ in range(50)]

    assert all(4 <= d <= 6 for d in delays) and len(set(delays)) > 1
    assert 240 <= retry_delay(attempts=2).total_seconds() <= 360
    assert retry_delay(attempts=4) is None  # the schedule is used up: the delivery fails


def test_a_failed_attempt_waits_for_its_time(local_targets):
    local_targets.WEBHOOK_RETRY_SCHEDULE = [300]
    with Receiver(statuses=[503]) as receiver:
        WebhookEndpointFactory(url=receiver.url)
        webhooks.emit("account.created", AccountFactory())
        webhooks_deliver()
        webhooks_deliver()

    assert len(receiver.requests) == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == State.PENDING
    assert delivery.last_response_code == 503 and delivery.last_error == "HTTP 503"
    assert delivery.next_attempt_at > timezone.now() + timedelta(seconds=200)


def test_the_schedule_used_up_fails_the_delivery_and_the_operators_see_it(
    local_targets, client, admin
):
    local_targets.WEBHOOK_RETRY_SCHEDULE = [0, 0]
    with Receiver(statuses=[500] * 10, answer=b"<script>alert(1)</script>" * 100) as receiver:
        WebhookEndpointFactory(url=receiver.url)
        webhooks.emit("account.created", AccountFactory())
        webhooks_deliver()

    delivery = WebhookDelivery.objects.get()
    assert len(receiver.requests) == 3
    assert (delivery.state, delivery.attempts) == (State.FAILED, 3)
    assert len(delivery.last_response_body) == 1000  # an excerpt
    client.force_login(admin)
    page = client.get("/operations/work/").content.decode()
    assert delivery.event_id in page
    assert "<script>alert" not in page


def test_redirects_are_not_followed(local_targets):
    with (
        Receiver() as inner,
        Receiver(statuses=[302, 302], extra_headers={"Location": inner.url}) as outer,
    ):
        local_targets.WEBHOOK_RETRY_SCHEDULE = [0]
        WebhookEndpointFactory(url=outer.url)
        webhooks.emit("account.created", AccountFactory())
        webhooks_deliver()

    assert len(outer.requests) == 2 and inner.requests == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == State.FAILED
    assert "redirects are not followed" in delivery.last_error


def test_a_slow_receiver_times_out(local_targets):
    local_targets.WEBHOOK_TIMEOUT_SECONDS = 0.3
    local_targets.WEBHOOK_RETRY_SCHEDULE = [600]
    with Receiver(delay=1.0) as receiver:
        WebhookEndpointFactory(url=receiver.url)
        webhooks.emit("account.created", AccountFactory())
        webhooks_deliver()

    delivery = WebhookDelivery.objects.get()
    assert delivery.state == State.PENDING and delivery.attempts == 1
    assert "timed out" in delivery.last_error.lower()


def test_the_answer_is_read_only_up_to_the_cap(local_targets):
    local_targets.WEBHOOK_RESPONSE_MAX_BYTES = 100
    with Receiver(answer=b"x" * 100_000) as receiver:
        WebhookEndpointFactory(url=receiver.url)
        webhooks.emit("account.created", AccountFactory())
        webhooks_deliver()

    delivery = WebhookDelivery.objects.get()
    assert delivery.state == State.DELIVERED and len(delivery.last_response_body) == 100


def test_an_event_rolled_back_with_its_change_is_never_sent(receiver):
    WebhookEndpointFactory(url=receiver.url)

    with pytest.raises(RuntimeError), transaction.atomic():
        webhooks.emit("account.created", AccountFactory())
        raise RuntimeError

    webhooks_deliver()
    assert WebhookDelivery.objects.count() == 0 and receiver.requests == []


def test_only_subscribed_active_endpoints_get_an_event(receiver):
    everything = WebhookEndpointFactory(url=receiver.url, event_types=[])
    accounts = WebhookEndpointFactory(url=receiver.url, event_types=["account.created"])
    WebhookEndpointFactory(url=receiver.url, event_types=["lead.created"])
    WebhookEndpointFactory(url=receiver.url, active=False)

    assert webhooks.emit("account.created", AccountFactory()) == 2

    assert set(WebhookDelivery.objects.values_list("endpoint", flat=True)) == {
        everything.pk,
        accounts.pk,
    }
    # One event, one id, whichever endpoint it goes to.
    assert WebhookDelivery.objects.values("event_id").distinct().count() == 1


def test_a_killed_workers_delivery_is_sent_again_with_the_same_id_after_its_lease(receiver):
    WebhookEndpointFactory(url=receiver.url)
    webhooks.emit("account.created", AccountFactory())
    # A worker claims the delivery and dies while sending it.
    claimed = _claim_next(owner="dead-host:1:abc")
    WebhookDelivery.objects.filter(pk=claimed.pk).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )

    webhooks_deliver()
    assert receiver.requests == []  # a leased row is not taken while its sweep has not run

    assert webhook_sweep() == 1
    webhooks_deliver()

    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.uncertain, delivery.attempts) == (State.DELIVERED, True, 2)
    assert [r.headers["webhook-id"] for r in receiver.requests] == [claimed.event_id]


def test_a_live_lease_is_not_swept():
    endpoint = WebhookEndpointFactory()
    webhooks.emit("account.created", AccountFactory())
    _claim_next(owner="busy-host:1:abc")

    assert webhook_sweep() == 0
    assert WebhookDelivery.objects.get(endpoint=endpoint).state == State.SENDING


def test_an_endpoint_failing_for_long_is_disabled_and_the_admins_are_told(
    local_targets, admin, client
):
    local_targets.WEBHOOK_DISABLE_AFTER = 3
    local_targets.WEBHOOK_DISABLE_FAILING_HOURS = 0
    local_targets.WEBHOOK_RETRY_SCHEDULE = [3600]
    with Receiver(statuses=[500] * 10) as receiver:
        endpoint = WebhookEndpointFactory(url=receiver.url)
        for _ in range(5):
            webhooks.emit("account.created", AccountFactory())
        webhooks_deliver()

        assert len(receiver.requests) == 3  # then disabled: the others wait
        endpoint.refresh_from_db()
        assert not endpoint.active
        assert "3 failed attempts in a row" in endpoint.disabled_reason
        email = OutboundEmail.objects.get(subject__startswith="Webhook endpoint disabled")
        assert email.to_email == admin.email
        assert endpoint.url in email.body_text
        # A new event is not recorded for a disabled endpoint.
        assert webhooks.emit("account.created", AccountFactory()) == 0

        # When an admin enables it again, the waiting deliveries go out at once.
        receiver.statuses.clear()
        webhook_services.webhook_endpoint_enable(endpoint=endpoint, user=admin)
        webhooks_deliver()

    assert len(receiver.requests) == 3 + 5
    assert WebhookDelivery.objects.filter(state=State.DELIVERED).count() == 5
    endpoint.refresh_from_db()
    assert endpoint.active and endpoint.consecutive_failures == 0


def test_a_short_streak_of_failures_does_not_disable(local_targets):
    local_targets.WEBHOOK_DISABLE_AFTER = 3
    local_targets.WEBHOOK_DISABLE_FAILING_HOURS = 24
    local_targets.WEBHOOK_RETRY_SCHEDULE = [3600]
    with Receiver(statuses=[500] * 10) as receiver:
        endpoint = WebhookEndpointFactory(url=receiver.url)
        for _ in range(5):
            webhooks.emit("account.created", AccountFactory())
        webhooks_deliver()

    endpoint.refresh_from_db()
    assert endpoint.active and endpoint.consecutive_failures == 5
    assert not OutboundEmail.objects.filter(subject__startswith="Webhook endpoint").exists()


def test_replay_sends_the_same_payload_and_id_again(receiver, admin):
    WebhookEndpointFactory(url=receiver.url)
    webhooks.emit("account.created", AccountFactory())
    webhooks_deliver()
    original = WebhookDelivery.objects.get()

    replay = webhook_services.webhook_delivery_replay(delivery=original, user=admin)
    webhooks_deliver()

    replay.refresh_from_db()
    assert replay.state == State.DELIVERED and replay.replay_of == original
    first, second = receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == original.event_id
    assert json.loads(first.body) == json.loads(second.body)


def test_a_test_event_goes_to_one_endpoint_whatever_it_subscribes_to(receiver, admin):
    endpoint = WebhookEndpointFactory(url=receiver.url, event_types=["lead.created"])
    WebhookEndpointFactory(url=receiver.url)

    webhook_services.webhook_endpoint_send_test(endpoint=endpoint, user=admin)
    webhooks_deliver()

    (request,) = receiver.requests
    assert verify(endpoint.secret, request)["type"] == "webhook.test"


def test_a_receiver_trickling_its_answer_is_cut_off(local_targets):
    """Each read waits at most the timeout, and the whole answer at most twice that."""
    import socket
    import threading
    import time

    local_targets.WEBHOOK_TIMEOUT_SECONDS = 0.5
    local_targets.WEBHOOK_RETRY_SCHEDULE = [600]
    server = socket.create_server(("127.0.0.1", 0))

    def trickle():
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        try:
            for _ in range(40):
                conn.sendall(b"x")
                time.sleep(0.1)
        except OSError:
            pass
        conn.close()

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    WebhookEndpointFactory(url=f"http://127.0.0.1:{server.getsockname()[1]}/")
    webhooks.emit("account.created", AccountFactory())

    started = time.monotonic()
    webhooks_deliver()

    assert time.monotonic() - started < 2.5
    delivery = WebhookDelivery.objects.get()
    assert delivery.state == State.PENDING and "too long" in delivery.last_error
    server.close()
