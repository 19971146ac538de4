"""The nightly snapshot and the "over time" charts that read it.

Today: rep has two open deals, 1,000 in Qualification (10 %) and 2,000 in Proposal (40 %):
count 2, value 3,000, weighted 100 + 800 = 900. The desk has two open normal tickets assigned
to the agent and one new urgent ticket nobody has.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics import services, tasks
from analytics.choices import Metric
from analytics.models import DailyMetric, JobLock
from support.choices import Priority, TicketStatus
from tests.analytics.helpers import figure_rows
from tests.factories.crm import AccountFactory
from tests.factories.sales import OpportunityFactory, stage_named
from tests.factories.support import TicketFactory


@pytest.fixture
def today_data(rep, agent):
    account = AccountFactory(owner=rep)
    OpportunityFactory(owner=rep, account=account, stage=stage_named("Qualification"),
                       amount=Decimal("1000"))  # fmt: skip
    OpportunityFactory(owner=rep, account=account, stage=stage_named("Proposal"),
                       amount=Decimal("2000"))  # fmt: skip
    TicketFactory.create_batch(2, assignee=agent, priority=Priority.NORMAL)
    TicketFactory(priority=Priority.URGENT, status=TicketStatus.NEW)
    TicketFactory(priority=Priority.HIGH, status=TicketStatus.SOLVED)  # not backlog


def metric(name, **filters):
    return DailyMetric.objects.filter(metric=name, **filters)


def test_snapshot_records_pipeline_and_backlog_per_owner(rep, agent, today_data):
    written = tasks.daily_snapshots.run()
    # 3 pipeline metrics for rep + tickets: (agent, open:normal) and (nobody, new:urgent).
    assert written == 5
    day = timezone.localdate()
    assert metric(Metric.PIPELINE_OPEN_VALUE, owner=rep, date=day).get().value == Decimal("3000")
    assert metric(Metric.PIPELINE_WEIGHTED, owner=rep).get().value == Decimal("900")
    assert metric(Metric.PIPELINE_OPEN_COUNT, owner=rep).get().value == 2
    assert metric(Metric.TICKETS_ACTIVE, owner=agent, dimension="open:normal").get().value == 2
    assert metric(Metric.TICKETS_ACTIVE, owner=None, dimension="new:urgent").get().value == 1


def test_a_rerun_the_same_day_leaves_one_set(today_data):
    tasks.daily_snapshots.run()
    tasks.daily_snapshots.run()
    assert DailyMetric.objects.count() == 5


def test_a_run_while_another_holds_the_job_does_nothing(today_data):
    services.job_claim(services.DAILY_SNAPSHOTS)
    assert tasks.daily_snapshots.run() is None
    assert not DailyMetric.objects.exists()
    # A claim whose lease ran out belongs to a dead worker: the next run takes over.
    JobLock.objects.filter(name=services.DAILY_SNAPSHOTS).update(
        lease_until=timezone.now() - dt.timedelta(seconds=1)
    )
    assert tasks.daily_snapshots.run() == 5


def test_a_run_killed_mid_way_is_started_again_by_the_sweep(today_data, monkeypatch):
    from crm.registry import work

    woken = []
    monkeypatch.setattr(tasks.daily_snapshots, "delay", lambda: woken.append("snapshots"))
    # Given a run whose worker died: claimed, never released
    claimed_at = services.job_claim(services.DAILY_SNAPSHOTS)
    lock = JobLock.objects.get(name=services.DAILY_SNAPSHOTS)
    assert lock.is_running and lock.lease_owner
    assert lock.lease_until == claimed_at + services.LEASES[services.DAILY_SNAPSHOTS]
    assert services.jobs_sweep() == 0 and services.jobs_problems(10) == []

    # When its lease has run out, the sweep starts the job again
    JobLock.objects.filter(pk=lock.pk).update(lease_until=timezone.now() - dt.timedelta(seconds=1))
    lock.refresh_from_db()
    assert not lock.is_running
    [problem] = services.jobs_problems(10)
    assert "worker died" in problem.state
    assert work.get("analytics_jobs").call("sweep") == 1 and woken == ["snapshots"]

    # Then the run it woke takes the job over, once, and nothing is left to sweep
    assert tasks.daily_snapshots.run() == 5
    assert services.jobs_sweep() == 0 and services.jobs_problems(10) == []
    lock.refresh_from_db()
    assert (lock.running_since, lock.lease_owner, lock.lease_until) == (None, "", None)


def test_pipeline_over_time_for_the_manager(manager_client, today_data):
    tasks.daily_snapshots.run()
    yesterday = timezone.localdate() - dt.timedelta(days=1)
    services.daily_snapshots_take(day=yesterday)
    rows = figure_rows(manager_client.get(reverse("analytics:pipeline")), "pipeline_history")
    # Two days, each 2 deals worth 3,000, weighted 900.
    assert [(r["deals"], r["value"], r["weighted"]) for r in rows] == [
        (2, Decimal("3000"), Decimal("900")),
    ] * 2
    assert rows[0]["date"] == yesterday.isoformat()


def test_backlog_over_time_for_an_agent(agent_client, today_data):
    tasks.daily_snapshots.run()
    rows = figure_rows(agent_client.get(reverse("analytics:support")), "backlog_history")
    # Normal 2 (the agent's) + urgent 1 (nobody's) = 3.
    assert len(rows) == 1
    assert (rows[0]["normal"], rows[0]["urgent"], rows[0]["total"]) == (2, 1, 3)


def test_the_manager_sees_only_their_peoples_backlog_history(manager_client, today_data):
    tasks.daily_snapshots.run()
    rows = figure_rows(manager_client.get(reverse("analytics:support")), "backlog_history")
    assert rows == []  # the agent is not in the manager's team


def test_a_rep_sees_no_other_reps_pipeline_history(client, rep2, today_data):
    tasks.daily_snapshots.run()
    client.force_login(rep2)
    assert figure_rows(client.get(reverse("analytics:pipeline")), "pipeline_history") == []


def test_backfill_reconstructs_past_days_once(rep):
    """Deal X (1,000) opened 8 days ago and is still open; deal Y (2,000) opened 6 days ago and
    was won 3 days ago at noon. Open at the end of day −4: X + Y = 3,000; day −2: X alone;
    day −9: nothing."""
    today = timezone.localdate()

    def noon(days_ago):
        return timezone.make_aware(
            dt.datetime.combine(today - dt.timedelta(days=days_ago), dt.time(12))
        )

    account = AccountFactory(owner=rep)
    x = OpportunityFactory(owner=rep, account=account, amount=Decimal("1000"))
    y = OpportunityFactory(owner=rep, account=account, stage=stage_named("Closed won"),
                           amount=Decimal("2000"))  # fmt: skip
    type(x).objects.filter(pk=x.pk).update(created_at=noon(8))
    type(y).objects.filter(pk=y.pk).update(created_at=noon(6), closed_at=noon(3))
    assert services.daily_snapshots_backfill(days=10, today=today) > 0

    def value(days_ago):
        row = metric(Metric.PIPELINE_OPEN_VALUE, date=today - dt.timedelta(days=days_ago)).first()
        return row.value if row else None

    assert (value(4), value(2), value(9)) == (Decimal("3000"), Decimal("1000"), None)
    assert services.daily_snapshots_backfill(days=10, today=today) == 0


def test_the_snapshot_values_open_deals_in_the_company_currency(rep, admin, settings):
    from crm.services.currencies import exchange_rate_set

    settings.COMPANY_CURRENCY = "EUR"
    today = timezone.localdate()
    # USD is worth 0.90 EUR from 30 days ago and 0.80 EUR from 10 days ahead; GBP has no rate.
    exchange_rate_set(
        user=admin, currency="USD", valid_from=today - dt.timedelta(days=30), rate="0.90"
    )
    exchange_rate_set(
        user=admin, currency="USD", valid_from=today + dt.timedelta(days=10), rate="0.80"
    )
    account = AccountFactory(owner=rep)
    proposal = stage_named("Proposal")  # 40 %
    OpportunityFactory(owner=rep, account=account, stage=proposal, amount=Decimal("1000"),
                       currency="EUR", expected_close_date=None)  # fmt: skip
    OpportunityFactory(owner=rep, account=account, stage=proposal, amount=Decimal("1000"),
                       currency="USD", expected_close_date=None)  # fmt: skip
    OpportunityFactory(owner=rep, account=account, stage=proposal, amount=Decimal("1000.05"),
                       currency="USD", expected_close_date=today + dt.timedelta(days=20))  # fmt: skip
    OpportunityFactory(owner=rep, account=account, stage=proposal, amount=Decimal("500"),
                       currency="GBP", expected_close_date=None)  # fmt: skip

    tasks.daily_snapshots.run()

    # By hand: EUR 1,000 + USD 1,000 × 0.90 (today's rate, no expected close date) + USD
    # 1,000.05 × 0.80 (its expected close date's rate: 800.04) = 2,700.04; GBP left out.
    # Weighted at 40 %: 400 + 360 + 320.016 = 1,080.02.
    assert metric(Metric.PIPELINE_OPEN_VALUE, owner=rep).get().value == Decimal("2700.04")
    assert metric(Metric.PIPELINE_WEIGHTED, owner=rep).get().value == Decimal("1080.02")
    assert metric(Metric.PIPELINE_OPEN_COUNT, owner=rep).get().value == 4
