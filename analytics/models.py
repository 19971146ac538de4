from django.db import models

from analytics.choices import SALES_METRICS, SUPPORT_METRICS, RFMSegment, TimeUnit
from crm.visibility import owner_scope


class CLVFit(models.Model):
    """One fit of the customer-lifetime-value models (BG/NBD + Gamma-Gamma) on the orders.

    Kept as a history: the newest one is what the CLV dashboard shows; earlier ones show how the
    customer base's buying and spending parameters moved.
    """

    fitted_at = models.DateTimeField(auto_now_add=True, db_index=True)
    observation_end = models.DateField(help_text="Last day of the calibration period.")
    time_unit = models.CharField(max_length=5, choices=TimeUnit.choices, default=TimeUnit.WEEKS)
    customers = models.PositiveIntegerField(help_text="Accounts with at least one order.")
    currency = models.CharField(max_length=3, default="EUR")
    parameters = models.JSONField(
        help_text='{"bgnbd": {"r", "alpha", "a", "b"}, "gamma_gamma": {"p", "q", "v"}, ...}'
    )

    class Meta:
        ordering = ["-fitted_at", "-id"]
        get_latest_by = "fitted_at"
        verbose_name = "CLV fit"

    def __str__(self):
        return f"CLV fit of {self.fitted_at:%Y-%m-%d %H:%M} ({self.customers} customers)"


class CustomerValueQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Values are sales numbers: reps see their own accounts', managers their teams', admins
        all; support agents see no amounts (DESIGN.md), so an agent-only user sees none."""
        if not getattr(user, "is_authenticated", False) or not (
            user.is_sales_rep or user.is_manager or user.is_admin_role
        ):
            return self.none()
        return owner_scope(self, user, field="account__owner")


class CustomerValue(models.Model):
    """An account's purchase history summary and predicted value from the latest CLV fit.

    Replaced as a whole by each fit. Recency and age (``T``) are in the fit's time unit.
    """

    fit = models.ForeignKey(CLVFit, on_delete=models.CASCADE, related_name="values")
    account = models.OneToOneField(
        "crm.Account", on_delete=models.CASCADE, related_name="customer_value"
    )
    first_purchase = models.DateField()
    frequency = models.PositiveIntegerField(help_text="Repeat purchase days after the first.")
    recency = models.FloatField(help_text="Time from the first to the last purchase.")
    T = models.FloatField("age", help_text="Time from the first purchase to the fit's end date.")
    monetary = models.DecimalField(
        max_digits=14, decimal_places=2, help_text="Mean value of the repeat purchases."
    )
    historical_value = models.DecimalField(
        max_digits=16, decimal_places=2, help_text="All orders up to the fit's end date."
    )
    p_alive = models.FloatField("P(alive)")
    expected_purchases_12m = models.FloatField()
    expected_value_12m = models.DecimalField(
        max_digits=16, decimal_places=2, help_text="Discounted expected value of 12 months."
    )
    currency = models.CharField(max_length=3, default="EUR")
    rfm_score = models.CharField("RFM score", max_length=3, help_text="R, F, M quintiles 1-5.")
    rfm_segment = models.CharField(max_length=20, choices=RFMSegment.choices)

    objects = CustomerValueQuerySet.as_manager()

    class Meta:
        ordering = ["-expected_value_12m", "id"]
        indexes = [
            models.Index(fields=["-expected_value_12m", "id"], name="custvalue_clv_idx"),
            models.Index(
                fields=["rfm_segment", "-expected_value_12m"], name="custvalue_segment_idx"
            ),
            models.Index(fields=["-historical_value"], name="custvalue_historical_idx"),
            models.Index(fields=["-p_alive"], name="custvalue_alive_idx"),
        ]

    def __str__(self):
        return f"{self.account}: {self.expected_value_12m} {self.currency}"

    def get_absolute_url(self):
        return self.account.get_absolute_url()


class JobLock(models.Model):
    """A named background job that must not run twice at once (the CLV refit, the nightly
    snapshots). A run claims the row with one conditional UPDATE; a claim older than the job's
    time limit is stale and may be taken over (the worker died)."""

    name = models.CharField(max_length=50, unique=True)
    running_since = models.DateTimeField(null=True, blank=True)
    requested_at = models.DateTimeField(null=True, blank=True)
    requested_by = models.ForeignKey(
        "crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def is_running(self) -> bool:
        return self.running_since is not None


class DailyMetricQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Pipeline metrics like deals (owners' own, managers their teams', admins all, agents
        none); ticket metrics for agents and admins all, managers their people's, reps none."""
        if not getattr(user, "is_authenticated", False) or not user.has_any_role:
            return self.none()
        if user.is_admin_role:
            return self
        sales = self.filter(metric__in=SALES_METRICS)
        tickets = self.filter(metric__in=SUPPORT_METRICS)
        if user.is_manager:
            ids = user.managed_user_ids
            return sales.filter(owner_id__in=ids) | tickets.filter(owner_id__in=ids)
        visible = self.none()
        if user.is_sales_rep:
            visible = visible | sales.filter(owner_id=user.pk)
        if user.is_support_agent:
            visible = visible | tickets
        return visible


class DailyMetric(models.Model):
    """One figure of one day for one owner, written by the nightly snapshot: the history the
    "over time" charts read instead of re-scanning millions of rows.

    ``dimension`` splits a metric further (a ticket status and priority: ``"open:high"``).
    A day's rows are replaced as a whole, so a rerun the same day leaves one set."""

    date = models.DateField()
    metric = models.CharField(max_length=40)
    dimension = models.CharField(max_length=60, blank=True)
    owner = models.ForeignKey(
        "crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    value = models.DecimalField(max_digits=20, decimal_places=2)

    objects = DailyMetricQuerySet.as_manager()

    class Meta:
        ordering = ["-date", "metric", "dimension"]
        indexes = [
            models.Index(fields=["metric", "date"], name="dailymetric_metric_date_idx"),
            models.Index(fields=["metric", "owner", "date"], name="dailymetric_owner_idx"),
        ]

    def __str__(self):
        return f"{self.date} {self.metric} {self.dimension}: {self.value}"
