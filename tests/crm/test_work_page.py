"""The operators' page lists background work that needs a look, per kind, and retries it safely;
only admins reach it."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.choices import OutboxStatus
from crm.models import OutboundEmail
from tests.factories import OutboundEmailFactory

pytestmark = pytest.mark.django_db


def test_admins_see_failed_uncertain_and_stuck_emails_and_not_the_healthy_ones(
    client, admin, django_assert_max_num_queries
):
    failed = OutboundEmailFactory(status=OutboxStatus.FAILED, subject="Bounced", last_error="550")
    uncertain = OutboundEmailFactory(status=OutboxStatus.QUEUED, uncertain=True, subject="Maybe")
    stuck = OutboundEmailFactory(
        status=OutboxStatus.SENDING,
        subject="Stuck",
        lease_owner="dead-host:1:abc",
        lease_until=timezone.now() - timedelta(minutes=1),
    )
    OutboundEmailFactory(status=OutboxStatus.SENT, subject="Fine")
    OutboundEmailFactory(status=OutboxStatus.QUEUED, subject="Waiting")
    client.force_login(admin)

    # One query per kind of work (the notification digests are one) and the bell's count.
    with django_assert_max_num_queries(15):
        response = client.get(reverse("work_problems"))

    assert response.status_code == 200
    page = response.content.decode()
    for email in (failed, uncertain, stuck):
        assert email.subject in page
    assert "Fine" not in page and "Waiting" not in page
    assert page.count('type="submit">Retry') == 1  # only the failed one is retried by hand


def test_retry_puts_a_failed_email_back_in_the_queue_once(client, admin):
    failed = OutboundEmailFactory(status=OutboxStatus.FAILED, attempts=5)
    client.force_login(admin)
    url = reverse("work_retry", args=["outbox", failed.pk])

    first = client.post(url, follow=True)
    second = client.post(url, follow=True)

    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (OutboxStatus.QUEUED, 0)
    assert "back in the queue" in first.content.decode()
    assert "was not retried" in second.content.decode()


def test_a_live_send_is_not_retried_from_the_page(client, admin):
    busy = OutboundEmailFactory(
        status=OutboxStatus.SENDING,
        lease_owner="host:1:abc",
        lease_until=timezone.now() + timedelta(minutes=1),
    )
    client.force_login(admin)

    client.post(reverse("work_retry", args=["outbox", busy.pk]))

    assert OutboundEmail.objects.get(pk=busy.pk).status == OutboxStatus.SENDING


@pytest.mark.parametrize("who", ["rep", "agent", "manager"])
def test_other_roles_get_404(client, request, who):
    client.force_login(request.getfixturevalue(who))

    assert client.get(reverse("work_problems")).status_code == 404
    assert client.post(reverse("work_retry", args=["outbox", 1])).status_code == 404


def test_an_unknown_kind_is_a_404(client, admin):
    client.force_login(admin)

    assert client.post(reverse("work_retry", args=["nothing", 1])).status_code == 404


def test_the_home_page_tells_admins_how_much_needs_a_look(client, admin, manager):
    OutboundEmailFactory(status=OutboxStatus.FAILED)
    client.force_login(admin)

    page = client.get(reverse("home")).content.decode()

    assert "Background work" in page and reverse("work_problems") in page
    client.force_login(manager)
    assert "Background work" not in client.get(reverse("home")).content.decode()
