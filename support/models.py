"""The support desk's records: queues, business calendars and SLA policies, tickets with their
conversation and attachments, canned replies, CSAT surveys, and the knowledge base (articles in
categories, their helpfulness votes, the searches made and the tickets they spared)."""

import secrets

from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import Q
from django.urls import reverse
from timezone_field import TimeZoneField

from crm import history
from crm.custom_fields.models import custom_column, custom_index
from crm.links import record_url
from crm.models import Account, Contact, Team
from crm.models.merges import MergeRecord
from crm.permissions import has_role, may_manage, may_work_tickets, sees_all_tickets
from support import sla
from support.choices import (
    ACTIVE_STATUSES,
    ARTICLE_TRANSITIONS,
    ArticleStatus,
    ArticleVisibility,
    AssignmentMode,
    Category,
    Channel,
    DeflectionStep,
    HelpSearchSource,
    MessageKind,
    Priority,
    TicketStatus,
    Weekday,
)

#: Most urgent first.
PRIORITY_ORDER = (Priority.URGENT, Priority.HIGH, Priority.NORMAL, Priority.LOW)


def waiting_on_customer():
    """0 while the desk must act on an active ticket, 1 while it waits on the customer (pending,
    or its clock paused): what the work queues sort on first (``selectors.tickets_by_need``)
    and, the same expression, what their indexes hold."""
    return models.Case(
        models.When(Q(status=TicketStatus.PENDING) | Q(sla_paused_at__isnull=False), then=1),
        default=0,
        output_field=models.IntegerField(),
    )


def priority_rank():
    """0 for urgent … 3 for low: the work queues' last sort before the key."""
    ranks = [models.When(priority=value, then=rank) for rank, value in enumerate(PRIORITY_ORDER)]
    return models.Case(*ranks, default=len(ranks), output_field=models.IntegerField())


def need_index(name: str, *leading, **condition) -> models.Index:
    """An index of active tickets (and ``condition``) in the work queues' order, after the
    ``leading`` expressions: what a queue page reads in order, a page at a time."""
    return models.Index(
        *leading,
        waiting_on_customer(),
        models.F("sla_due_at"),
        priority_rank(),
        models.F("id"),
        condition=Q(status__in=ACTIVE_STATUSES, **condition),
        name=name,
    )


class DeskConfigQuerySet(models.QuerySet):
    """Queues, calendars, policies, tags and canned replies: desk settings every role reads and
    only managers and admins change."""

    def visible_to(self, user):
        return self if has_role(user) else self.none()

    def changeable_by(self, user):
        return self if may_manage(user) else self.none()


class BusinessCalendar(models.Model):
    """When the desk works: a time zone, working hours per weekday and holidays. SLA targets are
    counted in this calendar's working time only."""

    name = models.CharField(max_length=100, unique=True)
    time_zone = TimeZoneField(default="UTC")
    updated_at = models.DateTimeField(auto_now=True)

    objects = DeskConfigQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def schedule(self) -> sla.Schedule:
        """This calendar as plain data for ``support.sla`` (uses prefetched hours/holidays)."""
        cached = getattr(self, "_schedule", None)
        if cached is None:
            hours: dict[int, list[tuple[int, int]]] = {}
            for row in self.hours.all():
                hours.setdefault(row.weekday, []).append(
                    (row.opens.hour * 60 + row.opens.minute, row.closes_minute)
                )
            cached = sla.Schedule.build(
                str(self.time_zone), hours, [h.date for h in self.holidays.all()]
            )
            self._schedule = cached
        return cached


class BusinessHours(models.Model):
    """One working interval of a weekday (two rows for a day with a lunch break)."""

    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="hours")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    opens = models.TimeField()
    closes = models.TimeField(help_text="00:00 means midnight at the end of the day.")

    class Meta:
        verbose_name_plural = "business hours"
        ordering = ["calendar", "weekday", "opens"]
        indexes = [models.Index(fields=["calendar", "weekday"], name="bizhours_calendar_idx")]

    def __str__(self):
        return f"{self.get_weekday_display()} {self.opens:%H:%M}–{self.closes:%H:%M}"

    @property
    def closes_minute(self) -> int:
        minute = self.closes.hour * 60 + self.closes.minute
        return minute or 1440


class Holiday(models.Model):
    """A date on which a calendar does not work at all."""

    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="holidays"
    )
    date = models.DateField()
    name = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["calendar", "date"]
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="holiday_unique_date")
        ]

    def __str__(self):
        return f"{self.date} {self.name}".strip()


class SLAPolicy(models.Model):
    """The promise for tickets of one priority: first response and resolution within so many
    business minutes of the calendar. A queue may have its own policies; otherwise the desk-wide
    ones (no queue) apply."""

    name = models.CharField(max_length=100)
    priority = models.CharField(max_length=10, choices=Priority.choices)
    queue = models.ForeignKey(
        "Queue",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="sla_policies",
        help_text="Empty: applies to every queue without a policy of its own.",
    )
    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.PROTECT, related_name="policies"
    )
    first_response_minutes = models.PositiveIntegerField(help_text="In business minutes.")
    resolution_minutes = models.PositiveIntegerField(help_text="In business minutes.")
    is_active = models.BooleanField(default=True)

    objects = DeskConfigQuerySet.as_manager()

    class Meta:
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"
        ordering = ["queue_id", "priority"]
        constraints = [
            models.UniqueConstraint(
                fields=["queue", "priority"],
                condition=Q(is_active=True),
                name="slapolicy_one_active_per_queue_priority",
            ),
            models.UniqueConstraint(
                fields=["priority"],
                condition=Q(is_active=True, queue__isnull=True),
                name="slapolicy_one_active_default_per_priority",
            ),
            models.CheckConstraint(
                condition=Q(first_response_minutes__gt=0, resolution_minutes__gt=0),
                name="slapolicy_positive_targets",
            ),
        ]

    def __str__(self):
        return self.name


class Queue(models.Model):
    """Where tickets wait to be worked: a team of agents with an assignment rule. Round robin
    remembers the last agent given a ticket (``round_robin_cursor``)."""

    name = models.CharField(max_length=100, unique=True)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="support_queues")
    assignment_mode = models.CharField(
        max_length=20, choices=AssignmentMode.choices, default=AssignmentMode.ROUND_ROBIN
    )
    round_robin_cursor = models.BigIntegerField(
        default=0, editable=False, help_text="User id of the agent assigned last."
    )
    email_address = models.EmailField(
        blank=True, help_text="Inbound mail to this address lands in this queue."
    )
    is_default = models.BooleanField(
        default=False, help_text="Tickets from the public form and unknown addresses go here."
    )

    objects = DeskConfigQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class QueueAgent(models.Model):
    """An agent working a queue; only agents on shift get new tickets automatically."""

    queue = models.ForeignKey(Queue, on_delete=models.CASCADE, related_name="agents")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="support_queues"
    )
    on_shift = models.BooleanField(default=True)

    class Meta:
        ordering = ["queue", "user_id"]
        constraints = [models.UniqueConstraint(fields=["queue", "user"], name="queueagent_unique")]

    def __str__(self):
        return f"{self.user} in {self.queue}"


class Tag(models.Model):
    """A free label on tickets (e.g. "refund", "outage-2026-03")."""

    name = models.SlugField(max_length=50, unique=True)

    objects = DeskConfigQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class TicketQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Agents and admins: all; managers: their teams' queues, members' tickets and members'
        accounts; reps: tickets of accounts they own (read only)."""
        if not has_role(user):
            return self.none()
        if sees_all_tickets(user):
            return self
        condition = Q(pk__in=[])
        if user.is_manager:
            condition |= self._managed(user)
        if user.is_sales_rep:
            condition |= Q(account__owner_id=user.pk)
        return self.filter(condition)

    def changeable_by(self, user):
        if not has_role(user):
            return self.none()
        if sees_all_tickets(user):
            return self
        if user.is_manager:
            return self.filter(self._managed(user))
        return self.none()

    @staticmethod
    def _managed(user) -> Q:
        ids = user.managed_user_ids
        managed_queues = Queue.objects.filter(team__managers=user).values("pk")
        return (
            Q(queue_id__in=managed_queues) | Q(assignee_id__in=ids) | Q(account__owner_id__in=ids)
        )

    def active(self):
        return self.filter(status__in=ACTIVE_STATUSES)


@history.track(
    name="ticket",
    fields=[
        "subject",
        "description",
        "account",
        "contact",
        "channel",
        "priority",
        "status",
        "category",
        "queue",
        "assignee",
        "sla_policy",
        "resolved_at",
        "merged_into",
        "custom",
    ],
)
class Ticket(models.Model):
    """A customer's request to the support desk, from intake to solved, with its SLA clock.

    ``sla_due_at`` is the next target the desk must meet (first response while none was sent,
    then resolution); it is empty while the clock is paused (waiting on the customer) or the
    ticket is solved, so "My queue" sorts by it on one index.
    """

    reference = models.CharField(max_length=20, unique=True, null=True, editable=False)
    subject = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    account = models.ForeignKey(
        Account, on_delete=models.SET_NULL, null=True, blank=True, related_name="tickets"
    )
    contact = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="tickets"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.WEB_FORM)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(max_length=10, choices=TicketStatus.choices, default=TicketStatus.NEW)
    category = models.CharField(max_length=10, choices=Category.choices, blank=True)
    tags = models.ManyToManyField(Tag, related_name="tickets", blank=True)
    queue = models.ForeignKey(
        Queue, on_delete=models.SET_NULL, null=True, blank=True, related_name="tickets"
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tickets",
    )
    sla_policy = models.ForeignKey(
        SLAPolicy, on_delete=models.SET_NULL, null=True, blank=True, related_name="tickets"
    )
    # SLA clock
    first_response_due_at = models.DateTimeField(null=True, blank=True)
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    first_response_warn_at = models.DateTimeField(null=True, blank=True, editable=False)
    resolution_warn_at = models.DateTimeField(null=True, blank=True, editable=False)
    sla_due_at = models.DateTimeField(null=True, blank=True, editable=False)
    first_responded_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    first_response_breached = models.BooleanField(default=False)
    resolution_breached = models.BooleanField(default=False)
    closed_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the ticket was closed."
    )
    bodies_purged_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When the closed-ticket retention rule blanked its message bodies and "
        "removed its attachments (RETENTION_CLOSED_TICKET_BODIES_MONTHS).",
    )
    sla_paused_at = models.DateTimeField(null=True, blank=True, editable=False)
    sla_paused_seconds = models.PositiveIntegerField(
        default=0, editable=False, help_text="Business time spent waiting on the customer."
    )
    first_response_warned_at = models.DateTimeField(null=True, blank=True, editable=False)
    resolution_warned_at = models.DateTimeField(null=True, blank=True, editable=False)
    first_response_escalated_at = models.DateTimeField(null=True, blank=True, editable=False)
    resolution_escalated_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Intake and merging
    source_message_id = models.CharField(max_length=255, blank=True, editable=False)
    merged_into = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="merged_tickets"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="created_tickets",
    )
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    activities = GenericRelation("crm.Activity")
    tasks = GenericRelation("crm.Task")
    custom = custom_column()

    objects = TicketQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            custom_index("ticket"),
            # "My queue" and the queue views: active tickets by next SLA due.
            models.Index(
                fields=["assignee", "sla_due_at", "id"],
                condition=Q(status__in=ACTIVE_STATUSES),
                name="ticket_myqueue_idx",
            ),
            # An agent's queue in its order, read a page at a time instead of sorting all of
            # the agent's active tickets (thousands) on every page; the same for the desk's
            # queues: breaching, and those nobody has yet.
            need_index("ticket_myqueue_need_idx", models.F("assignee")),
            need_index("ticket_active_need_idx"),
            need_index("ticket_unassigned_need_idx", assignee__isnull=True),
            models.Index(
                fields=["queue", "sla_due_at", "id"],
                condition=Q(status__in=ACTIVE_STATUSES),
                name="ticket_queue_due_idx",
            ),
            models.Index(
                fields=["sla_due_at", "id"],
                condition=Q(status__in=ACTIVE_STATUSES),
                name="ticket_active_due_idx",
            ),
            models.Index(
                fields=["sla_due_at", "id"],
                condition=Q(status__in=ACTIVE_STATUSES, assignee__isnull=True),
                name="ticket_unassigned_idx",
            ),
            models.Index(fields=["sla_due_at", "id"], name="ticket_due_idx"),
            models.Index(fields=["assignee", "status", "resolution_due_at"], name="ticket_asg_idx"),
            models.Index(fields=["queue", "status", "-created_at"], name="ticket_queue_idx"),
            models.Index(fields=["status", "-created_at"], name="ticket_status_idx"),
            models.Index(fields=["status", "-updated_at"], name="ticket_status_upd_idx"),
            models.Index(fields=["priority", "-created_at"], name="ticket_priority_idx"),
            models.Index(fields=["channel", "-created_at"], name="ticket_channel_idx"),
            models.Index(fields=["category", "-created_at"], name="ticket_category_idx"),
            models.Index(fields=["account", "-created_at"], name="ticket_account_idx"),
            models.Index(fields=["contact", "-created_at"], name="ticket_contact_idx"),
            models.Index(fields=["assignee", "-created_at"], name="ticket_assignee_idx"),
            models.Index(fields=["-updated_at", "-id"], name="ticket_updated_idx"),
            models.Index(
                fields=["-created_at"],
                condition=Q(first_response_breached=True) | Q(resolution_breached=True),
                name="ticket_breached_idx",
            ),
            # The SLA beat task's selections.
            models.Index(
                fields=["first_response_warn_at"],
                condition=Q(first_response_warned_at__isnull=True, first_responded_at__isnull=True),
                name="ticket_fr_warn_idx",
            ),
            models.Index(
                fields=["resolution_warn_at"],
                condition=Q(resolution_warned_at__isnull=True, resolved_at__isnull=True),
                name="ticket_res_warn_idx",
            ),
            models.Index(
                fields=["first_response_due_at"],
                condition=Q(
                    first_response_escalated_at__isnull=True, first_responded_at__isnull=True
                ),
                name="ticket_fr_due_idx",
            ),
            models.Index(
                fields=["resolution_due_at"],
                condition=Q(resolution_escalated_at__isnull=True, resolved_at__isnull=True),
                name="ticket_res_due_idx",
            ),
            models.Index(fields=["source_message_id"], name="ticket_source_msg_idx"),
            # The closed-ticket retention rule's selection: closed, bodies still kept.
            models.Index(
                fields=["closed_at", "id"],
                condition=Q(status=TicketStatus.CLOSED, bodies_purged_at__isnull=True),
                name="ticket_closed_keep_idx",
            ),
        ]

    def __str__(self):
        return f"{self.reference or 'T-?'} {self.subject}"

    def get_absolute_url(self):
        return record_url("support:ticket_detail", self.pk)

    @staticmethod
    def reference_for(pk: int) -> str:
        return f"T-{pk:06d}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_paused(self) -> bool:
        return self.sla_paused_at is not None

    @property
    def calendar(self):
        return self.sla_policy.calendar if self.sla_policy_id else None


class TicketPartQuerySet(models.QuerySet):
    """A ticket's messages and attachments: seen and changed with their ticket."""

    def visible_to(self, user):
        return self.filter(ticket__in=Ticket.objects.visible_to(user))

    def changeable_by(self, user):
        return self.filter(ticket__in=Ticket.objects.changeable_by(user))


class TicketMessage(models.Model):
    """One entry of a ticket's conversation: a public reply (from an agent to the customer or
    from the customer) or an internal note only the desk sees."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="messages")
    kind = models.CharField(max_length=10, choices=MessageKind.choices, default=MessageKind.REPLY)
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="ticket_messages",
    )
    author_contact = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="ticket_messages"
    )
    body = models.TextField()
    email_message_id = models.CharField(
        max_length=255,
        blank=True,
        help_text="Message-ID of the email it came in as, or of the email a reply was sent as.",
    )
    submission_key = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="The key of the reply form it was sent from: the same form sent twice (a "
        "double click, a retry) finds this reply instead of emailing the customer again.",
    )
    created_at = models.DateTimeField()

    objects = TicketPartQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["ticket", "created_at", "id"], name="ticketmsg_thread_idx"),
            models.Index(fields=["email_message_id"], name="ticketmsg_msgid_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "submission_key"],
                condition=~models.Q(submission_key=""),
                name="ticketmsg_submission_uniq",
            )
        ]

    def __str__(self):
        return f"{self.get_kind_display()} on {self.ticket_id}"

    @property
    def is_note(self) -> bool:
        return self.kind == MessageKind.NOTE

    @property
    def from_customer(self) -> bool:
        return self.author_user_id is None


def attachment_path(instance, filename):
    # Random directory: file names from customers never collide or reveal each other.
    return f"support/attachments/{secrets.token_hex(8)}/{filename}"


class Attachment(models.Model):
    """A file a customer or agent attached to a ticket (checked by content on upload)."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="attachments")
    message = models.ForeignKey(
        TicketMessage,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="attachments",
    )
    file = models.FileField(upload_to=attachment_path, max_length=255)
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TicketPartQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["ticket", "created_at"], name="attachment_ticket_idx")]

    def __str__(self):
        return self.filename

    def get_absolute_url(self):
        return record_url("support:attachment_download", self.pk)


class CannedReply(models.Model):
    """A saved answer agents insert into replies; ``{{ contact.first_name }}``,
    ``{{ ticket.reference }}``, ``{{ agent.name }}`` and similar merge fields are filled in."""

    title = models.CharField(max_length=100)
    body = models.TextField()
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = DeskConfigQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "canned replies"
        ordering = ["title"]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return record_url("support:canned_edit", self.pk)


class CsatSurveyQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(ticket__in=Ticket.objects.visible_to(user))


class CsatSurvey(models.Model):
    """The one-question satisfaction survey sent when a ticket is solved, and its answer."""

    ticket = models.OneToOneField(Ticket, on_delete=models.CASCADE, related_name="csat")
    token = models.CharField(max_length=64, unique=True, editable=False)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True)
    sent_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)

    objects = CsatSurveyQuerySet.as_manager()

    class Meta:
        verbose_name = "CSAT survey"
        ordering = ["-sent_at", "-id"]
        indexes = [models.Index(fields=["-answered_at"], name="csat_answered_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5),
                name="csat_rating_1_to_5",
            )
        ]

    def __str__(self):
        return f"CSAT for ticket {self.ticket_id}"


class TicketMergeQuerySet(models.QuerySet):
    def changeable_by(self, user):
        """Merges of two tickets the user may both change (only they may undo them)."""
        tickets = Ticket.objects.changeable_by(user)
        return self.filter(kept__in=tickets, merged__in=tickets)

    def undoable(self):
        return self.filter(undone_at__isnull=True)

    def of_ticket(self, ticket):
        return self.filter(Q(kept=ticket) | Q(merged=ticket))


class TicketMerge(MergeRecord):
    """One merge of a duplicate ticket (``merged``) into another (``kept``): both tickets as
    they were and every message and file it moved, so it can be undone."""

    kept = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="merges_kept")
    merged = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="merges_merged")

    objects = TicketMergeQuerySet.as_manager()

    class Meta(MergeRecord.Meta):
        indexes = [
            models.Index(fields=["kept", "-merged_at"], name="ticketmerge_kept_idx"),
            models.Index(fields=["merged", "-merged_at"], name="ticketmerge_merged_idx"),
        ]

    def __str__(self):
        return f"Merge of ticket #{self.merged_id} into #{self.kept_id}"

    def get_absolute_url(self):
        return record_url("support:ticket_merge_undo", self.pk)


class ArticleCategory(models.Model):
    """A section of the knowledge base ("Billing", "Getting started"): the help centre's home
    lists them in ``order``; managers and admins keep them."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    order = models.PositiveSmallIntegerField(default=100)

    objects = DeskConfigQuerySet.as_manager()

    class Meta:
        verbose_name = "article category"
        verbose_name_plural = "article categories"
        ordering = ["order", "name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return record_url("support:article_category_edit", self.pk)

    def get_public_url(self):
        return reverse("support:help_category", args=[self.slug])


class ArticleQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The desk (agents, managers, admins) reads every article, drafts and archived ones
        too; any other role (sales reps) reads published articles, internal and public."""
        if may_work_tickets(user):
            return self
        if has_role(user):
            return self.filter(status=ArticleStatus.PUBLISHED)
        return self.none()

    def changeable_by(self, user):
        """The desk writes and publishes articles."""
        return self if may_work_tickets(user) else self.none()

    def public(self):
        """What visitors of the help centre may read: published and public."""
        return self.filter(status=ArticleStatus.PUBLISHED, visibility=ArticleVisibility.PUBLIC)


@history.track(
    name="article",
    fields=["title", "slug", "summary", "body", "category", "status", "visibility"],
)
class Article(models.Model):
    """A knowledge-base article: an answer written once and read by customers in the help centre
    (when public) or by staff (internal). Its body is plain text with light Markdown (headings,
    lists, links, emphasis), shown sanitised. ``search_vector`` is kept by PostgreSQL itself (a
    stored generated column: title weighs most, then the summary, then the body)."""

    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    summary = models.CharField(
        max_length=300, blank=True, help_text="One or two sentences shown in search results."
    )
    body = models.TextField(
        help_text="Plain text with light Markdown: blank lines between paragraphs, "
        "# headings, - lists, [text](https://link), **bold**."
    )
    category = models.ForeignKey(
        ArticleCategory, on_delete=models.PROTECT, related_name="articles", null=True, blank=True
    )
    status = models.CharField(
        max_length=10, choices=ArticleStatus.choices, default=ArticleStatus.DRAFT
    )
    visibility = models.CharField(
        max_length=10, choices=ArticleVisibility.choices, default=ArticleVisibility.PUBLIC
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="kb_articles",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)
    view_count = models.PositiveIntegerField(default=0)
    helpful_yes = models.PositiveIntegerField(default=0)
    helpful_no = models.PositiveIntegerField(default=0)
    search_vector = models.GeneratedField(
        expression=SearchVector("title", weight="A", config="english")
        + SearchVector("summary", weight="B", config="english")
        + SearchVector("body", weight="C", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    objects = ArticleQuerySet.as_manager()

    class Meta:
        ordering = ["title"]
        indexes = [
            GinIndex(fields=["search_vector"], name="article_search_idx"),
            models.Index(fields=["status", "visibility", "category"], name="article_status_idx"),
            models.Index(fields=["-updated_at"], name="article_updated_idx"),
            models.Index(fields=["-view_count"], name="article_views_idx"),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return record_url("support:article_detail", self.pk)

    def get_public_url(self):
        return reverse("support:help_article", args=[self.slug])

    @property
    def is_public(self) -> bool:
        return (
            self.status == ArticleStatus.PUBLISHED and self.visibility == ArticleVisibility.PUBLIC
        )

    @property
    def helpful_ratio(self) -> float | None:
        votes = self.helpful_yes + self.helpful_no
        return self.helpful_yes / votes if votes else None

    def may_become(self, status: str) -> bool:
        return status in ARTICLE_TRANSITIONS.get(self.status, set())


class ArticleVote(models.Model):
    """A visitor's answer to "Was this helpful?" under an article: one per visitor and article
    (``visitor_key`` is a keyed hash of their session, never the session itself)."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="votes")
    helpful = models.BooleanField()
    visitor_key = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["article", "visitor_key"], name="articlevote_once_per_visitor"
            )
        ]

    def __str__(self):
        return f"{'Helpful' if self.helpful else 'Not helpful'}: {self.article_id}"


class HelpSearch(models.Model):
    """One search of the knowledge base, as typed (normalised: lower case, single spaces) and
    how many articles it found: the report's "searches with no result" shows what to write."""

    query = models.CharField(max_length=200)
    results_count = models.PositiveIntegerField()
    source = models.CharField(max_length=12, choices=HelpSearchSource.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "help searches"
        indexes = [
            models.Index(fields=["created_at", "results_count"], name="helpsearch_created_idx"),
        ]

    def __str__(self):
        return self.query


class Deflection(models.Model):
    """One step of a visitor from an article suggested on the public ticket form towards not
    needing a ticket: the suggestion shown, the article opened from it, and "Yes, this solved
    my problem" clicked on it (deflected). Each step counts once per visitor and article."""

    article = models.ForeignKey(Article, on_delete=models.CASCADE, related_name="deflections")
    step = models.CharField(max_length=10, choices=DeflectionStep.choices)
    visitor_key = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["article", "step", "visitor_key"], name="deflection_once_per_visitor"
            )
        ]
        indexes = [models.Index(fields=["created_at", "step"], name="deflection_created_idx")]

    def __str__(self):
        return f"{self.get_step_display()}: {self.article_id}"
