"""What leads do with sequence emails (opens, clicks, replies) and the A/B winner of an email
step, picked once."""

from datetime import timedelta

from django.db import transaction
from django.db.models import F, Min, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.services.timeline import system_event
from leads.campaigns.selectors import best_variant_id
from leads.models import Lead, SequenceEmail, SequenceStep, SequenceStepVariant
from leads.selectors import step_variant_results


def sequence_email_opened(*, email_id: int, now=None) -> bool:
    """Record the first open; later opens change nothing. True when this one was the first."""
    now = now or timezone.now()
    return bool(
        SequenceEmail.objects.filter(pk=email_id, opened_at__isnull=True).update(opened_at=now)
    )


def sequence_email_clicked(*, email_id: int, now=None) -> bool:
    """Record the first click (a click also proves an open)."""
    now = now or timezone.now()
    return bool(
        SequenceEmail.objects.filter(pk=email_id, clicked_at__isnull=True).update(
            clicked_at=now, opened_at=Coalesce(F("opened_at"), Value(now))
        )
    )


def sequence_emails_mark_replied(*, lead: Lead, when) -> int:
    """A reply is credited to the last sequence email the lead got before it."""
    last = (
        SequenceEmail.objects.filter(enrollment__lead=lead, sent_at__lte=when)
        .order_by("-sent_at", "-id")
        .values_list("pk", flat=True)
        .first()
    )
    if last is None:
        return 0
    return SequenceEmail.objects.filter(pk=last, replied_at__isnull=True).update(replied_at=when)


def sequence_step_pick_winner(*, step_id: int, now=None) -> bool:
    """Once ``winner_after_hours`` have passed since the step's first email, the variant with
    the most clicks per delivered email (then opens, then the earlier label) becomes the only
    one sent. One conditional UPDATE, so only one run ever picks."""

    now = now or timezone.now()
    step = SequenceStep.objects.select_related("sequence").filter(pk=step_id).first()
    if step is None or step.winner_after_hours is None or step.winner_variant_id is not None:
        return False
    first_sent = SequenceEmail.objects.filter(step=step).aggregate(first=Min("sent_at"))["first"]
    if first_sent is None or first_sent + timedelta(hours=step.winner_after_hours) > now:
        return False
    results = step_variant_results([step.pk]).get(step.pk, [])
    if len(results) < 2:
        return False
    winner = best_variant_id(results)
    if winner is None:
        # A tie (or nothing delivered) is no winner: the step keeps splitting leads evenly.
        return False
    with transaction.atomic():
        if not SequenceStep.objects.filter(pk=step.pk, winner_variant__isnull=True).update(
            winner_variant_id=winner, winner_picked_at=now
        ):
            return False
        label = SequenceStepVariant.objects.get(pk=winner).label
        system_event(
            subject=step.sequence,
            summary=f"Step {step.position}: variant {label} won; every lead gets it from now",
        )
    return True


def sequence_steps_pick_winners(*, now=None) -> int:
    """Beat: pick the winner of every step test whose time is up."""
    ids = SequenceStep.objects.filter(
        winner_after_hours__isnull=False, winner_variant__isnull=True
    ).values_list("pk", flat=True)
    return sum(sequence_step_pick_winner(step_id=pk, now=now) for pk in list(ids))
