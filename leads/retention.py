"""Retention of leads never converted (``RETENTION_UNCONVERTED_LEADS_MONTHS``, README
"Retention"): a lead nobody converted and nothing happened to for that many months is deleted
with everything that keeps their personal data: its timeline and tasks, the emails the outbox
sent about it, its enrolments, and its field-history rows (the values it had, the deletion's
own row included). Registered into ``crm.registry.retention_rules`` from ``leads.apps``.

A lead is due when all of these are older than the cut-off: its creation, its last change
(``updated_at``: any edit, status change, score or assignment), its last activity and reply,
every timeline entry and task about it; and it is not converted, in no active nurture
sequence, and has no email waiting in the outbox.
"""

from collections import Counter

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from crm.choices import OutboxStatus
from crm.models import Activity, OutboundEmail, Task
from leads.choices import EnrollmentState, LeadStatus
from leads.models import Enrollment, Lead

RULE = "leads.unconverted"
ACTION = "retention.leads_purged"


def _lead_type():
    return ContentType.objects.get_for_model(Lead)


def _history_model():
    return apps.get_model("leads", "LeadEvent")


def leads_due(*, before):
    """The leads the rule deletes for the cut-off ``before``."""
    lead_type = _lead_type()
    about = {"content_type": lead_type, "object_id": OuterRef("pk")}
    recent_activity = Activity.objects.filter(**about).filter(
        Q(occurred_at__gte=before) | Q(created_at__gte=before)
    )
    recent_task = Task.objects.filter(**about).filter(
        Q(created_at__gte=before) | Q(due_at__gte=before) | Q(done_at__gte=before)
    )
    nurtured = Enrollment.objects.filter(lead=OuterRef("pk"), state=EnrollmentState.ACTIVE)
    mail_waiting = OutboundEmail.objects.filter(
        **about, status__in=[OutboxStatus.QUEUED, OutboxStatus.SENDING]
    )
    return (
        Lead.objects.exclude(status=LeadStatus.CONVERTED)
        .filter(
            converted_at__isnull=True,
            converted_account__isnull=True,
            converted_contact__isnull=True,
            created_at__lt=before,
            updated_at__lt=before,
        )
        .filter(Q(last_activity_at__isnull=True) | Q(last_activity_at__lt=before))
        .filter(Q(replied_at__isnull=True) | Q(replied_at__lt=before))
        .exclude(Exists(recent_activity))
        .exclude(Exists(recent_task))
        .exclude(Exists(nurtured))
        .exclude(Exists(mail_waiting))
    )


def _counts(lead_ids, lead_type) -> dict:
    about = {"content_type": lead_type, "object_id__in": lead_ids}
    return {
        "activities": Activity.objects.filter(**about).count(),
        "tasks": Task.objects.filter(**about).count(),
        "emails": OutboundEmail.objects.filter(**about).count(),
        "history_rows": _history_model().objects.filter(pgh_obj_id__in=lead_ids).count(),
    }


def unconverted_leads_count(*, before) -> dict:
    """What a run would delete now (the dry run)."""
    due = leads_due(before=before)
    return {"leads": due.count(), **_counts(due.values("pk"), _lead_type())}


def unconverted_leads_purge(*, before, batch: int) -> dict:
    """Delete the due leads, ``batch`` at a time, each batch in its own transaction with its
    leads locked (rows another run holds are skipped: that run deletes them). Returns the
    counts of what went."""
    lead_type = _lead_type()
    history = _history_model()
    totals = Counter(leads=0, activities=0, tasks=0, emails=0, history_rows=0)
    last_id = 0  # each batch goes on from the last one's ids: no rescan of the leads kept
    while True:
        with transaction.atomic():
            ids = list(
                leads_due(before=before)
                .filter(pk__gt=last_id)
                .select_for_update(skip_locked=True, of=("self",))
                .order_by("pk")
                .values_list("pk", flat=True)[:batch]
            )
            if not ids:
                break
            last_id = ids[-1]
            about = {"content_type": lead_type, "object_id__in": ids}
            totals["activities"] += Activity.objects.filter(**about).delete()[0]
            totals["tasks"] += Task.objects.filter(**about).delete()[0]
            totals["emails"] += OutboundEmail.objects.filter(**about).delete()[0]
            events = history.objects.filter(pgh_obj_id__in=ids)
            totals["history_rows"] += events.count()
            # Cascades to enrolments (and their sent-step rows); the delete trigger writes one
            # last history row per lead, with its values: it goes with the others.
            deleted = Lead.objects.filter(pk__in=ids).delete()[1]
            totals["leads"] += deleted.get(Lead._meta.label, 0)
            events.delete()
    return dict(totals)
