from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils import timezone

from crm.choices import ActivityKind
from crm.links import record_url
from crm.visibility import owner_scope


class ActivityQuerySet(models.QuerySet):
    def for_object(self, obj):
        ct = ContentType.objects.get_for_model(obj)
        return self.filter(content_type=ct, object_id=obj.pk)

    def visible_to(self, user):
        """Activities a user did, or that concern records they own (their teams' for managers)."""
        if not getattr(user, "is_authenticated", False) or not user.has_any_role:
            return self.none()
        if user.is_admin_role:
            return self
        ids = user.managed_user_ids if user.is_manager else {user.pk}
        return self.filter(Q(actor_id__in=ids) | Q(subject_owner_id__in=ids))


class Activity(models.Model):
    """One entry on a record's timeline: a call, email, meeting or note logged by a person, or a
    system event written by an automation. Any CRM record (account, contact, lead, deal, ticket)
    can carry a timeline."""

    kind = models.CharField(max_length=10, choices=ActivityKind.choices, default=ActivityKind.NOTE)
    summary = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    occurred_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="activities",
        help_text="Who did it; empty for automations.",
    )
    subject_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Owner of the record at the time, so owners see events on their records.",
    )
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.PositiveBigIntegerField()
    subject = GenericForeignKey("content_type", "object_id")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ActivityQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "activities"
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(
                fields=["content_type", "object_id", "-occurred_at"], name="activity_subject_idx"
            ),
            models.Index(fields=["actor", "-occurred_at"], name="activity_actor_idx"),
            models.Index(fields=["subject_owner", "-occurred_at"], name="activity_owner_idx"),
            models.Index(fields=["-occurred_at"], name="activity_occurred_idx"),
            # "Any activity on a contact in the last N days" for segments scans by type and time.
            models.Index(
                fields=["content_type", "-occurred_at", "object_id"],
                name="activity_type_recent_idx",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.summary}"


class TaskQuerySet(models.QuerySet):
    def for_object(self, obj):
        ct = ContentType.objects.get_for_model(obj)
        return self.filter(content_type=ct, object_id=obj.pk)

    def open(self):
        return self.filter(done_at__isnull=True)

    def visible_to(self, user):
        """Tasks assigned to the user (their teams' for managers, all for admins) or made by them."""
        scoped = owner_scope(self, user, field="assignee")
        if getattr(user, "is_authenticated", False) and user.has_any_role:
            return scoped | self.filter(created_by_id=user.pk)
        return scoped

    def changeable_by(self, user):
        return self.visible_to(user)


class Task(models.Model):
    """A follow-up someone has to do by a due time, often about a record (call back a contact,
    send a proposal). Reminders go to the assignee before it falls due and when it is overdue."""

    title = models.CharField(max_length=200)
    notes = models.TextField(blank=True)
    due_at = models.DateTimeField()
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tasks"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="created_tasks",
    )
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, null=True, blank=True)
    object_id = models.PositiveBigIntegerField(null=True, blank=True)
    subject = GenericForeignKey("content_type", "object_id")
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    due_soon_notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    overdue_notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["due_at", "id"]
        indexes = [
            models.Index(fields=["assignee", "done_at", "due_at"], name="task_assignee_idx"),
            models.Index(fields=["content_type", "object_id", "due_at"], name="task_subject_idx"),
            models.Index(fields=["assignee", "created_at"], name="task_assignee_created_idx"),
            models.Index(
                fields=["due_at"], condition=Q(done_at__isnull=True), name="task_open_due_idx"
            ),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return record_url("task_edit", self.pk)

    @property
    def is_done(self) -> bool:
        return self.done_at is not None

    @property
    def is_overdue(self) -> bool:
        return self.done_at is None and self.due_at < timezone.now()
