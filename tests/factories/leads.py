from decimal import Decimal

import factory
from django.utils import timezone

from crm.choices import Role
from crm.segments.choices import SegmentTarget
from leads.choices import (
    CampaignChannel,
    DedupePolicy,
    ImportStatus,
    LeadSource,
    LeadStatus,
    ScoringCriterion,
    SegmentEnrolmentStatus,
    StepAction,
)
from leads.models import (
    AssignmentRule,
    Campaign,
    Enrollment,
    ImportJob,
    Lead,
    ScoringRule,
    SegmentEnrolment,
    Sequence,
    SequenceEmail,
    SequenceStep,
    SequenceStepVariant,
)
from tests.factories.crm import MatchKeysFactory, TeamFactory, UserFactory
from tests.factories.segments import SegmentFactory


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    slug = factory.Sequence(lambda n: f"campaign-{n}")
    channel = CampaignChannel.WEB
    cost = Decimal("1000.00")


class LeadFactory(MatchKeysFactory):
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


class SequenceStepVariantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SequenceStepVariant

    step = factory.SubFactory(SequenceStepFactory)
    label = "A"
    subject = "Hello {{ first_name }}"
    body = "Hi {{ first_name }}, see https://example.com/offer?a=1&b=2"


class SequenceEmailFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SequenceEmail

    enrollment = factory.SubFactory(
        EnrollmentFactory, sequence=factory.SelfAttribute("..step.sequence")
    )
    step = factory.SubFactory(SequenceStepFactory)
    sent_at = factory.LazyFunction(timezone.now)


IMPORT_CSV = b"First name,Last name,E-mail,Company\nAda,Lovelace,ada@engine.example,Engines\n"


class ImportJobFactory(factory.django.DjangoModelFactory):
    """An uploaded CSV of one lead, mapped and not yet run (the file is written under
    MEDIA_ROOT: point it at a temporary folder with the ``settings`` fixture)."""

    class Meta:
        model = ImportJob

    created_by = factory.SubFactory(UserFactory, roles=[Role.MANAGER])
    file = factory.django.FileField(filename="leads.csv", data=IMPORT_CSV)
    original_name = "leads.csv"
    mapping = factory.LazyFunction(
        lambda: {
            "First name": "first_name",
            "Last name": "last_name",
            "E-mail": "email",
            "Company": "company_name",
        }
    )
    policy = DedupePolicy.SKIP
    status = ImportStatus.UPLOADED
    total_rows = 1


class SegmentEnrolmentFactory(factory.django.DjangoModelFactory):
    """A queued enrolment of a lead segment into a sequence."""

    class Meta:
        model = SegmentEnrolment

    sequence = factory.SubFactory(SequenceFactory)
    created_by = factory.SubFactory(UserFactory, roles=[Role.SALES_REP])
    segment = factory.SubFactory(
        SegmentFactory, owner=factory.SelfAttribute("..created_by"), target=SegmentTarget.LEAD
    )
    segment_name = factory.SelfAttribute("segment.name")
    status = SegmentEnrolmentStatus.QUEUED
