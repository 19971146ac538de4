"""Retention of closed tickets' bodies (``RETENTION_CLOSED_TICKET_BODIES_MONTHS``, README
"Retention"): a ticket closed more than that many months ago keeps its reference, subject,
status, people, queue, dates, SLA figures and CSAT rating, and loses what the customer and the
desk wrote: its description, every message's body (replies, notes and mail that came in), its
attachments (the files too), the customer's CSAT comment, the bodies on its timeline and of the
emails sent about it, and the description's values in its field history (shown as removed). Registered into
``crm.registry.retention_rules`` from ``support.apps``.
"""

from collections import Counter

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.utils import timezone

from crm.choices import OutboxStatus
from crm.history import Source, source
from crm.models import Activity, OutboundEmail
from crm.uploads import files_delete
from support.choices import TicketStatus
from support.models import Attachment, CsatSurvey, HelpSearch, Ticket, TicketMessage

RULE = "support.closed_ticket_bodies"
ACTION = "retention.ticket_bodies_removed"
#: What the History tab shows in place of a description the rule removed.
REMOVED = "(removed by retention rule)"


def tickets_due(*, before):
    """Closed before ``before`` and still holding their bodies."""
    return Ticket.objects.filter(
        status=TicketStatus.CLOSED, closed_at__lt=before, bodies_purged_at__isnull=True
    )


def _sent_about(ticket_ids):
    return OutboundEmail.objects.filter(
        content_type=ContentType.objects.get_for_model(Ticket),
        object_id__in=ticket_ids,
        status__in=[OutboxStatus.SENT, OutboxStatus.FAILED],
    )


def closed_ticket_bodies_count(*, before) -> dict:
    """What a run would blank now (the dry run)."""
    due = tickets_due(before=before)
    ids = due.values("pk")
    return {
        "tickets": due.count(),
        "messages": TicketMessage.objects.filter(ticket__in=ids).exclude(body="").count(),
        "attachments": Attachment.objects.filter(ticket__in=ids).count(),
    }


def closed_ticket_bodies_remove(*, before, batch: int) -> dict:
    """Blank the bodies of the due tickets, ``batch`` at a time, each batch in its own
    transaction with its tickets locked (another run skips them) and stamped
    ``bodies_purged_at``, so no run does a ticket twice. Files are deleted once their batch
    is committed. Returns the counts of what was blanked."""
    ticket_type = ContentType.objects.get_for_model(Ticket)
    totals = Counter(tickets=0, messages=0, attachments=0)
    while True:
        with source(Source.RETENTION, rule=RULE), transaction.atomic():
            ids = list(
                tickets_due(before=before)
                .select_for_update(skip_locked=True, of=("self",))
                .order_by("closed_at", "id")
                .values_list("pk", flat=True)[:batch]
            )
            if not ids:
                break
            totals["messages"] += (
                TicketMessage.objects.filter(ticket_id__in=ids).exclude(body="").update(body="")
            )
            files = list(
                Attachment.objects.filter(ticket_id__in=ids).values_list("file", flat=True)
            )
            totals["attachments"] += Attachment.objects.filter(ticket_id__in=ids).delete()[0]
            Activity.objects.filter(content_type=ticket_type, object_id__in=ids).exclude(
                body=""
            ).update(body="")
            _sent_about(ids).update(body_text="", body_html="")
            CsatSurvey.objects.filter(ticket_id__in=ids).exclude(comment="").update(comment="")
            totals["tickets"] += Ticket.objects.filter(pk__in=ids).update(
                description="", bodies_purged_at=timezone.now()
            )
            _history_scrub(ids)
            transaction.on_commit(lambda names=files: _files_delete(names))
    return dict(totals)


def _history_scrub(ticket_ids) -> None:
    """The description's values in the tickets' history rows (the rule's own row included):
    blank in the snapshot, ``REMOVED`` in the recorded changes (an emptied one stays empty)."""
    table = apps.get_model("support", "TicketEvent")._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            UPDATE "{table}" SET
              description = '',
              pgh_changes = CASE
                WHEN pgh_changes ? 'description' THEN jsonb_set(
                  pgh_changes,
                  '{{description}}',
                  jsonb_build_array(
                    CASE WHEN pgh_changes -> 'description' ->> 0 = '' THEN '' ELSE %s END,
                    CASE WHEN pgh_changes -> 'description' ->> 1 = '' THEN '' ELSE %s END
                  )
                )
                ELSE pgh_changes
              END
            WHERE pgh_obj_id = ANY(%s)
            """,
            [REMOVED, REMOVED, list(ticket_ids)],
        )


def _files_delete(names) -> None:
    storage = Attachment._meta.get_field("file").storage
    files_delete((storage, name) for name in names if name)


# Help-centre searches (``RETENTION_HELP_SEARCHES_MONTHS``): what visitors typed may name
# them ("refund for order 4711, jana@example.com"); past that many months the rows are deleted.
SEARCHES_RULE = "support.help_searches"
SEARCHES_ACTION = "retention.help_searches_deleted"


def help_searches_count(*, before) -> dict:
    return {"searches": HelpSearch.objects.filter(created_at__lt=before).count()}


def help_searches_remove(*, before, batch: int) -> dict:
    """Delete the searches logged before ``before``, ``batch`` rows a transaction (rows another
    run holds are skipped by this one)."""
    removed = 0
    while True:
        with transaction.atomic():
            ids = list(
                HelpSearch.objects.filter(created_at__lt=before)
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)[:batch]
            )
            if not ids:
                return {"searches": removed}
            HelpSearch.objects.filter(pk__in=ids).delete()
        removed += len(ids)
