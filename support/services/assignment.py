"""Automatic assignment within a queue, among its agents on shift.

The queue row is locked (``select_for_update``) for the choice, so two tickets arriving at the
same moment are handed out one after the other: round robin never gives the same turn twice, and
least-open sees the ticket assigned just before.
"""

from django.db.models import Count

from support.choices import ACTIVE_STATUSES, AssignmentMode
from support.models import Queue, QueueAgent, Ticket


def next_agent(*, queue: Queue):
    """The agent the queue's rule picks now (and, for round robin, the cursor moved); None if
    the queue assigns manually or nobody is on shift. Call inside a transaction."""
    queue = Queue.objects.select_for_update().get(pk=queue.pk)
    if queue.assignment_mode == AssignmentMode.MANUAL:
        return None
    members = list(
        QueueAgent.objects.filter(queue=queue, on_shift=True, user__is_active=True)
        .select_related("user")
        .order_by("user_id")
    )
    if not members:
        return None
    if queue.assignment_mode == AssignmentMode.ROUND_ROBIN:
        chosen = next((m for m in members if m.user_id > queue.round_robin_cursor), members[0])
        queue.round_robin_cursor = chosen.user_id
        queue.save(update_fields=["round_robin_cursor"])
        return chosen.user
    open_counts = dict(
        Ticket.objects.filter(
            assignee_id__in=[m.user_id for m in members], status__in=ACTIVE_STATUSES
        )
        .values("assignee_id")
        .annotate(n=Count("id"))
        .values_list("assignee_id", "n")
    )
    chosen = min(members, key=lambda m: (open_counts.get(m.user_id, 0), m.user_id))
    return chosen.user
