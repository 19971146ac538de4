from decimal import Decimal

import factory
from django.utils import timezone

from crm.choices import Role
from sales.choices import Billing, OrderSource, PeriodKind, StageKind
from sales.models import (
    OnboardingPlan,
    OnboardingTemplate,
    OnboardingTemplateItem,
    Opportunity,
    Order,
    OrderLine,
    Pipeline,
    Product,
    Quota,
    Stage,
    StageChange,
)
from tests.factories.crm import AccountFactory, UserFactory


def pipeline_named(name: str = "New business") -> Pipeline:
    """One of the pipelines the data migration makes."""
    return Pipeline.objects.get(name=name)


def stage_named(name: str, pipeline: str = "New business") -> Stage:
    return Stage.objects.get(pipeline__name=pipeline, name=name)


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    name = factory.Sequence(lambda n: f"Product {n}")
    sku = factory.Sequence(lambda n: f"SKU-{n:04d}")
    price = Decimal("100.00")
    currency = "EUR"
    billing = Billing.ONE_OFF


class OpportunityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Opportunity

    name = factory.Sequence(lambda n: f"Deal {n}")
    owner = factory.SubFactory(UserFactory, roles=[Role.SALES_REP])
    account = factory.SubFactory(AccountFactory, owner=factory.SelfAttribute("..owner"))
    stage = factory.LazyFunction(lambda: stage_named("Qualification"))
    pipeline = factory.SelfAttribute("stage.pipeline")
    status = factory.LazyAttribute(lambda o: o.stage.kind)
    probability = factory.LazyAttribute(lambda o: o.stage.probability)
    amount = Decimal("1000.00")
    currency = "EUR"
    lost_reason = factory.LazyAttribute(lambda o: "price" if o.stage.kind == StageKind.LOST else "")


class QuotaFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Quota

    owner = factory.SubFactory(UserFactory, roles=[Role.SALES_REP])
    period_kind = PeriodKind.MONTH
    amount = Decimal("10000.00")
    currency = "EUR"


class OnboardingTemplateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OnboardingTemplate

    name = factory.Sequence(lambda n: f"Template {n}")


class OnboardingTemplateItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OnboardingTemplateItem

    template = factory.SubFactory(OnboardingTemplateFactory)
    title = factory.Sequence(lambda n: f"Item {n}")
    due_offset_days = 3


class StageChangeFactory(factory.django.DjangoModelFactory):
    """A deal's move into ``to_stage`` (a bare row: the services write these when deals move)."""

    class Meta:
        model = StageChange

    opportunity = factory.SubFactory(OpportunityFactory)
    from_stage = factory.LazyFunction(lambda: stage_named("Qualification"))
    to_stage = factory.LazyFunction(lambda: stage_named("Proposal"))
    changed_at = factory.LazyFunction(timezone.now)
    changed_by = factory.SelfAttribute("opportunity.owner")


class OrderFactory(factory.django.DjangoModelFactory):
    """An imported order of an account (no deal, no lines)."""

    class Meta:
        model = Order

    account = factory.SubFactory(AccountFactory)
    owner = factory.SelfAttribute("account.owner")
    order_date = factory.LazyFunction(timezone.localdate)
    amount = Decimal("1000.00")
    currency = "EUR"
    one_off_amount = factory.SelfAttribute("amount")
    source = OrderSource.IMPORT


class OrderLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrderLine

    order = factory.SubFactory(OrderFactory)
    description = factory.Sequence(lambda n: f"Product {n}")
    quantity = 1
    unit_price = factory.SelfAttribute("order.amount")
    total = factory.SelfAttribute("order.amount")


class OnboardingPlanFactory(factory.django.DjangoModelFactory):
    """The onboarding of a won deal (no items: complete the deal through the services for
    those)."""

    class Meta:
        model = OnboardingPlan

    opportunity = factory.SubFactory(
        OpportunityFactory, stage=factory.LazyFunction(lambda: stage_named("Closed won"))
    )
    account = factory.SelfAttribute("opportunity.account")
    owner = factory.SelfAttribute("opportunity.owner")
