"""The dashboards' rollups: they equal the same figures computed over the records, a refresh
picks up what changed and leaves one set of rows however often it runs."""

import datetime as dt
import random
from decimal import Decimal

import pytest
from django.db.models import Count, F, Min, Q, Sum, Value
from django.urls import reverse
from django.utils import timezone

from analytics import rollups, services
from analytics.choices import Audience
from analytics.models import (
    AccountTicketsDay,
    DealDay,
    LeadDay,
    RollupState,
    StageDay,
    SupportDay,
)
from analytics.sql import Seconds
from analytics.sql import percentiles as live_percentiles
from crm.choices import ActivityKind, Role
from leads.choices import LeadSource, LeadStatus
from leads.models import Lead
from sales.choices import StageKind
from sales.models import Opportunity, StageChange
from support.choices import Priority, TicketStatus
from support.models import Ticket
from tests.analytics.helpers import by, figure_rows
from tests.factories.crm import (
    AccountFactory,
    ActivityFactory,
    ContactFactory,
    TeamFactory,
    UserFactory,
)
from tests.factories.leads import CampaignFactory, LeadFactory
from tests.factories.sales import OpportunityFactory, stage_named
from tests.factories.support import QueueFactory, SLAPolicyFactory, TicketFactory

TODAY = timezone.localdate()


def moment(days_ago: int, hour: int = 10) -> dt.datetime:
    return timezone.make_aware(
        dt.datetime.combine(TODAY - dt.timedelta(days=days_ago), dt.time(hour))
    )


def rows_of(model) -> list[tuple]:
    """Every rollup row as comparable values (ids and dates included, primary keys not)."""
    fields = [f.attname for f in model._meta.concrete_fields if f.name != "id"]
    return sorted(
        tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
        for row in model.objects.values_list(*fields)
    )


@pytest.fixture
def world(rep, rep2, manager):
    """A few dozen leads, deals and tickets over the last three weeks, spread at random (with
    a fixed seed) over owners, sources, statuses, priorities and outcomes."""
    rng = random.Random(7)
    outsider = UserFactory(username="outsider", roles=[Role.SALES_REP])
    agent = UserFactory(username="agent", roles=[Role.SUPPORT_AGENT])
    owners = [rep, rep2, outsider, None]
    campaigns = [CampaignFactory(), CampaignFactory(), None]
    for _ in range(40):
        status = rng.choice(LeadStatus.values)
        lead = LeadFactory(
            owner=rng.choice(owners),
            source=rng.choice(LeadSource.values),
            campaign=rng.choice(campaigns),
            status=status,
        )
        created = moment(rng.randrange(21), rng.randrange(8, 18))
        fields = {"created_at": created}
        if status == LeadStatus.CONVERTED:
            fields["converted_at"] = created + dt.timedelta(hours=rng.randrange(1, 200))
        Lead.objects.filter(pk=lead.pk).update(**fields)
        if rng.random() < 0.6:
            ActivityFactory(
                subject=lead,
                kind=ActivityKind.CALL,
                occurred_at=created + dt.timedelta(minutes=rng.randrange(5, 3000)),
            )
        if rng.random() < 0.4:
            OpportunityFactory(
                owner=lead.owner or rep,
                source_lead=lead,
                stage=stage_named(rng.choice(["Qualification", "Closed won"])),
            )
    stages = ["Qualification", "Discovery", "Proposal", "Closed won", "Closed lost"]
    for _ in range(30):
        owner = rng.choice(owners[:3])
        deal = OpportunityFactory(
            owner=owner,
            stage=stage_named(rng.choice(stages)),
            amount=Decimal(rng.randrange(1, 90) * 100),
            campaign=rng.choice(campaigns),
        )
        created = moment(rng.randrange(15, 40))
        fields = {"created_at": created}
        if deal.status != StageKind.OPEN:
            fields["closed_at"] = moment(rng.randrange(14), rng.randrange(8, 18))
        Opportunity.objects.filter(pk=deal.pk).update(**fields)
        previous = None
        for step in range(rng.randrange(1, 4)):
            to = stage_named(rng.choice(stages[:3]))
            StageChange.objects.create(
                opportunity=deal,
                from_stage=previous,
                to_stage=to,
                changed_at=moment(12 - 3 * step),
                seconds_in_from_stage=rng.randrange(3600, 900000) if previous else None,
            )
            previous = to
    queue = QueueFactory(team=TeamFactory(name="Desk", managers=[manager]))
    policy = SLAPolicyFactory()
    for _ in range(40):
        created = moment(rng.randrange(21), rng.randrange(8, 18))
        replied = rng.random() < 0.8
        resolved = replied and rng.random() < 0.6
        account = AccountFactory(owner=rng.choice(owners))
        TicketFactory(
            contact=ContactFactory(account=account),
            account=account,
            priority=rng.choice(Priority.values),
            status=TicketStatus.SOLVED if resolved else TicketStatus.OPEN,
            assignee=rng.choice([agent, rep, outsider, None]),
            queue=queue if rng.random() < 0.3 else None,
            sla_policy=policy if rng.random() < 0.7 else None,
            created_at=created,
            first_responded_at=created + dt.timedelta(minutes=rng.randrange(1, 600))
            if replied
            else None,
            resolved_at=created + dt.timedelta(minutes=rng.randrange(600, 6000))
            if resolved
            else None,
            first_response_breached=rng.random() < 0.2,
        )
    return {"outsider": outsider, "agent": agent}


def test_lead_rollup_equals_the_leads(world):
    rollups.rollups_rebuild()
    live = {
        r["source"]: r
        for r in Lead.objects.values("source").annotate(
            leads=Count("id"),
            qualified=Count(
                "id", filter=Q(status__in=[LeadStatus.QUALIFIED, LeadStatus.CONVERTED])
            ),
            converted=Count("id", filter=Q(status=LeadStatus.CONVERTED)),
            with_deal=Count("id", filter=Q(opportunities__isnull=False), distinct=True),
        )
    }
    rolled = rollups.sum_rows(
        LeadDay.objects.all(), "source", ["leads", "qualified", "converted", "with_deal"]
    )
    assert set(rolled) == set(live)
    for source, row in live.items():
        assert rolled[source] == {k: v for k, v in row.items() if k != "source"}
    # Every lead's first touch is kept: the rollup's median is the records' median.
    touched = Q(
        activities__kind__in=[ActivityKind.CALL, ActivityKind.EMAIL, ActivityKind.MEETING],
        activities__actor__isnull=False,
    )
    touches = Lead.objects.annotate(first=Min("activities__occurred_at", filter=touched))
    live_median = live_percentiles(
        touches, Seconds(F("first"), F("created_at")) / Value(3600.0), {"median": 0.5}
    )[None]["median"]
    blobs = LeadDay.objects.values_list("touch_seconds", flat=True)
    assert rollups.percentiles(blobs, {"median": 0.5}, scale=3600.0)["median"] == pytest.approx(
        live_median
    )


def test_deal_rollup_equals_the_closed_deals(world):
    rollups.rollups_rebuild()
    closed = Opportunity.objects.exclude(status=StageKind.OPEN).filter(closed_at__isnull=False)
    live = {
        (r["owner_id"], r["status"]): (r["n"], r["amount"])
        for r in closed.values("owner_id", "status").annotate(n=Count("id"), amount=Sum("amount"))
    }
    rolled = {
        (r["owner_id"], r["status"]): (r["n"], r["amount"])
        for r in DealDay.objects.values("owner_id", "status").annotate(
            n=Sum("deals_count"), amount=Sum("amount")
        )
    }
    assert rolled == live


def test_support_rollup_counts_each_ticket_once_per_audience(world, manager):
    rollups.rollups_rebuild()
    tickets = Ticket.objects.filter(merged_into__isnull=True)
    for audience in Audience.ASSIGNEE, Audience.ACCOUNT_OWNER:
        rolled = SupportDay.objects.filter(audience=audience).aggregate(n=Sum("tickets"))["n"]
        assert rolled == tickets.count()
    # A manager's rows hold exactly the tickets Ticket.visible_to gives them (their team's
    # queue, their people's tickets and accounts).
    mine = SupportDay.objects.filter(audience=Audience.MANAGER, person=manager)
    assert mine.aggregate(n=Sum("tickets"))["n"] == tickets.visible_to(manager).count()
    fractions = {"median": 0.5, "p90": 0.9}
    live = live_percentiles(
        tickets, Seconds(F("first_responded_at"), F("created_at")), fractions, group_by="priority"
    )
    for priority, stats in live.items():
        blobs = SupportDay.objects.filter(
            audience=Audience.ASSIGNEE, priority=priority
        ).values_list("first_seconds", flat=True)
        assert rollups.percentiles(blobs, fractions) == pytest.approx(stats)


def test_support_dashboard_for_the_manager_counts_their_queue(client, manager, world):
    """The manager's team owns the queue: tickets in it count for them whoever works them."""
    rollups.rollups_rebuild()
    client.force_login(manager)
    rows = figure_rows(client.get(reverse("analytics:support")), "response_times")
    assert sum(r["tickets"] for r in rows) == Ticket.objects.visible_to(manager).count()


def test_a_deal_entering_a_stage_twice_in_the_range_counts_once(rep, manager_client):
    deal = OpportunityFactory(owner=rep, stage=stage_named("Discovery"))
    earlier = OpportunityFactory(owner=rep, stage=stage_named("Discovery"))
    qualification, discovery = stage_named("Qualification"), stage_named("Discovery")

    def change(opp, frm, to, days_ago):
        StageChange.objects.create(
            opportunity=opp, from_stage=frm, to_stage=to, changed_at=moment(days_ago),
            seconds_in_from_stage=86400 if frm else None,
        )  # fmt: skip

    # deal: into Qualification, on to Discovery, back, and on again, all in the range.
    change(deal, None, qualification, 10)
    change(deal, qualification, discovery, 8)
    change(deal, discovery, qualification, 6)
    change(deal, qualification, discovery, 4)
    # earlier: into Qualification long before the range, on to Discovery inside it.
    change(earlier, None, qualification, 200)
    change(earlier, qualification, discovery, 5)
    rollups.rollups_rebuild()
    rows = by(
        figure_rows(manager_client.get(reverse("analytics:pipeline")), "stage_conversion"), "stage"
    )
    # Qualification: entered by deal (once, though twice); moved on: deal and earlier.
    assert rows["New business · Qualification"]["entered"] == 1
    assert rows["New business · Qualification"]["advanced"] == 2
    assert rows["New business · Discovery"]["entered"] == 2
    assert StageDay.objects.aggregate(n=Sum("moves"))["n"] == 6


def test_a_refresh_picks_up_changes_and_a_rerun_changes_nothing(rep, manager_client):
    old = LeadFactory(owner=rep, source=LeadSource.REFERRAL)
    Lead.objects.filter(pk=old.pk).update(created_at=moment(30))
    assert rollups.rollups_refresh() is not None  # never filled: a full rebuild
    url = reverse("analytics:funnel")
    funnel = by(figure_rows(manager_client.get(url), "funnel"), "step")
    assert funnel["Leads"]["leads"] == 1 and funnel["Qualified"]["leads"] == 0
    # The month-old lead is qualified (its updated_at moves) and a new one arrives today.
    old.refresh_from_db()
    old.status = LeadStatus.QUALIFIED
    old.save(update_fields=["status", "updated_at"])
    LeadFactory(owner=rep, source=LeadSource.REFERRAL)
    rollups.rollups_refresh()
    funnel = by(figure_rows(manager_client.get(url), "funnel"), "step")
    assert (funnel["Leads"]["leads"], funnel["Qualified"]["leads"]) == (2, 1)
    before = rows_of(LeadDay)
    rollups.rollups_refresh()
    rollups.rollups_refresh()
    assert rows_of(LeadDay) == before
    rollups.rollups_rebuild()
    assert rows_of(LeadDay) == before


def test_a_run_while_another_holds_the_job_does_nothing(rep):
    LeadFactory(owner=rep)
    services.job_claim(rollups.ROLLUPS_JOB)
    assert rollups.rollups_refresh() is None
    assert not LeadDay.objects.exists()
    assert not RollupState.objects.exists()


def test_the_page_says_where_a_figure_comes_from_and_how_fresh(manager_client, rep):
    url = reverse("analytics:funnel")
    assert "not filled yet" in manager_client.get(url).content.decode()
    LeadFactory(owner=rep)
    rollups.rollups_refresh()
    as_of = timezone.localtime(RollupState.objects.get(name="leads").refreshed_at)
    html = manager_client.get(url).content.decode()
    assert f"refreshed every 15 minutes, as of {as_of:%Y-%m-%d %H:%M}" in html


def test_the_command_and_the_tasks_rebuild_and_refresh(rep, capsys):
    from django.core.management import call_command

    from analytics import tasks

    LeadFactory(owner=rep)
    call_command("rebuild_rollups")
    assert "leads: 1 rows written" in capsys.readouterr().out
    assert tasks.rollups_refresh.run()["leads"] == 1  # today's row, rewritten
    assert tasks.rollups_rebuild.run()["leads"] == 1
    assert LeadDay.objects.get().leads == 1


def test_open_snapshots_equal_what_is_open(world, manager):
    from analytics.models import OpenDeals, OpenTickets
    from support.choices import ACTIVE_STATUSES

    rollups.rollups_refresh()
    open_deals = Opportunity.objects.filter(status=StageKind.OPEN)
    live = {
        r["owner_id"]: (r["n"], r["amount"])
        for r in open_deals.values("owner_id").annotate(n=Count("id"), amount=Sum("amount"))
    }
    rolled = {
        r["owner_id"]: (r["n"], r["amount"])
        for r in OpenDeals.objects.values("owner_id").annotate(
            n=Sum("deals_count"), amount=Sum("amount")
        )
    }
    assert rolled == live
    slipped = open_deals.filter(expected_close_date__lt=TODAY).count()
    slipped_rows = OpenDeals.objects.filter(slipped=True).aggregate(n=Sum("deals_count"))["n"]
    assert (slipped_rows or 0) == slipped
    active = Ticket.objects.filter(status__in=ACTIVE_STATUSES, merged_into__isnull=True)
    mine = OpenTickets.objects.filter(audience=Audience.MANAGER, person=manager)
    assert mine.aggregate(n=Sum("tickets"))["n"] == active.visible_to(manager).count()
    everyone = OpenTickets.objects.filter(audience=Audience.ASSIGNEE)
    assert everyone.aggregate(n=Sum("tickets"))["n"] == active.count()


def test_account_rows_follow_the_tickets_visibility(world, manager, rep):
    from analytics.models import AccountTicketsDay

    rollups.rollups_rebuild()
    tickets = Ticket.objects.filter(merged_into__isnull=True, account__isnull=False)
    for user in (manager, rep, world["agent"]):
        rows = AccountTicketsDay.objects.visible_to(user)
        assert rows.aggregate(n=Sum("tickets"))["n"] == tickets.visible_to(user).count()


def test_accounts_tied_for_the_last_place_are_chosen_by_name(agent_client):
    """Twenty accounts with one ticket each, one with two: it comes first, then the first 14
    others by name."""
    accounts = [AccountFactory(name=f"Account {i:02d}") for i in range(20)]
    for account in accounts:
        TicketFactory(contact=ContactFactory(account=account), account=account)
    TicketFactory(contact=ContactFactory(account=accounts[19]), account=accounts[19])
    rollups.rollups_rebuild()
    rows = figure_rows(agent_client.get(reverse("analytics:support")), "per_account")
    assert [r["account"] for r in rows] == ["Account 19"] + [f"Account {i:02d}" for i in range(14)]
    assert rows[0]["tickets"] == 2


def test_a_large_rewrite_keeps_every_value(db):
    """Large writes go through COPY on PostgreSQL: durations and money come back as written."""
    rows = [
        LeadDay(date=TODAY, source=LeadSource.MANUAL, leads=i, touch_seconds=rollups.pack([i, 0.5]))
        for i in range(6000)
    ]
    rollups._insert(LeadDay, rows)
    assert LeadDay.objects.aggregate(n=Sum("leads"))["n"] == sum(range(6000))
    row = LeadDay.objects.get(leads=4321)
    assert list(rollups.unpack(row.touch_seconds)) == [4321.0, 0.5]
    rollups._insert(
        DealDay, [DealDay(date=TODAY, status=StageKind.WON, amount=Decimal("0.07"))] * 5000
    )
    total = DealDay.objects.aggregate(total=Sum("amount"))["total"]
    assert total == Decimal("350.00")


def test_the_busiest_accounts_are_found_among_the_busy_ones(agent_client):
    """In March: account 00 has 4 tickets, accounts 01–15 three, accounts 16–25 one. The
    leaders come from the accounts busy in March, the same as reading every account."""
    from analytics.dashboards import support

    march = timezone.make_aware(dt.datetime(2026, 3, 10, 12))
    accounts = [AccountFactory(name=f"Account {i:02d}") for i in range(26)]
    for i, account in enumerate(accounts):
        n = 4 if i == 0 else 3 if i <= 15 else 1
        for _ in range(n):
            TicketFactory(contact=ContactFactory(account=account), account=account,
                          created_at=march)  # fmt: skip
    rollups.rollups_rebuild()
    response = agent_client.get(
        reverse("analytics:support"), {"start": "2026-03-01", "end": "2026-03-31"}
    )
    rows = figure_rows(response, "per_account")
    assert [(r["account"], r["tickets"]) for r in rows] == [("Account 00", 4)] + [
        (f"Account {i:02d}", 3) for i in range(1, 15)
    ]
    scope = response.context["scope"]
    counts = (
        AccountTicketsDay.objects.filter(date__month=3)
        .values("account_id")
        .annotate(n=Sum("tickets"), n_active=Sum("active"), n_urgent=Sum("urgent"))
    )

    def by_account(rows):
        return sorted(rows, key=lambda r: r["account_id"])

    assert by_account(support._leading_accounts(scope, counts)) == by_account(support._top(counts))


def test_a_new_member_of_a_managers_team_counts_for_every_day_after_a_refresh(client, manager, rep):
    """A ticket of a month ago, assigned to someone outside the manager's team: not theirs.
    Once that person joins the team, the next refresh rewrites the manager's rows of every
    day, so the old ticket counts for the manager."""
    from crm.models import Team

    newcomer = UserFactory(username="newcomer", roles=[Role.SUPPORT_AGENT])
    TicketFactory(assignee=newcomer, created_at=moment(30))
    rollups.rollups_refresh()
    mine = SupportDay.objects.filter(audience=Audience.MANAGER, person=manager)
    assert not mine.exists()
    Team.objects.get(name="Sales").members.add(newcomer)
    rollups.rollups_refresh()
    assert mine.aggregate(n=Sum("tickets"))["n"] == 1
    before = rows_of(SupportDay)
    rebuilt = RollupState.objects.get(name="support").rebuilt_at
    rollups.rollups_refresh()  # nothing changed: the same rows, and no rewrite of every day
    assert rows_of(SupportDay) == before
    assert RollupState.objects.get(name="support").rebuilt_at == rebuilt
