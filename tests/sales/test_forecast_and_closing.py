"""The forecast counts each rep's quota once whatever mix of monthly and quarterly quotas they
have, lists only sales reps; closing a deal dates it to the close, and a win makes the account a
customer."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.choices import LifecycleStage, Role
from crm.models import Activity
from sales import services
from sales.choices import PeriodKind
from sales.selectors import sales_forecast
from tests.factories.crm import AccountFactory, TeamFactory, UserFactory
from tests.factories.sales import OpportunityFactory, QuotaFactory

pytestmark = pytest.mark.django_db
YEAR = 2026
Q2 = dt.date(YEAR, 4, 1)


def test_a_quarterly_quota_is_not_added_on_top_of_the_monthly_ones(admin, rep):
    # Given monthly quotas for April and May and a quarterly quota for the same quarter,
    QuotaFactory(owner=rep, period_start=Q2, amount=Decimal("1000"))
    QuotaFactory(owner=rep, period_start=dt.date(YEAR, 5, 1), amount=Decimal("2000"))
    QuotaFactory(owner=rep, period_kind=PeriodKind.QUARTER, period_start=Q2, amount=Decimal("6000"))

    # each month reads its own quota, and the month without one a third of the quarter's;
    by_month = sales_forecast(user=admin, year=YEAR, granularity=PeriodKind.MONTH)
    assert by_month.cell(rep.pk, Q2).quota == Decimal("1000")
    assert by_month.cell(rep.pk, dt.date(YEAR, 5, 1)).quota == Decimal("2000")
    assert by_month.cell(rep.pk, dt.date(YEAR, 6, 1)).quota == Decimal("2000.00")
    assert by_month.cell(None, Q2).quota == Decimal("1000")

    # the quarter reads its quarterly quota, not 6,000 + 3,000.
    by_quarter = sales_forecast(user=admin, year=YEAR, granularity=PeriodKind.QUARTER)
    assert by_quarter.cell(rep.pk, Q2).quota == Decimal("6000")
    assert by_quarter.cell(None, Q2).quota == Decimal("6000")


def test_a_quarter_without_a_quarterly_quota_sums_its_months(admin, rep):
    QuotaFactory(owner=rep, period_start=dt.date(YEAR, 7, 1), amount=Decimal("1000"))
    QuotaFactory(owner=rep, period_start=dt.date(YEAR, 8, 1), amount=Decimal("1500"))

    by_quarter = sales_forecast(user=admin, year=YEAR, granularity=PeriodKind.QUARTER)

    assert by_quarter.cell(rep.pk, dt.date(YEAR, 7, 1)).quota == Decimal("2500")


def test_the_forecast_lists_only_sales_reps(client, admin, rep, rep2, agent):
    # A manager whose team holds reps and a support agent (and who is a member themselves).
    manager = UserFactory(username="boss", roles=[Role.MANAGER])
    TeamFactory(name="Mixed", members=[rep, rep2, agent], managers=[manager])

    assert [u.username for u in sales_forecast(user=manager, year=YEAR).reps] == ["rep", "rep2"]
    assert [u.username for u in sales_forecast(user=admin, year=YEAR).reps] == ["rep", "rep2"]
    client.force_login(manager)
    page = client.get(reverse("sales:forecast")).content.decode()
    assert str(rep2) in page
    assert str(agent) not in page


def test_winning_dates_the_deal_to_the_win(rep):
    deal = OpportunityFactory(
        owner=rep, expected_close_date=timezone.localdate() + dt.timedelta(days=60)
    )

    services.opportunity_close_won(opportunity=deal, user=rep)

    deal.refresh_from_db()
    assert deal.expected_close_date == timezone.localdate()


def test_losing_dates_the_deal_to_the_loss(rep):
    deal = OpportunityFactory(
        owner=rep, expected_close_date=timezone.localdate() - dt.timedelta(days=20)
    )

    services.opportunity_close_lost(opportunity=deal, user=rep, reason="price")

    deal.refresh_from_db()
    assert deal.expected_close_date == timezone.localdate()


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (LifecycleStage.PROSPECT, LifecycleStage.CUSTOMER),
        (LifecycleStage.CHURNED, LifecycleStage.CUSTOMER),
        (LifecycleStage.CUSTOMER, LifecycleStage.CUSTOMER),
    ],
)
def test_a_win_makes_the_account_a_customer(rep, before, after):
    account = AccountFactory(owner=rep, lifecycle_stage=before)
    deal = OpportunityFactory(owner=rep, account=account)

    services.opportunity_close_won(opportunity=deal, user=rep)

    account.refresh_from_db()
    assert account.lifecycle_stage == after
    noted = Activity.objects.filter(
        object_id=account.pk, summary__startswith="Now a customer"
    ).count()
    assert noted == (0 if before == LifecycleStage.CUSTOMER else 1)


def test_a_lost_deal_leaves_a_prospect_a_prospect(rep):
    account = AccountFactory(owner=rep, lifecycle_stage=LifecycleStage.PROSPECT)
    deal = OpportunityFactory(owner=rep, account=account)

    services.opportunity_close_lost(opportunity=deal, user=rep, reason="price")

    account.refresh_from_db()
    assert account.lifecycle_stage == LifecycleStage.PROSPECT
