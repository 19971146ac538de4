from decimal import Decimal

import factory

from crm.choices import Role
from leads.choices import CampaignChannel, LeadSource, LeadStatus, ScoringCriterion, StepAction
from leads.models import (
    AssignmentRule,
    Campaign,
    Enrollment,
    Lead,
    ScoringRule,
    Sequence,
    SequenceStep,
)
from tests.factories.crm import TeamFactory, UserFactory


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    slug = factory.Sequence(lambda n: f"campaign-{n}")
    channel = CampaignChannel.WEB
    cost = Decimal("1000.00")


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"lead{n}@prospect{n}.example")
    title = "Operations Manager"
    company_name = factory.Sequence(lambda n: f"Prospect {n} GmbH")
    country = "DE"
    source = LeadSource.MANUAL
    status = LeadStatus.NEW
    owner = factory.SubFactory(UserFactory, roles=[Role.SALES_REP])


class ScoringRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ScoringRule

    name = factory.Sequence(lambda n: f"Rule {n}")
    criterion = ScoringCriterion.TITLE_CONTAINS
    value = "VP"
    points = 20


class AssignmentRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AssignmentRule

    name = factory.Sequence(lambda n: f"Route {n}")
    team = factory.SubFactory(TeamFactory)


class SequenceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sequence

    name = factory.Sequence(lambda n: f"Nurture {n}")


class SequenceStepFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SequenceStep

    sequence = factory.SubFactory(SequenceFactory)
    position = factory.Sequence(lambda n: n + 1)
    action = StepAction.EMAIL
    delay_days = 0
    subject = "Hello {{ first_name }}"
    body = "Hi {{ first_name }} at {{ company }},\nhere is something useful."


class EnrollmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Enrollment

    sequence = factory.SubFactory(SequenceFactory)
    lead = factory.SubFactory(LeadFactory)
