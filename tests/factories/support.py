import datetime as dt

import factory
from django.utils import timezone

from crm.choices import Role
from support.choices import ArticleStatus, ArticleVisibility, Channel, Priority, TicketStatus
from support.models import (
    Article,
    ArticleCategory,
    Attachment,
    BusinessCalendar,
    BusinessHours,
    CannedReply,
    CsatSurvey,
    Holiday,
    Queue,
    QueueAgent,
    SLAPolicy,
    Ticket,
    TicketMessage,
)
from tests.factories.crm import ContactFactory, TeamFactory, UserFactory


class BusinessCalendarFactory(factory.django.DjangoModelFactory):
    """Monday to Friday 09:00–17:00 in ``time_zone`` unless ``weekdays=False``."""

    class Meta:
        model = BusinessCalendar
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Calendar {n}")
    time_zone = "Europe/Berlin"

    @factory.post_generation
    def weekdays(self, create, extracted, **kwargs):
        if extracted is False:
            return
        for weekday in range(5):
            BusinessHours.objects.create(
                calendar=self, weekday=weekday, opens=dt.time(9), closes=dt.time(17)
            )

    @factory.post_generation
    def holidays(self, create, extracted, **kwargs):
        for day in extracted or ():
            Holiday.objects.create(calendar=self, date=day, name="Holiday")


class SLAPolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SLAPolicy

    name = factory.LazyAttribute(lambda p: f"{p.priority} policy")
    priority = Priority.NORMAL
    calendar = factory.SubFactory(BusinessCalendarFactory)
    first_response_minutes = 60
    resolution_minutes = 8 * 60


class QueueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Queue
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Queue {n}")
    team = factory.SubFactory(TeamFactory)
    is_default = False

    @factory.post_generation
    def agents(self, create, extracted, **kwargs):
        for user in extracted or ():
            QueueAgent.objects.create(queue=self, user=user, on_shift=True)


class TicketFactory(factory.django.DjangoModelFactory):
    """A bare ticket row (no SLA computation); use ``ticket_create`` for the real thing."""

    class Meta:
        model = Ticket
        skip_postgeneration_save = True

    subject = factory.Sequence(lambda n: f"Printer on fire {n}")
    description = "It started this morning."
    contact = factory.SubFactory(ContactFactory)
    account = factory.SelfAttribute("contact.account")
    channel = Channel.EMAIL
    priority = Priority.NORMAL
    status = TicketStatus.OPEN
    created_at = factory.LazyFunction(timezone.now)
    reference = factory.LazyFunction(lambda: None)

    @factory.post_generation
    def set_reference(self, create, extracted, **kwargs):
        if create and not self.reference:
            self.reference = Ticket.reference_for(self.pk)
            Ticket.objects.filter(pk=self.pk).update(reference=self.reference)


class TicketMessageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TicketMessage

    ticket = factory.SubFactory(TicketFactory)
    body = "Have you tried turning it off and on again?"
    created_at = factory.LazyFunction(timezone.now)


class CannedReplyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CannedReply

    title = factory.Sequence(lambda n: f"Canned {n}")
    body = "Hello {{ contact.first_name }}, about {{ ticket.reference }}: done."


class BusinessHoursFactory(factory.django.DjangoModelFactory):
    """One working interval: Monday 09:00–17:00 unless told otherwise."""

    class Meta:
        model = BusinessHours

    calendar = factory.SubFactory(BusinessCalendarFactory, weekdays=False)
    weekday = 0
    opens = dt.time(9)
    closes = dt.time(17)


class HolidayFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Holiday

    calendar = factory.SubFactory(BusinessCalendarFactory)
    date = factory.Sequence(lambda n: dt.date(2026, 1, 1) + dt.timedelta(days=n))
    name = "Holiday"


class QueueAgentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = QueueAgent

    queue = factory.SubFactory(QueueFactory)
    user = factory.SubFactory(UserFactory, roles=[Role.SUPPORT_AGENT])
    on_shift = True


class CsatSurveyFactory(factory.django.DjangoModelFactory):
    """A survey sent for a ticket and not yet answered."""

    class Meta:
        model = CsatSurvey

    ticket = factory.SubFactory(TicketFactory, status=TicketStatus.SOLVED)
    token = factory.Sequence(lambda n: f"csat-token-{n}")
    sent_at = factory.LazyFunction(timezone.now)


class AttachmentFactory(factory.django.DjangoModelFactory):
    """A small text file on a ticket (written under MEDIA_ROOT: point it at a temporary folder
    with the ``settings`` fixture)."""

    class Meta:
        model = Attachment

    ticket = factory.SubFactory(TicketFactory)
    file = factory.django.FileField(filename="notes.txt", data=b"hello")
    filename = "notes.txt"
    content_type = "text/plain"
    size = 5


class ArticleCategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ArticleCategory

    name = factory.Sequence(lambda n: f"Section {n}")
    slug = factory.Sequence(lambda n: f"section-{n}")


class ArticleFactory(factory.django.DjangoModelFactory):
    """A published public article unless told otherwise."""

    class Meta:
        model = Article

    title = factory.Sequence(lambda n: f"Article {n}")
    slug = factory.Sequence(lambda n: f"article-{n}")
    summary = ""
    body = "Some helpful text."
    category = factory.SubFactory(ArticleCategoryFactory)
    status = ArticleStatus.PUBLISHED
    visibility = ArticleVisibility.PUBLIC
    published_at = factory.LazyFunction(timezone.now)
