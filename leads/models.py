from decimal import Decimal

from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.db import models
from django.urls import reverse
from django_countries.fields import CountryField

from crm.choices import Industry
from crm.models import Account, Contact, Team
from crm.visibility import any_role, owner_scope
from leads.choices import (
    BuyingRole,
    CampaignChannel,
    DisqualifyReason,
    Grade,
    LeadSource,
    LeadStatus,
    NeedSeverity,
)


class CampaignQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Campaigns are shared marketing facts: every role reads them."""
        return any_role(self, user)

    def changeable_by(self, user):
        if not getattr(user, "is_authenticated", False):
            return self.none()
        if user.is_admin_role or user.is_manager:
            return self
        return self.none()


class Campaign(models.Model):
    """A marketing effort that brings in leads (a web form, an event, an ad campaign), with its
    cost: the basis of cost per lead and of campaign ROI."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(
        max_length=80, unique=True, help_text="The public web form lives at /forms/<slug>/."
    )
    channel = models.CharField(
        max_length=20, choices=CampaignChannel.choices, default=CampaignChannel.WEB
    )
    cost = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal("0"))
    currency = models.CharField(max_length=3, default=settings.DEFAULT_CURRENCY)
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_campaigns",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CampaignQuerySet.as_manager()

    class Meta:
        ordering = ["-start_date", "name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("leads:campaign_detail", args=[self.pk])


class LeadQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Reps see their own leads, managers their teams', admins all; agents none."""
        return owner_scope(self, user)

    def changeable_by(self, user):
        return owner_scope(self, user)

    def open(self):
        return self.exclude(status__in=[LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED])


class Lead(models.Model):
    """A person (and their company) who may become a customer, from first capture through
    qualification to conversion into an account, contact and opportunity."""

    # The person
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100)
    email = models.EmailField(blank=True, help_text="Stored in lower case.")
    phone = models.CharField(max_length=20, blank=True, help_text="Stored in E.164 form.")
    title = models.CharField("job title", max_length=150, blank=True)
    # Their company
    company_name = models.CharField(max_length=200, blank=True)
    website = models.CharField("website domain", max_length=253, blank=True)
    industry = models.CharField(max_length=20, choices=Industry.choices, blank=True)
    employees = models.PositiveIntegerField("company size (employees)", null=True, blank=True)
    country = CountryField(blank=True)
    # Where it came from and who works it
    source = models.CharField(max_length=20, choices=LeadSource.choices, default=LeadSource.MANUAL)
    campaign = models.ForeignKey(
        Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="leads"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_leads",
    )
    team = models.ForeignKey(
        Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="leads"
    )
    status = models.CharField(max_length=20, choices=LeadStatus.choices, default=LeadStatus.NEW)
    disqualify_reason = models.CharField(
        max_length=20, choices=DisqualifyReason.choices, blank=True
    )
    disqualify_note = models.TextField(blank=True)
    # BANT
    budget_amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    budget_currency = models.CharField(max_length=3, default=settings.DEFAULT_CURRENCY)
    budget_confirmed = models.BooleanField(default=False)
    authority = models.CharField(
        "buying role", max_length=20, choices=BuyingRole.choices, blank=True
    )
    need = models.TextField("pain", blank=True)
    need_severity = models.CharField(max_length=10, choices=NeedSeverity.choices, blank=True)
    timeline = models.DateField("expected purchase date", null=True, blank=True)
    # Scoring
    score = models.PositiveSmallIntegerField(default=0)
    grade = models.CharField(max_length=1, choices=Grade.choices, default=Grade.D)
    score_breakdown = models.JSONField(default=list, blank=True, editable=False)
    conversion_probability = models.FloatField(null=True, blank=True, editable=False)
    conversion_factors = models.JSONField(default=list, blank=True, editable=False)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    # Consent
    email_consent = models.BooleanField(default=False)
    email_consent_at = models.DateTimeField(null=True, blank=True)
    marketing_consent = models.BooleanField(default=False)
    marketing_consent_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    # Dedupe and conversion
    duplicate_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="duplicates"
    )
    possible_duplicate = models.BooleanField(default=False)
    converted_at = models.DateTimeField(null=True, blank=True)
    converted_account = models.ForeignKey(
        Account, on_delete=models.SET_NULL, null=True, blank=True, related_name="source_leads"
    )
    converted_contact = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="source_leads"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    activities = GenericRelation("crm.Activity")
    tasks = GenericRelation("crm.Task")

    objects = LeadQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["owner", "-created_at"], name="lead_owner_created_idx"),
            models.Index(fields=["status", "-created_at"], name="lead_status_idx"),
            models.Index(fields=["source", "-created_at"], name="lead_source_idx"),
            models.Index(fields=["campaign", "-created_at"], name="lead_campaign_idx"),
            models.Index(fields=["-score", "-id"], name="lead_score_idx"),
            models.Index(fields=["grade", "-created_at"], name="lead_grade_idx"),
            models.Index(fields=["last_name", "first_name", "id"], name="lead_name_idx"),
            models.Index(fields=["email"], name="lead_email_idx"),
            models.Index(fields=["phone"], name="lead_phone_idx"),
            models.Index(fields=["website"], name="lead_website_idx"),
            models.Index(fields=["company_name"], name="lead_company_idx"),
            models.Index(fields=["-updated_at"], name="lead_updated_idx"),
        ]

    def __str__(self):
        name = f"{self.first_name} {self.last_name}".strip()
        return f"{name} ({self.company_name})" if self.company_name else name

    def get_absolute_url(self):
        return reverse("leads:lead_detail", args=[self.pk])

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_open(self) -> bool:
        return self.status not in (LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED)
