import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from retention.choices import (
    ChurnReason,
    HealthColour,
    MovementKind,
    RecommendationKind,
    SubscriptionStatus,
    UsageKind,
)
from retention.models import (
    ChurnEvent,
    HealthScore,
    HealthScoreHistory,
    MrrMovement,
    NpsRun,
    NpsSurvey,
    Recommendation,
    Subscription,
    UsageDaily,
)
from tests.factories.crm import AccountFactory, ContactFactory


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


class MrrMovementFactory(factory.django.DjangoModelFactory):
    """A bare ledger row (the services write these as subscriptions change)."""

    class Meta:
        model = MrrMovement

    subscription = factory.SubFactory(SubscriptionFactory)
    account = factory.SelfAttribute("subscription.account")
    kind = MovementKind.NEW
    date = factory.LazyFunction(timezone.localdate)
    amount = factory.SelfAttribute("subscription.mrr")
    currency = factory.SelfAttribute("subscription.currency")
    mrr_after = factory.SelfAttribute("subscription.mrr")


class UsageDailyFactory(factory.django.DjangoModelFactory):
    """One day's logins of an account."""

    class Meta:
        model = UsageDaily

    account = factory.SubFactory(AccountFactory)
    day = factory.LazyFunction(timezone.localdate)
    kind = UsageKind.LOGIN
    total = 10
    events = factory.SelfAttribute("total")


class HealthScoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = HealthScore

    account = factory.SubFactory(AccountFactory)
    score = 80
    colour = HealthColour.GREEN
    components = factory.LazyFunction(lambda: {"engagement": {"value": 80, "weight": 20}})
    computed_on = factory.LazyFunction(timezone.localdate)


class HealthScoreHistoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = HealthScoreHistory

    account = factory.SubFactory(AccountFactory)
    day = factory.LazyFunction(lambda: timezone.localdate() - dt.timedelta(days=30))
    score = 80
    colour = HealthColour.GREEN


class ChurnEventFactory(factory.django.DjangoModelFactory):
    """An account lost (a bare row: ``risk.churn_record`` also churns its subscriptions)."""

    class Meta:
        model = ChurnEvent

    account = factory.SubFactory(AccountFactory)
    date = factory.LazyFunction(timezone.localdate)
    reason = ChurnReason.PRICE
    lost_mrr = Decimal("500.00")
    currency = "EUR"


class RecommendationFactory(factory.django.DjangoModelFactory):
    """An open cross-sell for an account."""

    class Meta:
        model = Recommendation

    account = factory.SubFactory(AccountFactory)
    kind = RecommendationKind.CROSS_SELL
    product_sku = factory.Sequence(lambda n: f"XSELL-{n}")
    product_name = factory.Sequence(lambda n: f"Add-on {n}")
    reason = "Accounts like this one also buy it."
    strength = 1.5


class NpsRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NpsRun

    name = factory.Sequence(lambda n: f"NPS run {n}")
    status = "done"


class NpsSurveyFactory(factory.django.DjangoModelFactory):
    """A survey sent to a contact and not yet answered."""

    class Meta:
        model = NpsSurvey

    run = factory.SubFactory(NpsRunFactory)
    contact = factory.SubFactory(ContactFactory)
    account = factory.SelfAttribute("contact.account")
    key = factory.Sequence(lambda n: f"nps-key-{n}")
    sent_at = factory.LazyFunction(timezone.now)
