from datetime import timedelta

import factory
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from crm.choices import ActivityKind, Industry, LifecycleStage, Role, SizeBand
from crm.matching import match_fields_set
from crm.models import (
    Account,
    Activity,
    ConsentChannel,
    ConsentEvent,
    Contact,
    Meeting,
    MeetingAttendee,
    OutboundEmail,
    SavedView,
    Task,
    Team,
    User,
    WebhookDelivery,
    WebhookEndpoint,
)
from crm.quality import quality_fields_set
from crm.services.consents import wording_version as consent_wording_version
from crm.webhooks import event_id_new, event_payload
from crm.webhooks.signing import secret_new


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("pw")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        """``UserFactory(roles=[Role.SALES_REP])``."""
        for role in extracted or ():
            # get_or_create: a transactional test before this one may have flushed the roles.
            self.groups.add(Group.objects.get_or_create(name=role)[0])
        self.__dict__.pop("role_names", None)
        self.__dict__.pop("managed_user_ids", None)


def rep(**kwargs):
    return UserFactory(roles=[Role.SALES_REP], **kwargs)


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Team {n}")

    @factory.post_generation
    def members(self, create, extracted, **kwargs):
        if extracted:
            self.members.add(*extracted)

    @factory.post_generation
    def managers(self, create, extracted, **kwargs):
        if extracted:
            self.managers.add(*extracted)


class MatchKeysFactory(factory.django.DjangoModelFactory):
    """Records that duplicate matching finds: their blocking keys and data-quality score are set
    as the services set them (``crm.matching.match_fields_set``, ``crm.quality``)."""

    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        record = model_class(*args, **kwargs)
        match_fields_set(record)
        quality_fields_set(record)
        record.save()
        return record


class AccountFactory(MatchKeysFactory):
    class Meta:
        model = Account

    name = factory.Faker("company")
    domain = factory.Sequence(lambda n: f"company{n}.example")
    industry = factory.Iterator(Industry.values)
    size_band = factory.Iterator(SizeBand.values)
    country = "DE"
    lifecycle_stage = LifecycleStage.PROSPECT
    owner = factory.SubFactory(UserFactory, roles=[Role.SALES_REP])


class ContactFactory(MatchKeysFactory):
    class Meta:
        model = Contact

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.Sequence(lambda n: f"contact{n}@example.com")
    title = "Head of Operations"
    account = factory.SubFactory(AccountFactory, owner=factory.SelfAttribute("..owner"))
    owner = factory.SubFactory(UserFactory, roles=[Role.SALES_REP])


class ActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Activity
        exclude = ["subject"]

    subject = factory.SubFactory(ContactFactory)
    kind = ActivityKind.CALL
    summary = factory.Sequence(lambda n: f"Call {n}")
    occurred_at = factory.LazyFunction(timezone.now)
    actor = factory.SelfAttribute("subject.owner")
    subject_owner = factory.SelfAttribute("subject.owner")
    content_type = factory.LazyAttribute(lambda a: ContentType.objects.get_for_model(a.subject))
    object_id = factory.SelfAttribute("subject.pk")


class ConsentEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConsentEvent
        exclude = ["subject"]

    subject = factory.SubFactory(ContactFactory)
    content_type = factory.LazyAttribute(lambda a: ContentType.objects.get_for_model(a.subject))
    object_id = factory.SelfAttribute("subject.pk")
    consent = ConsentEvent.Consent.MARKETING
    given = True
    at = factory.LazyFunction(timezone.now)
    channel = ConsentChannel.USER
    wording = ""
    wording_version = factory.LazyAttribute(lambda e: consent_wording_version(e.wording))


class TaskFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Task

    title = factory.Sequence(lambda n: f"Follow up {n}")
    due_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=1))
    assignee = factory.SubFactory(UserFactory, roles=[Role.SALES_REP])
    created_by = factory.SelfAttribute("assignee")


class OutboundEmailFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OutboundEmail

    to_email = factory.Sequence(lambda n: f"to{n}@example.com")
    subject = "Hello"
    body_text = "Hello there."
    idempotency_key = factory.Sequence(lambda n: f"test:{n}")


class WebhookEndpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookEndpoint

    url = factory.Sequence(lambda n: f"https://hooks{n}.example.com/crm")
    description = factory.Sequence(lambda n: f"Receiver {n}")
    secret = factory.LazyFunction(secret_new)


class WebhookDeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookDelivery

    endpoint = factory.SubFactory(WebhookEndpointFactory)
    event_id = factory.LazyFunction(event_id_new)
    event_type = "account.created"
    payload = factory.LazyAttribute(lambda d: event_payload(d.event_type, {"id": 1}))
    next_attempt_at = factory.LazyFunction(timezone.now)


class TabularImportJobFactory(factory.django.DjangoModelFactory):
    """An uploaded CSV of one account, mapped and not yet run (the file is written under
    MEDIA_ROOT)."""

    class Meta:
        model = "crm.TabularImportJob"

    kind = "accounts"
    created_by = factory.SubFactory(UserFactory, roles=[Role.SALES_REP])
    file = factory.django.FileField(
        filename="accounts.csv", data=b"name,domain\nAcme,acme.example\n"
    )
    original_name = "accounts.csv"
    file_format = "csv"
    mapping = factory.LazyFunction(lambda: {"name": "name", "domain": "domain"})
    total_rows = 2


class SavedViewFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SavedView

    owner = factory.SubFactory(UserFactory)
    list_key = "leads:lead_list"
    name = factory.Sequence(lambda n: f"View {n}")
    query = "status=new&sort=-score"


class MeetingFactory(factory.django.DjangoModelFactory):
    """A meeting as stored (no invitations sent: schedule through
    ``crm.services.meetings.meeting_schedule`` for those)."""

    class Meta:
        model = Meeting
        exclude = ["about"]

    about = None
    title = factory.Sequence(lambda n: f"Demo {n}")
    starts_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=1))
    ends_at = factory.LazyAttribute(lambda m: m.starts_at + timedelta(minutes=30))
    organizer = factory.SubFactory(UserFactory, roles=[Role.SALES_REP])
    created_by = factory.SelfAttribute("organizer")
    uid = factory.Sequence(lambda n: f"meeting-{n}@example.com")
    content_type = factory.LazyAttribute(
        lambda m: ContentType.objects.get_for_model(m.about) if m.about is not None else None
    )
    object_id = factory.LazyAttribute(lambda m: m.about.pk if m.about is not None else None)


class MeetingAttendeeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = MeetingAttendee

    meeting = factory.SubFactory(MeetingFactory)
    email = factory.Sequence(lambda n: f"guest{n}@example.com")
    name = factory.Faker("name")
