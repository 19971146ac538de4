from datetime import timedelta

from django.db import models
from django.utils import timezone

from analytics.choices import SALES_METRICS, SUPPORT_METRICS, RFMSegment, TimeUnit
from crm.permissions import may_sell, sees_all_tickets
from crm.visibility import owner_scope
from crm.work import Leased


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
        if not getattr(user, "is_authenticated", False) or not (may_sell(user)):
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


#: How long a claim made before claims had leases holds (longer than any job's time limit).
LEGACY_CLAIM = timedelta(hours=1)


class JobLock(Leased):
    """A named background job that must not run twice at once (the CLV refit, the nightly
    snapshots, the rollups). A run claims the row with one conditional UPDATE and a lease
    (``crm.work``) as long as the job's time limit, or renewed at each step; a claim whose lease
    ran out belongs to a worker that died, and the sweep starts the job again."""

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
        """Claimed by a run that is still alive (its lease holds)."""
        if self.running_since is None:
            return False
        until = self.lease_until or self.running_since + LEGACY_CLAIM
        return until > timezone.now()


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


# Rollups: small per-day aggregates the dashboards read instead of scanning millions of rows.
# Each is rebuilt a day at a time (the day's rows are replaced as a whole), so a refresh that
# runs twice, or a rebuild after a refresh, leaves one set. Durations are kept per row as packed
# little-endian float64 seconds (``analytics.rollups.pack``); a figure concatenates the rows'
# durations and takes exact percentiles of them.


#: The keys of the rollups a rebuild writes a row for nearly every record of (a million
#: tickets give some 900,000 rows of tickets per account and day): no foreign-key constraint,
#: whose check per row and key was half a rebuild's time, and no index of their own, the
#: rollup's composite indexes leading with the columns its dashboards read by. The rows are
#: derived, rewritten from the records by every refresh of their days, and still follow a
#: deleted record through ``on_delete``; a dashboard reads the names of the records they point
#: at by key, so a row left by a record deleted while its day was being rewritten shows no
#: name until that day's next refresh, never an error.
ROLLUP_KEY = {"db_constraint": False, "db_index": False}


class RollupState(models.Model):
    """How fresh one rollup is: ``refreshed_at`` is when the last refresh started reading (every
    change before it is in the rollup), ``rebuilt_at`` when it was last rebuilt from scratch."""

    name = models.CharField(max_length=30, unique=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    rebuilt_at = models.DateTimeField(null=True, blank=True)
    detail = models.JSONField(default=dict, blank=True, help_text="What a rollup notes of itself.")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class OwnedRollupQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Rows of what the user may see of the underlying records: reps their own, managers
        their teams', admins all (``owner_scope``); ``deals`` rows follow deal visibility."""
        if self.model.deals and not (getattr(user, "is_authenticated", False) and may_sell(user)):
            return self.none()
        return owner_scope(self, user)


class LeadDay(models.Model):
    """Leads created on one day, per owner, source, campaign: how far they got and how fast.

    ``touch_seconds`` are the seconds from creation to the first call, email or meeting a person
    logged on each lead that has one; ``qualify_seconds`` from creation to qualification (the
    status change, else conversion) of each lead that reached it."""

    deals = False

    date = models.DateField()
    owner = models.ForeignKey(
        "crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    source = models.CharField(max_length=20)
    campaign = models.ForeignKey(
        "leads.Campaign", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    leads = models.PositiveIntegerField(default=0)
    qualified = models.PositiveIntegerField(default=0, help_text="Now qualified or converted.")
    converted = models.PositiveIntegerField(default=0)
    with_deal = models.PositiveIntegerField(default=0, help_text="A deal was made from the lead.")
    won = models.PositiveIntegerField(default=0, help_text="One of the lead's deals is won.")
    touch_seconds = models.BinaryField(default=bytes)
    qualify_seconds = models.BinaryField(default=bytes)

    objects = OwnedRollupQuerySet.as_manager()

    class Meta:
        ordering = ["-date"]
        indexes = [
            models.Index(fields=["date", "owner"], name="leadday_date_idx"),
            models.Index(fields=["owner", "date"], name="leadday_owner_idx"),
        ]

    def __str__(self):
        return f"{self.date} {self.source}: {self.leads} leads"


class DealDay(models.Model):
    """Deals closed (won or lost) on one day, per owner, lead source and campaign: count,
    amount, and the sum of their cycles (seconds from creation to close)."""

    deals = True

    date = models.DateField()
    owner = models.ForeignKey(
        "crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=10)
    source = models.CharField(max_length=20, blank=True, help_text="Empty: no lead (direct).")
    campaign = models.ForeignKey(
        "leads.Campaign", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    currency = models.CharField(max_length=3, blank=True, help_text="The deals' own currency.")
    rate = models.DecimalField(
        max_digits=20,
        decimal_places=10,
        null=True,
        blank=True,
        help_text="Company-currency units per unit on the close date; empty: no rate known "
        "(the deals count, their amounts are left out).",
    )
    rate_date = models.DateField(null=True, blank=True, help_text="The day the rate is valid from.")
    deals_count = models.PositiveIntegerField("deals", default=0)
    amount = models.DecimalField(
        max_digits=20, decimal_places=2, default=0, help_text="In the company currency."
    )
    cycle_seconds = models.FloatField(default=0)

    objects = OwnedRollupQuerySet.as_manager()

    class Meta:
        ordering = ["-date"]
        indexes = [
            models.Index(fields=["date", "owner"], name="dealday_date_idx"),
            models.Index(fields=["owner", "date"], name="dealday_owner_idx"),
        ]

    def __str__(self):
        return f"{self.date} {self.status}: {self.deals_count} deals"


class StageDay(models.Model):
    """Stage changes of one day, per deal owner and (from, to) stage: how many, and the seconds
    each deal had spent in the stage it left.

    A deal can enter a stage more than once; ``entered_before`` is the day of the deal's
    previous change into the same stage (empty: none), ``advanced_before`` the day it last moved
    on from the same stage to a later one, so a range counts each deal once (at its first
    change inside the range)."""

    deals = True

    date = models.DateField()
    # Keys without database constraints or indexes of their own (``ROLLUP_KEY``).
    owner = models.ForeignKey(
        "crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", **ROLLUP_KEY
    )
    from_stage = models.ForeignKey(
        "sales.Stage",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        **ROLLUP_KEY,
    )
    to_stage = models.ForeignKey(
        "sales.Stage", on_delete=models.CASCADE, related_name="+", **ROLLUP_KEY
    )
    advanced = models.BooleanField(help_text="To a later stage that is not lost.")
    entered_before = models.DateField(null=True, blank=True)
    advanced_before = models.DateField(null=True, blank=True)
    moves = models.PositiveIntegerField(default=0)
    seconds = models.BinaryField(default=bytes, help_text="Seconds in the stage left, per move.")

    objects = OwnedRollupQuerySet.as_manager()

    class Meta:
        ordering = ["-date"]
        indexes = [
            models.Index(fields=["date", "owner"], name="stageday_date_idx"),
            models.Index(fields=["owner", "date"], name="stageday_owner_idx"),
        ]

    def __str__(self):
        return f"{self.date} {self.from_stage_id}→{self.to_stage_id}: {self.moves}"


class AudienceQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Rows of the tickets the user may see (``Ticket.visible_to``): agents and admins every
        assignee's rows; managers the rows made for them and their people's assignee rows; reps
        the rows of their own accounts' tickets."""
        from analytics.choices import Audience

        if not getattr(user, "is_authenticated", False) or not user.has_any_role:
            return self.none()
        if sees_all_tickets(user):
            return self.filter(audience=Audience.ASSIGNEE)
        if user.is_manager:
            return self.filter(
                models.Q(audience=Audience.MANAGER, person_id=user.pk)
                | models.Q(audience=Audience.ASSIGNEE, person_id__in=user.managed_user_ids)
            )
        return self.filter(audience=Audience.ACCOUNT_OWNER, person_id=user.pk)


class SupportDay(models.Model):
    """Tickets of one day per priority, counted once per audience: by assignee, by the owner of
    the ticket's account (what a rep sees) and, for each manager, the tickets they may see.

    Ticket figures count tickets created that day (merged ones left out); the CSAT figures
    count survey answers given that day, under their ticket's priority."""

    date = models.DateField()
    audience = models.CharField(max_length=15)
    person = models.ForeignKey(
        "crm.User", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    priority = models.CharField(max_length=10)
    tickets = models.PositiveIntegerField(default=0)
    sla_tickets = models.PositiveIntegerField(default=0)
    first_due = models.PositiveIntegerField(default=0)
    first_met = models.PositiveIntegerField(default=0)
    resolution_due = models.PositiveIntegerField(default=0)
    resolution_met = models.PositiveIntegerField(default=0)
    first_seconds = models.BinaryField(default=bytes)
    resolution_seconds = models.BinaryField(default=bytes)
    csat_answers = models.PositiveIntegerField(default=0)
    csat_rating_sum = models.PositiveIntegerField(default=0)
    csat_satisfied = models.PositiveIntegerField(default=0)

    objects = AudienceQuerySet.as_manager()

    class Meta:
        ordering = ["-date"]
        indexes = [
            models.Index(fields=["audience", "person", "date"], name="supportday_audience_idx"),
            models.Index(fields=["date"], name="supportday_date_idx"),
        ]

    def __str__(self):
        return f"{self.date} {self.audience}:{self.person_id} {self.priority}"


class OpenDeals(models.Model):
    """The open deals now (as of the last refresh), per owner, stage, forecast category and
    expected close month; ``slipped`` rows are those expected to close before the refresh's day.
    Rewritten as a whole by every refresh."""

    deals = True

    owner = models.ForeignKey(
        "crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    pipeline = models.ForeignKey("sales.Pipeline", on_delete=models.CASCADE, related_name="+")
    stage = models.ForeignKey("sales.Stage", on_delete=models.CASCADE, related_name="+")
    forecast_category = models.CharField(max_length=10)
    expected_month = models.DateField(null=True, blank=True)
    slipped = models.BooleanField()
    currency = models.CharField(max_length=3, blank=True, help_text="The deals' own currency.")
    rate = models.DecimalField(
        max_digits=20,
        decimal_places=10,
        null=True,
        blank=True,
        help_text="Company-currency units per unit on the expected close date (today when "
        "none); empty: no rate known (the deals count, their amounts are left out).",
    )
    rate_date = models.DateField(null=True, blank=True, help_text="The day the rate is valid from.")
    deals_count = models.PositiveIntegerField("deals", default=0)
    amount = models.DecimalField(
        max_digits=20, decimal_places=2, default=0, help_text="In the company currency."
    )
    weighted = models.DecimalField(max_digits=24, decimal_places=4, default=0)

    objects = OwnedRollupQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "open deals"
        indexes = [models.Index(fields=["owner"], name="opendeals_owner_idx")]

    def __str__(self):
        return f"{self.owner_id} {self.stage_id}: {self.deals_count}"


class OpenTickets(models.Model):
    """The tickets not solved or closed now (as of the last refresh; merged ones left out),
    per status and priority, counted once per audience like ``SupportDay``. Rewritten as a
    whole by every refresh."""

    audience = models.CharField(max_length=15)
    person = models.ForeignKey(
        "crm.User", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=10)
    priority = models.CharField(max_length=10)
    tickets = models.PositiveIntegerField(default=0)

    objects = AudienceQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "open tickets"
        indexes = [models.Index(fields=["audience", "person"], name="opentickets_audience_idx")]

    def __str__(self):
        return f"{self.audience}:{self.person_id} {self.status} {self.priority}"


class AccountTicketsQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The rows of the tickets the user may see, by ``Ticket.visible_to``'s rule on the
        ticket's queue, assignee and account owner kept in the row: agents and admins all;
        managers their teams' queues, their people's tickets and accounts; reps their own
        accounts'."""
        from support.models import Queue

        if not getattr(user, "is_authenticated", False) or not user.has_any_role:
            return self.none()
        if sees_all_tickets(user):
            return self
        condition = models.Q(pk__in=[])
        if user.is_manager:
            ids = user.managed_user_ids
            condition |= (
                models.Q(queue_id__in=Queue.objects.filter(team__managers=user).values("pk"))
                | models.Q(assignee_id__in=ids)
                | models.Q(account_owner_id__in=ids)
            )
        if user.is_sales_rep:
            condition |= models.Q(account_owner_id=user.pk)
        return self.filter(condition)


class AccountTicketsDay(models.Model):
    """Tickets created on one day per account, assignee and queue (merged ones left out): how
    many, how many are still active, how many are high or urgent. The narrow rows behind
    "tickets per account" (one scan of the range, no ticket rows read). ``account_owner`` is
    the account's owner when the row was written (the rule reps and managers see by)."""

    date = models.DateField()
    # Keys without database constraints or indexes of their own (``ROLLUP_KEY``).
    account = models.ForeignKey(
        "crm.Account", on_delete=models.CASCADE, related_name="+", **ROLLUP_KEY
    )
    assignee = models.ForeignKey(
        "crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", **ROLLUP_KEY
    )
    queue = models.ForeignKey(
        "support.Queue",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        **ROLLUP_KEY,
    )
    account_owner = models.ForeignKey(
        "crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", **ROLLUP_KEY
    )
    tickets = models.PositiveIntegerField(default=0)
    active = models.PositiveIntegerField(default=0)
    urgent = models.PositiveIntegerField(default=0, help_text="High or urgent priority.")

    objects = AccountTicketsQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(
                fields=["date", "assignee", "account_owner", "queue", "account", "tickets"],
                name="accounttickets_date_idx",
            ),
            models.Index(fields=["account", "date"], name="accounttickets_account_idx"),
        ]

    def __str__(self):
        return f"{self.date} {self.account_id}: {self.tickets}"


class ValueSummary(models.Model):
    """The latest CLV fit's customers (``CustomerValue``) summed per account owner, RFM
    segment, P(alive) bucket and the campaign that won them (their first converted lead's,
    else their first won deal's). Rewritten as a whole by every refresh and after each fit."""

    deals = True

    owner = models.ForeignKey(
        "crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    rfm_segment = models.CharField(max_length=20, choices=RFMSegment.choices)
    alive_bucket = models.CharField(max_length=20)
    campaign = models.ForeignKey(
        "leads.Campaign", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    customers = models.PositiveIntegerField(default=0)
    historical_value = models.DecimalField(max_digits=20, decimal_places=2, default=0)
    expected_value_12m = models.DecimalField(max_digits=20, decimal_places=2, default=0)
    p_alive_sum = models.FloatField(default=0)

    objects = OwnedRollupQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "value summaries"
        indexes = [models.Index(fields=["owner"], name="valuesummary_owner_idx")]

    def __str__(self):
        return f"{self.owner_id} {self.rfm_segment}: {self.customers}"


class AnyRoleQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Account-level facts every role reads (accounts are shared reading, DESIGN.md)."""
        from crm.visibility import any_role

        return any_role(self, user)


class NpsDay(models.Model):
    """NPS answers given on one day, per owner of the answering account: how many, how many
    promoters (9–10) and detractors (0–6)."""

    date = models.DateField()
    owner = models.ForeignKey(
        "crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    answers = models.PositiveIntegerField(default=0)
    promoters = models.PositiveIntegerField(default=0)
    detractors = models.PositiveIntegerField(default=0)

    objects = AnyRoleQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["date", "owner"], name="npsday_date_idx")]

    def __str__(self):
        return f"{self.date} {self.owner_id}: {self.answers}"


class HealthSummary(models.Model):
    """Accounts by the colour of their current health score, per account owner, with the sum
    of their scores (for the mean). Rewritten as a whole by every refresh."""

    owner = models.ForeignKey(
        "crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    colour = models.CharField(max_length=6)
    accounts = models.PositiveIntegerField(default=0)
    score_sum = models.PositiveIntegerField(default=0)

    objects = AnyRoleQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "health summaries"

    def __str__(self):
        return f"{self.owner_id} {self.colour}: {self.accounts}"


class MrrDay(models.Model):
    """The MRR ledger at the start of one day, per subscription owner: the sum of every earlier
    movement in the company currency (each at the rate in force on the last day of its month;
    one without a rate adds nothing), and how many accounts (those whose subscriptions all have
    one owner) had a positive balance. One row per day and owner from the first movement on."""

    deals = True

    date = models.DateField()
    owner = models.ForeignKey(
        "crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    mrr_before = models.DecimalField(
        max_digits=20, decimal_places=2, default=0, help_text="In the company currency."
    )
    paying_before = models.PositiveIntegerField(default=0)

    objects = OwnedRollupQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["date", "owner"], name="mrrday_date_idx")]

    def __str__(self):
        return f"{self.date} {self.owner_id}: {self.mrr_before}"


class CurrencyDayRollup(models.Model):
    """A day's rollup row per owner in one currency, with the rate that turns its amounts into
    the company currency (the rate in force on the last day of the month)."""

    deals = True

    date = models.DateField()
    owner = models.ForeignKey(
        "crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    currency = models.CharField(max_length=3, blank=True, help_text="The row's own currency.")
    rate = models.DecimalField(
        max_digits=20,
        decimal_places=10,
        null=True,
        blank=True,
        help_text="Company-currency units per unit on the last day of the month; empty: no "
        "rate known (the row counts, its amounts are left out).",
    )
    rate_date = models.DateField(null=True, blank=True, help_text="The day the rate is valid from.")

    objects = OwnedRollupQuerySet.as_manager()

    class Meta:
        abstract = True


class MrrMoveDay(CurrencyDayRollup):
    """The MRR movements of one day per subscription owner, kind and currency, split by the day
    of the account's first movement (``account_first``: whether the account already paid before
    a range): how many, and their amount in the company currency at the rate in force on the
    last day of the month."""

    kind = models.CharField(max_length=12)
    account_first = models.DateField()
    movements = models.PositiveIntegerField(default=0)
    amount = models.DecimalField(
        max_digits=20, decimal_places=2, default=0, help_text="In the company currency."
    )

    class Meta:
        indexes = [models.Index(fields=["date", "owner"], name="mrrmoveday_date_idx")]

    def __str__(self):
        return f"{self.date} {self.owner_id} {self.kind}: {self.amount}"


class BusyAccountMonth(models.Model):
    """Accounts with two tickets or more in a calendar month (all tickets, merged ones left
    out): the few accounts that can lead "tickets per account" in a range, found without
    reading every account's rows (an account with at least n·(c−1)+1 tickets over n months has
    c in one of them)."""

    month = models.DateField(help_text="The month's first day.")
    account = models.ForeignKey("crm.Account", on_delete=models.CASCADE, related_name="+")
    tickets = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["month", "tickets"], name="busyaccount_month_idx")]

    def __str__(self):
        return f"{self.month:%Y-%m} {self.account_id}: {self.tickets}"


class ChurnDay(CurrencyDayRollup):
    """Churn events of one day per account (with its owner), reason and currency: how many, and
    the MRR they lost in the company currency (at the rate of the month's last day). Small
    enough to read whole for a range, with no join to the accounts."""

    account = models.ForeignKey("crm.Account", on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=12)
    events = models.PositiveIntegerField(default=0)
    lost_mrr = models.DecimalField(
        max_digits=20, decimal_places=2, default=0, help_text="In the company currency."
    )

    class Meta:
        indexes = [models.Index(fields=["date", "owner"], name="churnday_date_idx")]

    def __str__(self):
        return f"{self.date} {self.account_id} {self.reason}"


class CohortCell(models.Model):
    """Subscriptions by the month they started and the month they ended (empty: still
    running), per owner: how many accounts. Rewritten as a whole by every refresh."""

    deals = True

    owner = models.ForeignKey(
        "crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    cohort = models.DateField(help_text="The first day of the month the subscriptions started.")
    ended = models.DateField(null=True, blank=True, help_text="The month they ended, if so.")
    accounts = models.PositiveIntegerField(default=0)

    objects = OwnedRollupQuerySet.as_manager()

    class Meta:
        indexes = [models.Index(fields=["cohort", "owner"], name="cohortcell_cohort_idx")]

    def __str__(self):
        return f"{self.owner_id} {self.cohort:%Y-%m} → {self.ended}: {self.accounts}"
