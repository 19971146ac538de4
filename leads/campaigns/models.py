"""Email campaigns to a segment of contacts, with A/B variants, per-recipient tracking and an
address suppression list. Imported by ``leads.models`` so Django registers them."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from crm.links import record_url
from crm.models import Contact, OutboundEmail, Segment
from crm.permissions import may_manage
from crm.visibility import owner_scope
from leads.choices import (
    AttributionTouch,
    EmailCampaignStatus,
    RecipientStatus,
    SkipReason,
    SuppressionReason,
)


class EmailCampaignQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Marketing sends are run by managers and admins: a manager sees the campaigns made by
        them or by members of the teams they manage, an admin all. Other roles see none (the
        pages show revenue credited from every deal the user may see)."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        if not may_manage(user):
            return self.none()
        return owner_scope(self, user, field="created_by")

    def changeable_by(self, user):
        return self.visible_to(user)


class EmailCampaign(models.Model):
    """A one-off marketing email to a segment of contacts, optionally split into A/B variants;
    its cost and attribution come from the marketing ``Campaign`` it belongs to."""

    name = models.CharField(max_length=200)
    campaign = models.ForeignKey(
        "leads.Campaign",
        on_delete=models.PROTECT,
        related_name="email_campaigns",
        help_text="The marketing campaign it spends under and is credited to.",
    )
    segment = models.ForeignKey(Segment, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        max_length=10, choices=EmailCampaignStatus.choices, default=EmailCampaignStatus.DRAFT
    )
    scheduled_at = models.DateTimeField(null=True, blank=True)
    rate_per_minute = models.PositiveIntegerField(
        default=500, validators=[MinValueValidator(1), MaxValueValidator(100_000)]
    )
    track_opens = models.BooleanField(default=True, help_text="Add an open-tracking pixel.")
    test_fraction = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        default=1,
        validators=[MinValueValidator(0), MaxValueValidator(1)],
        help_text="Share of recipients in the A/B test; the rest get the winner (1 = everyone).",
    )
    winner_after_hours = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Pick the winner this long after sending starts."
    )
    winner_variant = models.ForeignKey(
        "leads.EmailVariant", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    winner_picked_at = models.DateTimeField(null=True, blank=True)
    prepared_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = EmailCampaignQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "scheduled_at"], name="emailcamp_status_idx"),
            models.Index(fields=["-created_at", "-id"], name="emailcamp_created_idx"),
            models.Index(fields=["campaign", "status"], name="emailcamp_campaign_idx"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return record_url("leads:email_campaign_detail", self.pk)


class EmailVariant(models.Model):
    """One version (A–D) of a campaign's email: a subject and body template with merge fields."""

    campaign = models.ForeignKey(EmailCampaign, on_delete=models.CASCADE, related_name="variants")
    label = models.CharField(max_length=1, choices=[(c, c) for c in "ABCD"])
    subject = models.CharField(max_length=200)
    body = models.TextField(help_text="Merge fields: {{ first_name }}, {{ company }}…")

    class Meta:
        ordering = ["campaign", "label"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "label"], name="emailvariant_label_uniq")
        ]

    def __str__(self):
        return f"{self.campaign} · {self.label}"


class CampaignRecipient(models.Model):
    """A contact chosen for an email campaign, and what became of their email."""

    campaign = models.ForeignKey(EmailCampaign, on_delete=models.CASCADE, related_name="recipients")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+")
    email = models.EmailField()
    variant = models.ForeignKey(
        EmailVariant, on_delete=models.SET_NULL, null=True, blank=True, related_name="recipients"
    )
    bucket = models.PositiveSmallIntegerField(
        default=0, help_text="0–999 from a hash of campaign and contact: the reproducible split."
    )
    status = models.CharField(
        max_length=10, choices=RecipientStatus.choices, default=RecipientStatus.PENDING
    )
    skip_reason = models.CharField(
        max_length=15, choices=SkipReason.choices, default=SkipReason.NONE, blank=True
    )
    outbound_email = models.ForeignKey(
        OutboundEmail, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    queued_at = models.DateTimeField(null=True, blank=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    replied_at = models.DateTimeField(null=True, blank=True)
    converted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "contact"], name="campaignrecipient_uniq")
        ]
        indexes = [
            models.Index(fields=["campaign", "status", "id"], name="camprecip_status_idx"),
            models.Index(fields=["campaign", "variant"], name="camprecip_variant_idx"),
            models.Index(fields=["campaign", "email"], name="camprecip_email_idx"),
            models.Index(fields=["contact", "status"], name="camprecip_contact_idx"),
            models.Index(fields=["campaign", "queued_at"], name="camprecip_queued_idx"),
        ]

    def __str__(self):
        return f"{self.email} · {self.campaign}"


class Suppression(models.Model):
    """An address that must never get marketing email again (bounced, complained,
    unsubscribed, blocked by hand, or the address of an erased person, kept only as a hash)."""

    email = models.EmailField(
        unique=True, null=True, blank=True, help_text="Stored in lower case; none once erased."
    )
    email_hash = models.CharField(
        max_length=64,
        unique=True,
        null=True,
        blank=True,
        help_text="SHA-256 (hex) of the address in lower case: all that is kept of an erased "
        "person's address.",
    )
    reason = models.CharField(max_length=12, choices=SuppressionReason.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["-created_at", "-id"], name="suppression_created_idx")]

    def __str__(self):
        return f"{self.email or 'erased address'} ({self.get_reason_display()})"


class CampaignCredit(models.Model):
    """A won deal credited to a marketing campaign under one attribution rule (first or last
    touch): the snapshot campaign ROI is read from, recomputed hourly from the touches (campaign
    emails sent, leads captured) and the won deals."""

    campaign = models.ForeignKey("leads.Campaign", on_delete=models.CASCADE, related_name="+")
    touch = models.CharField(max_length=5, choices=AttributionTouch.choices)
    # The sales stage's deal by id: leads keeps no foreign key into a later stage.
    opportunity_id = models.PositiveBigIntegerField()
    # The deal's owner, kept equal to it (the refresh writes it, and a trigger of sales follows
    # each change of a deal's owner), so who may see a credit is read from the credit alone.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    account = models.ForeignKey("crm.Account", on_delete=models.CASCADE, related_name="+")
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    won_at = models.DateTimeField()
    touched_at = models.DateTimeField(help_text="When the credited touch happened.")
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["campaign", "touch", "-won_at"]
        constraints = [
            models.UniqueConstraint(fields=["opportunity_id", "touch"], name="campaigncredit_uniq")
        ]
        indexes = [
            models.Index(fields=["campaign", "touch"], name="campaigncredit_campaign_idx"),
            models.Index(fields=["owner", "campaign"], name="campaigncredit_owner_idx"),
            # The currencies in use, read by skipping along it (``currencies_in_use``).
            models.Index(fields=["currency"], name="campaigncredit_currency_idx"),
        ]

    def __str__(self):
        return f"{self.campaign} · {self.get_touch_display()} · {self.amount} {self.currency}"
