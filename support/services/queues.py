"""Who works which queue, and how new tickets are handed out: managers and admins set a queue's
assignment rule and who is on shift; an agent goes on or off shift in their own queues (only
agents on shift get new tickets automatically, see ``assignment``)."""

from django.core.exceptions import ValidationError
from django.db import transaction

from crm.permissions import may_manage
from support.choices import AssignmentMode
from support.models import Queue, QueueAgent


@transaction.atomic
def queue_set_assignment(*, queue: Queue, user, assignment_mode: str, on_shift_user_ids) -> Queue:
    """Set the queue's rule and which of its members are on shift (the others go off)."""
    if not may_manage(user):
        raise ValidationError("Only managers and admins change a queue's assignment.")
    if assignment_mode not in AssignmentMode.values:
        raise ValidationError("Unknown assignment rule.")
    queue = Queue.objects.select_for_update().get(pk=queue.pk)
    if queue.assignment_mode != assignment_mode:
        queue.assignment_mode = assignment_mode
        queue.save(update_fields=["assignment_mode"])
    on_shift = {int(pk) for pk in on_shift_user_ids}
    QueueAgent.objects.filter(queue=queue, user_id__in=on_shift).update(on_shift=True)
    QueueAgent.objects.filter(queue=queue).exclude(user_id__in=on_shift).update(on_shift=False)
    return queue


@transaction.atomic
def queue_agent_set_shift(*, membership: QueueAgent, user, on_shift: bool) -> QueueAgent:
    """An agent goes on or off shift in one queue (their own, or anyone's for a manager)."""
    if membership.user_id != user.pk and not may_manage(user):
        raise ValidationError("Only managers and admins change someone else's shift.")
    membership.on_shift = on_shift
    membership.save(update_fields=["on_shift"])
    return membership
