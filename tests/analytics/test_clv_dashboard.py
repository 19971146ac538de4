"""The CLV dashboard against stored values worked by hand, and the refit button and task.

Latest fit's values:
  A1 (rep)       champions    historical 1,000  predicted 500   P(alive) 0.9
  A2 (rep)       champions    historical 3,000  predicted 1,500 P(alive) 0.7
  A3 (rep2)      hibernating  historical 200    predicted 10    P(alive) 0.1
  A4 (outsider)  champions    historical 9,999  predicted 9,999 P(alive) 0.95
Leads converted: A1 ← campaign C; A2 ← C (January) then D (February); A3 ← D.
Campaign C cost 900, D cost 100.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics import rollups, services, tasks
from analytics.choices import RFMSegment
from analytics.models import CLVFit, JobLock
from crm.choices import Role
from crm.models import Account
from leads.choices import LeadStatus
from tests.analytics.helpers import (
    at,
    by,
    count_queries,
    every_account,
    figure_rows,
    rows_of_every_figure,
    segment_of,
)
from tests.factories.analytics import CLVFitFactory, CustomerValueFactory
from tests.factories.crm import AccountFactory, ContactFactory, UserFactory
from tests.factories.leads import CampaignFactory, LeadFactory

URL = reverse("analytics:clv")
REFIT = reverse("analytics:clv_refit")


def value(fit, account, segment, historical, predicted, p_alive):
    return CustomerValueFactory(
        fit=fit,
        account=account,
        first_purchase=dt.date(2025, 1, 1),
        frequency=2,
        recency=10,
        T=50,
        monetary=Decimal("100"),
        historical_value=Decimal(historical),
        p_alive=p_alive,
        expected_purchases_12m=1.0,
        expected_value_12m=Decimal(predicted),
        rfm_score="555",
        rfm_segment=segment,
    )


def converted(account, campaign, day):
    LeadFactory(
        owner=account.owner,
        campaign=campaign,
        status=LeadStatus.CONVERTED,
        converted_account=account,
        converted_at=at(day),
    )


@pytest.fixture
def values(rep, rep2, manager):
    outsider = UserFactory(username="outsider", roles=[Role.SALES_REP])
    fit = CLVFit.objects.create(
        observation_end=dt.date(2026, 3, 31), customers=4, parameters={"bgnbd": {}}
    )
    a1, a2 = AccountFactory(name="A1", owner=rep), AccountFactory(name="A2", owner=rep)
    a3, a4 = AccountFactory(name="A3", owner=rep2), AccountFactory(name="A4", owner=outsider)
    champions, hibernating = RFMSegment.CHAMPIONS, RFMSegment.HIBERNATING
    value(fit, a1, champions, "1000", "500", 0.9)
    value(fit, a2, champions, "3000", "1500", 0.7)
    value(fit, a3, hibernating, "200", "10", 0.1)
    value(fit, a4, champions, "9999", "9999", 0.95)
    c = CampaignFactory(name="C", cost=Decimal("900"))
    d = CampaignFactory(name="D", cost=Decimal("100"))
    converted(a1, c, "2026-01-10")
    converted(a2, c, "2026-01-15")
    converted(a2, d, "2026-02-15")
    converted(a3, d, "2026-02-20")
    rollups.snapshot_refresh("customer_values")


def test_value_by_segment(manager_client, values):
    rows = by(figure_rows(manager_client.get(URL), "segments"), "segment")
    # Champions: A1 + A2 → historical 4,000, predicted 2,000, mean P(alive) (0.9 + 0.7) / 2 = 80 %.
    assert rows["Champions"] == {
        "segment": "Champions",
        "customers": 2,
        "historical": Decimal("4000.00"),
        "predicted": Decimal("2000.00"),
        "p_alive": 80.0,
    }
    assert rows["Hibernating"]["p_alive"] == 10.0


def test_top_accounts_and_p_alive_distribution(manager_client, values):
    response = manager_client.get(URL)
    assert [r["account"] for r in figure_rows(response, "top_accounts")] == ["A2", "A1", "A3"]
    buckets = {r["bucket"]: r["customers"] for r in figure_rows(response, "p_alive")}
    # 0.1 → 0–20 %, 0.7 → 60–80 %, 0.9 → 80–100 %.
    assert buckets == {"0–20 %": 1, "20–40 %": 0, "40–60 %": 0, "60–80 %": 1, "80–100 %": 1}


def test_clv_against_acquisition_cost(manager_client, values):
    rows = by(figure_rows(manager_client.get(URL), "clv_cac"), "campaign")
    # C: A1 and A2 (A2's first campaign) → CLV (1,500 + 4,500) / 2 = 3,000; cost 900 / 2 = 450;
    # 3,000 / 450 = 6.67.
    assert (rows["C"]["customers"], rows["C"]["avg_clv"], rows["C"]["cac"]) == (
        2,
        Decimal("3000.00"),
        Decimal("450.00"),
    )
    assert rows["C"]["ratio"] == 6.67
    # D: A3 only → 210 / 100 = 2.1.
    assert (rows["D"]["customers"], rows["D"]["avg_clv"], rows["D"]["ratio"]) == (
        1,
        Decimal("210.00"),
        2.1,
    )


def test_rep_sees_own_accounts(rep_client, values):
    rows = figure_rows(rep_client.get(URL), "top_accounts")
    assert [r["account"] for r in rows] == ["A2", "A1"]


def test_agents_cannot_open_it(agent_client, values):
    assert agent_client.get(URL).status_code == 404


def test_manager_refit_queues_one_task(manager_client, values, monkeypatch,
                                       django_capture_on_commit_callbacks):  # fmt: skip
    queued = []
    monkeypatch.setattr(tasks.clv_refit, "delay", lambda: queued.append(1))
    with django_capture_on_commit_callbacks(execute=True):
        response = manager_client.post(REFIT)
    assert response.status_code == 302 and queued == [1]
    # While a fit runs, the button queues nothing.
    JobLock.objects.filter(name=services.CLV_REFIT).update(running_since=timezone.now())
    with django_capture_on_commit_callbacks(execute=True):
        manager_client.post(REFIT)
    assert queued == [1]
    assert "Refit running" in manager_client.get(URL).content.decode()


def test_a_refit_whose_message_was_lost_or_whose_worker_died_is_started_by_the_sweep(
    manager, values, monkeypatch, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(tasks.clv_refit, "delay", lambda: queued.append(1))
    # Given a refit a manager asked for, whose message never reached a worker
    with django_capture_on_commit_callbacks(execute=False):
        assert services.clv_refit_request(user=manager)
    assert services.jobs_sweep() == 0  # just asked: its own message may be on the way
    later = timezone.now() + dt.timedelta(minutes=1)
    assert services.jobs_sweep(now=later) == 1 and queued == [1]

    # And a fit whose worker was killed: its lease ran out
    services.job_claim(services.CLV_REFIT)
    JobLock.objects.filter(name=services.CLV_REFIT).update(
        lease_until=timezone.now() - dt.timedelta(seconds=1)
    )
    assert not services.clv_refit_status().is_running
    assert services.jobs_sweep() == 1 and queued == [1, 1]
    lock = services.clv_refit_status()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.jobs_retry(lock.pk)
    assert queued == [1, 1, 1]

    # Once a run has fitted (or explained why not), there is nothing to sweep
    tasks.clv_refit.run()
    assert services.jobs_sweep(now=later) == 0 and services.jobs_problems(10) == []


def test_reps_cannot_refit(rep_client):
    assert rep_client.post(REFIT).status_code == 404
    assert rep_client.get(REFIT).status_code == 405


def test_agents_cannot_refit(agent_client):
    assert agent_client.post(REFIT).status_code == 404


def test_refit_task_runs_one_fit_at_a_time(db, monkeypatch):
    fits = []

    def fake_fit():
        fits.append(1)
        # A second run while this one holds the job does nothing.
        assert services.clv_refit_run() is None
        return CLVFit.objects.create(observation_end=dt.date.today(), customers=0, parameters={})

    monkeypatch.setattr("analytics.clv.orders.fit_from_orders", fake_fit)
    fit_id = tasks.clv_refit.run()
    assert fits == [1] and CLVFit.objects.filter(pk=fit_id).exists()
    assert JobLock.objects.get(name=services.CLV_REFIT).running_since is None


def test_refit_without_orders_is_skipped_and_explained(db):
    assert tasks.clv_refit.run() is None
    lock = JobLock.objects.get(name=services.CLV_REFIT)
    assert lock.running_since is None and "no orders" in lock.last_error


def test_query_count_is_fixed_at_3_and_60_customers(manager_client, rep):
    fit = CLVFitFactory(observation_end=dt.date(2026, 3, 31), customers=0, parameters={})
    campaign = CampaignFactory()

    def add(n):
        for _ in range(n):
            account = AccountFactory(owner=rep)
            value(fit, account, RFMSegment.LOYAL, "100", "50", 0.5)
            converted(account, campaign, "2026-01-01")

    add(3)
    small = count_queries(manager_client, URL)
    add(57)
    assert count_queries(manager_client, URL) == small <= 20


def test_campaign_of_the_first_won_deal_when_no_lead_was_converted(manager_client, rep):
    """A1 (value 1,000 + 500) has no converted lead; its first won deal came from campaign E
    (cost 300): one customer, CLV 1,500, acquisition cost 300, ratio 5."""
    from tests.factories.sales import OpportunityFactory, stage_named

    fit = CLVFitFactory(observation_end=dt.date(2026, 3, 31), customers=1, parameters={})
    account = AccountFactory(name="A1", owner=rep)
    value(fit, account, RFMSegment.LOYAL, "1000", "500", 0.9)
    campaign = CampaignFactory(name="E", cost=Decimal("300"))
    OpportunityFactory(
        owner=rep, account=account, stage=stage_named("Closed won"), campaign=campaign
    )
    rollups.snapshot_refresh("customer_values")
    rows = figure_rows(manager_client.get(URL), "clv_cac")
    assert [(r["campaign"], r["avg_clv"], r["cac"], r["ratio"]) for r in rows] == [
        ("E", Decimal("1500.00"), Decimal("300.00"), 5.0)
    ]


# With a segment: A1 and A3 are German; the figures sum only their customer values, live.


@pytest.fixture
def german(values, manager):
    Account.objects.update(country="FR")
    Account.objects.filter(name__in=["A1", "A3"]).update(country="DE")
    return segment_of(manager, "account", ("country", "in", ["DE"]))


def test_segment_restricts_every_figure(manager_client, german):
    response = manager_client.get(URL, {"segment": german.pk})
    assert response.context["form"].errors == {}
    segments = by(figure_rows(response, "segments"), "segment")
    # Champions: A1 only → 1,000 / 500 / 90 %; Hibernating: A3 → 200 / 10 / 10 %.
    assert (segments["Champions"]["customers"], segments["Champions"]["historical"]) == (
        1,
        Decimal("1000.00"),
    )
    assert (segments["Champions"]["p_alive"], segments["Hibernating"]["p_alive"]) == (90.0, 10.0)
    assert [r["account"] for r in figure_rows(response, "top_accounts")] == ["A1", "A3"]
    buckets = {r["bucket"]: r["customers"] for r in figure_rows(response, "p_alive")}
    assert buckets == {"0–20 %": 1, "20–40 %": 0, "40–60 %": 0, "60–80 %": 0, "80–100 %": 1}
    cac = by(figure_rows(response, "clv_cac"), "campaign")
    # C: A1 alone → CLV 1,500, cost 900 → 1.67; D: A3 → 210 / 100 = 2.1.
    assert (cac["C"]["customers"], cac["C"]["avg_clv"], cac["C"]["cac"], cac["C"]["ratio"]) == (
        1,
        Decimal("1500.00"),
        Decimal("900.00"),
        1.67,
    )
    assert (cac["D"]["avg_clv"], cac["D"]["ratio"]) == (Decimal("210.00"), 2.1)
    page = response.content.decode()
    assert "computed live" in page and "Read from the rollup" not in page


def test_contact_segment_means_the_accounts_of_its_contacts(manager_client, values, manager):
    ContactFactory(account=Account.objects.get(name="A2"), title="VP Sales")
    vps = segment_of(manager, "contact", ("title", "contains", "VP"))
    response = manager_client.get(URL, {"segment": vps.pk})
    assert [r["account"] for r in figure_rows(response, "top_accounts")] == ["A2"]
    assert [r["campaign"] for r in figure_rows(response, "clv_cac")] == ["C"]


def test_segment_of_everything_agrees_with_the_rollups(manager_client, values, manager):
    everything = every_account(manager)
    assert rows_of_every_figure(manager_client.get(URL)) == rows_of_every_figure(
        manager_client.get(URL, {"segment": everything.pk})
    )


def test_segment_csv_export(manager_client, german):
    response = manager_client.get(URL, {"segment": german.pk, "export": "top_accounts"})
    lines = response.content.decode().splitlines()
    assert [line.split(",")[0] for line in lines[1:]] == ["A1", "A3"]


def test_segment_query_count_is_fixed(manager_client, german, manager):
    params = {"segment": german.pk}
    before = count_queries(manager_client, URL, params)
    fit = CLVFit.objects.get()
    for _ in range(5):
        value(fit, AccountFactory(owner=manager, country="DE"), "champions", "1", "1", 0.5)
    assert count_queries(manager_client, URL, params) == before
    # The segment adds the list of segments offered and the chosen one, no more (the live
    # figures replace the rollup reads one for one, and the freshness read goes).
    assert before <= count_queries(manager_client, URL) + 2
