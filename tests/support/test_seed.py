import datetime as dt
import io

import pytest

from crm.seeding import SeedContext, demo_users_create, seed_core
from support.choices import Channel, Priority, TicketStatus
from support.models import CsatSurvey, Ticket, TicketMessage
from support.seed import seed
from support.services.escalations import sla_watch_run

pytestmark = pytest.mark.django_db


def test_seed_makes_a_working_desk_with_history_breaches_and_csat():
    users = demo_users_create(scale=1, password="demo")
    ctx = SeedContext(
        scale=0.3, users=users, now=dt.datetime(2026, 12, 16, tzinfo=dt.UTC), stdout=io.StringIO()
    )
    seed_core(ctx.for_step("crm"))
    seed(ctx.for_step("support"))
    tickets = Ticket.objects.all()
    assert tickets.count() == 300
    assert set(tickets.values_list("status", flat=True)) == set(TicketStatus.values)
    assert set(tickets.values_list("priority", flat=True)) == set(Priority.values)
    assert {Channel.EMAIL, Channel.WEB_FORM} <= set(tickets.values_list("channel", flat=True))
    assert tickets.filter(resolution_breached=True).exists()
    assert tickets.filter(status=TicketStatus.PENDING, sla_paused_at__isnull=False).exists()
    assert tickets.filter(reference=f"T-{tickets.order_by('pk').first().pk:06d}").exists()
    assert TicketMessage.objects.exists()
    assert CsatSurvey.objects.filter(rating__isnull=False).exists()
    first = tickets.order_by("pk").first()
    assert first.first_response_due_at > first.created_at
    # The beat task's first run does not act on two years of history, only on what is owed now.
    counts = sla_watch_run(now=ctx.now)
    assert counts["escalated"] <= tickets.filter(status__in=["new", "open", "on_hold"]).count()


def test_seed_makes_a_knowledge_base_whose_articles_answer_the_demo_tickets():
    from support import seed_kb
    from support.models import Article, HelpSearch
    from support.selectors import kb_report, public_article_search

    users = demo_users_create(scale=1, password="demo")
    ctx = SeedContext(
        scale=1, users=users, now=dt.datetime(2026, 12, 16, tzinfo=dt.UTC), stdout=io.StringIO()
    )
    seed_kb.seed(ctx.for_step("knowledge base"))
    assert Article.objects.public().count() >= 12
    assert set(Article.objects.values_list("status", flat=True)) == {
        "draft",
        "published",
        "archived",
    }
    assert Article.objects.filter(visibility="internal", status="published").exists()
    suggested = public_article_search("Cannot log in after password reset", any_word=True)
    assert suggested.first().title == "Reset your password"
    assert HelpSearch.objects.filter(results_count=0).exists()
    report = kb_report(days=90)
    assert report["no_result"] and report["funnel"]["deflected"] > 0


@pytest.mark.django_db(databases=[])
def test_the_seeds_business_clock_adds_as_the_sla_walk_does():
    """Bisecting the intervals gives the instant walking them gives: across weekends, holidays
    and the changes of daylight-saving time, from inside and outside working hours, for whole
    and fractional minutes, and past the clock's span."""
    import random

    from support import sla
    from support.seed import HOLIDAYS, BusinessClock

    years = range(2025, 2028)
    schedule = sla.Schedule.build(
        "Europe/Berlin",
        {d: [(8 * 60, 18 * 60)] for d in range(5)},
        [dt.date(y, m, d) for y in years for m, d, _ in HOLIDAYS],
    )
    clock = BusinessClock(schedule, dt.date(2025, 1, 1), dt.date(2026, 12, 31))
    rng = random.Random(7)
    edges = [
        dt.datetime(
            2026, 3, 27, 17, tzinfo=dt.UTC
        ),  # Friday 18:00 in Berlin, before the DST change
        dt.datetime(2026, 10, 23, 16, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 24, 7, tzinfo=dt.UTC),  # Thursday 08:00, then two holidays
        dt.datetime(2025, 1, 1, tzinfo=dt.UTC),  # the clock's first day
        dt.datetime(2026, 12, 30, 12, tzinfo=dt.UTC),  # runs past its last day
    ]
    starts = edges + [
        dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
        + dt.timedelta(seconds=rng.randrange(730 * 86400), microseconds=rng.randrange(10**6))
        for _ in range(5000)
    ]
    for start in starts:
        for minutes in (0, 1, 30, 600, 2400, rng.choice([0.5, 27.3, 216.6, 4320 * 0.8])):
            assert clock.add_minutes(start, minutes) == sla.add_business_minutes(
                schedule, start, minutes
            ), (start, minutes)
