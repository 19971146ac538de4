from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from crm.links import record_url


class DigestFrequency(models.TextChoices):
    OFF = "off", "Off"
    DAILY = "daily", "Daily"
    HOURLY = "hourly", "Hourly"


class NotificationQuerySet(models.QuerySet):
    def visible_to(self, user):
        """A user sees their own notifications only, whatever their role."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        return self.filter(recipient_id=user.pk)

    def changeable_by(self, user):
        return self.visible_to(user)

    def unread(self):
        return self.filter(read_at__isnull=True)


class Notification(models.Model):
    """Something a user should know about, shown under the bell in the top bar: a record was
    assigned to them, they were mentioned in a note, an SLA is about to run out, a task falls
    due, a deal was won in their team. Each event notifies a person once (``dedupe_key``)."""

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    # One of ``crm.registry.notification_kinds`` (later stages add theirs), checked on write.
    kind = models.CharField(max_length=40)
    verb = models.CharField(max_length=255, help_text="What happened, as the bell shows it.")
    content_type = models.ForeignKey(
        ContentType, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    object_id = models.PositiveBigIntegerField(null=True, blank=True)
    target = GenericForeignKey("content_type", "object_id")
    url = models.CharField(max_length=500, blank=True, help_text="Where the notification leads.")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Who caused it; empty for automations.",
    )
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)
    dedupe_key = models.CharField(
        max_length=200, help_text="The event, so the same event never notifies a person twice."
    )

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "dedupe_key"], name="notification_once_per_event"
            )
        ]
        indexes = [
            # The bell: my unread, newest first (and their count).
            models.Index(
                fields=["recipient", "-created_at", "-id"],
                condition=Q(read_at__isnull=True),
                name="notification_unread_idx",
            ),
            # The full page: all of mine, newest first.
            models.Index(fields=["recipient", "-created_at", "-id"], name="notification_mine_idx"),
        ]

    def __str__(self):
        return self.verb

    def get_absolute_url(self):
        return record_url("notification_open", self.pk)

    @property
    def kind_label(self) -> str:
        from crm import registry

        return registry.notification_kinds.label(self.kind)


class NotificationSettings(models.Model):
    """A user's choice of email digest of their unread notifications: how often, and of which
    kinds. ``next_digest_at`` is when the next one is due (the digest job's due row);
    ``last_digest_at`` when the last one went out, so each digest covers only what came since."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_settings"
    )
    digest = models.CharField(
        max_length=10, choices=DigestFrequency.choices, default=DigestFrequency.OFF
    )
    email_kinds = ArrayField(
        models.CharField(max_length=40),
        default=list,
        blank=True,
        help_text="The kinds of notification the digest includes.",
    )
    next_digest_at = models.DateTimeField(null=True, blank=True)
    last_digest_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "notification settings"
        indexes = [
            models.Index(
                fields=["next_digest_at"],
                condition=~Q(digest="off"),
                name="notification_digest_due_idx",
            )
        ]

    def __str__(self):
        return f"Notification settings of {self.user}"
