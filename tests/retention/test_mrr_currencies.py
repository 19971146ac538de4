"""Subscriptions in several currencies total in the company currency: the account panel's MRR at
today's rates, the renewals page per month at each renewal date's rate; a currency without a
rate is left out and said."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Activity
from crm.services.currencies import exchange_rate_set
from retention.selectors import account_subscriptions, renewal_totals_by_month
from tests.factories.retention import SubscriptionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _company_eur(settings):
    settings.COMPANY_CURRENCY = "EUR"


def test_account_mrr_totals_in_eur_at_todays_rates(rep, rep_client, admin, account):
    today = timezone.localdate()
    exchange_rate_set(
        user=admin, currency="USD", valid_from=today - dt.timedelta(days=30), rate="0.90"
    )
    exchange_rate_set(user=admin, currency="USD", valid_from=today, rate="0.80")
    SubscriptionFactory(account=account, mrr=Decimal("100.00"), currency="EUR")
    SubscriptionFactory(account=account, mrr=Decimal("250.00"), currency="USD")
    SubscriptionFactory(account=account, mrr=Decimal("40.00"), currency="CHF")

    panel = account_subscriptions(user=rep, account=account)

    # EUR 100 + USD 250 × 0.80 (today's rate) = EUR 300.00; CHF has no rate.
    total = panel["mrr_total"]
    assert (total["currency"], total["mrr"], total["left_out"]) == (
        "EUR",
        Decimal("300.00"),
        ["CHF"],
    )
    page = rep_client.get(account.get_absolute_url()).content.decode()
    assert "= EUR 300.00 at the exchange rates of" in page and "CHF left out" in page


def test_renewal_totals_per_month_in_eur_at_renewal_date_rates(rep, rep_client, admin, account):
    today = timezone.localdate()
    month = (today.replace(day=1) + dt.timedelta(days=40)).replace(day=1)
    early, late = month + dt.timedelta(days=2), month + dt.timedelta(days=20)
    # USD is 0.90 EUR until the 10th of that month, 0.80 from then on.
    exchange_rate_set(user=admin, currency="USD", valid_from=today, rate="0.90")
    exchange_rate_set(
        user=admin, currency="USD", valid_from=month + dt.timedelta(days=9), rate="0.80"
    )
    SubscriptionFactory(account=account, mrr=Decimal("100.00"), renewal_date=early)
    SubscriptionFactory(account=account, mrr=Decimal("100.00"), currency="USD", renewal_date=early)
    SubscriptionFactory(
        account=account,
        mrr=Decimal("100.00"),
        currency="USD",
        renewal_date=late,
        status="cancelled",
    )
    SubscriptionFactory(account=account, mrr=Decimal("5.00"), currency="CHF", renewal_date=late)

    (row,) = renewal_totals_by_month(user=rep)

    # Value is MRR × 12: EUR 1,200 + USD 1,200 × 0.90 + USD 1,200 × 0.80 = EUR 3,240.00;
    # at risk, the cancelled one: USD 1,200 × 0.80 = EUR 960.00; CHF left out.
    assert row["month"] == month
    assert (row["count"], row["value"], row["at_risk"], row["left_out"]) == (
        3,
        Decimal("3240.00"),
        Decimal("960.00"),
        1,
    )
    page = rep_client.get(reverse("retention:renewals")).content.decode()
    assert "Totals in EUR" in page and "3,240.00" in page


def test_churn_of_subscriptions_in_several_currencies_records_the_loss_in_eur(admin, account):
    from retention.choices import ChurnReason
    from retention.services.risk import churn_record

    today = timezone.localdate()
    exchange_rate_set(user=admin, currency="USD", valid_from=today, rate="0.80")
    SubscriptionFactory(account=account, mrr=Decimal("100.00"), currency="EUR")
    SubscriptionFactory(account=account, mrr=Decimal("250.00"), currency="USD")
    SubscriptionFactory(account=account, mrr=Decimal("40.00"), currency="CHF")

    event = churn_record(account=account, reason=ChurnReason.values[0], user=admin)

    # EUR 100 + USD 250 × 0.80 = EUR 300.00; CHF 40 has no rate: named, not added.
    assert (event.currency, event.lost_mrr) == ("EUR", Decimal("300.00"))
    line = Activity.objects.filter(summary__startswith="Churned").latest("id")
    assert "(EUR 300.00 MRR lost, and CHF 40.00 without an exchange rate)" in line.summary
