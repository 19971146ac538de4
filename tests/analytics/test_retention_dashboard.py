"""The retention dashboard against a small ledger worked by hand (range Apr–Jun 2026).

Accounts of rep (rep2 for E), one subscription each:
  A new 100 on 2026-01-10, expansion +50 on 2026-04-15
  B new 200 on 2026-02-01, churn −200 on 2026-05-01 (churn event: price), ended 2026-05-01
  C new 300 on 2026-03-01, contraction −100 on 2026-06-01
  D new 80 on 2026-04-20;  E (rep2) new 20 on 2026-05-05
  the outsider's account: new 1,000 on 2026-01-01 (never counts for the manager)
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from analytics.rollups import rollups_rebuild
from crm.choices import Role
from crm.models import Account
from retention.choices import ChurnReason, HealthColour, MovementKind
from retention.models import HealthScore
from tests.analytics.helpers import (
    at,
    by,
    count_queries,
    every_account,
    figure_rows,
    rows_of_every_figure,
    segment_of,
)
from tests.factories.crm import AccountFactory, ContactFactory, UserFactory
from tests.factories.retention import (
    ChurnEventFactory,
    MrrMovementFactory,
    NpsRunFactory,
    NpsSurveyFactory,
    SubscriptionFactory,
)

URL = reverse("analytics:retention")
RANGE = {"start": "2026-04-01", "end": "2026-06-30"}


def subscription(owner, name, start, ended=None):
    account = AccountFactory(name=name, owner=owner)
    return SubscriptionFactory(
        account=account, owner=owner, start_date=dt.date.fromisoformat(start),
        ended_on=dt.date.fromisoformat(ended) if ended else None,
    )  # fmt: skip


def movement(sub, kind, amount, day):
    MrrMovementFactory(
        subscription=sub, account=sub.account, kind=kind, amount=Decimal(amount),
        currency="EUR", mrr_after=Decimal("0"), date=dt.date.fromisoformat(day),
    )  # fmt: skip


@pytest.fixture
def ledger(rep, rep2, manager):
    outsider = UserFactory(username="outsider", roles=[Role.SALES_REP])
    a = subscription(rep, "A", "2026-01-10")
    b = subscription(rep, "B", "2026-02-01", ended="2026-05-01")
    c = subscription(rep, "C", "2026-03-01")
    d = subscription(rep, "D", "2026-04-20")
    e = subscription(rep2, "E", "2026-05-05")
    x = subscription(outsider, "X", "2026-01-01")
    movement(a, MovementKind.NEW, "100", "2026-01-10")
    movement(a, MovementKind.EXPANSION, "50", "2026-04-15")
    movement(b, MovementKind.NEW, "200", "2026-02-01")
    movement(b, MovementKind.CHURN, "-200", "2026-05-01")
    movement(c, MovementKind.NEW, "300", "2026-03-01")
    movement(c, MovementKind.CONTRACTION, "-100", "2026-06-01")
    movement(d, MovementKind.NEW, "80", "2026-04-20")
    movement(e, MovementKind.NEW, "20", "2026-05-05")
    movement(x, MovementKind.NEW, "1000", "2026-01-01")
    ChurnEventFactory(account=b.account, subscription=b, date=dt.date(2026, 5, 1),
                      reason=ChurnReason.PRICE, lost_mrr=Decimal("200"), currency="EUR")  # fmt: skip
    for sub, score, colour in ((a, 80, "green"), (b, 20, "red"), (c, 70, "green")):
        HealthScore.objects.create(account=sub.account, score=score, colour=colour,
                                   computed_on=dt.date(2026, 6, 30))  # fmt: skip
    run = NpsRunFactory(name="Spring")
    for score, day in ((10, "2026-05-02"), (9, "2026-05-03"), (7, "2026-05-04"),
                       (3, "2026-05-05"), (6, "2026-06-02")):  # fmt: skip
        contact = ContactFactory(account=a.account, owner=rep)
        NpsSurveyFactory(run=run, contact=contact, account=a.account, key=f"k{contact.pk}",
                         sent_at=at("2026-05-01"), score=score, answered_at=at(day))  # fmt: skip
    rollups_rebuild()
    return {"a": a}


def test_mrr_waterfall(manager_client, ledger):
    rows = {r["step"]: r["mrr"] for r in figure_rows(manager_client.get(URL, RANGE), "waterfall")}
    # Start 100 + 200 + 300 = 600; new 80 + 20 = 100; expansion 50; contraction −100;
    # churn −200; end 600 + 100 + 50 − 100 − 200 = 450.
    assert rows == {
        "Starting MRR": Decimal("600"),
        "New": Decimal("100"),
        "Expansion": Decimal("50"),
        "Reactivation": Decimal("0"),
        "Contraction": Decimal("-100"),
        "Churn": Decimal("-200"),
        "Ending MRR": Decimal("450"),
    }


def test_logo_churn_grr_and_nrr(manager_client, ledger):
    rows = by(figure_rows(manager_client.get(URL, RANGE), "rates"), "measure")
    # Paying at the start: A, B, C; B churned → 1/3 = 33.3 %.
    assert rows["Logo churn"]["value"] == 33.3
    # GRR = (600 − 100 − 200) ÷ 600 = 50 %; NRR = (600 − 300 + 50) ÷ 600 = 58.3 %.
    assert rows["Gross revenue retention"]["value"] == 50.0
    assert rows["Net revenue retention"]["value"] == 58.3


def test_cohort_retention(manager_client, ledger):
    rows = by(figure_rows(manager_client.get(URL, RANGE), "cohorts"), "cohort")
    # January (A): kept through June = M0–M5, later months not reached yet.
    assert [rows["2026-01"][f"m{k}"] for k in range(7)] == [100.0] * 6 + [None]
    # February (B, ended in May): Feb, Mar, Apr kept; from May (M3) gone.
    assert [rows["2026-02"][f"m{k}"] for k in range(5)] == [100.0, 100.0, 100.0, 0.0, 0.0]
    assert set(rows) == {"2026-01", "2026-02", "2026-03", "2026-04", "2026-05"}


def test_churn_reasons_health_and_nps(manager_client, ledger):
    response = manager_client.get(URL, RANGE)
    assert figure_rows(response, "churn_reasons") == [
        {"reason": "Price", "events": 1, "lost": Decimal("200.00")}
    ]
    health = by(figure_rows(response, "health"), "colour")
    # Green: A 80 and C 70 → mean 75; red: B 20.
    assert (health["Green"]["accounts"], health["Green"]["score"]) == (2, 75.0)
    assert health["Red"]["accounts"] == 1
    assert HealthColour.YELLOW.label not in health
    nps = by(figure_rows(response, "nps"), "month")
    # May: 10, 9, 7, 3 → 2 promoters, 1 detractor of 4 → (2 − 1) ÷ 4 = 25. June: 6 → −100.
    assert (nps["2026-05"]["promoters"], nps["2026-05"]["detractors"], nps["2026-05"]["nps"]) == (
        2,
        1,
        25.0,
    )
    assert nps["2026-06"]["nps"] == -100.0


def test_heatmap_cells_are_shaded(manager_client, ledger):
    html = manager_client.get(URL, RANGE).content.decode()
    assert 'class="text-end heat-10"' in html


def test_a_rep_sees_their_own_accounts_only(client, rep2, ledger):
    client.force_login(rep2)
    rows = {r["step"]: r["mrr"] for r in figure_rows(client.get(URL, RANGE), "waterfall")}
    assert rows["New"] == Decimal("20") and rows["Starting MRR"] == 0
    assert figure_rows(client.get(URL, RANGE), "nps") == []


def test_agents_cannot_open_it(agent_client):
    assert agent_client.get(URL).status_code == 404


def test_query_count_is_fixed_at_3_and_60_subscriptions(manager_client, rep):
    def add(n):
        for i in range(n):
            sub = subscription(rep, f"S{i}", "2026-03-01")
            movement(sub, MovementKind.NEW, "10", "2026-03-01")

    add(3)
    small = count_queries(manager_client, URL, RANGE)
    add(57)
    # One of them reads the exchange rates the MRR and churn figures converted at.
    assert count_queries(manager_client, URL, RANGE) == small <= 21


def test_the_rollups_and_the_ledger_agree(manager_client, ledger):
    from analytics.models import RollupState

    def figures():
        response = manager_client.get(URL, RANGE)
        return [figure_rows(response, key) for key in ("waterfall", "rates", "cohorts")]

    rolled = figures()
    # Read the ledger and the subscriptions themselves.
    RollupState.objects.filter(name__in=["mrr", "cohorts"]).update(refreshed_at=None)
    assert figures() == rolled


def test_an_account_with_two_owners_reads_the_ledger(manager_client, rep2, ledger):
    """A's second subscription is rep2's: the per-owner opening counts would count A twice,
    so the figures come from the ledger itself and A counts once."""
    from analytics.models import RollupState

    second = SubscriptionFactory(account=ledger["a"].account, owner=rep2,
                                 start_date=dt.date(2026, 1, 20))  # fmt: skip
    movement(second, MovementKind.NEW, "40", "2026-01-20")
    rollups_rebuild()
    assert RollupState.objects.get(name="mrr").detail == {"multi_owner_accounts": 1}
    rows = by(figure_rows(manager_client.get(URL, RANGE), "rates"), "measure")
    assert rows["Logo churn"]["basis"] == "1 of 3 paying accounts"


# With a segment of the German accounts A, B and D (C and E are French): computed live.


@pytest.fixture
def german(ledger, manager):
    Account.objects.update(country="FR")
    Account.objects.filter(name__in=["A", "B", "D"]).update(country="DE")
    return segment_of(manager, "account", ("country", "in", ["DE"]))


def test_segment_restricts_the_ledger(manager_client, german):
    response = manager_client.get(URL, {**RANGE, "segment": german.pk})
    assert response.context["form"].errors == {}
    rows = {r["step"]: r["mrr"] for r in figure_rows(response, "waterfall")}
    # Start A 100 + B 200 = 300; new D 80; expansion 50; churn −200; end 230.
    assert rows == {
        "Starting MRR": Decimal("300"),
        "New": Decimal("80"),
        "Expansion": Decimal("50"),
        "Reactivation": Decimal("0"),
        "Contraction": Decimal("0"),
        "Churn": Decimal("-200"),
        "Ending MRR": Decimal("230"),
    }
    rates = by(figure_rows(response, "rates"), "measure")
    # Paying at the start: A, B; B churned → 50 %. GRR (300 − 200) ÷ 300 = 33.3 %;
    # NRR (300 − 200 + 50) ÷ 300 = 50 %.
    assert (rates["Logo churn"]["value"], rates["Logo churn"]["basis"]) == (
        50.0,
        "1 of 2 paying accounts",
    )
    assert rates["Gross revenue retention"]["value"] == 33.3
    assert rates["Net revenue retention"]["value"] == 50.0
    assert set(by(figure_rows(response, "cohorts"), "cohort")) == {"2026-01", "2026-02", "2026-04"}
    health = by(figure_rows(response, "health"), "colour")
    # Green: A alone (80); red: B.
    assert (health["Green"]["accounts"], health["Green"]["score"]) == (1, 80.0)
    assert figure_rows(response, "churn_reasons") == [
        {"reason": "Price", "events": 1, "lost": Decimal("200.00")}
    ]
    assert by(figure_rows(response, "nps"), "month")["2026-05"]["nps"] == 25.0


def test_segment_without_the_surveyed_account(manager_client, ledger, manager):
    Account.objects.update(country="FR")
    Account.objects.filter(name="C").update(country="DE")
    only_c = segment_of(manager, "account", ("country", "in", ["DE"]))
    response = manager_client.get(URL, {**RANGE, "segment": only_c.pk})
    assert figure_rows(response, "nps") == [] and figure_rows(response, "churn_reasons") == []
    rows = {r["step"]: r["mrr"] for r in figure_rows(response, "waterfall")}
    assert (rows["Starting MRR"], rows["Contraction"], rows["Ending MRR"]) == (
        Decimal("300"),
        Decimal("-100"),
        Decimal("200"),
    )


def test_segment_of_everything_agrees_with_the_rollups(manager_client, ledger, manager):
    everything = every_account(manager)
    assert rows_of_every_figure(manager_client.get(URL, RANGE)) == rows_of_every_figure(
        manager_client.get(URL, {**RANGE, "segment": everything.pk})
    )


def test_segment_csv_export(manager_client, german):
    response = manager_client.get(URL, {**RANGE, "segment": german.pk, "export": "waterfall"})
    assert "Ending MRR,230" in response.content.decode()


def test_segment_query_count_is_fixed(manager_client, german, rep):
    params = {**RANGE, "segment": german.pk}
    before = count_queries(manager_client, URL, params)
    for i in range(20):
        sub = subscription(rep, f"S{i}", "2026-03-01")
        movement(sub, MovementKind.NEW, "10", "2026-03-01")
    assert count_queries(manager_client, URL, params) == before <= 20
