"""The lead funnel dashboard against a small dataset worked by hand (range Jan–Mar 2026).

rep's leads, all created 2026-02-01 12:00:
  L1 web form, campaign A, converted 4 days later; its deal is won (5,000)
  L2 web form, campaign A, qualified 2 days later (status change), first call after 3 hours
  L3 web form, campaign A, new, first email after 5 hours
  L4 manual, no campaign, converted 10 days later; its deal is still open
  L5 referral, campaign B, disqualified
rep2: L6 web form, campaign B, new, first call after 1 hour.
outsider (not in the manager's team): L7 web form, campaign A, and a won deal of campaign A.
Campaign A cost 1,000; campaign B cost 600. Both won deals are credited to campaign A (first and
last touch), as the hourly attribution would.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from analytics.rollups import rollups_rebuild
from crm.choices import ActivityKind, Role
from crm.models import Account
from leads.campaigns.selectors import campaign_roi
from leads.choices import AttributionTouch, LeadSource, LeadStatus
from leads.models import Campaign, CampaignCredit, Lead
from sales.models import Opportunity
from tests.analytics.helpers import (
    at,
    by,
    count_queries,
    figure_rows,
    rows_of_every_figure,
    segment_of,
)
from tests.factories.crm import AccountFactory, ActivityFactory, UserFactory
from tests.factories.leads import CampaignFactory, LeadFactory
from tests.factories.sales import OpportunityFactory, stage_named

URL = reverse("analytics:funnel")
RANGE = {"start": "2026-01-01", "end": "2026-03-31"}
CREATED = at("2026-02-01")


def lead(owner, source, campaign=None, status=LeadStatus.NEW, converted_after_days=None):
    obj = LeadFactory(owner=owner, source=source, campaign=campaign, status=status)
    fields = {"created_at": CREATED}
    if converted_after_days is not None:
        fields["converted_at"] = CREATED + dt.timedelta(days=converted_after_days)
    Lead.objects.filter(pk=obj.pk).update(**fields)
    obj.refresh_from_db()
    return obj


def touch(obj, kind, hours):
    ActivityFactory(subject=obj, kind=kind, occurred_at=CREATED + dt.timedelta(hours=hours))


def won_deal(owner, campaign, amount, source_lead=None):
    opp = OpportunityFactory(
        owner=owner,
        stage=stage_named("Closed won"),
        amount=Decimal(amount),
        campaign=campaign,
        source_lead=source_lead,
    )
    Opportunity.objects.filter(pk=opp.pk).update(closed_at=at("2026-02-20"))
    for touch in AttributionTouch.values:
        CampaignCredit.objects.create(
            campaign=campaign,
            touch=touch,
            opportunity_id=opp.pk,
            owner=opp.owner,
            account=opp.account,
            amount=opp.amount,
            currency=opp.currency,
            won_at=at("2026-02-20"),
            touched_at=CREATED,
            computed_at=at("2026-02-21"),
        )
    return opp


@pytest.fixture
def funnel_data(rep, rep2, manager):
    outsider = UserFactory(username="outsider", roles=[Role.SALES_REP])
    a = CampaignFactory(name="Campaign A", cost=Decimal("1000"))
    b = CampaignFactory(name="Campaign B", cost=Decimal("600"))
    web, manual, referral = LeadSource.WEB_FORM, LeadSource.MANUAL, LeadSource.REFERRAL
    l1 = lead(rep, web, a, LeadStatus.CONVERTED, converted_after_days=4)
    won_deal(rep, a, "5000", source_lead=l1)
    l2 = lead(rep, web, a, LeadStatus.QUALIFIED)
    ActivityFactory(
        subject=l2,
        kind=ActivityKind.SYSTEM,
        summary="Status: Working → Qualified",
        occurred_at=CREATED + dt.timedelta(days=2),
    )
    touch(l2, ActivityKind.CALL, 3)
    l3 = lead(rep, web, a)
    touch(l3, ActivityKind.EMAIL, 5)
    l4 = lead(rep, manual, None, LeadStatus.CONVERTED, converted_after_days=10)
    OpportunityFactory(owner=rep, source_lead=l4)  # open
    lead(rep, referral, b, LeadStatus.DISQUALIFIED)
    l6 = lead(rep2, web, b)
    touch(l6, ActivityKind.CALL, 1)
    lead(outsider, web, a)
    won_deal(outsider, a, "7000")
    rollups_rebuild()


def test_funnel_steps(manager_client, funnel_data):
    rows = by(figure_rows(manager_client.get(URL, RANGE), "funnel"), "step")
    # 6 leads; qualified L1, L2, L4 = 3 (50 %); deals from L1, L4 = 2 (33.3 %, 2/3 of qualified);
    # won L1 = 1 (16.7 %, half of those with a deal).
    assert rows["Leads"]["leads"] == 6
    assert (rows["Qualified"]["leads"], rows["Qualified"]["of_leads"]) == (3, 50.0)
    assert (rows["Opportunity"]["leads"], rows["Opportunity"]["of_previous"]) == (2, 66.7)
    assert (rows["Won"]["leads"], rows["Won"]["of_leads"], rows["Won"]["of_previous"]) == (
        1,
        16.7,
        50.0,
    )


def test_leads_by_source_and_campaign(manager_client, funnel_data):
    response = manager_client.get(URL, RANGE)
    sources = by(figure_rows(response, "by_source"), "source")
    # Web form: L1, L2, L3, L6 = 4; qualified L1, L2; converted L1 → 25 %.
    assert sources["Web form"] == {
        "source": "Web form",
        "leads": 4,
        "qualified": 2,
        "converted": 1,
        "conversion": 25.0,
    }
    assert sources["Manual"]["converted"] == 1
    assert sources["Referral"]["leads"] == 1
    campaigns = by(figure_rows(response, "by_campaign"), "campaign")
    # A: L1, L2, L3 (the outsider's L7 is not the manager's); B: L5, L6; none: L4.
    assert {k: v["leads"] for k, v in campaigns.items()} == {
        "Campaign A": 3,
        "Campaign B": 2,
        "No campaign": 1,
    }


def test_time_to_first_touch_and_to_qualification(manager_client, funnel_data):
    rows = by(figure_rows(manager_client.get(URL, RANGE), "speed"), "source")
    # Web form first touches: 3 h (L2), 5 h (L3), 1 h (L6) → median 3 h.
    # Qualification: L1 converted after 4 days, L2 qualified after 2 days → median 3 days.
    assert rows["Web form"]["touch_hours"] == 3.0
    assert rows["Web form"]["qualify_days"] == 3.0
    # Manual: L4 converted after 10 days, never touched.
    assert rows["Manual"]["qualify_days"] == 10.0
    assert rows["Manual"]["touch_hours"] is None


def test_campaign_roi_is_the_campaign_pages(manager_client, funnel_data, manager):
    rows = by(figure_rows(manager_client.get(URL, RANGE), "campaign_roi"), "campaign")
    a = rows["Campaign A"]
    # A: cost 1,000, its 3 leads the manager sees → 333.33 a lead; the rep's 5,000 win credited
    # (the outsider's 7,000 is not the manager's) → ROI = (5,000 − 1,000) ÷ 1,000 = 400 %.
    assert (a["leads"], a["cost_per_lead"]) == (3, Decimal("333.33"))
    assert (a["first_touch_deals"], a["first_touch"], a["first_touch_roi"]) == (
        1,
        Decimal("5000.00"),
        400.0,
    )
    assert (a["last_touch"], a["last_touch_roi"]) == (Decimal("5000.00"), 400.0)
    b = rows["Campaign B"]
    # B: cost 600, 2 leads → 300 a lead; nothing credited → ROI −100 %.
    assert (b["cost_per_lead"], b["first_touch_deals"], b["first_touch_roi"]) == (
        Decimal("300.00"),
        0,
        -100.0,
    )
    # The same numbers as the campaign's own page, whatever the date range.
    for name, campaign in (("Campaign A", a), ("Campaign B", b)):
        page = campaign_roi(campaign=Campaign.objects.get(name=name), user=manager)
        assert campaign["first_touch_roi"] == round(float(page["first_touch_roi"]) * 100, 1)
        assert campaign["last_touch_roi"] == round(float(page["last_touch_roi"]) * 100, 1)
    later = by(
        figure_rows(
            manager_client.get(URL, {"start": "2026-06-01", "end": "2026-06-30"}), "campaign_roi"
        ),
        "campaign",
    )
    assert later["Campaign A"]["first_touch_roi"] == 400.0


def test_a_rep_sees_only_their_leads(rep_client, funnel_data):
    rows = by(figure_rows(rep_client.get(URL, RANGE), "funnel"), "step")
    assert rows["Leads"]["leads"] == 5  # L1–L5


def test_agents_cannot_open_it(agent_client):
    assert agent_client.get(URL).status_code == 404


def test_csv_export(manager_client, funnel_data):
    response = manager_client.get(URL, {**RANGE, "export": "campaign_roi"})
    lines = response.content.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("Campaign,Cost,Leads,Cost per lead,Won deals (first touch)")
    assert lines[1].startswith("Campaign A,1000.00,3,333.33,1,5000.00,400.0,1,5000.00,400.0")


def test_query_count_is_fixed_at_3_and_60_leads(manager_client, rep):
    campaign = CampaignFactory()
    LeadFactory.create_batch(3, owner=rep, campaign=campaign)
    small = count_queries(manager_client, URL)
    LeadFactory.create_batch(57, owner=rep, campaign=campaign)
    assert count_queries(manager_client, URL) == small <= 20


# With a segment: the figures read the segment's leads (and deals made from them), live.


def test_lead_segment_restricts_every_figure(manager_client, funnel_data, manager):
    reached = segment_of(manager, "lead", ("status", "in", ["qualified", "converted"]))
    response = manager_client.get(URL, {**RANGE, "segment": reached.pk})
    assert response.context["form"].errors == {}
    steps = by(figure_rows(response, "funnel"), "step")
    # L1, L2, L4: all qualified; deals from L1 and L4 (2 of 3 = 66.7 %); L1's won (50 %).
    assert [steps[s]["leads"] for s in ("Leads", "Qualified", "Opportunity", "Won")] == [3, 3, 2, 1]
    assert (steps["Opportunity"]["of_previous"], steps["Won"]["of_previous"]) == (66.7, 50.0)
    sources = by(figure_rows(response, "by_source"), "source")
    assert (sources["Web form"]["leads"], sources["Web form"]["conversion"]) == (2, 50.0)
    assert set(sources) == {"Web form", "Manual"}
    speed = by(figure_rows(response, "speed"), "source")
    # Web form: first touch L2 3 h (L1 none) → 3 h; qualified L1 4 days, L2 2 days → median 3.
    assert (speed["Web form"]["touch_hours"], speed["Web form"]["qualify_days"]) == (3.0, 3.0)
    assert speed["Manual"]["qualify_days"] == 10.0
    # The campaign return is the campaign's whole (as on its page): the segment leaves it be.
    roi = by(figure_rows(response, "campaign_roi"), "campaign")
    assert set(roi) == {"Campaign A", "Campaign B"}
    assert (roi["Campaign A"]["leads"], roi["Campaign A"]["first_touch_roi"]) == (3, 400.0)


def test_account_segment_means_the_leads_converted_into_its_accounts(
    manager_client, funnel_data, manager
):
    Account.objects.update(country="FR")
    acme = AccountFactory(name="Acme", country="DE")
    Lead.objects.filter(source=LeadSource.MANUAL).update(converted_account=acme)  # L4
    german = segment_of(manager, "account", ("country", "in", ["DE"]))
    response = manager_client.get(URL, {**RANGE, "segment": german.pk})
    steps = by(figure_rows(response, "funnel"), "step")
    # L4 only: qualified, a deal (open), nothing won.
    assert [steps[s]["leads"] for s in ("Leads", "Qualified", "Opportunity", "Won")] == [1, 1, 1, 0]
    assert [r["source"] for r in figure_rows(response, "by_source")] == ["Manual"]


def test_segment_of_every_lead_agrees_with_the_rollups(manager_client, funnel_data, manager):
    statuses = [value for value, _ in LeadStatus.choices]
    everything = segment_of(manager, "lead", ("status", "in", statuses))
    assert rows_of_every_figure(manager_client.get(URL, RANGE)) == rows_of_every_figure(
        manager_client.get(URL, {**RANGE, "segment": everything.pk})
    )


def test_segment_csv_export(manager_client, funnel_data, manager):
    reached = segment_of(manager, "lead", ("status", "in", ["qualified", "converted"]))
    params = {**RANGE, "segment": reached.pk, "export": "funnel"}
    lines = manager_client.get(URL, params).content.decode().splitlines()
    assert lines[1:] == ["Leads,3,100.0,", "Qualified,3,100.0,100.0", "Opportunity,2,66.7,66.7",
                         "Won,1,33.3,50.0"]  # fmt: skip


def test_segment_query_count_is_fixed(manager_client, rep, funnel_data, manager):
    reached = segment_of(manager, "lead", ("status", "in", ["qualified", "converted"]))
    params = {**RANGE, "segment": reached.pk}
    before = count_queries(manager_client, URL, params)
    for _ in range(5):
        lead(rep, LeadSource.WEB_FORM, None, LeadStatus.QUALIFIED)
    assert count_queries(manager_client, URL, params) == before
    assert before <= count_queries(manager_client, URL, RANGE) + 5
