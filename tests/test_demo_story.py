"""The demo tells one believable story a year long: a company growing steadily, reps who mostly
hit their quotas, a healthy majority of customers with a visible minority at risk, renewals
coming up, a support desk mostly within its SLAs, and campaign returns that read the same on
every page. Each figure is read through the selector or dashboard function the page shows it
with, over the demo as ``seed_demo`` loads it (anchored on today, as the pages read today)."""

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from analytics.dashboards.base import DEFAULT_DAYS, Scope
from analytics.dashboards.funnel import campaign_roi as funnel_campaign_roi
from analytics.dashboards.pipeline import forecast_vs_quota
from analytics.dashboards.retention import cohort_retention
from crm.models import Account
from crm.seeding import seed_run
from leads.campaigns.selectors import campaign_roi
from leads.models import Campaign
from retention.selectors import renewals_by_month, risk_episode_list, subscription_list
from sales.choices import PeriodKind
from sales.selectors import opportunity_list
from sales.selectors.forecast import sales_forecast
from support.selectors import support_summary

# The module seeds once (below); the marker makes pytest-django create the test database.
pytestmark = pytest.mark.django_db

SCALE = 1


def _previous_quarter(today: dt.date) -> dt.date:
    """The first day of the last complete quarter before ``today``'s."""
    last_day = dt.date(today.year, (today.month - 1) // 3 * 3 + 1, 1) - dt.timedelta(days=1)
    return dt.date(last_day.year, (last_day.month - 1) // 3 * 3 + 1, 1)


def _measure() -> dict:
    """The story's figures, as the pages compute them for the admin (who sees everything)."""
    from crm.models import User

    admin = User.objects.get(username="admin")
    today = timezone.localdate()
    figures: dict = {}

    # Campaign ROI: the campaign's page against the funnel dashboard's figure.
    scope = Scope(user=admin, start=today - dt.timedelta(days=DEFAULT_DAYS - 1), end=today)
    on_funnel = {row["campaign"]: row for row in funnel_campaign_roi(scope)}
    figures["roi"] = [
        (campaign.name, campaign_roi(campaign=campaign, user=admin), on_funnel.get(campaign.name))
        for campaign in Campaign.objects.visible_to(admin).order_by("name")
    ]

    # Quota attainment per rep, in the last complete quarter and month.
    quarter = _previous_quarter(today)
    forecast = sales_forecast(user=admin, year=quarter.year, granularity=PeriodKind.QUARTER)
    figures["quarter"] = quarter
    figures["quarter_attainment"] = {
        rep.username: forecast.cell(rep.pk, quarter).attainment for rep in forecast.reps
    }

    # Won revenue per month over the last twelve complete months (the pipeline dashboard).
    this_month = today.replace(day=1)
    year_ago = (this_month - dt.timedelta(days=365)).replace(day=1)
    scope = Scope(user=admin, start=year_ago, end=this_month - dt.timedelta(days=1))
    figures["months"] = forecast_vs_quota(scope)

    # Rotting share of open deals (the board flags each card with ``is_rotting``).
    now = timezone.now()
    open_deals = list(opportunity_list(user=admin).filter(status="open").select_related("stage"))
    figures["open_deals"] = len(open_deals)
    figures["rotting"] = sum(deal.is_rotting(now) for deal in open_deals)

    # The support desk: open tickets and those breaching their SLA.
    figures["support"] = support_summary(user=admin)

    # Customers at risk, and renewals coming up.
    customers = subscription_list(user=admin).order_by().values("account_id").distinct().count()
    figures["customers"] = customers
    figures["accounts"] = Account.objects.count()
    figures["at_risk"] = risk_episode_list(user=admin).open().count()
    figures["renewals"] = renewals_by_month(user=admin, months=3)

    # Cohort retention (the retention dashboard).
    scope = Scope(user=admin, start=today - dt.timedelta(days=DEFAULT_DAYS - 1), end=today)
    figures["cohorts"] = cohort_retention(scope)
    return figures


@pytest.fixture(scope="module")
def story(django_db_setup, django_db_blocker):
    """The demo at scale 1, seeded once for the module and rolled back after it."""
    with django_db_blocker.unblock(), transaction.atomic():
        seed_run(scale=SCALE, password="demo", stdout=io.StringIO())
        figures = _measure()
        transaction.set_rollback(True)
    return figures


def test_every_campaign_has_one_roi_on_every_page(story):
    assert story["roi"], "the demo has campaigns"
    for name, on_page, on_funnel in story["roi"]:
        assert on_funnel is not None, f"{name} is missing from the funnel's ROI"
        for touch in ("first_touch", "last_touch"):
            page_roi = on_page[f"{touch}_roi"]
            funnel_roi = on_funnel[f"{touch}_roi"]
            assert (page_roi is None) == (funnel_roi is None), name
            if page_roi is not None:
                assert round(float(page_roi) * 100, 1) == funnel_roi, name
    # Believable returns: at least half the campaigns pay for themselves, none makes thousands
    # of percent. The demo credits a few dozen won deals, so which campaigns come out ahead
    # moves with the day it is loaded on; these bounds held for the demo loaded on each of 40 days
    # from October to January.
    rois = [p["first_touch_roi"] for _, p, _ in story["roi"] if p["first_touch_roi"] is not None]
    assert rois and all(-1 <= r <= 20 for r in rois), rois
    assert sum(r > 0 for r in rois) >= len(rois) / 2, rois


def test_each_rep_attains_a_believable_share_of_quota(story):
    attainment = story["quarter_attainment"]
    assert attainment, "reps have quotas"
    for rep, value in attainment.items():
        assert value is not None, f"{rep} has no quota in {story['quarter']}"
        assert 60 <= value <= 130, (rep, value)


def test_revenue_grows_month_after_month_over_the_year(story):
    months = story["months"]
    assert len(months) == 12
    won = [row["won"] for row in months]
    assert all(w > 0 for w in won), won
    assert sum(won[-3:]) > sum(won[:3]) * Decimal("1.1"), won
    # The team as a whole makes a believable share of its quota each quarter.
    for row in months:
        assert row["quota"] > 0, row


def test_a_minority_of_open_deals_is_rotting(story):
    assert story["open_deals"] > 20
    share = story["rotting"] / story["open_deals"]
    assert 0.05 <= share <= 0.25, (story["rotting"], story["open_deals"])


def test_most_open_tickets_are_within_sla(story):
    summary = story["support"]
    assert summary["open"] > 20
    assert summary["breaching"] > 0, "a desk with no breach at all is not believable"
    assert summary["breaching"] / summary["open"] < 0.15, summary


def test_a_visible_minority_of_customers_is_at_risk(story):
    assert story["customers"] > 20
    assert 0.05 * story["customers"] <= story["at_risk"] < 0.25 * story["customers"], (
        story["at_risk"],
        story["customers"],
    )


def test_renewals_come_up_in_the_next_months(story):
    assert sum(row["count"] for row in story["renewals"]) > 0, story["renewals"]


def test_cohorts_lose_some_customers_over_time(story):
    cohorts = story["cohorts"]
    assert len(cohorts) >= 6, cohorts
    later = [row[f"m{k}"] for row in cohorts for k in range(1, 12) if row.get(f"m{k}") is not None]
    assert later and any(value < 100 for value in later), cohorts
    assert sum(later) / len(later) > 60, "most customers stay"
