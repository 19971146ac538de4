"""The SLA clock of a ticket: which policy applies, due and warning times in business time, and
pausing while the ticket waits on the customer.

Every due time is derived from the same three facts, so recomputing is always safe: when the
ticket was created, the policy's targets, and the business time spent paused so far. A pause of
P business minutes therefore moves every open target P business minutes later.
"""

import datetime as dt

from django.db.models import F, Prefetch, Q, prefetch_related_objects

from support import sla
from support.choices import TicketStatus
from support.models import BusinessHours, Holiday, SLAPolicy, Ticket

#: Share of a target after which the assignee is warned.
WARN_AT = 0.75


def policy_for(*, queue, priority: str) -> SLAPolicy | None:
    """The queue's own active policy for the priority, else the desk-wide one."""
    condition = Q(queue__isnull=True)
    if queue is not None:
        condition |= Q(queue=queue)
    return (
        SLAPolicy.objects.filter(condition, is_active=True, priority=priority)
        .select_related("calendar")
        .prefetch_related("calendar__hours", "calendar__holidays")
        .order_by(F("queue_id").asc(nulls_last=True))
        .first()
    )


def schedule_of(ticket: Ticket) -> sla.Schedule | None:
    policy = ticket.sla_policy
    if policy is None:
        return None
    schedule = policy.calendar.schedule()
    return schedule if schedule.has_working_time else None


def schedules_of(calendars) -> dict[int, sla.Schedule]:
    """One schedule per calendar (with working time), their hours and holidays read in two
    queries whatever the number of calendars."""
    unique = list({calendar.pk: calendar for calendar in calendars}.values())
    # Ordered on their own columns: the models' default ordering would join the calendar table.
    prefetch_related_objects(
        unique,
        Prefetch("hours", queryset=BusinessHours.objects.order_by("weekday", "opens")),
        Prefetch("holidays", queryset=Holiday.objects.order_by("date")),
    )
    schedules = {calendar.pk: calendar.schedule() for calendar in unique}
    return {pk: schedule for pk, schedule in schedules.items() if schedule.has_working_time}


def apply_policy(ticket: Ticket, *, policy: SLAPolicy | None) -> list[str]:
    """Set the policy and compute due and warning times; returns the fields changed."""
    ticket.sla_policy = policy
    return ["sla_policy", *recompute_due(ticket)]


def recompute_due(ticket: Ticket) -> list[str]:
    schedule = schedule_of(ticket)
    fields = [
        "first_response_due_at",
        "first_response_warn_at",
        "resolution_due_at",
        "resolution_warn_at",
    ]
    if schedule is None:
        for name in fields:
            setattr(ticket, name, None)
    else:
        policy = ticket.sla_policy
        paused = dt.timedelta(seconds=ticket.sla_paused_seconds)
        start = ticket.created_at
        for target, minutes in (
            ("first_response", policy.first_response_minutes),
            ("resolution", policy.resolution_minutes),
        ):
            due = sla.add_business_time(schedule, start, dt.timedelta(minutes=minutes) + paused)
            warn = sla.add_business_time(
                schedule, start, dt.timedelta(minutes=minutes * WARN_AT) + paused
            )
            setattr(ticket, f"{target}_due_at", due)
            setattr(ticket, f"{target}_warn_at", warn)
    return [*fields, *refresh_sla_due(ticket)]


def next_target_due(ticket: Ticket) -> dt.datetime | None:
    """The due instant of the next target not met yet, whether the clock runs or is paused."""
    due = None
    if ticket.first_responded_at is None and ticket.first_response_due_at:
        due = ticket.first_response_due_at
    if ticket.resolved_at is None and ticket.resolution_due_at:
        due = min(due, ticket.resolution_due_at) if due else ticket.resolution_due_at
    return due


def refresh_sla_due(ticket: Ticket) -> list[str]:
    """The next target to meet, or None while paused, solved or without a policy."""
    running = ticket.is_active and ticket.sla_paused_at is None
    ticket.sla_due_at = next_target_due(ticket) if running else None
    return ["sla_due_at"]


def clock_reading_at(ticket: Ticket, *, now) -> dt.datetime:
    """The instant a countdown is measured from: now, or the pause while the ticket waits on
    the customer (the targets move by the paused time only on resume, so measuring from now
    would show the frozen time running out)."""
    return ticket.sla_paused_at or now


def pause(ticket: Ticket, *, now) -> list[str]:
    if ticket.sla_paused_at is not None:
        return []
    ticket.sla_paused_at = now
    return ["sla_paused_at", *refresh_sla_due(ticket)]


def resume(ticket: Ticket, *, now) -> list[str]:
    """Add the paused business time and move the open targets by it."""
    if ticket.sla_paused_at is None:
        return []
    schedule = schedule_of(ticket)
    if schedule is not None and now > ticket.sla_paused_at:
        paused = sla.business_time_between(schedule, ticket.sla_paused_at, now)
        ticket.sla_paused_seconds += int(paused.total_seconds())
    ticket.sla_paused_at = None
    return ["sla_paused_at", "sla_paused_seconds", *recompute_due(ticket)]


def remaining_minutes(ticket: Ticket, *, now, target: str | None = None) -> float | None:
    """Business minutes left until the next due (negative: overdue by that much); None when
    the clock is not running. ``target``: "first_response" or "resolution" (default: next)."""
    due = getattr(ticket, f"{target}_due_at") if target else ticket.sla_due_at
    schedule = schedule_of(ticket)
    if due is None or schedule is None:
        return None
    return sla.business_minutes_between(schedule, now, due)


def sla_state(ticket: Ticket, *, now) -> dict:
    """What the ticket page and account panel show about the SLA."""
    state = {
        "paused": ticket.sla_paused_at is not None,
        "breached": ticket.first_response_breached or ticket.resolution_breached,
        "targets": [],
    }
    schedule = schedule_of(ticket)
    for target, label, met_at in (
        ("first_response", "First response", ticket.first_responded_at),
        ("resolution", "Resolution", ticket.resolved_at),
    ):
        due = getattr(ticket, f"{target}_due_at")
        if due is None:
            continue
        entry = {"label": label, "due": due, "met_at": met_at, "remaining": None}
        if met_at is not None:
            entry["late"] = met_at > due
        else:
            reading = clock_reading_at(ticket, now=now)
            entry["late"] = due < reading
            if schedule is not None and ticket.is_active:
                minutes = sla.business_minutes_between(schedule, reading, due)
                entry["remaining"] = minutes
                entry["remaining_text"] = sla.format_business_minutes(minutes)
        state["targets"].append(entry)
    return state


def is_resolved_status(status: str) -> bool:
    return status in (TicketStatus.SOLVED, TicketStatus.CLOSED)
