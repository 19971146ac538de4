import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.db.models import F
from django.urls import reverse

from crm.choices import OutboxStatus
from crm.models import OutboundEmail, User
from crm.seeding import SeedContext, demo_users_create
from leads.campaigns.selectors import (
    campaigns_attribution,
    compare_variants,
    email_campaign_progress,
    variant_results,
)
from leads.choices import (
    EmailCampaignStatus,
    EnrollmentState,
    EnrollmentStopReason,
    LeadSource,
    LeadStatus,
    RecipientStatus,
)
from leads.models import (
    Campaign,
    CampaignCredit,
    CampaignRecipient,
    EmailCampaign,
    Enrollment,
    Lead,
    Sequence,
)
from leads.seed import seed
from leads.services.sequences import sequences_run_due

pytestmark = pytest.mark.django_db


def test_seed_covers_every_status_source_and_enrolment_state():
    users = demo_users_create(scale=1, password="demo")
    out = io.StringIO()
    ctx = SeedContext(
        scale=1, users=users, now=dt.datetime(2025, 3, 14, tzinfo=dt.UTC), stdout=out
    ).for_step("leads")
    seed(ctx)
    # Alone, the step has no account to link its converted leads to: they keep their own
    # names, and are scored all the same.
    converted = Lead.objects.filter(status=LeadStatus.CONVERTED)
    assert converted.exists()
    assert not converted.filter(converted_account__isnull=False).exists()
    assert not converted.filter(quality__isnull=True).exists()
    assert "converted leads stay unlinked" in out.getvalue()
    assert "linking" not in out.getvalue()
    assert set(Lead.objects.values_list("status", flat=True)) == set(LeadStatus.values)
    assert set(Lead.objects.values_list("source", flat=True)) == set(LeadSource.values)
    assert Campaign.objects.filter(cost__gt=0).count() == 6
    assert Sequence.objects.count() == 2
    states = set(Enrollment.objects.values_list("state", flat=True))
    assert states == set(EnrollmentState.values)
    reasons = set(Enrollment.objects.values_list("stop_reason", flat=True))
    assert {EnrollmentStopReason.REPLIED, EnrollmentStopReason.UNSUBSCRIBED} <= reasons
    lead = Lead.objects.exclude(score_breakdown=[]).first()
    assert lead.score == max(0, min(100, sum(item["points"] for item in lead.score_breakdown)))
    assert Lead.objects.filter(email__contains="@").count() == Lead.objects.count()
    sequences_run_due()  # the demo's due steps run without errors


DEMO = ("--scale", "1", "--force", "--anchor-date", "2025-03-14")


def test_demo_email_campaigns_show_results_a_verdict_and_credited_revenue(client):
    """Given the demo at scale 1, a manager sees the email campaigns with computed numbers."""
    call_command("seed_demo", *DEMO, stdout=io.StringIO())
    assert client.login(username="manager", password="demo")

    body = client.get(reverse("leads:email_campaign_list")).content.decode()
    campaigns = EmailCampaign.objects.order_by("name")
    assert {c.status for c in campaigns} == {EmailCampaignStatus.SENT, EmailCampaignStatus.DRAFT}
    for campaign in campaigns:
        assert campaign.name in body

    ab = EmailCampaign.objects.get(status=EmailCampaignStatus.SENT, variants__label="B")
    response = client.get(ab.get_absolute_url())
    body = response.content.decode()
    results = variant_results(ab)
    assert [r["label"] for r in results] == ["A", "B"]
    for row in results:
        assert row["opened"] > row["clicked"] > 0
        assert f'data-variant="{row["label"]}"' in body
    assert 'id="ab-verdict"' in body and "Variant B is ahead" in body
    assert compare_variants(results).significant
    progress = email_campaign_progress(ab)
    assert progress["sent"] and progress["skip_no_consent"] and progress["bounced"]
    assert f'data-count="sent">{progress["sent"]}<' in body

    # Every number was computed from the facts: replies are logged emails, conversions wins.
    sent = CampaignRecipient.objects.filter(status=RecipientStatus.SENT)
    assert sent.filter(replied_at__isnull=False).exists()
    assert sent.filter(converted_at__isnull=False).exists()
    assert not CampaignRecipient.objects.filter(clicked_at__lt=F("opened_at")).exists()
    assert not CampaignRecipient.objects.filter(
        status=RecipientStatus.SKIPPED, skip_reason=""
    ).exists()
    assert sent.filter(outbound_email__status=OutboxStatus.SENT).count() == sent.count()
    # Nothing waits in the outbox: the demo never emails anyone.
    assert not OutboundEmail.objects.exclude(status=OutboxStatus.SENT).exists()

    roi = client.get(reverse("leads:campaign_roi", args=[ab.campaign_id])).content.decode()
    assert "Credited won revenue" in roi
    credited = campaigns_attribution(user=User.objects.get(username="manager"))
    assert any(a.first_touch > 0 and a.last_touch > 0 for a in credited.values())
    assert credited[ab.campaign_id].first_touch > 0
    assert f'data-first-touch="{credited[ab.campaign_id].first_touch}"' in roi


def test_demo_converted_leads_became_a_contact_of_an_account():
    call_command("seed_demo", "--scale", "0.2", "--force", stdout=io.StringIO())
    converted = Lead.objects.filter(status=LeadStatus.CONVERTED).select_related(
        "converted_account", "converted_contact"
    )
    assert converted.exists()
    for lead in converted:
        assert lead.converted_contact.account_id == lead.converted_account_id
        assert lead.company_name == lead.converted_account.name
        assert lead.last_name == lead.converted_contact.last_name
    assert (
        not Lead.objects.exclude(status=LeadStatus.CONVERTED)
        .filter(converted_account__isnull=False)
        .exists()
    )
    # Lead captures are campaign touches: some won revenue is credited to them.
    assert CampaignCredit.objects.exists()


def test_demo_email_campaigns_are_loaded_once():
    call_command("seed_demo", "--scale", "0.2", "--force", stdout=io.StringIO())
    counts = (
        EmailCampaign.objects.count(),
        CampaignRecipient.objects.count(),
        OutboundEmail.objects.count(),
        CampaignCredit.objects.count(),
    )
    assert counts[0] == 3 and counts[1]
    out = io.StringIO()
    call_command("seed_demo", "--scale", "0.2", "--force", stdout=out)
    assert "already loaded" in out.getvalue()
    assert counts == (
        EmailCampaign.objects.count(),
        CampaignRecipient.objects.count(),
        OutboundEmail.objects.count(),
        CampaignCredit.objects.count(),
    )
