"""Automation rules a manager builds, and the durable record of every time one fired
(README, "Automations")."""

from django.conf import settings
from django.db import models

from crm.links import record_url
from crm.visibility import owner_scope
from crm.work import Leased


class RuleTrigger(models.TextChoices):
    CREATED = "created", "Record created"
    FIELD = "field", "Field changes to or past a value"
    STAGE = "stage", "Stage entered"
    DATE = "date", "N days before or after a date"
    IDLE = "idle", "Nothing happened for N days"


class RuleRunState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


class RuleStepState(models.TextChoices):
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


def _empty_definition():
    return {"op": "and", "children": []}


class RuleQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Managers see the rules of their teams (their own and their members'), admins every
        rule; nobody else sees any."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        if not (user.is_admin_role or user.is_manager):
            return self.none()
        return owner_scope(self, user, field="created_by")

    def changeable_by(self, user):
        return self.visible_to(user)


class Rule(models.Model):
    """An automation a manager built: when a record of ``entity`` meets the trigger (it is
    created, a field reaches a value, it enters a stage) and matches ``conditions`` (a segment
    definition over the same criteria), the ordered ``actions`` run as ``run_as``, with that
    user's visibility and change rights. Each firing is a ``RuleRun``."""

    name = models.CharField(max_length=120)
    entity = models.CharField(max_length=20, help_text="The kind of record the rule watches.")
    trigger = models.CharField(max_length=20, choices=RuleTrigger.choices)
    trigger_params = models.JSONField(default=dict, blank=True)
    conditions = models.JSONField(
        default=_empty_definition,
        help_text="AND/OR groups of {criterion, operator, value}, as in a segment.",
    )
    actions = models.JSONField(default=list, help_text="Ordered list of {kind, ...params}.")
    run_as = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="rules_run_as"
    )
    active = models.BooleanField(default=False)
    activated_at = models.DateTimeField(
        null=True, blank=True, help_text="When the rule was last switched on."
    )
    daily_cap = models.PositiveIntegerField(
        default=3, help_text="Runs per record and day at most (loop protection)."
    )
    round_robin_next = models.PositiveIntegerField(default=0, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="rules_created",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RuleQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            models.Index(fields=["entity", "active"], name="rule_entity_active_idx"),
            models.Index(fields=["created_by", "name"], name="rule_owner_idx"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return record_url("rule_detail", self.pk)


class RuleMatch(models.Model):
    """A record that is in a rule's trigger state (created while the rule was on, at or past
    the value, in the stage). A record fires when its match is made and again only after it
    left the state (its match deleted) and entered it anew."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="matches")
    record_pk = models.BigIntegerField()
    entered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "record_pk"], name="rulematch_unique")
        ]

    def __str__(self):
        return f"{self.rule} matches #{self.record_pk}"


class RuleRunQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self.filter(rule__in=Rule.objects.visible_to(user))


class RuleRun(Leased):
    """One firing of a rule on one record: durable work, run step by step by a worker that
    leases it; ``event_key`` names the change that fired it, so the same change never runs
    twice."""

    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="runs")
    entity = models.CharField(max_length=20)
    record_pk = models.BigIntegerField()
    event_key = models.CharField(max_length=80)
    event = models.CharField(max_length=200, help_text="What fired it, for the run log.")
    actions = models.JSONField(default=list, help_text="The rule's actions when it fired.")
    state = models.CharField(
        max_length=10, choices=RuleRunState.choices, default=RuleRunState.QUEUED
    )
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    not_before = models.DateTimeField(
        null=True, blank=True, help_text="A waiting run goes on with its next step then."
    )

    objects = RuleRunQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "record_pk", "event_key"], name="rulerun_once_per_event"
            )
        ]
        indexes = [
            models.Index(fields=["rule", "-id"], name="rulerun_rule_idx"),
            models.Index(fields=["rule", "record_pk", "created_at"], name="rulerun_cap_idx"),
            models.Index(
                fields=["state", "created_at"],
                name="rulerun_due_idx",
                condition=models.Q(state__in=["queued", "running"]),
            ),
        ]

    def __str__(self):
        return f"{self.rule} on {self.entity} #{self.record_pk}"


class RuleRunStep(models.Model):
    """One action of a run, committed together with its effect: a resumed run skips the steps
    done and never repeats one."""

    run = models.ForeignKey(RuleRun, on_delete=models.CASCADE, related_name="steps")
    index = models.PositiveIntegerField()
    kind = models.CharField(max_length=40)
    state = models.CharField(max_length=10, choices=RuleStepState.choices)
    result = models.TextField(blank=True)
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["run", "index"]
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="rulerunstep_unique")]

    def __str__(self):
        return f"Step {self.index + 1} of {self.run}"
