"""Pipelines, opportunities and what a won deal leaves behind: quotes, orders and onboarding."""

from decimal import Decimal

import pgtrigger
from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from crm import history
from crm.custom_fields.models import custom_column, custom_index
from crm.links import record_url
from crm.models import Account, Contact
from crm.permissions import may_manage, may_sell
from crm.visibility import owner_scope
from leads.models import Campaign, CampaignCredit, Lead
from sales.choices import (
    Billing,
    ForecastCategory,
    LostReason,
    OnboardingRole,
    OnboardingStatus,
    OrderSource,
    PeriodKind,
    QuoteStatus,
    StageKind,
)
from sales.pricing import line_net

MONEY = {"max_digits": 14, "decimal_places": 2}
PERCENT = [MinValueValidator(0), MaxValueValidator(100)]


def _default_currency():
    return settings.DEFAULT_CURRENCY


def deal_scope(queryset, user, field="owner"):
    if not may_sell(user):
        return queryset.none()
    return owner_scope(queryset, user, field=field)


class SharedQuerySet(models.QuerySet):
    """Catalogue and configuration every deal-seeing role reads; admins and managers change."""

    def visible_to(self, user):
        return self if may_sell(user) else self.none()

    def changeable_by(self, user):
        if may_manage(user):
            return self
        return self.none()


class Pipeline(models.Model):
    """A sales process with its own stages: new business, expansion, renewal…"""

    name = models.CharField(max_length=100, unique=True)
    order = models.PositiveSmallIntegerField(default=0)
    is_default = models.BooleanField(
        default=False, help_text="Where converted leads and new deals start."
    )
    is_active = models.BooleanField(default=True)

    objects = SharedQuerySet.as_manager()

    class Meta:
        ordering = ["order", "id"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return record_url("sales:board", self.pk)


class Stage(models.Model):
    """A step of a pipeline with the chance a deal in it is won; won and lost stages close it.
    A deal that sits longer than ``rotting_days`` in a stage is "rotting"."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=100)
    order = models.PositiveSmallIntegerField(default=0)
    probability = models.PositiveSmallIntegerField(
        "default probability (%)", default=10, validators=PERCENT
    )
    kind = models.CharField(max_length=10, choices=StageKind.choices, default=StageKind.OPEN)
    rotting_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Days in this stage after which a deal is rotting."
    )

    objects = SharedQuerySet.as_manager()

    class Meta:
        ordering = ["pipeline", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "name"], name="stage_unique_name"),
        ]
        indexes = [models.Index(fields=["pipeline", "order"], name="stage_pipeline_order_idx")]

    def __str__(self):
        return self.name

    @property
    def is_open(self) -> bool:
        return self.kind == StageKind.OPEN


class Product(models.Model):
    """Something the business sells, at a list price, once or as a monthly subscription."""

    name = models.CharField(max_length=200)
    sku = models.CharField("SKU", max_length=60, unique=True)
    description = models.TextField(blank=True)
    price = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, default=_default_currency)
    billing = models.CharField(max_length=10, choices=Billing.choices, default=Billing.ONE_OFF)
    tax_rate = models.DecimalField(
        "tax rate (%)",
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        validators=PERCENT,
        help_text="Empty: the seller's default tax rate.",
    )
    is_active = models.BooleanField("active", default=True)

    objects = SharedQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["is_active", "name"], name="product_active_name_idx")]

    def __str__(self):
        return f"{self.name} ({self.sku})"


class OpportunityQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Reps their own deals, managers their teams', admins all; support agents none."""
        return deal_scope(self, user)

    def changeable_by(self, user):
        return deal_scope(self, user)

    def open(self):
        return self.filter(status=StageKind.OPEN)


@history.track(
    name="opportunity",
    fields=[
        "name",
        "account",
        "primary_contact",
        "owner",
        "pipeline",
        "stage",
        "status",
        "amount",
        "amount_is_manual",
        "currency",
        "probability",
        "forecast_category",
        "expected_close_date",
        "next_step",
        "lost_reason",
        "lost_note",
        "campaign",
        "closed_at",
        "custom",
    ],
)
class Opportunity(models.Model):
    """A deal being worked: what an account may buy, for how much, by when, and how likely.

    ``status`` mirrors the kind of its stage (open, won, lost) so lists and the forecast filter
    on one column; ``amount`` is kept equal to the line items' value by the services whenever
    the deal has line items (one-off value plus twelve months of recurring revenue), unless
    ``amount_is_manual``: a person set another amount on purpose, kept until they go back to the
    lines' value."""

    name = models.CharField(max_length=200)
    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="opportunities")
    primary_contact = models.ForeignKey(
        Contact, on_delete=models.SET_NULL, null=True, blank=True, related_name="opportunities"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_opportunities",
    )
    pipeline = models.ForeignKey(Pipeline, on_delete=models.PROTECT, related_name="opportunities")
    stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="opportunities")
    status = models.CharField(
        max_length=10, choices=StageKind.choices, default=StageKind.OPEN, editable=False
    )
    amount = models.DecimalField(**MONEY, default=Decimal("0"))
    amount_is_manual = models.BooleanField(
        default=False,
        editable=False,
        help_text="Set when a person changed the amount of a deal with line items: the lines "
        "no longer decide it until the amount is reset to their value.",
    )
    currency = models.CharField(max_length=3, default=_default_currency)
    one_off_amount = models.DecimalField(**MONEY, default=Decimal("0"), editable=False)
    mrr = models.DecimalField("MRR", **MONEY, default=Decimal("0"), editable=False)
    probability = models.PositiveSmallIntegerField("probability (%)", validators=PERCENT)
    forecast_category = models.CharField(
        max_length=10, choices=ForecastCategory.choices, default=ForecastCategory.PIPELINE
    )
    expected_close_date = models.DateField(null=True, blank=True)
    next_step = models.CharField(max_length=200, blank=True)
    lost_reason = models.CharField(max_length=20, choices=LostReason.choices, blank=True)
    lost_note = models.TextField(blank=True)
    source_lead = models.ForeignKey(
        Lead, on_delete=models.SET_NULL, null=True, blank=True, related_name="opportunities"
    )
    campaign = models.ForeignKey(
        Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="opportunities"
    )
    stage_entered_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    activities = GenericRelation("crm.Activity")
    tasks = GenericRelation("crm.Task")
    mail_links = GenericRelation("crm.MailLink")
    custom = custom_column()

    objects = OpportunityQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "opportunities"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status=StageKind.LOST) | ~Q(lost_reason=""),
                name="opportunity_lost_needs_reason",
            ),
        ]
        indexes = [
            custom_index("opportunity"),
            # List: default sort and every sort, alone (admins) and per owner (reps, managers).
            models.Index(fields=["-created_at", "-id"], name="opp_created_idx"),
            models.Index(fields=["owner", "-created_at"], name="opp_owner_created_idx"),
            models.Index(fields=["name", "id"], name="opp_name_idx"),
            models.Index(fields=["owner", "name"], name="opp_owner_name_idx"),
            models.Index(fields=["amount", "id"], name="opp_amount_idx"),
            models.Index(fields=["owner", "amount"], name="opp_owner_amount_idx"),
            models.Index(fields=["expected_close_date", "id"], name="opp_close_idx"),
            models.Index(fields=["owner", "expected_close_date"], name="opp_owner_close_idx"),
            models.Index(fields=["-updated_at"], name="opp_updated_idx"),
            # List filters.
            models.Index(fields=["status", "-created_at"], name="opp_status_idx"),
            models.Index(fields=["stage", "-created_at"], name="opp_stage_idx"),
            models.Index(fields=["forecast_category", "-created_at"], name="opp_category_idx"),
            models.Index(fields=["account", "-created_at"], name="opp_account_idx"),
            models.Index(fields=["primary_contact"], name="opp_contact_idx"),
            models.Index(fields=["source_lead"], name="opp_lead_idx"),
            models.Index(fields=["campaign", "status"], name="opp_campaign_idx"),
            # Board: column totals (GROUP BY stage of a pipeline's open deals) and each column's
            # first cards, for everybody and per owner.
            # Partial and covering (key columns hold what is summed), so the totals are an
            # index-only scan of open deals.
            models.Index(
                fields=["pipeline", "stage", "owner", "amount", "probability"],
                condition=Q(status=StageKind.OPEN),
                name="opp_board_totals_idx",
            ),
            models.Index(
                fields=["owner", "pipeline", "stage", "amount", "probability"],
                condition=Q(status=StageKind.OPEN),
                name="opp_owner_board_totals_idx",
            ),
            models.Index(fields=["stage", "expected_close_date", "id"], name="opp_board_idx"),
            models.Index(
                fields=["owner", "stage", "expected_close_date"], name="opp_owner_board_idx"
            ),
            # Forecast: open deals by close date, won deals by close time, per owner.
            models.Index(
                fields=[
                    "owner",
                    "expected_close_date",
                    "forecast_category",
                    "amount",
                    "probability",
                ],
                condition=Q(status=StageKind.OPEN),
                name="opp_forecast_open_idx",
            ),
            models.Index(
                fields=["owner", "closed_at", "amount"],
                condition=Q(status=StageKind.WON),
                name="opp_forecast_won_idx",
            ),
            # The currencies in use, read by skipping along it (``currencies_in_use``), and the
            # deals in the currencies other than the company's.
            models.Index(fields=["currency"], name="opp_currency_idx"),
        ]
        # A campaign credit carries its deal's owner, whoever changes the deal and however
        # (a form, a bulk reassignment, a handover, an import); it goes with its deal.
        triggers = [
            pgtrigger.Trigger(
                name="deal_owner_to_credits",
                when=pgtrigger.After,
                operation=pgtrigger.UpdateOf("owner_id"),
                condition=pgtrigger.Condition('OLD."owner_id" IS DISTINCT FROM NEW."owner_id"'),
                func=(
                    f'UPDATE "{CampaignCredit._meta.db_table}" SET "owner_id" = NEW."owner_id" '
                    'WHERE "opportunity_id" = NEW."id"; RETURN NULL;'
                ),
            ),
            pgtrigger.Trigger(
                name="deal_deleted_credits",
                when=pgtrigger.After,
                operation=pgtrigger.Delete,
                func=(
                    f'DELETE FROM "{CampaignCredit._meta.db_table}" '
                    'WHERE "opportunity_id" = OLD."id"; RETURN NULL;'
                ),
            ),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return record_url("sales:opportunity_detail", self.pk)

    @property
    def is_won(self) -> bool:
        return self.status == StageKind.WON

    @property
    def is_lost(self) -> bool:
        return self.status == StageKind.LOST

    @property
    def is_closed(self) -> bool:
        return self.status != StageKind.OPEN

    @property
    def lines_value(self) -> Decimal:
        """What the line items are worth: one-off value plus the counted months of MRR."""
        months = getattr(settings, "SALES_RECURRING_MONTHS_IN_AMOUNT", 12)
        return (self.one_off_amount + self.mrr * months).quantize(Decimal("0.01"))

    @property
    def weighted_amount(self) -> Decimal:
        return (self.amount * self.probability / Decimal(100)).quantize(Decimal("0.01"))

    def is_rotting(self, now=None) -> bool:
        days = self.stage.rotting_days
        if not days or self.is_closed:
            return False
        return (now or timezone.now()) - self.stage_entered_at > timezone.timedelta(days=days)


class LineItemQuerySet(models.QuerySet):
    """A line item goes with its deal: seen and changed by whoever may see and change it."""

    def visible_to(self, user):
        return deal_scope(self, user, field="opportunity__owner")

    def changeable_by(self, user):
        return deal_scope(self, user, field="opportunity__owner")


@history.track(
    name="lineitem",
    parent="opportunity",
    fields=[
        "opportunity",
        "product",
        "description",
        "unit_price",
        "quantity",
        "discount_percent",
        "tax_rate",
        "billing",
    ],
)
class OpportunityLineItem(models.Model):
    """One product on a deal: price, quantity and discount, billed once or monthly."""

    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="line_items"
    )
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="line_items")
    description = models.CharField(max_length=200, blank=True)
    unit_price = models.DecimalField(**MONEY)
    quantity = models.PositiveIntegerField(default=1)
    discount_percent = models.DecimalField(
        "discount (%)", max_digits=5, decimal_places=2, default=Decimal("0"), validators=PERCENT
    )
    tax_rate = models.DecimalField(
        "tax (%)", max_digits=5, decimal_places=2, default=Decimal("0"), validators=PERCENT
    )
    billing = models.CharField(max_length=10, choices=Billing.choices)
    total = models.DecimalField(**MONEY, editable=False)
    # A price converted from another currency (a product priced in EUR on a USD deal): what it
    # was before, in what, at which rate (units of the deal's currency per unit of that one)
    # and on which day. Empty when the price was set in the deal's currency.
    source_price = models.DecimalField(**MONEY, null=True, blank=True, editable=False)
    source_currency = models.CharField(max_length=3, blank=True, editable=False)
    exchange_rate = models.DecimalField(
        max_digits=20, decimal_places=10, null=True, blank=True, editable=False
    )
    converted_on = models.DateField(null=True, blank=True, editable=False)

    objects = LineItemQuerySet.as_manager()

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.quantity} × {self.product.name}"

    @property
    def is_converted(self) -> bool:
        return bool(self.source_currency)

    @property
    def conversion_note(self) -> str:
        """How a converted price was reached, e.g. "EUR 100.00 at 1.0850 on 2026-03-02"."""
        if not self.is_converted:
            return ""
        return (
            f"{self.source_currency} {self.source_price:,.2f} at "
            f"{self.exchange_rate.normalize():f} on {self.converted_on:%Y-%m-%d}"
        )

    def compute_total(self) -> Decimal:
        """The line's amount after its discount, before tax (``sales.pricing``)."""
        return line_net(
            unit_price=self.unit_price,
            quantity=self.quantity,
            discount_percent=self.discount_percent,
        )


class StageChange(models.Model):
    """A deal moving from one stage to another: the raw facts of velocity and time in stage."""

    opportunity = models.ForeignKey(
        Opportunity, on_delete=models.CASCADE, related_name="stage_changes"
    )
    from_stage = models.ForeignKey(
        Stage, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    to_stage = models.ForeignKey(Stage, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    seconds_in_from_stage = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="How long the deal had been in the stage it left."
    )

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [
            models.Index(fields=["opportunity", "-changed_at"], name="stagechange_opp_idx"),
            models.Index(fields=["from_stage", "changed_at"], name="stagechange_from_idx"),
            models.Index(fields=["changed_at"], name="stagechange_when_idx"),
        ]

    def __str__(self):
        return f"{self.from_stage or '—'} → {self.to_stage}"

    @property
    def days_in_from_stage(self) -> int | None:
        if self.seconds_in_from_stage is None:
            return None
        return self.seconds_in_from_stage // 86400


class QuotaQuerySet(models.QuerySet):
    def visible_to(self, user):
        return deal_scope(self, user)

    def changeable_by(self, user):
        if may_manage(user):
            return owner_scope(self, user)
        return self.none()


class Quota(models.Model):
    """The revenue a rep is expected to close in a month or quarter."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quotas"
    )
    period_kind = models.CharField(max_length=10, choices=PeriodKind.choices)
    period_start = models.DateField(help_text="First day of the month or quarter.")
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, default=_default_currency)

    objects = QuotaQuerySet.as_manager()

    class Meta:
        ordering = ["-period_start", "owner"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "period_kind", "period_start"], name="quota_unique_period"
            )
        ]
        indexes = [models.Index(fields=["period_start", "owner"], name="quota_period_idx")]

    def __str__(self):
        return f"{self.owner} {self.get_period_kind_display()} {self.period_start:%Y-%m}"


class QuoteCounter(models.Model):
    """The last quote number handed out in a year; locked while numbering so numbers have no
    gaps or duplicates."""

    year = models.PositiveSmallIntegerField(unique=True)
    last_number = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.year}: {self.last_number}"


class SellerProfile(models.Model):
    """Who sells: the company details printed on every quote, its default tax rate and the
    prefix of quote numbers. One row (``SellerProfile.current()``), edited by admins."""

    legal_name = models.CharField("company legal name", max_length=200, blank=True)
    address = models.TextField(blank=True, help_text="As printed: street, city, postcode, country.")
    tax_id = models.CharField("tax ID / VAT number", max_length=50, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=50, blank=True)
    payment_terms = models.CharField(
        max_length=200, blank=True, help_text="e.g. Net 30 days from invoice date."
    )
    quote_footer = models.TextField(
        blank=True, help_text="Printed at the foot of every quote: bank details, legal notes."
    )
    default_tax_rate = models.DecimalField(
        "default tax rate (%)",
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=PERCENT,
        help_text="For products without a tax rate of their own.",
    )
    quote_prefix = models.CharField(
        "quote number prefix",
        max_length=10,
        default="Q",
        validators=[RegexValidator(r"^[A-Za-z0-9]+$", "Letters and digits only, e.g. Q or ACME.")],
        help_text="Quotes are numbered PREFIX-YEAR-00001, without gaps, per year.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "seller profile"

    def __str__(self):
        return self.legal_name or "Seller profile"

    @classmethod
    def current(cls) -> "SellerProfile":
        """The one row, made with defaults the first time it is asked for."""
        profile, _ = cls.objects.get_or_create(pk=1)
        return profile


class QuoteQuerySet(models.QuerySet):
    def visible_to(self, user):
        return deal_scope(self, user, field="opportunity__owner")

    def changeable_by(self, user):
        return deal_scope(self, user, field="opportunity__owner")


@history.track(
    name="quote",
    parent="opportunity",
    fields=[
        "opportunity",
        "number",
        "status",
        "currency",
        "one_off_total",
        "monthly_total",
        "lines",
        "valid_until",
        "sent_to",
        "decided_by_name",
    ],
)
class Quote(models.Model):
    """A numbered offer made to the customer from a deal's line items; its lines are a snapshot,
    so later edits to the deal do not change what was sent."""

    opportunity = models.ForeignKey(Opportunity, on_delete=models.CASCADE, related_name="quotes")
    number = models.CharField(max_length=40, unique=True)
    status = models.CharField(max_length=10, choices=QuoteStatus.choices, default=QuoteStatus.DRAFT)
    currency = models.CharField(max_length=3)
    one_off_total = models.DecimalField(**MONEY)
    monthly_total = models.DecimalField(**MONEY)
    lines = models.JSONField(default=list, help_text="The line items as quoted.")
    seller = models.JSONField(
        default=dict, blank=True, help_text="The seller's details as they were when quoted."
    )
    buyer = models.JSONField(
        default=dict, blank=True, help_text="The customer's details as they were when quoted."
    )
    valid_until = models.DateField(null=True, blank=True)
    public_token = models.CharField(
        max_length=64,
        unique=True,
        null=True,
        blank=True,
        editable=False,
        help_text="The secret of the customer's link to the quote; made when it is first sent.",
    )
    sent_to = models.EmailField(blank=True)
    decided_by_name = models.CharField(
        max_length=200, blank=True, help_text="The name the customer typed to accept or decline."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = QuoteQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["opportunity", "-created_at"], name="quote_opp_idx")]

    def __str__(self):
        return self.number

    def get_absolute_url(self):
        return record_url("sales:quote_detail", self.pk)


class OrderQuerySet(models.QuerySet):
    def visible_to(self, user):
        return deal_scope(self, user)

    def changeable_by(self, user):
        return deal_scope(self, user)


class Order(models.Model):
    """What a customer bought and when: recorded when a deal is won, or imported from the
    history before the CRM. The revenue history that lifetime value and upsell analysis read."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="orders")
    opportunity = models.OneToOneField(
        Opportunity, on_delete=models.SET_NULL, null=True, blank=True, related_name="order"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_orders",
    )
    order_date = models.DateField()
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, default=_default_currency)
    one_off_amount = models.DecimalField(**MONEY, default=Decimal("0"))
    mrr = models.DecimalField("MRR", **MONEY, default=Decimal("0"))
    source = models.CharField(max_length=10, choices=OrderSource.choices, default=OrderSource.WON)
    external_ref = models.CharField(
        "external reference",
        max_length=100,
        blank=True,
        help_text="The order's number in the system it was imported from.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = OrderQuerySet.as_manager()

    class Meta:
        ordering = ["-order_date", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["external_ref"],
                condition=~Q(external_ref=""),
                name="order_unique_external_ref",
            )
        ]
        indexes = [
            models.Index(fields=["account", "order_date"], name="order_account_date_idx"),
            models.Index(fields=["-order_date", "-id"], name="order_date_idx"),
            models.Index(fields=["owner", "-order_date"], name="order_owner_date_idx"),
        ]

    def __str__(self):
        return f"Order {self.pk} · {self.account_id} · {self.order_date}"

    def get_absolute_url(self):
        return record_url("sales:order_detail", self.pk)


class OrderLine(models.Model):
    """One product line of an order."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(
        Product, on_delete=models.SET_NULL, null=True, blank=True, related_name="order_lines"
    )
    description = models.CharField(max_length=200)
    quantity = models.PositiveIntegerField(default=1)
    unit_price = models.DecimalField(**MONEY)
    discount_percent = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0"))
    billing = models.CharField(max_length=10, choices=Billing.choices, default=Billing.ONE_OFF)
    total = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["product", "order"], name="orderline_product_idx")]

    def __str__(self):
        return f"{self.quantity} × {self.description}"


class OnboardingTemplate(models.Model):
    """The checklist a new customer goes through, chosen by a product on the won deal, else by
    its pipeline, else the default template."""

    name = models.CharField(max_length=200)
    product = models.ForeignKey(
        Product,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="onboarding_templates",
    )
    pipeline = models.ForeignKey(
        Pipeline,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="onboarding_templates",
    )
    is_default = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)

    objects = SharedQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return self.name


class OnboardingTemplateItem(models.Model):
    """One checklist item: what, by whom (a role), and how many days after the win it is due."""

    template = models.ForeignKey(OnboardingTemplate, on_delete=models.CASCADE, related_name="items")
    title = models.CharField(max_length=200)
    role = models.CharField(
        max_length=10, choices=OnboardingRole.choices, default=OnboardingRole.OWNER
    )
    due_offset_days = models.PositiveSmallIntegerField(default=1)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["template", "order", "id"]

    def __str__(self):
        return self.title


class OnboardingPlanQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Plans hold no amounts: support agents read all of them (they do the support items);
        otherwise like deals."""
        if getattr(user, "is_authenticated", False) and user.is_support_agent:
            return self if user.has_any_role else self.none()
        return deal_scope(self, user)

    def changeable_by(self, user):
        return owner_scope(self, user)


class OnboardingPlan(models.Model):
    """A won customer's onboarding: the dated tasks (crm Tasks about this plan) made from a
    template. Done when its last task is done, which makes the account a customer."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="onboarding_plans")
    opportunity = models.OneToOneField(
        Opportunity, on_delete=models.CASCADE, related_name="onboarding_plan"
    )
    template = models.ForeignKey(
        OnboardingTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_onboarding_plans",
    )
    status = models.CharField(
        max_length=10, choices=OnboardingStatus.choices, default=OnboardingStatus.ACTIVE
    )
    items_total = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    activities = GenericRelation("crm.Activity")
    tasks = GenericRelation("crm.Task")

    objects = OnboardingPlanQuerySet.as_manager()

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["-started_at", "-id"], name="onboarding_started_idx"),
            models.Index(fields=["status", "-started_at"], name="onboarding_status_idx"),
            models.Index(fields=["owner", "status", "-started_at"], name="onboarding_owner_idx"),
        ]

    def __str__(self):
        return (
            f"Onboarding of {self.account}"
            if "account" in self._state.fields_cache
            else (f"Onboarding plan {self.pk}")
        )

    def get_absolute_url(self):
        return record_url("sales:onboarding_detail", self.pk)
