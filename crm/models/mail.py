from django.conf import settings
from django.db import models
from encrypted_fields.fields import EncryptedCharField, EncryptedTextField

from crm.choices import MailAuth, MailSecurity
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

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "mailboxes"

    def __str__(self):
        return self.email_address
