from django.conf import settings
from django.db import models
from django.urls import reverse
from encrypted_fields.fields import EncryptedCharField, EncryptedTextField

from crm.choices import MailAuth, MailSecurity, MailSyncStatus
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
