"""Demo data of the support desk: the Support team's queues, a Berlin business calendar with
holidays, SLA policies, canned replies, and tickets over two years with their threads, SLA
clocks (some breached, some running right now), and CSAT answers.

Scale 1 makes about 1,000 tickets; scale 1000 a million (bulk rows, COPY on PostgreSQL).
Due times are computed with the real business-time math, so the demo's countdowns are true.
"""

import bisect
import datetime as dt

from django.db import connection

from crm.seeding import days_ago, pick_weighted
from support import sla
from support.choices import (
    AssignmentMode,
    Category,
    Channel,
    MessageKind,
    Priority,
    TicketStatus,
)
from support.services.clock import WARN_AT

TARGETS = {  # priority: (first response, resolution) in business minutes
    Priority.LOW: (8 * 60, 5 * 8 * 60),
    Priority.NORMAL: (4 * 60, 3 * 8 * 60),
    Priority.HIGH: (60, 8 * 60),
    Priority.URGENT: (30, 4 * 60),
}
SUBJECTS = [
    "Cannot log in after password reset",
    "Invoice shows the wrong VAT rate",
    "Export to CSV is empty",
    "Feature request: dark mode",
    "Sync with calendar stopped working",
    "How do I add a new user?",
    "Charged twice this month",
    "Error 500 when saving a report",
    "Mobile app crashes on start",
    "Please update our billing address",
    "Slow dashboard since the update",
    "Import fails with an encoding error",
    "Need a copy of last year's invoices",
    "Two-factor codes not arriving",
    "API rate limit questions",
]
REPLIES = [
    "Thank you for reaching out. Could you send us a screenshot of the error?",
    "We have reproduced the problem and our engineers are on it.",
    "This is fixed now; could you please check on your side?",
    "I have updated your account accordingly.",
    "Here is a link to the guide that explains the steps.",
]
CUSTOMER = [
    "Here is the screenshot you asked for.",
    "Thanks, that works now!",
    "It still happens, unfortunately.",
    "Any news on this?",
]
NOTES = [
    "Checked the logs: the job timed out twice last night.",
    "Customer is on the enterprise plan; handle with priority.",
    "Related to the release of last Tuesday.",
]
HOLIDAYS = [(1, 1, "New Year"), (5, 1, "Labour Day"), (10, 3, "Unity Day"), (12, 25, "Christmas"),
            (12, 26, "Boxing Day")]  # fmt: skip


LATE_SHARE = 0.07  # of the tickets still being worked, those past their SLA target


def _business_ago(schedule, now: dt.datetime, minutes: float) -> dt.datetime:
    """The moment ``minutes`` of the desk's working time before ``now`` (to the minute)."""
    lo, hi = dt.timedelta(0), dt.timedelta(days=minutes / 600 * 2 + 10)
    while hi - lo > dt.timedelta(minutes=1):
        middle = lo + (hi - lo) / 2
        if sla.business_minutes_between(schedule, now - middle, now) < minutes:
            lo = middle
        else:
            hi = middle
    return now - hi


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MICROSECOND = dt.timedelta(microseconds=1)


class BusinessClock:
    """``sla.add_business_minutes`` on one schedule within a span of dates, found by bisecting
    the span's working intervals and their running totals (whole microseconds) instead of
    walking the intervals: the seed adds four to six spans to each of a million tickets. It
    gives what the walk gives (tested), and leaves to the walk what reaches past the span."""

    def __init__(self, schedule, first: dt.date, last: dt.date):
        self.schedule = schedule
        self.opens, self.closes, self.before, self.through = [], [], [], []
        total, day = 0, first
        while day <= last:
            for opens, closes in schedule.windows_on(day):
                self.opens.append((opens - EPOCH) // MICROSECOND)
                self.closes.append((closes - EPOCH) // MICROSECOND)
                self.before.append(total)
                total += self.closes[-1] - self.opens[-1]
                self.through.append(total)
            day += dt.timedelta(days=1)

    def add_minutes(self, start: dt.datetime, minutes: float) -> dt.datetime:
        at = (start - EPOCH) // MICROSECOND
        first = bisect.bisect_right(self.closes, at)  # the first interval closing after start
        if minutes > 0 and 0 < first < len(self.closes):
            target = self.before[first] + max(0, at - self.opens[first])
            target += dt.timedelta(minutes=minutes) // MICROSECOND
            found = bisect.bisect_left(self.through, target, first)
            if found < len(self.through):
                return EPOCH + (self.opens[found] + target - self.before[found]) * MICROSECOND
        return sla.add_business_minutes(self.schedule, start, minutes)


def seed(ctx):
    from crm.models import Team
    from support.models import (
        BusinessCalendar,
        BusinessHours,
        CannedReply,
        CsatSurvey,
        Holiday,
        Queue,
        QueueAgent,
        SLAPolicy,
        Tag,
        Ticket,
        TicketMessage,
    )

    rng, now = ctx.rng, ctx.now
    team, _ = Team.objects.get_or_create(name="Support")
    agents = [u.pk for u in ctx.agents] or [ctx.users["agent"].pk]

    calendar = BusinessCalendar.objects.create(
        name="Support hours (Berlin)", time_zone="Europe/Berlin"
    )
    ctx.bulk_create(
        BusinessHours,
        [
            BusinessHours(calendar=calendar, weekday=d, opens=dt.time(8), closes=dt.time(18))
            for d in range(5)
        ],
    )
    years = range(now.year - 2, now.year + 2)
    ctx.bulk_create(
        Holiday,
        [
            Holiday(calendar=calendar, date=dt.date(y, m, d), name=name)
            for y in years
            for m, d, name in HOLIDAYS
        ],
    )
    schedule = sla.Schedule.build(
        "Europe/Berlin",
        {d: [(8 * 60, 18 * 60)] for d in range(5)},
        [dt.date(y, m, d) for y in years for m, d, _ in HOLIDAYS],
    )
    clock = BusinessClock(
        schedule, (now - dt.timedelta(days=800)).date(), (now + dt.timedelta(days=60)).date()
    )
    add_business_minutes = clock.add_minutes
    policies = {
        p: SLAPolicy.objects.create(
            name=f"{Priority(p).label} priority",
            priority=p,
            calendar=calendar,
            first_response_minutes=first,
            resolution_minutes=resolution,
        )
        for p, (first, resolution) in TARGETS.items()
    }
    queues = [
        Queue.objects.create(
            name="General",
            team=team,
            is_default=True,
            email_address="support@demo.example.com",
            assignment_mode=AssignmentMode.ROUND_ROBIN,
        ),
        Queue.objects.create(
            name="Billing",
            team=team,
            email_address="billing@demo.example.com",
            assignment_mode=AssignmentMode.LEAST_OPEN,
        ),
        Queue.objects.create(
            name="Technical", team=team, assignment_mode=AssignmentMode.ROUND_ROBIN
        ),
    ]
    ctx.bulk_create(
        QueueAgent, [QueueAgent(queue=q, user_id=a, on_shift=True) for q in queues for a in agents]
    )
    ctx.bulk_create(
        CannedReply,
        [
            CannedReply(
                title="Ask for a screenshot",
                body="Hello {{ contact.first_name }},\n\nthank you for your message about "
                "{{ ticket.reference }}. Could you send us a screenshot of what you see?\n\n"
                "Best regards,\n{{ agent.name }}",
            ),
            CannedReply(
                title="Solved — please confirm",
                body="Hello {{ contact.first_name }},\n\nwe believe this is solved now. If "
                "anything is still not right, just reply to this email.\n\n{{ agent.name }}",
            ),
            CannedReply(
                title="Billing hand-over",
                body="Hello {{ contact.first_name }},\n\nI have passed your question to our "
                "billing team for {{ account.name }}; they will reply within one business "
                "day.\n\n{{ agent.name }}",
            ),
        ],
    )
    tags = ctx.bulk_create(
        Tag, [Tag(name=n) for n in ("vip", "refund", "outage", "bug", "how-to", "onboarding")]
    )

    core = ctx.shared.get("crm")
    if core is None or not len(core.contact_ids):
        ctx.progress("no contacts to open tickets for; skipped tickets")
        return
    n_tickets = ctx.count(1000)
    ticket_ids = ctx.reserve_ids(Ticket, n_tickets)
    contact_ids = core.contact_ids
    messages, surveys, tagged = [], [], []

    ago: dict[int, dt.datetime] = {}

    def business_ago(minutes: int) -> dt.datetime:
        # A few thousand distinct whole minutes at most, whatever the number of tickets.
        if minutes not in ago:
            ago[minutes] = _business_ago(schedule, now, minutes)
        return ago[minutes]

    categories = Category.values  # read once: built anew on every read

    def ticket_rows():
        for pk in ticket_ids:
            index = rng.randrange(len(contact_ids))
            contact_id = contact_ids[index]
            account_id = core.contact_account[index] or None
            created = days_ago(rng, now, 730)
            age_days = (now - created).total_seconds() / 86400
            priority = pick_weighted(
                rng,
                [
                    (Priority.LOW, 20),
                    (Priority.NORMAL, 55),
                    (Priority.HIGH, 20),
                    (Priority.URGENT, 5),
                ],
            )
            if age_days > 21:
                status = pick_weighted(rng, [(TicketStatus.CLOSED, 80), (TicketStatus.SOLVED, 20)])
            else:
                status = pick_weighted(
                    rng,
                    [
                        (TicketStatus.NEW, 15),
                        (TicketStatus.OPEN, 35),
                        (TicketStatus.PENDING, 15),
                        (TicketStatus.ON_HOLD, 5),
                        (TicketStatus.SOLVED, 20),
                        (TicketStatus.CLOSED, 10),
                    ],
                )
            active = status not in (TicketStatus.SOLVED, TicketStatus.CLOSED)
            first_target, resolution_target = TARGETS[priority]
            late = False
            if active:
                # The desk keeps up: an open ticket is mostly well inside its target (the first
                # response's while unanswered, else the resolution's), a few are past it.
                late = rng.random() < LATE_SHARE
                target = first_target if status == TicketStatus.NEW else resolution_target
                share = rng.uniform(1.1, 2.5) if late else rng.uniform(0.05, 0.75)
                created = business_ago(round(target * share))
            fr_due = add_business_minutes(created, first_target)
            res_due = add_business_minutes(created, resolution_target)
            fr_warn = res_warn = None
            if active:
                fr_warn = add_business_minutes(created, first_target * WARN_AT)
                res_warn = add_business_minutes(created, resolution_target * WARN_AT)
            responded = None
            if status != TicketStatus.NEW:
                # Mostly in time, sometimes late: the demo has breaches to show.
                factor = rng.choice([0.2, 0.4, 0.6, 0.9, 1.4]) if rng.random() < 0.9 else 3
                if active and not late:
                    factor = min(factor, 0.9)
                responded = add_business_minutes(created, first_target * factor)
                if responded > now:
                    responded = created + (now - created) / 2 if active else None
            resolved = None
            if not active:
                factor = rng.choice([0.3, 0.5, 0.8, 1.0, 1.6])
                resolved = add_business_minutes(created, resolution_target * factor)
                resolved = min(resolved, now)
                responded = responded or resolved
            paused_at = (
                now - dt.timedelta(hours=rng.randrange(1, 48))
                if status == TicketStatus.PENDING
                else None
            )
            due = None
            if active and paused_at is None:
                due = fr_due if responded is None else res_due
            fr_breached = (responded or now) > fr_due if (responded or active) else False
            res_breached = (resolved or now) > res_due if (resolved or active) else False
            assignee = (
                rng.choice(agents) if (status != TicketStatus.NEW or rng.random() < 0.6) else None
            )
            queue = queues[0 if rng.random() < 0.6 else rng.randrange(1, 3)]
            subject = rng.choice(SUBJECTS)
            updated = resolved or responded or created
            yield (
                pk, Ticket.reference_for(pk), subject, "Hello,\n\n" + subject.lower() + ". Please help.",
                account_id, contact_id,
                pick_weighted(rng, [(Channel.EMAIL, 50), (Channel.WEB_FORM, 30), (Channel.PHONE, 12), (Channel.CHAT, 8)]),
                priority, status, rng.choice(categories), queue.pk, assignee,
                policies[priority].pk, fr_due, res_due, fr_warn, res_warn, due, responded, resolved,
                fr_breached, res_breached, paused_at,
                # Past targets are marked warned/escalated, so the beat task does not mail about
                # two years of history on the first run.
                fr_due if (active and responded is None and fr_due < now) else None,
                res_due if (active and res_due < now) else None,
                fr_due if (active and responded is None and fr_due < now) else None,
                res_due if (active and res_due < now) else None,
                created, updated, updated if status == TicketStatus.CLOSED else None,
            )  # fmt: skip
            _thread(pk, contact_id, assignee or agents[0], created, responded, resolved)
            if rng.random() < 0.15:
                tagged.append((pk, rng.choice(tags).pk))
            if status in (TicketStatus.SOLVED, TicketStatus.CLOSED) and rng.random() < 0.6:
                answered = resolved + dt.timedelta(hours=rng.randrange(1, 72))
                answer = rng.random() < 0.6 and answered < now
                rating = pick_weighted(rng, [(5, 45), (4, 30), (3, 12), (2, 7), (1, 6)])
                surveys.append((
                    pk, f"demo-{pk}", rating if answer else None,
                    rng.choice(["", "", "Fast and friendly.", "Took too long."]) if answer else "",
                    resolved, answered if answer else None,
                ))  # fmt: skip

    def _thread(pk, contact_id, agent_id, created, responded, resolved):
        if responded is not None:
            messages.append((pk, MessageKind.REPLY, agent_id, None, rng.choice(REPLIES), responded))
            if rng.random() < 0.5:
                at = responded + dt.timedelta(hours=rng.randrange(1, 30))
                if at < (resolved or ctx.now):
                    messages.append(
                        (pk, MessageKind.REPLY, None, contact_id, rng.choice(CUSTOMER), at)
                    )
        if rng.random() < 0.25:
            at = created + dt.timedelta(minutes=rng.randrange(5, 120))
            messages.append(
                (pk, MessageKind.NOTE, agent_id, None, rng.choice(NOTES), min(at, ctx.now))
            )

    fields = [
        "id",
        "reference",
        "subject",
        "description",
        "account_id",
        "contact_id",
        "channel",
        "priority",
        "status",
        "category",
        "queue_id",
        "assignee_id",
        "sla_policy_id",
        "first_response_due_at",
        "resolution_due_at",
        "first_response_warn_at",
        "resolution_warn_at",
        "sla_due_at",
        "first_responded_at",
        "resolved_at",
        "first_response_breached",
        "resolution_breached",
        "sla_paused_at",
        "first_response_warned_at",
        "resolution_warned_at",
        "first_response_escalated_at",
        "resolution_escalated_at",
        "created_at",
        "updated_at",
        "closed_at",
    ]
    # Run the deferred foreign-key checks of the rows above now: PostgreSQL refuses to drop the
    # tickets' foreign keys (indexes_deferred) while checks on their targets are pending.
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with ctx.indexes_deferred(Ticket, TicketMessage, when=n_tickets >= 50_000):
        ctx.insert_rows(Ticket, fields, ticket_rows(), order_by="created_at")
        ctx.insert_rows(
            TicketMessage,
            ["ticket_id", "kind", "author_user_id", "author_contact_id", "body", "created_at"],
            messages,
        )
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")  # as Django's keys are declared
    ctx.insert_rows(Ticket.tags.through, ["ticket_id", "tag_id"], dict.fromkeys(tagged).keys())
    ctx.insert_rows(
        CsatSurvey, ["ticket_id", "token", "rating", "comment", "sent_at", "answered_at"], surveys
    )
