from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.urls import reverse
from encrypted_fields.fields import EncryptedCharField, EncryptedTextField

from crm.choices import MailAuth, MailDirection, MailSecurity, MailSyncStatus
from crm.links import record_url
from crm.work import Leased


class Mailbox(Leased):
    """A user's own mailbox, connected to the CRM: read over IMAP (the periodic sync imports the
    conversations with known contacts and leads onto their timelines) and written through over
    SMTP (emails composed in the CRM leave from the user's own address). Passwords and OAuth2
    tokens are stored encrypted; the sync is durable work (a lease per mailbox, a checkpoint per
    folder)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mailbox"
    )
    email_address = models.EmailField(help_text="The address this mailbox sends from.")
    auth_method = models.CharField(
        max_length=12, choices=MailAuth.choices, default=MailAuth.PASSWORD
    )

    imap_host = models.CharField(max_length=255, blank=True)
    imap_port = models.PositiveIntegerField(default=993)
    imap_security = models.CharField(
        max_length=10, choices=MailSecurity.choices, default=MailSecurity.SSL
    )
    imap_username = models.CharField(max_length=255, blank=True)
    imap_password = EncryptedCharField(max_length=500, null=True, blank=True)

    smtp_host = models.CharField(max_length=255, blank=True)
    smtp_port = models.PositiveIntegerField(default=587)
    smtp_security = models.CharField(
        max_length=10, choices=MailSecurity.choices, default=MailSecurity.STARTTLS
    )
    smtp_username = models.CharField(max_length=255, blank=True)
    smtp_password = EncryptedCharField(max_length=500, null=True, blank=True)

    oauth_refresh_token = EncryptedTextField(null=True, blank=True)
    oauth_access_token = EncryptedTextField(null=True, blank=True)
    oauth_expires_at = models.DateTimeField(null=True, blank=True)

    private_label = models.CharField(
        max_length=100,
        default="Private",
        help_text="Mail carrying this label (an IMAP keyword or Gmail label), or kept in a "
        "folder of this name, is never imported.",
    )
    sync_status = models.CharField(
        max_length=10, choices=MailSyncStatus.choices, default=MailSyncStatus.WAITING
    )
    sync_error = models.TextField(blank=True, help_text="Why the last sync failed, for the user.")
    sync_attempts = models.PositiveIntegerField(
        default=0, help_text="Failed syncs in a row (the backoff grows with them)."
    )
    next_sync_at = models.DateTimeField(
        null=True, blank=True, help_text="Not synced before this time (after a network error)."
    )
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_sync_fetched = models.PositiveIntegerField(default=0)
    last_sync_imported = models.PositiveIntegerField(default=0)
    fetched_total = models.PositiveBigIntegerField(default=0)
    imported_total = models.PositiveBigIntegerField(default=0)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "mailboxes"
        indexes = [
            models.Index(fields=["sync_status", "next_sync_at"], name="crm_mailbox_sync_due"),
        ]

    def __str__(self):
        return self.email_address

    def get_absolute_url(self):
        return reverse("mailbox_settings")

    @property
    def uses_oauth(self) -> bool:
        return self.auth_method != MailAuth.PASSWORD


class MailboxFolder(models.Model):
    """One folder of a connected mailbox that the sync reads (the inbox, the sent folder…),
    with its checkpoint: the folder's UIDVALIDITY and the highest UID already imported, so a
    sync resumes after the last batch it finished and never reads a message twice."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="folders")
    name = models.CharField(max_length=255, help_text="The folder's IMAP name.")
    uidvalidity = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="The server's UIDVALIDITY the checkpoint belongs to."
    )
    last_uid = models.PositiveBigIntegerField(
        default=0, help_text="Every message up to this UID was imported."
    )
    since = models.DateField(
        null=True, blank=True, help_text="The first day read (MAIL_SYNC_DAYS before the start)."
    )
    fetched_total = models.PositiveBigIntegerField(default=0)
    last_synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "name"], name="crm_mailboxfolder_unique")
        ]

    def __str__(self):
        return self.name


class MailThread(models.Model):
    """A conversation: the emails that answer one another, found by their Message-ID,
    In-Reply-To and References headers. ``root_message_id`` names the message the conversation
    started with (the first of References), so every reply finds the same thread."""

    root_message_id = models.CharField(max_length=998, unique=True)
    subject = models.CharField(max_length=500, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-last_message_at", "-id"]

    def __str__(self):
        return self.subject or "(no subject)"


class MailMessageQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Emails linked to a record the user may see (its kind's own ``visible_to``)."""
        if not getattr(user, "is_authenticated", False) or not user.has_any_role:
            return self.none()
        if user.is_admin_role:
            return self
        from crm.mail.links import visible_link_filter  # the linkable kinds come from registries

        return self.filter(
            models.Exists(
                MailLink.objects.filter(visible_link_filter(user), message=models.OuterRef("pk"))
            )
        )


class MailMessage(models.Model):
    """An email between a CRM user and a customer, imported once from a connected mailbox or
    the logging address and shown on the timelines of the records it is linked to. The same
    message seen in several mailboxes (the sender's Sent folder and the recipient's Inbox) is
    stored once, by its Message-ID."""

    message_id = models.CharField(max_length=998, unique=True)
    thread = models.ForeignKey(MailThread, on_delete=models.CASCADE, related_name="messages")
    direction = models.CharField(max_length=3, choices=MailDirection.choices)
    from_email = models.EmailField(max_length=320)
    from_name = models.CharField(max_length=200, blank=True)
    to_emails = ArrayField(models.CharField(max_length=320), default=list, blank=True)
    cc_emails = ArrayField(models.CharField(max_length=320), default=list, blank=True)
    subject = models.CharField(max_length=500, blank=True)
    body_text = models.TextField(blank=True)
    body_html = models.TextField(blank=True, help_text="Sanitised (crm.html) before storing.")
    sent_at = models.DateTimeField()
    in_reply_to = models.CharField(max_length=998, blank=True)
    references = ArrayField(models.CharField(max_length=998), default=list, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The CRM user on our side of the conversation (whose mailbox it came from).",
    )
    seen_by = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="MailMessageSeen",
        related_name="+",
        help_text="Users whose mailbox (or logging address) this message came through.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MailMessageQuerySet.as_manager()

    class Meta:
        ordering = ["-sent_at", "-id"]
        indexes = [
            models.Index(fields=["thread", "sent_at"], name="mailmessage_thread_idx"),
            models.Index(fields=["from_email"], name="mailmessage_from_idx"),
            GinIndex(fields=["to_emails"], name="mailmessage_to_idx"),
            GinIndex(fields=["cc_emails"], name="mailmessage_cc_idx"),
        ]

    def __str__(self):
        return self.subject or "(no subject)"

    def get_absolute_url(self):
        return record_url("mail_message_detail", self.pk)


class MailMessageSeen(models.Model):
    """A user whose mailbox (or logging address) a stored email came through."""

    message = models.ForeignKey(MailMessage, on_delete=models.CASCADE, related_name="seen")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "user"], name="mailmessageseen_once")
        ]

    def __str__(self):
        return f"{self.message} seen by {self.user}"


class MailLink(models.Model):
    """A stored email shown on a record's timeline (a contact, its account, a lead, an open
    deal): once per message and record. ``sent_at`` repeats the message's, so a record's emails
    list newest first from this table's index alone."""

    message = models.ForeignKey(MailMessage, on_delete=models.CASCADE, related_name="links")
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.PositiveBigIntegerField()
    record = GenericForeignKey("content_type", "object_id")
    sent_at = models.DateTimeField()
    activity = models.ForeignKey(
        "crm.Activity",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The line this email wrote on the record's timeline.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["message", "content_type", "object_id"], name="maillink_once"
            )
        ]
        indexes = [
            models.Index(
                fields=["content_type", "object_id", "-sent_at"], name="maillink_record_idx"
            )
        ]

    def __str__(self):
        return f"{self.message} → {self.content_type.model} {self.object_id}"


class MailLoggingAddress(models.Model):
    """A user's own logging address: mail they BCC or forward to ``<local>+<token>@<domain>``
    (``MAIL_LOGGING_ADDRESS``) is imported as theirs. The token is secret; a new one makes the
    old address stop working."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mail_logging_address"
    )
    token = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"logging address of {self.user}"


class MailLoggingCheckpoint(Leased):
    """Where the poll of the logging address's IMAP mailbox got to (one row per folder): the
    folder's UIDVALIDITY and the highest UID imported, so a restart resumes after it."""

    folder = models.CharField(max_length=255, unique=True)
    uid_validity = models.BigIntegerField(null=True, blank=True)
    last_uid = models.BigIntegerField(default=0)
    last_polled_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    def __str__(self):
        return self.folder
