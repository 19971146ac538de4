"""Replied and converted per variant, and campaign ROI under first- and last-touch attribution,
on small hand-worked data."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.choices import ActivityKind, Role
from crm.services.timeline import activity_log
from leads.campaigns.selectors import campaign_roi, campaigns_attribution, variant_results
from leads.campaigns.services.attribution import campaign_credits_refresh
from leads.campaigns.services.outcomes import (
    email_campaign_outcomes_record,
    email_campaigns_outcomes_record,
)
from leads.choices import RecipientStatus
from leads.models import Lead
from tests.factories.crm import AccountFactory, ContactFactory, TeamFactory, UserFactory
from tests.factories.email_campaigns import (
    CampaignRecipientFactory,
    EmailCampaignFactory,
    EmailVariantFactory,
)
from tests.factories.leads import CampaignFactory, LeadFactory
from tests.factories.sales import OpportunityFactory, stage_named

pytestmark = pytest.mark.django_db

T0 = timezone.now().replace(microsecond=0) - timedelta(days=300)


def days(n):
    return T0 + timedelta(days=n)


def sent_to(campaign, variant=None, *, contact=None, at=T0, status=RecipientStatus.SENT):
    return CampaignRecipientFactory(
        campaign=campaign,
        variant=variant,
        contact=contact or ContactFactory(),
        status=status,
        queued_at=at,
    )


def email_logged(contact, at, kind=ActivityKind.EMAIL):
    activity_log(subject=contact, kind=kind, summary="Re: your offer", occurred_at=at)


def won(account, at, amount="1000.00", currency="EUR", owner=None):
    return OpportunityFactory(
        account=account,
        owner=owner or account.owner,
        stage=stage_named("Closed won"),
        closed_at=at,
        amount=Decimal(amount),
        currency=currency,
    )


def captured(campaign, account, at, contact=None):
    lead = LeadFactory(campaign=campaign, converted_account=account, converted_contact=contact)
    Lead.objects.filter(pk=lead.pk).update(created_at=at, converted_at=at)
    return lead


def test_replied_and_converted_per_variant_follow_the_windows():
    campaign = EmailCampaignFactory(started_at=T0)
    a = EmailVariantFactory(campaign=campaign, label="A")
    b = EmailVariantFactory(campaign=campaign, label="B")
    # A: one reply inside 14 days; one too late; a call and an earlier email are not replies
    replied = sent_to(campaign, a)
    email_logged(replied.contact, days(2))
    late = sent_to(campaign, a)
    email_logged(late.contact, days(20))
    other = sent_to(campaign, a)
    email_logged(other.contact, days(1), kind=ActivityKind.CALL)
    email_logged(other.contact, days(-1))
    # B: a won deal of the account within 90 days, and a lead converted into the contact
    bought = sent_to(campaign, b)
    won(bought.contact.account, days(10))
    too_early = sent_to(campaign, b)
    won(too_early.contact.account, days(-1))
    won(too_early.contact.account, days(100))
    via_lead = sent_to(campaign, b)
    captured(None, via_lead.contact.account, days(5), contact=via_lead.contact)
    # A skipped recipient never counts
    skipped = sent_to(campaign, None, status=RecipientStatus.SKIPPED)
    email_logged(skipped.contact, days(1))

    assert email_campaign_outcomes_record(campaign_id=campaign.pk) == {
        "replied": 1,
        "converted": 2,
    }
    assert email_campaign_outcomes_record(campaign_id=campaign.pk) == {
        "replied": 0,
        "converted": 0,
    }

    replied.refresh_from_db()
    bought.refresh_from_db()
    assert replied.replied_at == days(2)
    assert bought.converted_at == days(10)
    rows = {r["label"]: r for r in variant_results(campaign)}
    assert (rows["A"]["delivered"], rows["A"]["replied"], rows["A"]["converted"]) == (3, 1, 0)
    assert (rows["B"]["delivered"], rows["B"]["replied"], rows["B"]["converted"]) == (3, 0, 2)
    assert rows["A"]["replied_rate"] == pytest.approx(1 / 3)
    assert rows["B"]["converted_rate"] == pytest.approx(2 / 3)


def test_the_periodic_run_covers_only_campaigns_inside_the_window():
    recent = EmailCampaignFactory(status="sent", started_at=timezone.now() - timedelta(days=3))
    old = EmailCampaignFactory(status="sent", started_at=timezone.now() - timedelta(days=200))
    draft = EmailCampaignFactory()
    assert set(email_campaigns_outcomes_record()) == {recent.pk}
    assert old.pk and draft.pk


@pytest.fixture
def attribution_world():
    """Campaigns X (cost 1,000) and Y (cost 500); their touches and won deals, worked by hand:

    - account P: X emails p1 on day 0, Y captures p2 as a lead on day 5; 3,000 won on day 10
      → first-touch X, last-touch Y.
    - account Q: X captures a lead on day 0; 2,000 won on day 20 → X both ways; 999 won in
      USD, which has no rate: credited to X, left out of the amounts. Not credited: 700 won the
      day before the touch, 800 won on day 200 (touch older than 90 days).
    - account R: Y emails r1 on day 0; 400 won on day 1 → Y both ways.
    - account S: never touched; 5,000 won → nobody.
    """
    rep = UserFactory(username="attribution-rep", roles=[Role.SALES_REP])
    x = CampaignFactory(name="X", cost=Decimal("1000.00"))
    y = CampaignFactory(name="Y", cost=Decimal("500.00"))
    x_mail, y_mail = EmailCampaignFactory(campaign=x), EmailCampaignFactory(campaign=y)
    p, q, r, s = (AccountFactory(owner=rep) for _ in range(4))
    sent_to(x_mail, contact=ContactFactory(account=p), at=days(0))
    captured(y, p, days(5))
    won(p, days(10), "3000.00")
    captured(x, q, days(0))
    won(q, days(20), "2000.00")
    won(q, days(-1), "700.00")
    won(q, days(200), "800.00")
    won(q, days(20), "999.00", currency="USD")
    sent_to(y_mail, contact=ContactFactory(account=r), at=days(0))
    won(r, days(1), "400.00")
    won(s, days(3), "5000.00")
    campaign_credits_refresh()
    return {"x": x, "y": y, "rep": rep}


def test_first_and_last_touch_credit_match_the_hand_computation(attribution_world, admin):
    x, y = attribution_world["x"], attribution_world["y"]

    credited = campaigns_attribution(user=admin)

    assert credited[x.pk].first_touch == Decimal("5000.00")
    assert credited[x.pk].first_touch_deals == 2
    assert credited[x.pk].last_touch == Decimal("2000.00")
    assert credited[x.pk].last_touch_deals == 1
    assert credited[y.pk].first_touch == Decimal("400.00")
    assert credited[y.pk].last_touch == Decimal("3400.00")
    assert credited[y.pk].last_touch_deals == 2
    assert set(credited) == {x.pk, y.pk}
    # One campaign alone reads the same figures, and a second refresh changes nothing
    assert campaign_credits_refresh() == 8
    assert (credited[x.pk].first_touch_left_out, credited[x.pk].left_out_currencies) == (
        1,
        ("USD",),
    )
    assert campaigns_attribution(user=admin, campaign=x) == {x.pk: credited[x.pk]}
    assert campaigns_attribution(user=admin, campaign=y) == {y.pk: credited[y.pk]}


def test_campaign_roi_against_cost(attribution_world, admin, django_assert_max_num_queries):
    x = attribution_world["x"]
    assert admin.is_admin_role  # roles are read once per request, before any page's queries
    with django_assert_max_num_queries(1):
        roi = campaign_roi(campaign=x, user=admin)
    assert roi["cost"] == Decimal("1000.00")
    assert roi["first_touch"] == Decimal("5000.00")
    assert roi["last_touch"] == Decimal("2000.00")
    assert roi["first_touch_roi"] == Decimal("4")
    assert roi["last_touch_roi"] == Decimal("1")


def test_credit_counts_only_the_deals_the_user_may_see(attribution_world, manager, rep):
    # The manager's team does not hold the deals' owner: nothing is credited for them
    assert campaigns_attribution(user=manager) == {}
    assert campaign_roi(campaign=attribution_world["x"], user=manager)["first_touch"] == 0


def test_a_credit_is_seen_by_whoever_sees_its_deal_after_reassignment_and_deletion(
    attribution_world, manager, rep, admin, agent
):
    from leads.models import CampaignCredit
    from sales.models import Opportunity
    from sales.services import opportunity_delete

    TeamFactory(name="Attribution", managers=[manager], members=[rep])
    deals = Opportunity.objects.filter(owner=attribution_world["rep"], status="won")
    credited = deals.filter(pk__in=CampaignCredit.objects.values("opportunity_id"))
    moved, deleted = credited.order_by("pk")[:2]

    # A deal moved to another owner by any write (here a bulk UPDATE) takes its credits along,
    Opportunity.objects.filter(pk=moved.pk).update(owner=rep)
    assert set(
        CampaignCredit.objects.filter(opportunity_id=moved.pk).values_list("owner", flat=True)
    ) == {rep.pk}
    # a deleted one (to the trash) takes them away,
    opportunity_delete(opportunity=deleted, user=admin)
    assert not CampaignCredit.objects.filter(opportunity_id=deleted.pk).exists()

    # and each role sees the credits of the deals it sees, no more, with or without owners.
    def credited_to(user, owner_ids=None):
        return {
            campaign: (a.first_touch, a.first_touch_deals, a.last_touch, a.last_touch_deals)
            for campaign, a in campaigns_attribution(user=user, owner_ids=owner_ids).items()
        }

    for user in (admin, manager, rep, attribution_world["rep"], agent):
        visible = Opportunity.objects.visible_to(user).values("id")
        expected = CampaignCredit.objects.filter(opportunity_id__in=visible)
        assert sum(n for c in credited_to(user).values() for n in (c[1], c[3])) == (
            expected.exclude(currency="USD").count()
        ), user
    assert credited_to(manager) and credited_to(manager) == credited_to(rep)
    assert credited_to(admin, owner_ids=[rep.pk]) == credited_to(rep)
    assert credited_to(agent) == {}


def test_the_hourly_task_is_scheduled_and_records_outcomes(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["leads-email-campaigns-outcomes"]
    assert entry["task"] == "leads.tasks.email_campaigns_outcomes"
    campaign = EmailCampaignFactory(status="sent", started_at=timezone.now() - timedelta(days=1))
    variant = EmailVariantFactory(campaign=campaign)
    recipient = sent_to(campaign, variant, at=timezone.now() - timedelta(days=1))
    email_logged(recipient.contact, timezone.now() - timedelta(hours=1))

    from leads.tasks import email_campaigns_outcomes

    assert email_campaigns_outcomes.apply().get() == {
        str(campaign.pk): {"replied": 1, "converted": 0}
    }


def test_roi_panel_shows_the_credited_figures_to_managers_and_admins(
    attribution_world, client, admin
):
    url = reverse("leads:campaign_roi", args=[attribution_world["x"].pk])
    client.force_login(admin)
    body = client.get(url).content.decode()
    assert 'data-first-touch="5000.00"' in body
    assert 'data-last-touch="2000.00"' in body
    assert "400%" in body and "100%" in body  # (5,000 − 1,000) ÷ 1,000 and (2,000 − 1,000) ÷ 1,000
    for role in (Role.SALES_REP, Role.SUPPORT_AGENT):
        client.force_login(UserFactory(roles=[role]))
        assert client.get(url).status_code == 404


def test_the_hourly_credit_refresh_is_scheduled_and_replaces_the_snapshot(
    attribution_world, admin, settings
):
    entry = settings.CELERY_BEAT_SCHEDULE["leads-campaign-credits-refresh"]
    assert entry["task"] == "leads.tasks.campaign_credits_refresh"
    from leads.tasks import campaign_credits_refresh as task

    # A deal lost after the last refresh drops out of the credits on the next run
    Opportunity = OpportunityFactory._meta.model
    Opportunity.objects.filter(amount=Decimal("400.00")).update(status="lost", lost_reason="price")
    assert task.apply().get() == 6
    credited = campaigns_attribution(user=admin)
    assert credited[attribution_world["y"].pk].first_touch == Decimal("0.00")
    assert credited[attribution_world["y"].pk].last_touch == Decimal("3000.00")
