import secrets

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils import timezone

from crm.choices import ComposedStatus, OutboxStatus, TemplateSharing
from crm.links import record_url
from crm.visibility import owner_scope


class EmailTemplateQuerySet(models.QuerySet):
    def active(self):
        return self.filter(archived_at__isnull=True)

    def visible_to(self, user):
        """A user's own templates, those shared with everyone, and those shared with a team by
        a fellow member; admins see all, managers also their teams' private ones."""
        if not getattr(user, "is_authenticated", False) or not user.has_any_role:
            return self.none()
        if user.is_admin_role:
            return self
        from crm.models.users import Team

        fellows = Team.members.through.objects.filter(
            team__in=Team.objects.filter(Q(members=user) | Q(managers=user))
        ).values("user_id")
        return self.filter(
            Q(owner_id__in=user.managed_user_ids)
            | Q(sharing=TemplateSharing.ALL)
            | Q(sharing=TemplateSharing.TEAM, owner_id__in=fellows)
        )

    def changeable_by(self, user):
        """Owners change their own, managers their teams', admins everything."""
        return owner_scope(self, user)


class EmailTemplate(models.Model):
    """A reusable email a seller starts from when writing to a contact, lead or deal: a subject
    and a plain-text body with merge fields (``{{ contact.first_name }}``) filled from the
    record when the email is composed. Kept private, shared with the owner's teams or with
    everyone; archived templates are no longer offered."""

    name = models.CharField(max_length=120)
    subject = models.CharField(max_length=255)
    body = models.TextField()
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="email_templates"
    )
    sharing = models.CharField(
        max_length=10, choices=TemplateSharing.choices, default=TemplateSharing.PRIVATE
    )
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = EmailTemplateQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            models.Index(fields=["owner", "name"], name="emailtemplate_owner_idx"),
            models.Index(fields=["sharing", "name"], name="emailtemplate_sharing_idx"),
            models.Index(fields=["updated_at", "id"], name="emailtemplate_updated_idx"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return record_url("email_template_edit", self.pk)


class ComposedEmailQuerySet(models.QuerySet):
    def for_object(self, obj):
        return self.filter(content_type=ContentType.objects.get_for_model(obj), object_id=obj.pk)


class ComposedEmail(models.Model):
    """An email a user wrote to a customer from a record (a contact, account, lead or deal):
    what they wrote, to whom, when it is to leave, and how the recipient took it (opens and
    clicks, when their consent allows tracking). Its delivery is an outbox row, sent through
    the user's own mailbox when they connected one."""

    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="composed_emails",
    )
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.PositiveBigIntegerField()
    related = GenericForeignKey("content_type", "object_id")
    to_email = models.EmailField()
    cc = models.JSONField(default=list, blank=True)
    subject = models.CharField(max_length=255)
    body = models.TextField()
    template = models.ForeignKey(
        EmailTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    outbox = models.OneToOneField(
        "crm.OutboundEmail",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="composed",
    )
    activity = models.OneToOneField(
        "crm.Activity",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="composed_email",
    )
    send_at = models.DateTimeField(
        null=True, blank=True, help_text="When the sender asked it to leave; empty: at once."
    )
    tracked = models.BooleanField(
        default=False, help_text="Opens and clicks are counted (the recipient's consent allows)."
    )
    first_opened_at = models.DateTimeField(null=True, blank=True)
    open_count = models.PositiveIntegerField(default=0)
    first_clicked_at = models.DateTimeField(null=True, blank=True)
    click_count = models.PositiveIntegerField(default=0)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ComposedEmailQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["content_type", "object_id", "-created_at"], name="composed_related_idx"
            ),
            models.Index(fields=["sender", "-created_at"], name="composed_sender_idx"),
            models.Index(fields=["to_email"], name="composed_to_idx"),
        ]

    def __str__(self):
        return f"{self.subject} → {self.to_email}"

    @property
    def status(self) -> str:
        """Scheduled until it leaves, then sent, opened or clicked; failed with the outbox's
        reason; cancelled by the sender. Reads the outbox row (select it with the email)."""
        if self.cancelled_at is not None:
            return ComposedStatus.CANCELLED
        outbox = self.outbox
        if outbox is None or outbox.status == OutboxStatus.CANCELLED:
            return ComposedStatus.CANCELLED
        if outbox.status == OutboxStatus.FAILED:
            return ComposedStatus.FAILED
        if outbox.status == OutboxStatus.SENT:
            if self.first_clicked_at:
                return ComposedStatus.CLICKED
            if self.first_opened_at:
                return ComposedStatus.OPENED
            return ComposedStatus.SENT
        if outbox.attempts == 0 and self.send_at and self.send_at > timezone.now():
            return ComposedStatus.SCHEDULED
        return ComposedStatus.QUEUED

    def get_status_display(self) -> str:
        return ComposedStatus(self.status).label

    @property
    def is_cancellable(self) -> bool:
        return self.status in (ComposedStatus.SCHEDULED, ComposedStatus.QUEUED) and (
            self.outbox is not None and self.outbox.status == OutboxStatus.QUEUED
        )


def compose_attachment_path(instance, filename):
    # A random directory: names chosen by users never collide or reveal each other.
    return f"compose/attachments/{secrets.token_hex(8)}/{filename}"


class ComposeAttachment(models.Model):
    """A file a user attached to an email they wrote (checked by its content on upload); the
    outbox reads it when it hands the email to the mail server."""

    email = models.ForeignKey(ComposedEmail, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=compose_attachment_path, max_length=255)
    filename = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.filename
