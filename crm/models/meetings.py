import secrets

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils import timezone

from crm.choices import AttendeeResponse, MeetingStatus
from crm.links import record_url
from crm.visibility import owner_scope


def new_token() -> str:
    return secrets.token_urlsafe(24)


def site_time_zone() -> str:
    """The installation's time zone (``TIME_ZONE``), read when a row is made, so migrations do
    not depend on the setting."""
    return settings.TIME_ZONE


class MeetingQuerySet(models.QuerySet):
    def for_object(self, obj):
        ct = ContentType.objects.get_for_model(obj)
        return self.filter(content_type=ct, object_id=obj.pk)

    def scheduled(self):
        return self.filter(status=MeetingStatus.SCHEDULED)

    def upcoming(self, now=None):
        return self.scheduled().filter(ends_at__gte=now or timezone.now())

    def involving(self, user):
        """Meetings ``user`` organises or is invited to as a user of the CRM."""
        invited = MeetingAttendee.objects.filter(user_id=user.pk).values("meeting_id")
        return self.filter(Q(organizer_id=user.pk) | Q(pk__in=invited))

    def visible_to(self, user):
        """Meetings a user organises or is invited to, their teams' (managers), all (admins),
        and the meetings about records they may see (every meeting on an account or contact,
        since every role reads those; a lead's or deal's for whoever sees that lead or deal)."""
        from crm import registry

        if not getattr(user, "is_authenticated", False) or not user.has_any_role:
            return self.none()
        if user.is_admin_role:
            return self
        ids = user.managed_user_ids if user.is_manager else {user.pk}
        invited = MeetingAttendee.objects.filter(user_id=user.pk).values("meeting_id")
        q = Q(organizer_id__in=ids) | Q(pk__in=invited)
        for subject in registry.meeting_subjects.subjects():
            records = subject.model.objects.visible_to(user)
            if records.query.is_empty():
                continue
            ct = ContentType.objects.get_for_model(subject.model)
            if not records.query.where:  # the user sees every record of the kind
                q |= Q(content_type=ct)
            else:
                q |= Q(content_type=ct, object_id__in=records.values("pk"))
        return self.filter(q)

    def changeable_by(self, user):
        """The organizer changes a meeting (their managers and admins too)."""
        return owner_scope(self, user, field="organizer")


class Meeting(models.Model):
    """A meeting a seller holds with customers (a demo, a call, a visit): when and where, who is
    invited and what they answered, and the record it is about. Invitations go out as iCalendar
    (ICS) emails; ``uid`` names the event in every calendar that received it and ``sequence``
    counts its revisions, so a reschedule or a cancellation replaces the copy there."""

    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    location = models.CharField(
        max_length=500, blank=True, help_text="A room or address, or a video call link."
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    time_zone = models.CharField(
        max_length=64, default=site_time_zone, help_text="The time zone the times are in."
    )
    organizer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="organized_meetings"
    )
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, null=True, blank=True)
    object_id = models.PositiveBigIntegerField(null=True, blank=True)
    subject = GenericForeignKey("content_type", "object_id")
    status = models.CharField(
        max_length=10, choices=MeetingStatus.choices, default=MeetingStatus.SCHEDULED
    )
    uid = models.CharField(max_length=255, unique=True, editable=False)
    sequence = models.PositiveIntegerField(default=0, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who scheduled it; empty when a visitor booked it on a booking page.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MeetingQuerySet.as_manager()

    class Meta:
        ordering = ["starts_at", "id"]
        indexes = [
            models.Index(fields=["organizer", "starts_at"], name="meeting_organizer_idx"),
            models.Index(
                fields=["content_type", "object_id", "starts_at"], name="meeting_subject_idx"
            ),
            models.Index(fields=["starts_at"], name="meeting_starts_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="meeting_ends_after_start"
            )
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return record_url("meeting_detail", self.pk)

    @property
    def is_cancelled(self) -> bool:
        return self.status == MeetingStatus.CANCELLED

    @property
    def is_past(self) -> bool:
        return self.ends_at < timezone.now()

    @property
    def duration_minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)


class MeetingAttendee(models.Model):
    """Someone invited to a meeting: a customer (by address, linked to their contact when there
    is one) or a colleague (a user), with their answer. ``token`` is the secret in the answer
    links of their invitation."""

    meeting = models.ForeignKey(Meeting, on_delete=models.CASCADE, related_name="attendees")
    email = models.EmailField()
    name = models.CharField(max_length=200, blank=True)
    contact = models.ForeignKey(
        "crm.Contact", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="meeting_invitations",
    )
    response = models.CharField(
        max_length=12, choices=AttendeeResponse.choices, default=AttendeeResponse.NEEDS_ACTION
    )
    responded_at = models.DateTimeField(null=True, blank=True)
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["meeting", "email"], name="meeting_attendee_once")
        ]
        indexes = [
            models.Index(fields=["user"], name="meeting_attendee_user_idx"),
            models.Index(fields=["email"], name="meeting_attendee_email_idx"),
        ]

    def __str__(self):
        return self.name or self.email

    @property
    def label(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


class CalendarFeed(models.Model):
    """A user's private calendar address: any calendar app subscribed to it shows their
    meetings. The token is the only key, so the user can replace it (the old address stops)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed"
    )
    token = models.CharField(max_length=64, unique=True, default=new_token)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"Calendar of {self.user}"
