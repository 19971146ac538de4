"""Undoing a lead merge: each merge (lead into lead, lead into contact) records exactly what it
did in a ``LeadMerge``, and ``lead_merge_undo`` puts both records and their links back.

What comes back: the merged lead's fields and status, the fields the merge changed on the kept
lead (or the contact), every timeline entry, task and enrolment it moved (enrolments with their
progress as it was), and the "duplicate of" pointers of other leads. The timeline entries the
merge itself wrote go; one entry on each record says the merge was undone, and the audit trail
and field history (source *restore*) keep both the merge and its undo.

When a field the merge set on either record was changed after it, the undo is refused with the
fields named: putting the old value back would silently lose that later change. An enrolment
that moved on since the merge (a step went out) goes back to its lead with its newer progress,
so no step is ever sent twice; the undo says so.
"""

from dataclasses import dataclass, field

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format

from crm.history import Source, source
from crm.matching import match_fields_set
from crm.models import Activity, Contact, Task
from crm.quality import quality_fields_set
from crm.services.merges import (
    check_not_undone,
    check_unchanged,
    field_labels,
    merge_undo_finish,
    record_snapshot,
    snapshot_changes,
    value_shown,
    values_put_back,
)
from leads.choices import LeadAuditAction, LeadMergeKind
from leads.models import Enrollment, Lead, LeadMerge
from leads.services import scoring

ENROLLMENT_PROGRESS = (
    "state",
    "stop_reason",
    "next_position",
    "next_step_at",
    "steps_done",
    "finished_at",
)

#: Fields recomputed from the others (the score and the prediction): not a later change of
#: anyone's, so they never block an undo; they are recomputed after it.
DERIVED = frozenset(
    {"score", "grade", "score_breakdown", "conversion_probability", "conversion_factors"}
)


def _ids(queryset) -> list[int]:
    return sorted(queryset.values_list("pk", flat=True))


def _enrollments(lead_ids) -> dict[str, dict]:
    """Each enrolment of these leads: its lead and progress, by id (as text: JSON keys)."""
    return {
        str(enrollment.pk): {
            name: value
            for name, value in record_snapshot(enrollment).items()
            if name in ("lead", *ENROLLMENT_PROGRESS)
        }
        for enrollment in Enrollment.objects.filter(lead_id__in=lead_ids).order_by("pk")
    }


@dataclass
class Recording:
    """Both records and their links as a merge found them (taken after they are locked)."""

    target_before: dict
    merged_before: dict
    target_activities: list[int]
    merged_activities: list[int]
    merged_tasks: list[int]
    enrollments: dict[str, dict]
    lead_ids: list[int] = field(default_factory=list)


def merge_recording_start(target: Lead | Contact, merge: Lead) -> Recording:
    lead_ids = [merge.pk] + ([target.pk] if isinstance(target, Lead) else [])
    return Recording(
        target_before=record_snapshot(target),
        merged_before=record_snapshot(merge),
        target_activities=_ids(Activity.objects.for_object(target)),
        merged_activities=_ids(Activity.objects.for_object(merge)),
        merged_tasks=_ids(Task.objects.for_object(merge)),
        enrollments=_enrollments(lead_ids),
        lead_ids=lead_ids,
    )


def merge_recording_finish(
    recording: Recording, *, target: Lead | Contact, merge: Lead, user, pointers=()
) -> LeadMerge:
    """The ``LeadMerge`` of a merge that is done (``target`` as saved, ``merge`` in any state):
    what changed on both, which rows moved and which the merge wrote."""
    target.refresh_from_db()
    merge.refresh_from_db()
    known = set(recording.target_activities) | set(recording.merged_activities)
    on_target = set(_ids(Activity.objects.for_object(target)))
    on_merged = set(_ids(Activity.objects.for_object(merge)))
    written = (on_target | on_merged) - known
    is_lead = isinstance(target, Lead)
    return LeadMerge.objects.create(
        kind=LeadMergeKind.LEAD if is_lead else LeadMergeKind.CONTACT,
        kept=target if is_lead else None,
        contact=None if is_lead else target,
        merged=merge,
        kept_before=recording.target_before,
        merged_before=recording.merged_before,
        kept_after=snapshot_changes(recording.target_before, record_snapshot(target)),
        merged_after=snapshot_changes(recording.merged_before, record_snapshot(merge)),
        moved={
            "activities": sorted(on_target & set(recording.merged_activities)),
            "tasks": _ids(Task.objects.for_object(target).filter(pk__in=recording.merged_tasks)),
            "written_activities": sorted(written),
            "duplicate_pointers": sorted(pointers),
            "enrollments_before": recording.enrollments,
            "enrollments_after": _enrollments(recording.lead_ids),
        },
        merged_at=timezone.now(),
        merged_by=user,
    )


@dataclass(frozen=True)
class UndoPlan:
    """What undoing a merge would do, for its confirm page."""

    record: LeadMerge
    fields_kept: list[tuple[str, str, str]]  # (label, now, before) on the kept record
    fields_merged: list[tuple[str, str, str]]
    activities: int
    tasks: int
    enrollments: int
    problem: str  # why it cannot be undone now ("" when it can)


def _labelled(model, before: dict, after: dict) -> list[tuple[str, str, str]]:
    return [
        (
            str(model._meta.get_field(name).verbose_name),
            value_shown(model, name, after[name]),
            value_shown(model, name, before.get(name)),
        )
        for name in after
        if name not in DERIVED
    ]


def _check_links_in_place(record: LeadMerge, target: Lead | Contact) -> None:
    """Refuse when timeline entries or tasks the merge moved have left the record they were
    moved to (it was merged on or converted since): undo that first, or they would stay
    behind."""
    on_target = {
        "content_type": ContentType.objects.get_for_model(target),
        "object_id": target.pk,
    }
    gone = sum(
        model.objects.filter(pk__in=record.moved.get(kind, ())).exclude(**on_target).count()
        for model, kind in ((Activity, "activities"), (Task, "tasks"))
    )
    if gone:
        raise ValidationError(
            f"The merge cannot be undone: {gone} of the timeline entries and tasks it moved to "
            f"{target} are no longer there ({target} was merged or converted since). Undo that "
            "first."
        )


def _check_undoable(record: LeadMerge, target: Lead | Contact, merge: Lead) -> None:
    check_not_undone(record)
    check_unchanged(record, target, merge, ignore=DERIVED)
    _check_links_in_place(record, target)


def lead_merge_undo_plan(*, record: LeadMerge) -> UndoPlan:
    """What an undo of ``record`` would put back, and why it would be refused if it would."""
    target, merge = record.target, record.merged
    problem = ""
    try:
        _check_undoable(record, target, merge)
    except ValidationError as exc:
        problem = " ".join(exc.messages)
    moved = record.moved
    return UndoPlan(
        record=record,
        fields_kept=_labelled(type(target), record.kept_before, record.kept_after),
        fields_merged=_labelled(Lead, record.merged_before, record.merged_after),
        activities=len(moved.get("activities", ())),
        tasks=len(moved.get("tasks", ())),
        enrollments=sum(
            1
            for pk, after in moved.get("enrollments_after", {}).items()
            if after != moved["enrollments_before"].get(pk)
        ),
        problem=problem,
    )


def _lock(user, record: LeadMerge) -> tuple[Lead | Contact, Lead]:
    """Both records, locked (leads in id order), if the user may change both; otherwise
    Lead/Contact.DoesNotExist (the page answers 404)."""
    lead_ids = [record.merged_id] + ([record.kept_id] if record.kept_id else [])
    leads = {
        lead.pk: lead
        for lead in Lead.objects.changeable_by(user)
        .select_for_update()
        .filter(pk__in=lead_ids)
        .order_by("pk")
    }
    if set(lead_ids) - set(leads):
        raise Lead.DoesNotExist("No such lead you may change.")
    if record.kept_id:
        return leads[record.kept_id], leads[record.merged_id]
    contact = Contact.objects.changeable_by(user).select_for_update().get(pk=record.contact_id)
    return contact, leads[record.merged_id]


def _enrollments_put_back(before: dict, after: dict) -> tuple[int, list[Enrollment]]:
    """Every enrolment the merge changed goes back to its lead with its old progress, unless
    it moved on since (a step went out): that one keeps its newer progress. Returns how many
    went back and those that kept newer progress."""
    rows = Enrollment.objects.select_for_update().filter(pk__in=[int(pk) for pk in after])
    restored, newer = 0, []
    for enrollment in rows.select_related("sequence").order_by("pk"):
        old, left = before[str(enrollment.pk)], after[str(enrollment.pk)]
        if old == left:
            continue
        now = {k: v for k, v in record_snapshot(enrollment).items() if k in old}
        values = {"lead": old["lead"]}
        if {k: v for k, v in now.items() if k != "lead"} == {
            k: v for k, v in left.items() if k != "lead"
        }:
            values.update(old)
        else:
            newer.append(enrollment)
        values_put_back(enrollment, values)
        enrollment.save(update_fields=list(values))
        restored += 1
    return restored, newer


def _describe(record: LeadMerge) -> str:
    when = date_format(timezone.localtime(record.merged_at), "Y-m-d H:i")
    return f"merged {when} by {record.merged_by or 'someone no longer here'}"


def lead_merge_undo(*, record: LeadMerge, user) -> LeadMerge:
    """Undo the merge ``record``: both records and their links as they were before it.

    Refused (ValidationError) for a merge already undone and when a field the merge set on
    either record was changed since (the message names them); Lead/Contact.DoesNotExist when
    the user may not change both records. Recorded in field history (source *restore*), in
    the audit trail and on both timelines.
    """
    with source(Source.RESTORE, user=user, merge_undone=record.pk):
        return _lead_merge_undo(record=record, user=user)


@transaction.atomic
def _lead_merge_undo(*, record: LeadMerge, user) -> LeadMerge:
    record = LeadMerge.objects.select_for_update().get(pk=record.pk)
    check_not_undone(record)
    target, merge = _lock(user, record)
    _check_undoable(record, target, merge)

    target_fields = values_put_back(
        target, {name: record.kept_before[name] for name in record.kept_after}
    )
    if target_fields:
        target_fields += match_fields_set(target) + quality_fields_set(target)
        target.save(update_fields=[*target_fields, "updated_at"])
    merged_fields = values_put_back(
        merge, {name: record.merged_before[name] for name in record.merged_after}
    )
    if merged_fields:
        merged_fields += match_fields_set(merge) + quality_fields_set(merge)
        merge.save(update_fields=[*merged_fields, "updated_at"])

    moved = record.moved
    target_type = ContentType.objects.get_for_model(target)
    lead_type = ContentType.objects.get_for_model(Lead)
    on_target = {"content_type": target_type, "object_id": target.pk}
    activities = Activity.objects.filter(pk__in=moved["activities"], **on_target).update(
        content_type=lead_type, object_id=merge.pk
    )
    tasks = Task.objects.filter(pk__in=moved["tasks"], **on_target).update(
        content_type=lead_type, object_id=merge.pk
    )
    Activity.objects.filter(pk__in=moved["written_activities"]).delete()
    if isinstance(target, Lead):
        Lead.objects.filter(pk__in=moved["duplicate_pointers"], duplicate_of=target).update(
            duplicate_of=merge
        )
    enrollments, newer = _enrollments_put_back(
        moved["enrollments_before"], moved["enrollments_after"]
    )
    for lead in (target, merge):
        if isinstance(lead, Lead):
            scoring.lead_score_refresh(lead=lead)

    body = (
        f"The merge ({_describe(record)}) was undone: {activities} timeline entries, {tasks} "
        f"tasks and {enrollments} enrolments went back to lead #{merge.pk}"
    )
    if target_fields:
        body += f"; fields put back here: {field_labels(type(target), target_fields)}"
    if newer:
        body += "; enrolments that moved on since the merge kept their progress: " + ", ".join(
            str(e.sequence) for e in newer
        )
    body += "."
    target_name = f"lead #{target.pk}" if isinstance(target, Lead) else f"contact {target}"
    return merge_undo_finish(
        record,
        user=user,
        kept=target,
        merged=merge,
        kept_summary=(
            f"Merge undone: {merge.full_name} (lead #{merge.pk}) is a lead of its own again"
        ),
        merged_summary=f"Merge into {target_name} undone",
        body=body,
        audit_action=LeadAuditAction.MERGE_UNDONE,
        audit_detail={
            "merge": record.pk,
            "kind": record.kind,
            "merged_lead": merge.pk,
            "kept_lead": record.kept_id,
            "contact": record.contact_id,
            "fields_put_back": target_fields,
            "activities": activities,
            "tasks": tasks,
            "enrollments": enrollments,
        },
    )
