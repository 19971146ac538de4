"""Deciding when a rule fires, and running what it does, durably.

**When.** A rule's trigger is a *state* a record can be in: created while the rule is on, a
field at or past a value, a stage. A record fires when it enters the rule's state (and matches
the rule's conditions, the same compiled query a segment uses) and is visible to the user the
rule runs as: ``rule_matching`` is that query, and ``rule_evaluate`` inserts a ``RuleMatch``
for every record in it that has none, making one ``RuleRun`` per new match, in one transaction.
A record that left the state loses its match (unless a run of the rule on it is unfinished),
so entering again fires again. The dry run counts the same query, so "would fire on 37
records" is the number of runs the rule makes when switched on.

Every save of a watched model (``automation.register_entity`` / ``register_watch``) notes the
record; after commit a worker re-checks those records against the entity's active rules. Bulk
writes that save no model (an import's set-based insert, the health recompute) are caught by
the full evaluation the sweep starts every ``AUTOMATION_EVALUATION_SECONDS``, or at once when
the writer calls ``records_changed(entity)``.

**Loop protection.** Changes made by a rule's actions carry the rule as their source (field
history shows "rule <name>"). While a run of a rule on a record is unfinished, the record keeps
its match, so the rule's own changes cannot fire it again; and at most ``daily_cap`` runs of a
rule start on one record a day (two rules undoing each other stop there).

**Running.** A run is durable work (``crm.work``): a worker leases it, runs each action in a
transaction of its own that also commits the step's row, and releases it done or failed. A
worker killed mid-run leaves the lease to run out; the sweep wakes another that goes on at the
first step not done, so no step runs twice.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.http import Http404
from django.utils import timezone

from crm.automation.registry import automation
from crm.db import AnyOf  # noqa: F401  (the ``any_of`` lookup used below)
from crm.history import Source, source
from crm.models import Rule, RuleMatch, RuleRun, RuleRunStep
from crm.models.automation import RuleRunState, RuleStepState, RuleTrigger
from crm.selectors import record_get, scoped
from crm.work import (
    QUEUED_GRACE,
    Problem,
    enqueue_quietly,
    jobs_in_trouble,
    lease_free,
    lease_release,
    lease_renew,
    lease_take,
    worker_name,
)

logger = logging.getLogger(__name__)

#: Operators of a field trigger: (key, label, ORM lookup).
FIELD_OPERATORS = (
    ("is", "is", "exact"),
    ("gte", "is at least", "gte"),
    ("gt", "is more than", "gt"),
    ("lte", "is at most", "lte"),
    ("lt", "is less than", "lt"),
)
NUMBER_OPERATORS = {key for key, _, _ in FIELD_OPERATORS}
OPERATOR_LABELS = {key: label for key, label, _ in FIELD_OPERATORS}
OPERATOR_LOOKUPS = {key: lookup for key, _, lookup in FIELD_OPERATORS}
#: How far back the dry run of a "record created" rule looks.
CREATED_DRY_RUN_DAYS = 7
#: New runs above which a commit wakes batch workers instead of one task per run.
PER_RUN_TASKS = 20


class StepError(Exception):
    """A step that cannot be done, with the reason the run log shows."""


# --- the trigger ---------------------------------------------------------------------------------


def trigger_q(rule: Rule, *, since: dt.datetime | None = None) -> Q:
    """The trigger's state as a condition on the entity's records."""
    entity = automation.entity(rule.entity)
    params = rule.trigger_params or {}
    if rule.trigger == RuleTrigger.CREATED:
        start = since or rule.activated_at or timezone.now()
        return Q(**{f"{entity.created_field}__gte": start})
    if rule.trigger == RuleTrigger.STAGE:
        return Q(**{entity.stage_field: params["value"]})
    if rule.trigger == RuleTrigger.DATE:
        return Q(**{entity.date_fields[params["field"]].path: date_target(params)})
    if rule.trigger == RuleTrigger.IDLE:
        from crm.segments.registry import activity_within_q

        days = int(params["days"])
        since = timezone.now() - dt.timedelta(days=days)
        return activity_within_q(entity.model, days, "not_within") & Q(
            **{f"{entity.created_field}__lt": since}
        )
    field = entity.fields[params["field"]]
    value = params["value"]
    if field.kind == "number":
        value = Decimal(str(value))
    return Q(**{f"{field.path}__{OPERATOR_LOOKUPS[params['operator']]}": value})


def date_target(params: dict, today: dt.date | None = None) -> dt.date:
    """The date a record's date field must hold today for a "N days before/after" trigger."""
    today = today or timezone.localdate()
    days = dt.timedelta(days=int(params["days"]))
    return today + days if params.get("when") == "before" else today - days


def trigger_label(rule: Rule) -> str:
    """The trigger in words: "Amount is at least 50000", "Stage entered: Negotiation"."""
    entity = automation.entity(rule.entity)
    params = rule.trigger_params or {}
    if entity is None:
        return rule.get_trigger_display()
    if rule.trigger == RuleTrigger.CREATED:
        return f"{entity.label.capitalize()} created"
    if rule.trigger == RuleTrigger.STAGE:
        labels = dict(entity.stage_value_choices())
        return f"Stage entered: {labels.get(str(params.get('value')), params.get('value'))}"
    if rule.trigger == RuleTrigger.IDLE:
        return f"Nothing happened for {params.get('days')} days"
    if rule.trigger == RuleTrigger.DATE:
        date_field = entity.date_fields.get(params.get("field"))
        label = date_field.label.lower() if date_field else "a date no longer available"
        days = params.get("days")
        if str(days) == "0":
            return f"On the day of {label}"
        return f"{days} days {params.get('when', 'after')} {label}"
    field = entity.fields.get(params.get("field"))
    if field is None:
        return "A field that is no longer available"
    value = params.get("value")
    if field.kind == "choice":
        value = dict(field.value_choices()).get(str(value), value)
    return f"{field.label} {OPERATOR_LABELS.get(params.get('operator'), '?')} {value}"


def rule_matching(rule: Rule, *, since: dt.datetime | None = None):
    """The records in the rule's trigger state that match its conditions and that the user it
    runs as may see: the query both the dry run and the engine use. Raises
    ``ValidationError`` when the conditions no longer check out."""
    from crm.segments.selectors import segment_queryset

    records = segment_queryset(rule.conditions, user=rule.run_as, target=rule.entity)
    return records.filter(trigger_q(rule, since=since)).order_by()


@dataclass(frozen=True)
class DryRun:
    count: int
    explanation: str


def rule_dry_run(*, rule: Rule) -> DryRun:
    """How many records the rule would fire on if switched on now."""
    if rule.trigger == RuleTrigger.CREATED:
        since = timezone.now() - dt.timedelta(days=CREATED_DRY_RUN_DAYS)
        count = rule_matching(rule, since=since).count()
        return DryRun(
            count,
            f"It fires on each new record as it is created; of the records created in the "
            f"last {CREATED_DRY_RUN_DAYS} days it would have fired on {count}.",
        )
    count = rule_matching(rule).count()
    if rule.trigger == RuleTrigger.DATE:
        return DryRun(
            count,
            f"Today it fires on {count} record{'s' if count != 1 else ''}, those whose date is "
            f"{date_target(rule.trigger_params):%Y-%m-%d}; each day on the records whose day "
            "it is.",
        )
    return DryRun(
        count,
        f"Switched on now, it fires on {count} record{'s' if count != 1 else ''} already in "
        "that state, then on each record that enters it.",
    )


# --- evaluating --------------------------------------------------------------------------------


def _today_start() -> dt.datetime:
    now = timezone.localtime()
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def rule_evaluate(*, rule: Rule, pks=None) -> list[int]:
    """Make a run for every record of ``pks`` (None: every record) that entered the rule's
    trigger state since it was last looked at, and forget the records that left it. Returns
    the ids of the runs queued (enqueued after commit)."""
    if not rule.active:
        return []
    try:
        matching = rule_matching(rule)
    except ValidationError as error:
        logger.warning("Rule %s cannot be evaluated: %s", rule.pk, "; ".join(error.messages))
        return []
    if pks is not None:
        pks = _pk_list(pks)
        if not pks:
            return []
        # The range too: the key's index answers it even when the table's statistics are stale
        # (right after an import), where "= ANY" alone is planned as a scan of the whole table.
        matching = matching.filter(pk__any_of=pks, pk__gte=pks[0], pk__lte=pks[-1])
    if rule.trigger == RuleTrigger.DATE:
        return _evaluate_day(rule, matching)
    with transaction.atomic():
        sql, params = matching.values_list("pk").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {RuleMatch._meta.db_table} (rule_id, record_pk, entered_at) "
                f"SELECT %s, m.*, now() FROM ({sql}) AS m "
                "ON CONFLICT (rule_id, record_pk) DO NOTHING RETURNING id, record_pk",
                [rule.pk, *params],
            )
            entered = cursor.fetchall()
        if rule.trigger != RuleTrigger.CREATED:
            # NOT EXISTS (an anti-join), not NOT IN: the planner hashes neither side of a
            # NOT IN over a large subquery and would compare every pair.
            left = RuleMatch.objects.filter(rule=rule).filter(
                ~Exists(matching.filter(pk=OuterRef("record_pk"))),
                ~Exists(
                    RuleRun.objects.filter(
                        rule=rule,
                        record_pk=OuterRef("record_pk"),
                        state__in=[RuleRunState.QUEUED, RuleRunState.RUNNING],
                    )
                ),
            )
            if pks is not None:
                left = left.filter(
                    record_pk__any_of=pks, record_pk__gte=pks[0], record_pk__lte=pks[-1]
                )
            left.delete()
        queued = _runs_create(rule, entered) if entered else []
    if queued:
        transaction.on_commit(lambda: runs_wake(queued))
    return queued


def _pk_list(pks) -> list[int]:
    return sorted({int(pk) for pk in pks})


def _evaluate_day(rule: Rule, matching) -> list[int]:
    """A date trigger fires once per record and day: the run's key is the day, so evaluating
    again the same day (every sweep) makes nothing new."""
    key = f"day:{timezone.localdate().isoformat()}"
    with transaction.atomic():
        pks = list(
            matching.exclude(
                pk__in=RuleRun.objects.filter(rule=rule, event_key=key).values("record_pk")
            ).values_list("pk", flat=True)
        )
        queued = _runs_create(rule, [(key, pk) for pk in pks], keyed=True) if pks else []
    if queued:
        transaction.on_commit(lambda: runs_wake(queued))
    return queued


def _runs_create(rule: Rule, entered: list[tuple], *, keyed: bool = False) -> list[int]:
    """Runs for ``entered`` (match id and record, or with ``keyed`` the event key and
    record), skipped with a reason for records at the rule's daily cap. Runs are made in the
    records' key order, which is the order workers take them in (a round robin hands out in
    turn by it), whatever order the database returned the matches in."""
    entered = sorted(entered, key=lambda pair: pair[1])
    now = timezone.now()
    record_pks = [pk for _, pk in entered]
    today = dict(
        RuleRun.objects.filter(rule=rule, record_pk__in=record_pks, created_at__gte=_today_start())
        .values_list("record_pk")
        .annotate(n=Count("id"))
    )
    event = trigger_label(rule)[:200]
    runs = []
    for match_id, record_pk in entered:
        capped = today.get(record_pk, 0) >= rule.daily_cap
        if keyed:
            key = match_id
        else:
            key = "created" if rule.trigger == RuleTrigger.CREATED else f"entered:{match_id}"
        runs.append(
            RuleRun(
                rule=rule,
                entity=rule.entity,
                record_pk=record_pk,
                event_key=key,
                event=event,
                actions=rule.actions,
                state=RuleRunState.SKIPPED if capped else RuleRunState.QUEUED,
                error=(
                    f"Not run: the rule already ran {rule.daily_cap} times on this record today "
                    "(its daily cap)."
                    if capped
                    else ""
                ),
                finished_at=now if capped else None,
            )
        )
    # Two evaluations of one day at once: the unique key keeps one run, the other is left out.
    made = RuleRun.objects.bulk_create(runs, batch_size=1000, ignore_conflicts=keyed)
    if keyed:
        return list(
            RuleRun.objects.filter(
                rule=rule,
                event_key=entered[0][0],
                record_pk__in=record_pks,
                state=RuleRunState.QUEUED,
            ).values_list("pk", flat=True)
        )
    return [run.pk for run in made if run.state == RuleRunState.QUEUED]


def rules_evaluate(*, entity: str | None = None, pks=None, rule_id: int | None = None) -> int:
    """Evaluate the active rules (of ``entity``, or the one ``rule_id``) for ``pks`` (None:
    all records); one rule's error is logged and does not stop the others. Returns how many
    runs were queued."""
    rules = Rule.objects.filter(active=True).select_related("run_as").order_by("id")
    if entity is not None:
        rules = rules.filter(entity=entity)
    if rule_id is not None:
        rules = rules.filter(pk=rule_id)
    queued = 0
    for rule in rules:
        if automation.entity(rule.entity) is None:
            continue
        try:
            queued += len(rule_evaluate(rule=rule, pks=pks))
        except Exception:
            logger.exception("Evaluating rule %s failed; the next evaluation tries again", rule.pk)
    return queued


#: Records per evaluation message.
EVALUATE_CHUNK = 5000


class _SavedRecords:
    """The records saved in one transaction, per entity: after commit, one message per entity
    asks a worker to check them against its active rules."""

    def __init__(self):
        self.pks: dict[str, set[int]] = {}

    def __call__(self):
        from crm.tasks import rules_evaluate as evaluate_task

        entities = set(
            Rule.objects.filter(active=True, entity__in=list(self.pks)).values_list(
                "entity", flat=True
            )
        )
        for entity in sorted(entities):
            pks = sorted(self.pks[entity])
            for start in range(0, len(pks), EVALUATE_CHUNK):
                enqueue_quietly(evaluate_task, entity, pks[start : start + EVALUATE_CHUNK])


def record_saved(sender, instance, **kwargs) -> None:
    """``post_save`` of a watched model: note the record(s) whose trigger state it may change."""
    watches = automation.watches_of(sender)
    if not watches:
        return
    pending = None
    for entry in getattr(connection, "run_on_commit", None) or ():
        if isinstance(entry[1], _SavedRecords):
            pending = entry[1]
    if pending is None or not connection.in_atomic_block:
        pending = _SavedRecords()
        for entity, path in watches:
            _note(pending, instance, entity, path)
        transaction.on_commit(pending)
        return
    for entity, path in watches:
        _note(pending, instance, entity, path)


def _note(pending: _SavedRecords, instance, entity: str, path: str) -> None:
    pk = instance.pk if path == "pk" else getattr(instance, path, None)
    if pk is not None:
        pending.pks.setdefault(entity, set()).add(pk)


def rules_watch(entity: str) -> bool:
    """Whether any active rule watches ``entity`` (a writer skips its notes when none does)."""
    return Rule.objects.filter(entity=entity, active=True).exists()


def records_changed(entity: str, pks=None) -> None:
    """For a writer that changed records of ``entity`` without saving models one by one (a
    COPY, a set-based recompute): after commit the entity's active rules look at ``pks`` (None:
    at all its records)."""
    from crm.tasks import rules_evaluate as evaluate_task

    if pks is None:
        transaction.on_commit(lambda: enqueue_quietly(evaluate_task, entity, None))
        return
    pending = _SavedRecords()
    pending.pks[entity] = set(pks)
    transaction.on_commit(pending)


# --- running -------------------------------------------------------------------------------------


def runs_wake(run_ids: list[int]) -> None:
    """Publish the work of newly queued runs: one task per run for a few, else batch tasks
    (each works through due runs one lease at a time)."""
    from crm.tasks import rule_run, rule_runs_due

    if len(run_ids) <= PER_RUN_TASKS:
        for pk in run_ids:
            enqueue_quietly(rule_run, pk)
        return
    for _ in range(min(4, len(run_ids) // PER_RUN_TASKS)):
        enqueue_quietly(rule_runs_due)


def _mine(run_id: int):
    return RuleRun.objects.filter(pk=run_id)


def run_execute(*, run_id: int, owner: str | None = None) -> bool:
    """Run (or go on with) one run, if no other worker holds it; True if this call worked on
    it. Each step is committed with its effect; a step that fails fails the run, with the
    step's error, and the steps after it are not run."""
    owner = owner or worker_name()
    taken = lease_take(
        RuleRun.objects.filter(
            Q(not_before__isnull=True) | Q(not_before__lte=timezone.now()),
            pk=run_id,
            state__in=[RuleRunState.QUEUED, RuleRunState.RUNNING],
        ),
        owner=owner,
        state=RuleRunState.RUNNING,
        attempts=F("attempts") + 1,
    )
    if not taken:
        return False
    run = RuleRun.objects.select_related("rule", "rule__run_as").get(pk=run_id)
    if run.started_at is None:
        run.started_at = timezone.now()
        RuleRun.objects.filter(pk=run_id).update(started_at=run.started_at)
    done = set(run.steps.filter(state=RuleStepState.DONE).values_list("index", flat=True))
    for index, params in enumerate(run.actions):
        if index in done:
            continue
        if not lease_renew(_mine(run_id), owner=owner):
            return True  # lost to the sweep, or this worker is stopping: another goes on
        kind = str(params.get("kind", ""))[:40]
        resume_at = None
        try:
            with transaction.atomic():
                result = _step_run(run, index, params)
                if kind == "wait":
                    resume_at = timezone.now() + wait_delay(params)
                    result = f"{result} Goes on at {timezone.localtime(resume_at):%Y-%m-%d %H:%M}."
                RuleRunStep.objects.update_or_create(
                    run=run,
                    index=index,
                    defaults={
                        "kind": kind,
                        "state": RuleStepState.DONE,
                        "result": str(result)[:2000],
                        "error": "",
                    },
                )
        except Exception as error:
            message = _error_text(error)
            if not isinstance(error, StepError | ValidationError):
                logger.exception("Step %s of rule run %s failed", index + 1, run_id)
            RuleRunStep.objects.update_or_create(
                run=run,
                index=index,
                defaults={"kind": kind, "state": RuleStepState.FAILED, "error": message},
            )
            lease_release(
                _mine(run_id),
                owner=owner,
                state=RuleRunState.FAILED,
                error=f"Step {index + 1} failed: {message}"[:2000],
                finished_at=timezone.now(),
            )
            return True
        if resume_at is not None:
            # Long waits live in the database: the sweep wakes a worker once it is over.
            lease_release(
                _mine(run_id), owner=owner, state=RuleRunState.QUEUED, not_before=resume_at
            )
            return True
    lease_release(
        _mine(run_id),
        owner=owner,
        state=RuleRunState.DONE,
        error="",
        finished_at=timezone.now(),
    )
    return True


def wait_delay(params: dict) -> dt.timedelta:
    return dt.timedelta(days=int(params.get("days") or 0), hours=int(params.get("hours") or 0))


def _error_text(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return "; ".join(error.messages)
    if isinstance(error, StepError):
        return str(error)
    return f"{type(error).__name__}: {error}"[:500]


def _step_run(run: RuleRun, index: int, params: dict) -> str:
    rule = run.rule
    user = rule.run_as
    action = automation.action(params.get("kind"))
    entity = automation.entity(run.entity)
    if action is None or entity is None:
        raise StepError("This kind of action is no longer available.")
    if not user.is_active:
        raise StepError(f"{user}, whom the rule runs as, is no longer active.")
    try:
        record = record_get(
            scoped(entity.model, user=user, for_change=action.for_change), run.record_pk
        )
    except (Http404, PermissionDenied):
        verb = "change" if action.for_change else "see"
        raise StepError(
            f"{user}, whom the rule runs as, may not {verb} this {entity.label} "
            f"(#{run.record_pk}), or it was deleted."
        ) from None
    with source(Source.RULE, user=user, rule=rule.pk, rule_name=rule.name, run=run.pk):
        return action.run(record=record, params=params, rule=rule, run=run, user=user, index=index)


def rule_runs_due(*, limit: int = 200) -> int:
    """Work through due runs (queued, or running with no live lease) one lease at a time;
    returns how many this call worked on."""
    worked = 0
    owner = worker_name()
    skipped: set[int] = set()
    while worked < limit:
        ids = list(
            _due_runs().exclude(pk__in=skipped).order_by("id").values_list("pk", flat=True)[:20]
        )
        if not ids:
            break
        for pk in ids:
            if run_execute(run_id=pk, owner=owner):
                worked += 1
            else:
                skipped.add(pk)
    return worked


def _due_runs(now=None):
    """Runs a worker may take now: queued or running, no live lease, not waiting."""
    now = now or timezone.now()
    return (
        RuleRun.objects.filter(Q(state=RuleRunState.QUEUED) | Q(state=RuleRunState.RUNNING))
        .filter(lease_free(now))
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
    )


# --- the sweep and the operators' page --------------------------------------------------------


def evaluation_seconds() -> int:
    return int(settings.AUTOMATION_EVALUATION_SECONDS)


def rule_runs_sweep(*, now=None) -> int:
    """Wake a worker for runs whose message was lost (queued for over ``QUEUED_GRACE``) or
    whose worker stopped (running, lease lapsed); and start the full evaluation of every
    active rule when the last one is older than ``AUTOMATION_EVALUATION_SECONDS``, so changes
    no save announced (bulk writes) still fire. Returns how many tasks it woke."""
    from crm.models import WorkHeartbeat
    from crm.tasks import rule_runs_due, rules_evaluate_all

    now = now or timezone.now()
    woken = 0
    due = _due_runs(now).filter(
        Q(state=RuleRunState.RUNNING)
        | Q(created_at__lt=now - QUEUED_GRACE)
        | Q(not_before__isnull=False)  # a wait that is over
    )
    if due.exists():
        woken += int(enqueue_quietly(rule_runs_due))
    if Rule.objects.filter(active=True).exists():
        beat = WorkHeartbeat.objects.filter(name="automation-evaluation").first()
        if beat is None or beat.at < now - dt.timedelta(seconds=evaluation_seconds()):
            WorkHeartbeat.objects.update_or_create(
                name="automation-evaluation", defaults={"at": now, "by": worker_name()}
            )
            woken += int(enqueue_quietly(rules_evaluate_all))
    return woken


def rule_runs_pending() -> int:
    return RuleRun.objects.filter(state__in=[RuleRunState.QUEUED, RuleRunState.RUNNING]).count()


def rule_runs_problems(limit: int) -> list[Problem]:
    from django.urls import reverse

    runs = jobs_in_trouble(
        RuleRun.objects.select_related("rule"),
        field="state",
        running=RuleRunState.RUNNING,
        failed=RuleRunState.FAILED,
        limit=limit,
    )
    return [
        Problem(
            pk=run.pk,
            title=f"Rule “{run.rule.name}” on {run.entity} #{run.record_pk}",
            state=run.trouble,
            detail=run.error,
            since=run.started_at or run.created_at,
            url=reverse("rule_detail", args=[run.rule_id]),
        )
        for run in runs
    ]


def rule_run_retry(pk: int) -> bool:
    """Put a failed run back to work: it goes on at the step that failed."""
    from crm.tasks import rule_run

    updated = RuleRun.objects.filter(pk=pk, state=RuleRunState.FAILED).update(
        state=RuleRunState.QUEUED, error="", finished_at=None
    )
    if updated:
        transaction.on_commit(lambda: enqueue_quietly(rule_run, pk))
    return bool(updated)
