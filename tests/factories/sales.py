from decimal import Decimal

import factory

from crm.choices import Role
from sales.choices import Billing, PeriodKind, StageKind
from sales.models import (
    OnboardingTemplate,
    OnboardingTemplateItem,
    Opportunity,
    Pipeline,
    Product,
    Quota,
    Stage,
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
