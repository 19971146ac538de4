"""Keeping and growing customers: subscriptions and their MRR ledger, product usage, health
scores, churn risk and churn events."""

from decimal import Decimal

from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from crm import history
from crm.custom_fields.models import custom_column, custom_index
from crm.links import record_url
from crm.models import Account
from crm.permissions import may_manage, may_sell
from crm.visibility import any_role, owner_scope
from crm.work import Leased
from retention.choices import (
    AdvocateStatus,
    ChurnReason,
    HealthColour,
    HealthComponentKey,
    MovementKind,
    NpsRunStatus,
    RecommendationKind,
    RecommendationStatus,
    RewardStatus,
    RiskReason,
    SubscriptionStatus,
    TestimonialKind,
    TestimonialStatus,
    UsageKind,
    UsageSource,
)

MONEY = {"max_digits": 14, "decimal_places": 2}


def _default_currency():
    return settings.DEFAULT_CURRENCY


def revenue_scope(queryset, user, field="owner"):
    """Rows of records the user owns (teams' for managers, all for admins), for revenue roles."""
    if not may_sell(user):
        return queryset.none()
    return owner_scope(queryset, user, field=field)


# Subscriptions and the MRR ledger ------------------------------------------------------------


class SubscriptionQuerySet(models.QuerySet):
    def visible_to(self, user):
        return revenue_scope(self, user)

    def changeable_by(self, user):
        return revenue_scope(self, user)

    def paying(self):
        return self.filter(status__in=(SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELLED))


@history.track(
    name="subscription",
    fields=[
        "account",
        "owner",
        "plan",
        "product_sku",
        "seats",
        "mrr",
        "currency",
        "status",
        "start_date",
        "term_months",
        "renewal_date",
        "auto_renew",
        "ended_on",
        "custom",
    ],
)
class Subscription(models.Model):
    """A plan an account pays for every month: seats, MRR, term and renewal date. Its status and
    MRR change only through ``retention.services.subscriptions``, which writes each change to the
    MRR ledger (``MrrMovement``) and the timeline."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="subscriptions")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_subscriptions",
        help_text="Who looks after the renewal; the account's owner unless set.",
    )
    plan = models.CharField(max_length=200, help_text="Product or plan name.")
    product_sku = models.CharField(
        "product SKU", max_length=60, blank=True, help_text="The sales product it bills."
    )
    seats = models.PositiveIntegerField(default=1)
    seats_used = models.PositiveIntegerField(
        null=True, blank=True, help_text="Peak active users seen lately (from product usage)."
    )
    mrr = models.DecimalField("MRR", **MONEY, default=Decimal("0"))
    currency = models.CharField(max_length=3, default=_default_currency)
    status = models.CharField(
        max_length=10, choices=SubscriptionStatus.choices, default=SubscriptionStatus.ACTIVE
    )
    start_date = models.DateField()
    term_months = models.PositiveSmallIntegerField(default=12)
    renewal_date = models.DateField()
    auto_renew = models.BooleanField(default=True)
    source_opportunity_id = models.PositiveBigIntegerField(
        null=True, blank=True, editable=False, help_text="The won deal that started it."
    )
    ended_on = models.DateField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    activities = GenericRelation("crm.Activity")
    tasks = GenericRelation("crm.Task")
    custom = custom_column()

    objects = SubscriptionQuerySet.as_manager()

    class Meta:
        ordering = ["renewal_date", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(mrr__gte=0), name="subscription_mrr_not_negative")
        ]
        indexes = [
            custom_index("subscription"),
            models.Index(fields=["renewal_date", "id"], name="sub_renewal_idx"),
            models.Index(fields=["owner", "renewal_date"], name="sub_owner_renewal_idx"),
            models.Index(fields=["status", "renewal_date"], name="sub_status_renewal_idx"),
            models.Index(fields=["account", "status"], name="sub_account_idx"),
            models.Index(fields=["plan", "id"], name="sub_plan_idx"),
            models.Index(fields=["mrr", "id"], name="sub_mrr_idx"),
            models.Index(fields=["owner", "mrr"], name="sub_owner_mrr_idx"),
            models.Index(fields=["product_sku"], name="sub_sku_idx"),
        ]

    def __str__(self):
        if "account" in self._state.fields_cache:
            return f"{self.plan} · {self.account}"
        return self.plan

    def get_absolute_url(self):
        return record_url("retention:subscription_detail", self.pk)

    @property
    def is_paying(self) -> bool:
        return self.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELLED)

    @property
    def seat_usage_percent(self) -> int | None:
        if self.seats_used is None or not self.seats:
            return None
        return round(100 * self.seats_used / self.seats)


class MrrMovementQuerySet(models.QuerySet):
    def visible_to(self, user):
        return revenue_scope(self, user, field="subscription__owner")


class MrrMovement(models.Model):
    """One change of monthly recurring revenue (new, expansion, contraction, churn,
    reactivation) on a date: the ledger revenue churn and net revenue retention come from.
    ``amount`` is signed: churn and contraction are negative."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="movements"
    )
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="mrr_movements")
    kind = models.CharField(max_length=12, choices=MovementKind.choices)
    date = models.DateField()
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    mrr_after = models.DecimalField("MRR after", **MONEY)
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MrrMovementQuerySet.as_manager()

    class Meta:
        verbose_name = "MRR movement"
        ordering = ["-date", "-id"]
        indexes = [
            models.Index(fields=["account", "-date"], name="mrr_account_date_idx"),
            models.Index(fields=["subscription", "-date"], name="mrr_sub_date_idx"),
            models.Index(fields=["date", "kind"], name="mrr_date_kind_idx"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.currency} {self.amount} on {self.date}"


# Product usage -------------------------------------------------------------------------------


class IntegrationToken(models.Model):
    """A secret that lets one integration (the product's backend, a data pipeline) post usage
    events. Only a hash is stored; the token is shown once when made."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, editable=False, help_text="Its first characters.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"


class UsageEventQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(account__in=Account.objects.visible_to(user))


class UsageEvent(models.Model):
    """Something a customer did in the product: active users counted, a login, a feature used."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="usage_events")
    kind = models.CharField(max_length=15, choices=UsageKind.choices)
    feature = models.CharField(max_length=100, blank=True)
    quantity = models.PositiveIntegerField(default=1)
    occurred_at = models.DateTimeField()
    source = models.CharField(max_length=5, choices=UsageSource.choices)
    token = models.ForeignKey(
        IntegrationToken, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = UsageEventQuerySet.as_manager()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["account", "-occurred_at"], name="usage_account_idx"),
            models.Index(fields=["occurred_at"], name="usage_occurred_idx"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.feature} ×{self.quantity}".strip()


class UsageDaily(models.Model):
    """One account's usage of one kind (and feature) on one day, summed from ``UsageEvent``;
    kept by an upsert whenever events arrive. Health scoring reads only this table."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="usage_days")
    day = models.DateField()
    kind = models.CharField(max_length=15, choices=UsageKind.choices)
    feature = models.CharField(max_length=100, blank=True)
    total = models.PositiveBigIntegerField(default=0)
    peak = models.PositiveIntegerField(default=0, help_text="The largest single reading.")
    events = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = "usage days"
        ordering = ["-day", "account", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "day", "kind", "feature"], name="usage_daily_unique"
            )
        ]
        indexes = [models.Index(fields=["day", "kind"], name="usage_daily_day_idx")]

    def __str__(self):
        return f"{self.account_id} {self.day} {self.kind} {self.feature}: {self.total}"


# Health --------------------------------------------------------------------------------------


class HealthComponent(models.Model):
    """One ingredient of the health score and how much it weighs; admins tune these."""

    key = models.CharField(max_length=20, choices=HealthComponentKey.choices, unique=True)
    weight = models.PositiveSmallIntegerField(default=20)
    is_active = models.BooleanField(default=True)
    description = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["key"]

    def __str__(self):
        return f"{self.get_key_display()} ({self.weight})"


class HealthScoreQuerySet(models.QuerySet):
    def visible_to(self, user):
        return any_role(self, user)


class HealthScore(models.Model):
    """An account's current health: a 0–100 score, its colour, the components that made it and
    how it moved over the last 30 days. Recomputed nightly for every account at once."""

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, primary_key=True, related_name="health"
    )
    score = models.PositiveSmallIntegerField(validators=[MaxValueValidator(100)])
    colour = models.CharField(max_length=6, choices=HealthColour.choices)
    components = models.JSONField(default=dict, help_text="Component key → value 0–100.")
    trend = models.SmallIntegerField(
        null=True, blank=True, help_text="Change against the score 30 days earlier."
    )
    computed_on = models.DateField()

    objects = HealthScoreQuerySet.as_manager()

    class Meta:
        ordering = ["score", "account"]
        indexes = [
            models.Index(fields=["colour", "score"], name="health_colour_idx"),
            models.Index(fields=["trend"], name="health_trend_idx"),
        ]

    def __str__(self):
        return f"{self.account_id}: {self.score} ({self.colour})"


class HealthScoreHistory(models.Model):
    """An account's health score on one day (one row per account and day)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="health_history")
    day = models.DateField()
    score = models.PositiveSmallIntegerField()
    colour = models.CharField(max_length=6, choices=HealthColour.choices)

    class Meta:
        verbose_name_plural = "health score history"
        ordering = ["-day", "account"]
        constraints = [
            models.UniqueConstraint(fields=["account", "day"], name="health_history_unique")
        ]
        indexes = [models.Index(fields=["day"], name="health_history_day_idx")]

    def __str__(self):
        return f"{self.account_id} {self.day}: {self.score}"


# Churn risk and churn ------------------------------------------------------------------------


class RiskEpisodeQuerySet(models.QuerySet):
    def visible_to(self, user):
        return owner_scope(self, user, field="account__owner")

    def open(self):
        return self.filter(closed_at__isnull=True)


class RiskEpisode(models.Model):
    """A stretch of time an account is at risk of churning: opened when it turns red or its
    score falls, closed when it recovers. The playbook acts once per episode."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="risk_episodes")
    reason = models.CharField(max_length=10, choices=RiskReason.choices)
    opened_at = models.DateTimeField()
    opened_score = models.PositiveSmallIntegerField()
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_score = models.PositiveSmallIntegerField(null=True, blank=True)
    playbook_run_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the playbook acted (once)."
    )

    objects = RiskEpisodeQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account"],
                condition=Q(closed_at__isnull=True),
                name="risk_one_open_episode",
            )
        ]
        indexes = [
            models.Index(
                fields=["-opened_at"], condition=Q(closed_at__isnull=True), name="risk_open_idx"
            ),
            models.Index(
                fields=["playbook_run_at"],
                condition=Q(closed_at__isnull=True, playbook_run_at__isnull=True),
                name="risk_playbook_due_idx",
            ),
        ]

    def __str__(self):
        return f"Risk for account {self.account_id} since {self.opened_at:%Y-%m-%d}"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class ChurnEventQuerySet(models.QuerySet):
    def visible_to(self, user):
        return revenue_scope(self, user, field="account__owner")


class ChurnEvent(models.Model):
    """A customer (or one subscription of theirs) lost: when, why, and the MRR that went."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="churn_events")
    subscription = models.ForeignKey(
        Subscription,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="churn_events",
    )
    date = models.DateField()
    reason = models.CharField(max_length=12, choices=ChurnReason.choices)
    note = models.TextField(blank=True)
    lost_mrr = models.DecimalField("lost MRR", **MONEY)
    currency = models.CharField(max_length=3)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    winback_started_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ChurnEventQuerySet.as_manager()

    class Meta:
        ordering = ["-date", "-id"]
        indexes = [
            models.Index(fields=["-date", "-id"], name="churn_date_idx"),
            models.Index(fields=["account", "-date"], name="churn_account_idx"),
            models.Index(fields=["reason", "-date"], name="churn_reason_idx"),
        ]

    def __str__(self):
        return f"Churn of account {self.account_id} on {self.date}"


class ChurnPrediction(models.Model):
    """The nightly model's churn probability for an account, and what drives it most."""

    account = models.OneToOneField(
        Account, on_delete=models.CASCADE, primary_key=True, related_name="churn_prediction"
    )
    probability = models.FloatField(validators=[MinValueValidator(0), MaxValueValidator(1)])
    factors = models.JSONField(default=list, help_text="Top factors: [[label, weight], …].")
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["-probability"]
        indexes = [models.Index(fields=["-probability"], name="churn_pred_prob_idx")]

    def __str__(self):
        return f"{self.account_id}: {self.probability:.0%}"


class ChurnModelRun(models.Model):
    """One nightly training of the churn model: how much labelled history it had and how it
    went, or why it did not run ("not enough history")."""

    ran_at = models.DateTimeField()
    churned = models.PositiveIntegerField(default=0)
    retained = models.PositiveIntegerField(default=0)
    trained = models.BooleanField(default=False)
    message = models.CharField(max_length=300)
    scored = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-ran_at", "-id"]

    def __str__(self):
        return f"{self.ran_at:%Y-%m-%d %H:%M}: {self.message}"


# Renewals ------------------------------------------------------------------------------------


class RenewalQuerySet(models.QuerySet):
    def visible_to(self, user):
        return revenue_scope(self, user, field="subscription__owner")


class Renewal(models.Model):
    """A subscription's coming renewal, claimed once per renewal date by the daily task that
    opens its renewal opportunity in the Renewal pipeline (the unique pair is the claim)."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="renewals"
    )
    renewal_date = models.DateField()
    opportunity_id = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="The renewal deal in sales."
    )
    value = models.DecimalField(**MONEY, help_text="MRR × term: what is at stake.")
    currency = models.CharField(max_length=3)
    opened_at = models.DateTimeField()

    objects = RenewalQuerySet.as_manager()

    class Meta:
        ordering = ["renewal_date", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "renewal_date"], name="renewal_once_per_date"
            )
        ]
        indexes = [
            models.Index(fields=["renewal_date"], name="renewal_date_idx"),
            models.Index(fields=["opportunity_id"], name="renewal_opportunity_idx"),
        ]

    def __str__(self):
        return f"Renewal of subscription {self.subscription_id} on {self.renewal_date}"

    @property
    def opportunity(self):
        from sales.models import Opportunity

        if self.opportunity_id is None:
            return None
        return Opportunity.objects.filter(pk=self.opportunity_id).first()


# NPS -------------------------------------------------------------------------------------------


class NpsRunQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Runs are managers' and admins' (who start them), every run alike."""
        return self if may_manage(user) else self.none()


class NpsRun(Leased):
    """One round of NPS surveys, sent to a contact segment (as its creator sees it) or, without
    one, to the contacts of paying accounts. The row is the job: a worker leases it while
    sending, in batches that each commit their surveys and emails together, so a run stopped by
    a killed worker or a lost message is taken up by the sweep and asks each contact once."""

    name = models.CharField(max_length=150)
    segment = models.ForeignKey(
        "crm.Segment",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Contacts to ask; empty: the contacts of accounts with a paying subscription.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(
        max_length=10, choices=NpsRunStatus.choices, default=NpsRunStatus.QUEUED
    )
    total = models.PositiveIntegerField(
        null=True, blank=True, help_text="Contacts to ask when the sending started."
    )
    sent_count = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = NpsRunQuerySet.as_manager()

    class Meta:
        verbose_name = "NPS run"
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.name


class NpsSurveyQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(account__in=Account.objects.visible_to(user))


class NpsSurvey(models.Model):
    """One contact asked "how likely are you to recommend us?" (0–10), and the answer. The
    link is signed and single use; a contact is asked at most once per throttle period."""

    run = models.ForeignKey(NpsRun, on_delete=models.CASCADE, related_name="surveys")
    contact = models.ForeignKey("crm.Contact", on_delete=models.CASCADE, related_name="nps_surveys")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="nps_surveys")
    key = models.CharField(max_length=64, unique=True, editable=False)
    sent_at = models.DateTimeField()
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)

    objects = NpsSurveyQuerySet.as_manager()

    class Meta:
        verbose_name = "NPS survey"
        ordering = ["-sent_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "contact"], name="nps_once_per_run"),
            models.CheckConstraint(
                condition=Q(score__isnull=True) | Q(score__lte=10), name="nps_score_0_to_10"
            ),
        ]
        indexes = [
            models.Index(fields=["contact", "-sent_at"], name="nps_contact_sent_idx"),
            models.Index(fields=["account", "-answered_at"], name="nps_account_answer_idx"),
            models.Index(fields=["-answered_at"], name="nps_answered_idx"),
        ]

    def __str__(self):
        return f"NPS {self.run_id} → contact {self.contact_id}"


# Upsell and cross-sell -------------------------------------------------------------------------


class ProductAssociation(models.Model):
    """A mined rule "accounts holding A also hold B": support (share of accounts holding both),
    confidence (share of A-holders that hold B) and lift (confidence over B's base rate)."""

    antecedent_sku = models.CharField(max_length=60)
    antecedent_name = models.CharField(max_length=200)
    consequent_sku = models.CharField(max_length=60)
    consequent_name = models.CharField(max_length=200)
    support = models.FloatField()
    confidence = models.FloatField()
    lift = models.FloatField()
    accounts = models.PositiveIntegerField(help_text="Accounts holding both.")
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["-lift", "-confidence"]
        constraints = [
            models.UniqueConstraint(
                fields=["antecedent_sku", "consequent_sku"], name="association_unique_pair"
            )
        ]

    def __str__(self):
        return f"{self.antecedent_name} → {self.consequent_name} (lift {self.lift:.1f})"


class RecommendationQuerySet(models.QuerySet):
    def visible_to(self, user):
        return revenue_scope(self, user, field="account__owner")

    def changeable_by(self, user):
        return revenue_scope(self, user, field="account__owner")


class Recommendation(models.Model):
    """A product an account's owner could offer next, and why; remembers what became of it."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="recommendations")
    kind = models.CharField(max_length=12, choices=RecommendationKind.choices)
    product_sku = models.CharField(max_length=60)
    product_name = models.CharField(max_length=200)
    reason = models.CharField(max_length=300)
    strength = models.FloatField(help_text="Lift of the rule, or seat usage (1.0 = full).")
    status = models.CharField(
        max_length=10, choices=RecommendationStatus.choices, default=RecommendationStatus.OPEN
    )
    opportunity_id = models.PositiveBigIntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RecommendationQuerySet.as_manager()

    class Meta:
        ordering = ["-strength", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "kind", "product_sku"],
                condition=Q(status=RecommendationStatus.OPEN),
                name="recommendation_one_open",
            )
        ]
        indexes = [
            models.Index(fields=["account", "status"], name="rec_account_idx"),
            models.Index(fields=["status", "-strength"], name="rec_status_idx"),
            models.Index(fields=["opportunity_id"], name="rec_opportunity_idx"),
        ]

    def __str__(self):
        return f"{self.product_name} for account {self.account_id}"


# Advocacy --------------------------------------------------------------------------------------


class AdvocateQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(account__in=Account.objects.visible_to(user))

    def changeable_by(self, user):
        return owner_scope(self, user, field="account__owner")


class Advocate(models.Model):
    """A happy customer contact (a promoter) who may refer others, give a testimonial or be a
    reference; ``code`` makes their referral link ``/r/<code>/``."""

    contact = models.OneToOneField("crm.Contact", on_delete=models.CASCADE, related_name="advocate")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="advocates")
    code = models.CharField(max_length=16, unique=True, editable=False)
    status = models.CharField(
        max_length=10, choices=AdvocateStatus.choices, default=AdvocateStatus.CANDIDATE
    )
    is_reference = models.BooleanField(
        "reference customer", default=False, help_text="Agreed to talk to prospects."
    )
    source_survey = models.ForeignKey(
        NpsSurvey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = AdvocateQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["is_reference", "account"], name="advocate_reference_idx"),
            models.Index(fields=["account"], name="advocate_account_idx"),
        ]

    def __str__(self):
        return f"Advocate {self.contact_id} ({self.code})"

    def get_absolute_url(self):
        return record_url("retention:advocate_detail", self.pk)


class AdvocateRecordQuerySet(models.QuerySet):
    """Referrals and testimonial requests: seen and changed with their advocate."""

    def visible_to(self, user):
        return self.filter(advocate__account__in=Account.objects.visible_to(user))

    def changeable_by(self, user):
        return owner_scope(self, user, field="advocate__account__owner")


class Referral(models.Model):
    """A lead that came through an advocate's referral link, and the advocate's reward."""

    advocate = models.ForeignKey(Advocate, on_delete=models.CASCADE, related_name="referrals")
    lead = models.OneToOneField("leads.Lead", on_delete=models.CASCADE, related_name="referral")
    created_at = models.DateTimeField(auto_now_add=True)
    converted_at = models.DateTimeField(null=True, blank=True)
    reward_status = models.CharField(
        max_length=10, choices=RewardStatus.choices, default=RewardStatus.NONE
    )

    objects = AdvocateRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["advocate", "-created_at"], name="referral_advocate_idx")]

    def __str__(self):
        return f"Referral of lead {self.lead_id} by {self.advocate_id}"


class TestimonialRequest(models.Model):
    """A request to an advocate for a quote or a case study, and what came of it."""

    advocate = models.ForeignKey(
        Advocate, on_delete=models.CASCADE, related_name="testimonial_requests"
    )
    kind = models.CharField(
        max_length=12, choices=TestimonialKind.choices, default=TestimonialKind.TESTIMONIAL
    )
    status = models.CharField(
        max_length=10, choices=TestimonialStatus.choices, default=TestimonialStatus.REQUESTED
    )
    quote = models.TextField(blank=True)
    permission_to_publish = models.BooleanField(default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    requested_at = models.DateTimeField()
    received_at = models.DateTimeField(null=True, blank=True)

    objects = AdvocateRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["status", "-requested_at"], name="testimonial_status_idx")]

    def __str__(self):
        return f"{self.get_kind_display()} from advocate {self.advocate_id}"
