"""A real Celery worker sends an A/B email campaign to a segment: every consenting recipient
gets exactly one email, the non-consenting, unsubscribed and suppressed none, and no run queues
more than the campaign's per-minute rate in any minute: a run in a new minute sends up to the rate,
a stray run within the same minute nothing (the test moves the recorded send times back a minute
to let one pass). The worker kit is tests/worker.py."""

from datetime import timedelta

import pytest
from django.db.models import Count, F
from django.utils import timezone

from crm.choices import OutboxStatus, Role
from crm.models import OutboundEmail
from leads.campaigns.services.sending import email_campaign_schedule
from leads.choices import EmailCampaignStatus, RecipientStatus, SkipReason
from leads.models import CampaignRecipient, EmailCampaign
from leads.tasks import email_campaigns_run
from tests.factories.crm import ContactFactory, UserFactory
from tests.factories.email_campaigns import (
    EmailCampaignFactory,
    EmailVariantFactory,
    SuppressionFactory,
)
from tests.factories.leads import LeadFactory
from tests.factories.segments import SegmentFactory
from tests.worker import (
    publishing_to,
    succeeded_runs,
    wait_until,
    worker_broker,
    worker_env,
    worker_started,
)

pytestmark = [
    pytest.mark.worker,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.pgbouncer,
]

CONSENTING = 25
RATE = 10
TASK_NAME = "leads.tasks.email_campaigns_run"
DEADLINE_SECONDS = 120


def _reached(campaign):
    return CampaignRecipient.objects.filter(
        campaign=campaign, status__in=[RecipientStatus.QUEUED, RecipientStatus.SENT]
    ).count()


def _a_minute_passes(campaign):
    """Move the campaign's recorded send times back a minute, as if one had gone by."""
    CampaignRecipient.objects.filter(campaign=campaign, queued_at__isnull=False).update(
        queued_at=F("queued_at") - timedelta(seconds=61)
    )


def _outbox_drained():
    return not OutboundEmail.objects.filter(
        status__in=[OutboxStatus.QUEUED, OutboxStatus.SENDING]
    ).exists()


def test_a_worker_sends_an_ab_campaign_once_to_each_consenting_recipient_at_the_rate(
    tmp_path, role_groups
):
    # Given "VPs" with consent, and VPs who must get nothing
    manager = UserFactory(username="manager", roles=[Role.MANAGER])
    segment = SegmentFactory(owner=manager, name="VPs")
    consenting = ContactFactory.create_batch(CONSENTING, title="VP Sales", marketing_consent=True)
    no_consent = ContactFactory(title="VP Ops", marketing_consent=False)
    unsubscribed = ContactFactory(title="VP Ops", marketing_consent=True)
    SuppressionFactory(email=unsubscribed.email, reason="unsubscribe")
    bounced = ContactFactory(title="VP Ops", marketing_consent=True)
    SuppressionFactory(email=bounced.email, reason="bounce")
    unsubscribed_lead = ContactFactory(title="VP Ops", marketing_consent=True)
    LeadFactory(email=unsubscribed_lead.email, unsubscribed_at=timezone.now())
    ContactFactory(title="Engineer", marketing_consent=True)  # outside the segment
    # and an A/B campaign to them at 10 a minute, sent now
    campaign = EmailCampaignFactory(created_by=manager, segment=segment, rate_per_minute=RATE)
    EmailVariantFactory(campaign=campaign, label="A", subject="A for {{ first_name }}")
    EmailVariantFactory(campaign=campaign, label="B", subject="B for {{ first_name }}")
    email_campaign_schedule(campaign=campaign, at=timezone.now() - timedelta(seconds=1))

    var_dir, mail_dir, log_path = tmp_path / "var", tmp_path / "mail", tmp_path / "worker.log"
    mail_dir.mkdir()
    env = worker_env(var_dir=var_dir, mail_dir=mail_dir)
    reached_after_each_run = []
    with publishing_to(**worker_broker(var_dir)), worker_started(env, log_path) as worker:
        # When runs come in new minutes, and stray extra runs within a minute
        steps = (("new minute", 10), ("same minute", 10), ("new minute", 20))
        steps += (("new minute", 25), ("same minute", 25))
        for runs, (minute, expected) in enumerate(steps, start=1):
            if minute == "new minute":
                _a_minute_passes(campaign)
            email_campaigns_run.delay()
            wait_until(
                lambda runs=runs, expected=expected: (
                    succeeded_runs(log_path, TASK_NAME) >= runs
                    and _reached(campaign) == expected
                    and _outbox_drained()
                ),
                what=f"run {runs} finished with {expected} emails queued and delivered",
                log_path=log_path,
                worker=worker,
                timeout=DEADLINE_SECONDS,
                interval=0.05,
            )
            reached_after_each_run.append(_reached(campaign))
        # The last emails' delivery is recorded on the next run
        email_campaigns_run.delay()
        wait_until(
            lambda: (
                not CampaignRecipient.objects.filter(
                    campaign=campaign, status=RecipientStatus.QUEUED
                ).exists()
            ),
            what="every delivery recorded",
            log_path=log_path,
            worker=worker,
            timeout=DEADLINE_SECONDS,
            interval=0.05,
        )

    # Then each run queued at most the rate, and each consenting VP got exactly one email
    assert reached_after_each_run == [10, 10, 20, 25, 25]
    per_run = (
        CampaignRecipient.objects.filter(campaign=campaign, queued_at__isnull=False)
        .values("queued_at")
        .annotate(n=Count("id"))
        .order_by("queued_at")
    )
    assert [row["n"] for row in per_run] == [10, 10, 5]
    delivered = [
        line.split(":", 1)[1].strip()
        for path in mail_dir.iterdir()
        for line in path.read_text().splitlines()
        if line.startswith("To:")
    ]
    assert sorted(delivered) == sorted(c.email for c in consenting)
    subjects = {
        line.split(":", 1)[1].strip()[:1]
        for path in mail_dir.iterdir()
        for line in path.read_text().splitlines()
        if line.startswith("Subject:")
    }
    assert subjects == {"A", "B"}
    skipped = dict(
        CampaignRecipient.objects.filter(
            campaign=campaign, status=RecipientStatus.SKIPPED
        ).values_list("contact_id", "skip_reason")
    )
    assert skipped == {
        no_consent.pk: SkipReason.NO_CONSENT,
        unsubscribed.pk: SkipReason.UNSUBSCRIBED,
        bounced.pk: SkipReason.SUPPRESSED,
        unsubscribed_lead.pk: SkipReason.UNSUBSCRIBED,
    }
    assert (
        CampaignRecipient.objects.filter(campaign=campaign, status=RecipientStatus.SENT).count()
        == CONSENTING
    )
    campaign.refresh_from_db()
    assert campaign.status == EmailCampaignStatus.SENT
    assert EmailCampaign.objects.count() == 1
