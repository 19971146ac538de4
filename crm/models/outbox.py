from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models

from crm.choices import OutboxStatus
from crm.work import Leased


class OutboundEmail(Leased):
    """An email the CRM has decided to send. Written first, delivered later by the outbox task,
    which leases each row while it hands it to the SMTP server (``crm.work``)."""

    to_email = models.EmailField()
    cc = models.JSONField(default=list, blank=True, db_default=[])
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The user it is sent for: from their connected mailbox when they have one, "
        "else from the CRM's address with their name, answered to them.",
    )
    subject = models.CharField(max_length=255)
    body_text = models.TextField()
    body_html = models.TextField(blank=True)
    attachments = models.JSONField(
        default=list,
        blank=True,
        db_default=[],
        help_text="What to attach, named by kind and record (crm.registry.email_attachments): "
        "each file is made when the message is handed to the mail server, so a retry sends "
        "the same file.",
    )
    content_type = models.ForeignKey(ContentType, on_delete=models.SET_NULL, null=True, blank=True)
    object_id = models.PositiveBigIntegerField(null=True, blank=True)
    related = GenericForeignKey("content_type", "object_id")
    status = models.CharField(
        max_length=10, choices=OutboxStatus.choices, default=OutboxStatus.QUEUED
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    idempotency_key = models.CharField(
        max_length=200,
        unique=True,
        help_text="Names the reason for this message, so the same reason never queues it twice.",
    )
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    uncertain = models.BooleanField(
        default=False,
        db_default=False,
        help_text="A worker stopped while handing this message to the mail server, so it may "
        "have arrived; it is sent again with the same Message-ID, which lets receivers drop "
        "the copy.",
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "outbound email"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="outbox_status_idx"),
            models.Index(fields=["content_type", "object_id"], name="outbox_related_idx"),
            models.Index(
                fields=["lease_until"],
                condition=models.Q(status=OutboxStatus.SENDING),
                name="outbox_sending_lease_idx",
            ),
            models.Index(
                fields=["id"],
                condition=models.Q(status=OutboxStatus.FAILED) | models.Q(uncertain=True),
                name="outbox_problem_idx",
            ),
        ]

    def __str__(self):
        return f"{self.subject} → {self.to_email}"
