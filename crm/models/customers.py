from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django_countries.fields import CountryField

from crm import history
from crm.choices import Industry, LifecycleStage, SizeBand
from crm.currencies import company_currency, validate_currency
from crm.custom_fields.models import custom_column, custom_index
from crm.links import record_url
from crm.visibility import any_role, owner_scope


class CustomerQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Every role reads all accounts and contacts (DESIGN.md); no role reads nothing."""
        return any_role(self, user)

    def changeable_by(self, user):
        """Owners change their own, managers their teams', admins everything."""
        return owner_scope(self, user)


@history.track(
    name="account",
    fields=[
        "name",
        "domain",
        "industry",
        "size_band",
        "country",
        "owner",
        "lifecycle_stage",
        "billing_address",
        "currency",
        "custom",
    ],
)
class Account(models.Model):
    """A customer company, from first prospecting through to churn."""

    name = models.CharField(max_length=200)
    domain = models.CharField(
        "website domain", max_length=253, blank=True, help_text="e.g. example.com"
    )
    industry = models.CharField(max_length=20, choices=Industry.choices, blank=True)
    size_band = models.CharField("size", max_length=10, choices=SizeBand.choices, blank=True)
    country = CountryField(blank=True)
    billing_address = models.TextField(
        blank=True, help_text="As printed on quotes: street, city, postcode, country."
    )
    currency = models.CharField(
        "preferred currency",
        max_length=3,
        blank=True,
        validators=[validate_currency],
        help_text="New deals, their line items and quotes are in this currency; empty: the "
        "company currency.",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_accounts",
    )
    lifecycle_stage = models.CharField(
        max_length=10, choices=LifecycleStage.choices, default=LifecycleStage.PROSPECT
    )
    # Duplicate matching (crm.matching): blocking keys and the folded name, kept by the services.
    match_keys = ArrayField(models.CharField(max_length=100), default=list, editable=False)
    match_name = models.CharField(max_length=200, blank=True, editable=False)
    # Data quality (crm.quality): the score and the freshness band it was computed in, kept by
    # the services and the daily refresh; empty until first scored.
    quality = models.SmallIntegerField(null=True, blank=True, editable=False)
    quality_age_band = models.SmallIntegerField(null=True, blank=True, editable=False)
    custom = custom_column()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    activities = GenericRelation("crm.Activity")
    tasks = GenericRelation("crm.Task")
    mail_links = GenericRelation("crm.MailLink")

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["name", "id"], name="account_name_idx"),
            custom_index("account"),
            models.Index(fields=["owner", "-created_at"], name="account_owner_created_idx"),
            models.Index(fields=["lifecycle_stage", "-created_at"], name="account_stage_idx"),
            models.Index(fields=["industry", "-created_at"], name="account_industry_idx"),
            models.Index(fields=["country", "-created_at"], name="account_country_idx"),
            models.Index(fields=["domain"], name="account_domain_idx"),
            models.Index(fields=["-updated_at"], name="account_updated_idx"),
            models.Index(fields=["quality", "id"], name="account_quality_idx"),
            models.Index(fields=["quality_age_band", "updated_at"], name="account_quality_age_idx"),
            GinIndex(fields=["match_keys"], name="account_match_keys_idx", fastupdate=False),
            GinIndex(
                fields=["match_name"], name="account_match_name_idx", opclasses=["gin_trgm_ops"]
            ),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return record_url("account_detail", self.pk)

    @property
    def deal_currency(self) -> str:
        """The currency a new deal with this account starts in."""
        return self.currency or company_currency()


@history.track(
    name="contact",
    fields=[
        "first_name",
        "last_name",
        "email",
        "phone",
        "title",
        "account",
        "owner",
        "email_consent",
        "marketing_consent",
        "custom",
    ],
)
class Contact(models.Model):
    """A person at a customer company (or on their own) whom the business talks to."""

    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100)
    email = models.EmailField(blank=True, help_text="Stored in lower case.")
    phone = models.CharField(max_length=20, blank=True, help_text="Stored in E.164 form.")
    title = models.CharField("job title", max_length=150, blank=True)
    account = models.ForeignKey(
        Account, on_delete=models.SET_NULL, null=True, blank=True, related_name="contacts"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_contacts",
    )
    email_consent = models.BooleanField(
        default=False, help_text="May be emailed about their account and service."
    )
    email_consent_at = models.DateTimeField(null=True, blank=True)
    marketing_consent = models.BooleanField(
        default=False, help_text="Agreed to receive marketing email."
    )
    marketing_consent_at = models.DateTimeField(null=True, blank=True)
    # Duplicate matching (crm.matching): blocking keys and the folded name, kept by the services.
    match_keys = ArrayField(models.CharField(max_length=100), default=list, editable=False)
    match_name = models.CharField(max_length=200, blank=True, editable=False)
    # Data quality (crm.quality): the score and the freshness band it was computed in, kept by
    # the services and the daily refresh; empty until first scored.
    quality = models.SmallIntegerField(null=True, blank=True, editable=False)
    quality_age_band = models.SmallIntegerField(null=True, blank=True, editable=False)
    custom = custom_column()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    activities = GenericRelation("crm.Activity")
    tasks = GenericRelation("crm.Task")
    mail_links = GenericRelation("crm.MailLink")

    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["last_name", "first_name", "id"], name="contact_name_idx"),
            custom_index("contact"),
            models.Index(fields=["email"], name="contact_email_idx"),
            models.Index(fields=["phone"], name="contact_phone_idx"),
            models.Index(fields=["owner", "-created_at"], name="contact_owner_created_idx"),
            models.Index(fields=["account", "-created_at"], name="contact_account_idx"),
            models.Index(fields=["-updated_at"], name="contact_updated_idx"),
            models.Index(fields=["quality", "id"], name="contact_quality_idx"),
            models.Index(fields=["quality_age_band", "updated_at"], name="contact_quality_age_idx"),
            GinIndex(fields=["match_keys"], name="contact_match_keys_idx", fastupdate=False),
            GinIndex(
                fields=["match_name"], name="contact_match_name_idx", opclasses=["gin_trgm_ops"]
            ),
        ]

    def __str__(self):
        return self.full_name

    def get_absolute_url(self):
        return record_url("contact_detail", self.pk)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()
