from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models


class ConsentChannel(models.TextChoices):
    """Through what a consent was given or withdrawn."""

    WEB_FORM = "web_form", "Web form"
    REFERRAL = "referral", "Referral link"
    UNSUBSCRIBE = "unsubscribe", "Unsubscribe link"
    IMPORT = "import", "Import"
    USER = "user", "Edited by a user"
    API = "api", "API"
    CONVERSION = "conversion", "Lead conversion"
    MERGE = "merge", "Merge"
    AUTOMATION = "automation", "Automation"
    OTHER = "other", "Other"


class ConsentEventQuerySet(models.QuerySet):
    def for_object(self, obj):
        ct = ContentType.objects.get_for_model(obj)
        return self.filter(content_type=ct, object_id=obj.pk)


class ConsentEvent(models.Model):
    """Proof of one consent answer of a person (a lead or a contact): which consent, given or
    withdrawn, when, through what (the web form by name, an unsubscribe link, an import, a
    user's edit, the API), the visitor's IP address on a public page, and the wording they were
    shown with its version (a short hash of the text). Append-only: a later answer is a new row;
    erasing the person keeps these rows, which hold nothing that names them."""

    class Consent(models.TextChoices):
        EMAIL = "email_consent", "Email"
        MARKETING = "marketing_consent", "Marketing"

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE)
    object_id = models.PositiveBigIntegerField()
    subject = GenericForeignKey("content_type", "object_id")
    consent = models.CharField(max_length=20, choices=Consent.choices)
    given = models.BooleanField()
    at = models.DateTimeField()
    channel = models.CharField(max_length=20, choices=ConsentChannel.choices)
    channel_name = models.CharField(
        max_length=200, blank=True, help_text="The web form's or the import's name."
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    wording = models.TextField(blank=True)
    wording_version = models.CharField(max_length=12, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)

    objects = ConsentEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["content_type", "object_id", "-at"], name="consent_subject_idx"),
        ]

    def __str__(self):
        verb = "given" if self.given else "withdrawn"
        return f"{self.get_consent_display()} consent {verb} ({self.get_channel_display()})"
