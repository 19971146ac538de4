import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import OutboundEmail
from retention.choices import MovementKind, SubscriptionStatus
from retention.models import MrrMovement, Renewal, Subscription
from retention.services import renewals
from retention.tasks import renewals_open
from tests.factories.retention import SubscriptionFactory

pytestmark = pytest.mark.django_db


def today():
    return timezone.localdate()


def test_renewal_opens_once_in_the_renewal_pipeline(account, rep):
    from sales.models import Opportunity

    subscription = SubscriptionFactory(
        account=account, owner=rep, mrr=Decimal("250"), renewal_date=today() + dt.timedelta(days=80)
    )
    SubscriptionFactory(account=account, renewal_date=today() + dt.timedelta(days=120))  # later
    SubscriptionFactory(
        account=account, status="churned", renewal_date=today() + dt.timedelta(days=10)
    )

    assert renewals_open() == 1
    assert renewals_open() == 0  # a rerun acts zero times
    assert renewals.renewal_open(subscription_id=subscription.pk) is None

    renewal = Renewal.objects.get()
    deal = Opportunity.objects.get(pk=renewal.opportunity_id)
    assert (renewal.subscription, renewal.value) == (subscription, Decimal("3000.00"))
    assert deal.pipeline.name == "Renewal" and deal.stage.name == "Upcoming"
    assert (deal.owner, deal.account, deal.amount) == (rep, account, Decimal("3000.00"))
    assert deal.expected_close_date == subscription.renewal_date


def test_lead_days_come_from_the_setting(account, settings):
    settings.RENEWAL_LEAD_DAYS = 30
    SubscriptionFactory(account=account, renewal_date=today() + dt.timedelta(days=45))
    assert renewals_open() == 0
    settings.RENEWAL_LEAD_DAYS = 60
    assert renewals_open() == 1


def test_winning_the_renewal_extends_the_subscription_by_a_term(account, rep):
    from sales import services as sales_services

    renewal_date = today() + dt.timedelta(days=30)
    subscription = SubscriptionFactory(account=account, owner=rep, renewal_date=renewal_date)
    renewal = renewals.renewal_open(subscription_id=subscription.pk)
    deal = renewal.opportunity

    sales_services.opportunity_close_won(opportunity=deal, user=rep)

    subscription.refresh_from_db()
    assert subscription.renewal_date.year == renewal_date.year + 1
    # No recurring line items on the deal: MRR is unchanged, no ledger row
    assert not MrrMovement.objects.filter(subscription=subscription).exists()
    # The next renewal date is a year away: nothing is due yet
    assert renewals_open() == 0
    assert Renewal.objects.count() == 1


def test_losing_the_renewal_cancels_the_subscription(account, rep):
    from sales import services as sales_services

    subscription = SubscriptionFactory(
        account=account, owner=rep, renewal_date=today() + dt.timedelta(days=30)
    )
    deal = renewals.renewal_open(subscription_id=subscription.pk).opportunity
    sales_services.opportunity_close_lost(opportunity=deal, user=rep, reason="price")
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.CANCELLED
    assert subscription.auto_renew is False


def test_reminders_at_90_60_30_days_each_once(account, rep):
    for days in (85, 55, 20, 100):
        SubscriptionFactory(
            account=account, owner=rep, renewal_date=today() + dt.timedelta(days=days)
        )

    assert renewals.renewal_reminders_send() == 3
    assert renewals.renewal_reminders_send() == 0
    subjects = sorted(OutboundEmail.objects.values_list("subject", flat=True))
    assert [s.split(":")[0] for s in subjects] == [
        "Renewal in 30 days",
        "Renewal in 60 days",
        "Renewal in 90 days",
    ]
    assert set(OutboundEmail.objects.values_list("to_email", flat=True)) == {rep.email}
    # Thirty days later the first one crosses the 60-day line and gets its second reminder
    assert renewals.renewal_reminders_send(today=today() + dt.timedelta(days=30)) == 3


def test_renewals_page_groups_by_month_with_value_at_risk(rep_client, rep, account):
    from retention.models import HealthScore

    first = today().replace(day=1) + dt.timedelta(days=40)
    SubscriptionFactory(account=account, owner=rep, renewal_date=first, mrr=Decimal("100"))
    SubscriptionFactory(
        account=account, owner=rep, renewal_date=first, mrr=Decimal("50"), status="cancelled"
    )
    SubscriptionFactory(renewal_date=first, mrr=Decimal("999"))  # another rep's
    HealthScore.objects.create(account=account, score=80, colour="green", computed_on=today())

    response = rep_client.get(reverse("retention:renewals"))

    assert response.status_code == 200
    (row,) = response.context["months"]
    assert (row["count"], row["value"], row["at_risk"]) == (
        2,
        Decimal("1800.00"),
        Decimal("600.00"),
    )


def test_renewal_won_with_new_recurring_value_changes_mrr(account, rep):
    from sales import services as sales_services
    from tests.factories.sales import ProductFactory

    product = ProductFactory(sku="ANA", price=Decimal("40.00"), billing="monthly")
    subscription = SubscriptionFactory(
        account=account,
        owner=rep,
        product_sku="ANA",
        mrr=Decimal("300"),
        renewal_date=today() + dt.timedelta(days=30),
    )
    deal = renewals.renewal_open(subscription_id=subscription.pk).opportunity
    sales_services.line_item_add(opportunity=deal, user=rep, product=product, quantity=10)
    sales_services.opportunity_close_won(opportunity=deal, user=rep)

    subscription.refresh_from_db()
    assert subscription.mrr == Decimal("400.00")
    assert Subscription.objects.filter(account=account).count() == 1
    assert list(MrrMovement.objects.values_list("kind", "amount")) == [
        (MovementKind.EXPANSION, Decimal("100.00"))
    ]
