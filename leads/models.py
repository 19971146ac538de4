from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Greatest
from django_countries.fields import CountryField

from crm import history
from crm.choices import Industry
from crm.custom_fields.models import custom_column, custom_index
from crm.links import record_url
from crm.matching import Person, person_compare
from crm.models import Account, Contact, Team
from crm.models.merges import MergeRecord
from crm.permissions import may_manage, may_sell
from crm.visibility import any_role, owner_scope
from crm.work import Leased
from leads.booking.models import BookingPage  # noqa: F401 - imported so Django registers it
from leads.campaigns.models import (  # noqa: F401 - imported here so Django registers them
    CampaignCredit,
    CampaignRecipient,
    EmailCampaign,
    EmailVariant,
    Suppression,
)
from leads.choices import (
    BuyingRole,
    CampaignChannel,
    DedupePolicy,
    DisqualifyReason,
    EnrollmentState,
    EnrollmentStopReason,
    Grade,
    ImportStatus,
    LeadMergeKind,
    LeadSource,
    LeadStatus,
    NeedSeverity,
    ScoringCriterion,
    SegmentEnrolmentStatus,
    StepAction,
)


class CampaignQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Campaigns are shared marketing facts: every role reads them."""
        return any_role(self, user)

    def changeable_by(self, user):
        if not getattr(user, "is_authenticated", False):
            return self.none()
        if may_manage(user):
            return self
        return self.none()


#: The web form's consent checkbox, unless the campaign words it otherwise.
DEFAULT_CONSENT_WORDING = "Yes, you may email me about your products and offers."


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
    consent_text = models.TextField(
        "consent wording",
        blank=True,
        help_text=(
            "The consent checkbox's wording on this campaign's web form (empty: the standard "
            "wording). Each consent keeps the wording it was given under, with its version."
        ),
    )
    sequence = models.ForeignKey(
        "leads.Sequence",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="campaigns",
        help_text="Leads from this campaign's web form who consent are enrolled here.",
    )
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
        return record_url("leads:campaign_detail", self.pk)

    @property
    def consent_wording(self) -> str:
        """What the web form's consent checkbox says."""
        return self.consent_text.strip() or DEFAULT_CONSENT_WORDING


def _manages_only(user) -> bool:
    return bool(
        getattr(user, "is_authenticated", False)
        and user.has_any_role
        and user.is_manager
        and not user.is_admin_role
    )


def _unassigned_for(user) -> Q:
    """The leads without an owner a manager works through (the "Unassigned leads" queue): those
    the assignment rules routed to a team they manage whose round-robin had nobody, and those no
    rule routed to any team."""
    return Q(owner__isnull=True) & (
        Q(team__isnull=True) | Q(team_id__in=Team.objects.filter(managers=user).values("pk"))
    )


class LeadQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Reps see their own leads, managers their teams' and the unassigned ones (below),
        admins all; agents none."""
        if _manages_only(user):
            return self.filter(Q(owner_id__in=user.managed_user_ids) | _unassigned_for(user))
        return owner_scope(self, user)

    def changeable_by(self, user):
        return self.visible_to(user)

    def unassigned_visible_to(self, user):
        """The leads without an owner that ``user`` sees (``visible_to`` narrowed to no owner).
        For a manager that is the unassigned queue's rule alone, without the OR over their
        people's leads, so the index of the unassigned leads answers it without reading rows."""
        if _manages_only(user):
            return self.filter(_unassigned_for(user))
        return self.visible_to(user).filter(owner__isnull=True)

    def open(self):
        return self.exclude(status__in=[LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED])


@history.track(
    name="lead",
    fields=[
        "first_name",
        "last_name",
        "email",
        "phone",
        "title",
        "company_name",
        "website",
        "industry",
        "employees",
        "country",
        "source",
        "campaign",
        "owner",
        "team",
        "status",
        "disqualify_reason",
        "disqualify_note",
        "budget_amount",
        "budget_currency",
        "budget_confirmed",
        "authority",
        "need",
        "need_severity",
        "timeline",
        "email_consent",
        "marketing_consent",
        "unsubscribed_at",
        "duplicate_of",
        "possible_duplicate",
        "converted_at",
        "converted_account",
        "converted_contact",
        "custom",
    ],
)
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
    replied_at = models.DateTimeField(
        null=True, blank=True, help_text="When the lead last replied to us."
    )
    follow_up_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the last follow-up task was made."
    )
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
    # Duplicate matching (crm.matching): blocking keys and the folded name, kept by the services.
    match_keys = ArrayField(models.CharField(max_length=100), default=list, editable=False)
    match_name = models.CharField(max_length=200, blank=True, editable=False)
    # Data quality (crm.quality): the score and the freshness band it was computed in, kept by
    # the services and the daily refresh; empty until first scored.
    quality = models.SmallIntegerField(null=True, blank=True, editable=False)
    quality_age_band = models.SmallIntegerField(null=True, blank=True, editable=False)
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
    mail_links = GenericRelation("crm.MailLink")
    custom = custom_column()

    objects = LeadQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            custom_index("lead"),
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
            models.Index(fields=["possible_duplicate", "-created_at"], name="lead_dup_idx"),
            models.Index(fields=["owner", "-score", "-id"], name="lead_owner_score_idx"),
            models.Index(fields=["owner", "status", "-created_at"], name="lead_owner_status_idx"),
            models.Index(fields=["campaign", "-score", "-id"], name="lead_campaign_score_idx"),
            models.Index(fields=["quality", "id"], name="lead_quality_idx"),
            models.Index(fields=["owner", "quality", "id"], name="lead_owner_quality_idx"),
            models.Index(
                F("quality_age_band"),
                Greatest("updated_at", "last_activity_at"),
                name="lead_quality_age_idx",
            ),
            models.Index(
                fields=["campaign", "team"],
                condition=Q(owner__isnull=True),
                name="lead_unassigned_campaign_idx",
            ),
            GinIndex(fields=["match_keys"], name="lead_match_keys_idx", fastupdate=False),
            GinIndex(fields=["match_name"], name="lead_match_name_idx", opclasses=["gin_trgm_ops"]),
        ]

    def __str__(self):
        name = f"{self.first_name} {self.last_name}".strip()
        return f"{name} ({self.company_name})" if self.company_name else name

    def get_absolute_url(self):
        return record_url("leads:lead_detail", self.pk)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def duplicate_reasons(self) -> str:
        """Why this lead looks like the lead it is flagged against ("same phone, similar name
        0.86"); no query when ``duplicate_of`` is joined."""
        if self.duplicate_of_id is None or self.duplicate_of is None:
            return ""
        return person_compare(
            Person.of_record(self), Person.of_record(self.duplicate_of)
        ).describe()

    @property
    def is_open(self) -> bool:
        return self.status not in (LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED)


class ScoringRuleQuerySet(models.QuerySet):
    def active(self):
        return self.filter(is_active=True)


class ScoringRule(models.Model):
    """One admin-set rule of lead scoring: points for what a lead is (title, industry, size,
    budget) or did (replied, met us, used a web form). Behaviour points fade over days of silence.
    """

    name = models.CharField(max_length=100)
    criterion = models.CharField(max_length=20, choices=ScoringCriterion.choices)
    value = models.CharField(
        max_length=100, blank=True, help_text="The word, industry or number the rule compares."
    )
    points = models.SmallIntegerField(help_text="May be negative.")
    decay_days = models.PositiveSmallIntegerField(
        default=0,
        help_text="Behaviour rules: points fade to zero over this many days of silence (0: never).",
    )
    is_active = models.BooleanField(default=True)

    objects = ScoringRuleQuerySet.as_manager()

    class Meta:
        ordering = ["criterion", "name"]

    def __str__(self):
        return f"{self.name} ({self.points:+d})"


class AssignmentRule(models.Model):
    """Routes new leads to a team by where they are, where they came from and company size; the
    team's reps then take them in turn. The lowest priority number that matches wins."""

    name = models.CharField(max_length=100)
    priority = models.PositiveSmallIntegerField(default=100)
    countries = models.CharField(
        max_length=300,
        blank=True,
        help_text="Country codes of the region, comma separated (e.g. DE,AT,CH); empty: any.",
    )
    source = models.CharField(
        max_length=20, choices=LeadSource.choices, blank=True, help_text="Empty: any source."
    )
    min_employees = models.PositiveIntegerField(null=True, blank=True)
    max_employees = models.PositiveIntegerField(null=True, blank=True)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="lead_rules")
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["priority", "id"]

    def __str__(self):
        return self.name

    @property
    def country_codes(self) -> set[str]:
        return {c.strip().upper() for c in self.countries.split(",") if c.strip()}


class AssignmentCursor(models.Model):
    """Where a team's round-robin stands: the rep who got the last lead. Locked while choosing
    the next rep so concurrent captures never give two leads to one rep out of turn."""

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="lead_cursor")
    last_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    def __str__(self):
        return f"Round-robin of {self.team}"


#: A queued or running job nobody has held for this long is shown as waiting to be resumed.
STALLED_AFTER = timedelta(seconds=30)


class ImportJobQuerySet(models.QuerySet):
    def visible_to(self, user):
        return owner_scope(self, user, field="created_by")


class ImportJob(Leased):
    """One CSV import of leads: the uploaded file, how its columns map to lead fields, and how
    far it got. Rows are committed in chunks; ``processed_rows`` is the last committed line, so a
    crashed job resumes from there. A run leases the job (``crm.work``) and renews the lease with
    each chunk; when a worker dies the lease runs out and the sweep starts the job again."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Owner of imported leads; empty: assignment rules decide.",
    )
    file = models.FileField(upload_to="leads/imports/%Y/%m/")
    original_name = models.CharField(max_length=255, blank=True)
    mapping = models.JSONField(default=dict, blank=True, help_text="CSV column → lead field.")
    policy = models.CharField(
        max_length=10, choices=DedupePolicy.choices, default=DedupePolicy.SKIP
    )
    status = models.CharField(
        max_length=10, choices=ImportStatus.choices, default=ImportStatus.UPLOADED
    )
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    flagged_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    runs = models.PositiveIntegerField(
        default=0, help_text="Runs that worked on the job; more than one: it was resumed."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ImportJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"Import {self.pk} ({self.original_name})"

    def get_absolute_url(self):
        return record_url("leads:import_detail", self.pk)

    @property
    def percent(self) -> int:
        if not self.total_rows:
            return 100 if self.status == ImportStatus.DONE else 0
        return min(100, round(100 * self.processed_rows / self.total_rows))

    @property
    def is_stalled(self) -> bool:
        """Queued or running, but no worker holds it: it waits for the sweep (about a minute)."""
        if self.status not in (ImportStatus.QUEUED, ImportStatus.RUNNING):
            return False
        return self.lease_lapsed(since=self.started_at or self.created_at, grace=STALLED_AFTER)


class ImportRowError(models.Model):
    """A CSV row an import could not take, with its line number and why."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    line = models.PositiveIntegerField()
    reason = models.CharField(max_length=500)
    raw = models.TextField(blank=True)

    class Meta:
        ordering = ["job", "line"]
        indexes = [models.Index(fields=["job", "line"], name="import_error_line_idx")]

    def __str__(self):
        return f"line {self.line}: {self.reason}"


class ImportMapping(models.Model):
    """The column mapping a user last used, offered again on their next import."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lead_import_mapping"
    )
    mapping = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"Import mapping of {self.user}"


class SequenceQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Sales roles read every sequence (to enrol their leads); support agents none."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        if may_sell(user):
            return self
        return self.none()

    def changeable_by(self, user):
        if may_manage(user):
            return self
        return self.none()


class Sequence(models.Model):
    """A nurturing sequence: ordered emails and tasks that keep a lead warm until they reply,
    qualify or drop out. Leads join by hand, in bulk, or by the rule below on capture."""

    name = models.CharField(max_length=150)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True)
    # Enrolment rule: a new lead matching every filled criterion joins on capture.
    auto_enrol = models.BooleanField("enrol new leads by rule", default=False)
    rule_source = models.CharField(max_length=20, choices=LeadSource.choices, blank=True)
    rule_campaign = models.ForeignKey(
        Campaign, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    rule_status = models.CharField(max_length=20, choices=LeadStatus.choices, blank=True)
    rule_min_score = models.PositiveSmallIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = SequenceQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return record_url("leads:sequence_detail", self.pk)


class SequenceStep(models.Model):
    """One step of a sequence: after ``delay_days`` (counted from the previous step), send an
    email from a template or give the lead's owner a task."""

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    action = models.CharField(max_length=10, choices=StepAction.choices, default=StepAction.EMAIL)
    delay_days = models.PositiveSmallIntegerField(default=0)
    subject = models.CharField(
        max_length=200, blank=True, help_text="Merge fields: {{ first_name }}, {{ company }}…"
    )
    body = models.TextField(
        blank=True,
        help_text="Email body, or task notes. Merge fields: {{ first_name }}, {{ last_name }}, "
        "{{ company }}, {{ title }}, {{ owner_name }}.",
    )
    task_title = models.CharField(max_length=200, blank=True)
    winner_after_hours = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="With A/B variants: after this many hours from the step's first email, the "
        "variant with the most clicks becomes the only one sent. Empty: keep splitting.",
    )
    winner_variant = models.ForeignKey(
        "leads.SequenceStepVariant",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    winner_picked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["sequence", "position"]
        constraints = [
            models.UniqueConstraint(fields=["sequence", "position"], name="sequence_step_unique")
        ]

    def __str__(self):
        return f"{self.sequence} #{self.position}: {self.get_action_display()}"


class EnrollmentQuerySet(models.QuerySet):
    def visible_to(self, user):
        return owner_scope(self, user, field="lead__owner")

    def due(self, now):
        return self.filter(state=EnrollmentState.ACTIVE, next_step_at__lte=now)


class Enrollment(models.Model):
    """A lead's place in a sequence: which step is next and when it is due (kept in the database
    and dispatched by beat, never as a long Celery countdown)."""

    sequence = models.ForeignKey(Sequence, on_delete=models.CASCADE, related_name="enrollments")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="enrollments")
    state = models.CharField(
        max_length=10, choices=EnrollmentState.choices, default=EnrollmentState.ACTIVE
    )
    stop_reason = models.CharField(max_length=20, choices=EnrollmentStopReason.choices, blank=True)
    next_position = models.PositiveSmallIntegerField(default=1)
    next_step_at = models.DateTimeField(null=True, blank=True)
    steps_done = models.PositiveSmallIntegerField(default=0)
    enrolled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = EnrollmentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["sequence", "lead"], name="enrollment_unique")
        ]
        indexes = [
            models.Index(
                fields=["next_step_at"],
                condition=models.Q(state="active"),
                name="enrollment_due_idx",
            ),
            models.Index(fields=["sequence", "state"], name="enrollment_sequence_idx"),
            models.Index(fields=["lead", "state"], name="enrollment_lead_idx"),
        ]

    def __str__(self):
        return f"{self.lead} in {self.sequence}"


class SegmentEnrolmentQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Whoever asked, their managers and admins."""
        return owner_scope(self, user, field="created_by")


class SegmentEnrolment(Leased):
    """One enrolment of a lead segment into a sequence, run in the background in chunks of
    leads by id. ``last_lead_id`` is the last committed chunk's upper bound and the counts are
    committed with it, so a crashed run resumes there and counts every member once. A run
    leases the job and renews the lease with each chunk; the sweep takes up a job whose lease
    ran out (its worker died) or that no worker was ever woken for."""

    sequence = models.ForeignKey(
        Sequence, on_delete=models.CASCADE, related_name="segment_enrolments"
    )
    segment = models.ForeignKey(
        "crm.Segment", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    segment_name = models.CharField(max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    status = models.CharField(
        max_length=10, choices=SegmentEnrolmentStatus.choices, default=SegmentEnrolmentStatus.QUEUED
    )
    total = models.PositiveIntegerField(
        null=True, blank=True, help_text="Members the user could see when the run started."
    )
    last_lead_id = models.PositiveBigIntegerField(default=0)
    members = models.PositiveIntegerField(default=0)
    enrolled = models.PositiveIntegerField(default=0)
    already = models.PositiveIntegerField("already enrolled", default=0)
    no_consent = models.PositiveIntegerField("without consent or unsubscribed", default=0)
    closed = models.PositiveIntegerField("qualified or closed", default=0)
    message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = SegmentEnrolmentQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["sequence", "-created_at"], name="segment_enrolment_seq_idx")
        ]

    def __str__(self):
        return f"{self.segment_name} into {self.sequence_id}"

    def get_absolute_url(self):
        return record_url("leads:segment_enrolment_detail", self.pk)

    @property
    def skipped(self) -> int:
        return self.members - self.enrolled

    @property
    def is_working(self) -> bool:
        return self.status in (SegmentEnrolmentStatus.QUEUED, SegmentEnrolmentStatus.RUNNING)

    @property
    def is_stalled(self) -> bool:
        """Queued or running, but no worker holds it: it waits for the sweep (about a minute)."""
        if not self.is_working:
            return False
        return self.lease_lapsed(since=self.started_at or self.created_at, grace=STALLED_AFTER)

    @property
    def percent(self) -> int:
        if self.status == SegmentEnrolmentStatus.DONE:
            return 100
        if not self.total:
            return 0
        return min(99, round(100 * self.members / self.total))


class SequenceStepVariant(models.Model):
    """One version (A–D) of an email step's subject and body for an A/B test: each enrolled
    lead gets one, chosen reproducibly from the step and the lead, until a winner is picked."""

    step = models.ForeignKey(SequenceStep, on_delete=models.CASCADE, related_name="variants")
    label = models.CharField(max_length=1, choices=[(c, c) for c in "ABCD"])
    subject = models.CharField(max_length=200, help_text="Merge fields: {{ first_name }}…")
    body = models.TextField(help_text="Merge fields: {{ first_name }}, {{ company }}…")

    class Meta:
        ordering = ["step", "label"]
        constraints = [
            models.UniqueConstraint(fields=["step", "label"], name="stepvariant_label_uniq")
        ]

    def __str__(self):
        return f"{self.step} · {self.label}"


class SequenceEmailQuerySet(models.QuerySet):
    def visible_to(self, user):
        return owner_scope(self, user, field="enrollment__lead__owner")


class SequenceEmail(models.Model):
    """An email a sequence step sent to an enrolled lead: the variant it carried and what the
    lead did with it (opened, clicked, replied), for the step's A/B results."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="emails")
    step = models.ForeignKey(SequenceStep, on_delete=models.CASCADE, related_name="emails")
    variant = models.ForeignKey(
        SequenceStepVariant,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="emails",
    )
    outbound_email = models.ForeignKey(
        "crm.OutboundEmail", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    sent_at = models.DateTimeField()
    opened_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    replied_at = models.DateTimeField(null=True, blank=True)

    objects = SequenceEmailQuerySet.as_manager()

    class Meta:
        ordering = ["-sent_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["enrollment", "step"], name="sequenceemail_once")
        ]
        indexes = [
            models.Index(fields=["step", "variant"], name="sequenceemail_variant_idx"),
            models.Index(fields=["enrollment", "-sent_at"], name="sequenceemail_recent_idx"),
        ]

    def __str__(self):
        return f"{self.step} → {self.enrollment.lead}"


class LeadMergeQuerySet(models.QuerySet):
    def changeable_by(self, user):
        """Merges whose records the user may both change (only they may undo them)."""
        leads = Lead.objects.changeable_by(user)
        return self.filter(merged__in=leads).filter(
            models.Q(kept__in=leads) | models.Q(contact__in=Contact.objects.changeable_by(user))
        )

    def undoable(self):
        return self.filter(undone_at__isnull=True)

    def of_lead(self, lead):
        return self.filter(models.Q(kept=lead) | models.Q(merged=lead))


class LeadMerge(MergeRecord):
    """One merge of a lead into another lead (``kept``) or into a contact we already had
    (``contact``): both records as they were and every row it moved, so it can be undone."""

    #: A contact merge leaves it with its contact (deleted, and back when that merge is undone).
    merge_relink = False

    kind = models.CharField(
        max_length=10, choices=LeadMergeKind.choices, default=LeadMergeKind.LEAD
    )
    kept = models.ForeignKey(
        Lead, on_delete=models.CASCADE, null=True, blank=True, related_name="merges_kept"
    )
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, null=True, blank=True, related_name="lead_merges"
    )
    merged = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="merges_merged")

    objects = LeadMergeQuerySet.as_manager()

    class Meta(MergeRecord.Meta):
        indexes = [
            models.Index(fields=["kept", "-merged_at"], name="leadmerge_kept_idx"),
            models.Index(fields=["merged", "-merged_at"], name="leadmerge_merged_idx"),
            models.Index(fields=["contact", "-merged_at"], name="leadmerge_contact_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kept__isnull=False, contact__isnull=True)
                | models.Q(kept__isnull=True, contact__isnull=False),
                name="leadmerge_one_target",
            )
        ]

    def __str__(self):
        return f"Merge of lead #{self.merged_id} into {self.target}"

    @property
    def target(self):
        """The record the lead was merged into: the kept lead, or the contact."""
        return self.kept if self.kept_id else self.contact

    def get_absolute_url(self):
        return record_url("leads:lead_merge_undo", self.pk)
