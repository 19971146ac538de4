import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from retention.choices import SubscriptionStatus
from retention.models import Subscription
from tests.factories.crm import AccountFactory


class SubscriptionFactory(factory.django.DjangoModelFactory):
    """A paying subscription (no ledger rows: use the services to test the ledger)."""

    class Meta:
        model = Subscription

    account = factory.SubFactory(AccountFactory)
    owner = factory.SelfAttribute("account.owner")
    plan = factory.Sequence(lambda n: f"Plan {n}")
    product_sku = factory.Sequence(lambda n: f"PLAN-{n}")
    seats = 10
    mrr = Decimal("500.00")
    currency = "EUR"
    status = SubscriptionStatus.ACTIVE
    start_date = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=300))
    term_months = 12
    renewal_date = factory.LazyFunction(lambda: timezone.localdate() + dt.timedelta(days=65))
