"""The retention dashboard totals an MRR ledger in several currencies in the company currency:
each movement (and churn event) at the rate in force on the last day of its month, so starting
MRR + the movements = ending MRR; a movement with no rate is left out and named. The rollups
and the ledger read live (a segment, or rollups not filled) give the same figures.

Range Apr–Jun 2026, company currency EUR. USD is worth 0.90 EUR from January 1st and 0.80 EUR
from May 15th: the months up to April convert at 0.90, May and June (their last days) at 0.80.
GBP has no rate.
  A (EUR) new 100 on 2026-01-10, expansion +50 on 2026-04-15
  B (USD) new 200 on 2026-02-01, churn −200 on 2026-05-03 (churn event: price, USD 200)
  C (USD) new 300.05 on 2026-03-01, contraction −100 on 2026-06-01
  D (GBP) new 80 on 2026-04-20 (churn event: competitor, GBP 80 on 2026-06-10)
  E (EUR, rep2) new 20 on 2026-05-05
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from analytics.models import ChurnDay, MrrMoveDay, RollupState
from analytics.rollups import rollups_rebuild
from crm.services.currencies import exchange_rate_set
from retention.choices import ChurnReason, MovementKind
from tests.analytics.helpers import by, every_account, figure_rows
from tests.analytics.test_retention_dashboard import subscription
from tests.factories.retention import ChurnEventFactory, MrrMovementFactory

URL = reverse("analytics:retention")
RANGE = {"start": "2026-04-01", "end": "2026-06-30"}


@pytest.fixture(autouse=True)
def _company_eur(settings):
    settings.COMPANY_CURRENCY = "EUR"


def movement(sub, kind, amount, day, currency):
    MrrMovementFactory(
        subscription=sub, account=sub.account, kind=kind, amount=Decimal(amount),
        currency=currency, mrr_after=Decimal("0"), date=dt.date.fromisoformat(day),
    )  # fmt: skip


@pytest.fixture
def ledger(admin, rep, rep2):
    exchange_rate_set(user=admin, currency="USD", valid_from=dt.date(2026, 1, 1), rate="0.90")
    exchange_rate_set(user=admin, currency="USD", valid_from=dt.date(2026, 5, 15), rate="0.80")
    a = subscription(rep, "A", "2026-01-10")
    b = subscription(rep, "B", "2026-02-01", ended="2026-05-03")
    c = subscription(rep, "C", "2026-03-01")
    d = subscription(rep, "D", "2026-04-20")
    e = subscription(rep2, "E", "2026-05-05")
    movement(a, MovementKind.NEW, "100", "2026-01-10", "EUR")
    movement(a, MovementKind.EXPANSION, "50", "2026-04-15", "EUR")
    movement(b, MovementKind.NEW, "200", "2026-02-01", "USD")
    movement(b, MovementKind.CHURN, "-200", "2026-05-03", "USD")
    movement(c, MovementKind.NEW, "300.05", "2026-03-01", "USD")
    movement(c, MovementKind.CONTRACTION, "-100", "2026-06-01", "USD")
    movement(d, MovementKind.NEW, "80", "2026-04-20", "GBP")
    movement(e, MovementKind.NEW, "20", "2026-05-05", "EUR")
    ChurnEventFactory(account=b.account, subscription=b, date=dt.date(2026, 5, 3),
                      reason=ChurnReason.PRICE, lost_mrr=Decimal("200"), currency="USD")  # fmt: skip
    ChurnEventFactory(account=d.account, subscription=d, date=dt.date(2026, 6, 10),
                      reason=ChurnReason.COMPETITOR, lost_mrr=Decimal("80"), currency="GBP")  # fmt: skip
    rollups_rebuild()


# By hand: start = A 100 + B 200 × 0.90 + C 300.05 × 0.90 (270.045, to the cent 270.05) = 550.05;
# new = E 20 (D's GBP 80 has no rate: left out); expansion = A 50; contraction = C −100 × 0.80
# (June) = −80.00; churn = B −200 × 0.80 (May's last day, though May 3rd was still at 0.90) =
# −160.00; end = 550.05 + 20 + 50 − 80 − 160 = 380.05.
WATERFALL = {
    "Starting MRR": Decimal("550.05"),
    "New": Decimal("20.00"),
    "Expansion": Decimal("50.00"),
    "Reactivation": Decimal("0.00"),
    "Contraction": Decimal("-80.00"),
    "Churn": Decimal("-160.00"),
    "Ending MRR": Decimal("380.05"),
}


def _figures(response) -> dict:
    waterfall = {r["step"]: r["mrr"] for r in figure_rows(response, "waterfall")}
    rates = by(figure_rows(response, "rates"), "measure")
    return {
        "waterfall": waterfall,
        "rates": {k: (v["value"], v["basis"]) for k, v in rates.items()},
        "churn_reasons": figure_rows(response, "churn_reasons"),
    }


def _assert_hand_figures(figures):
    assert figures["waterfall"] == WATERFALL
    # The ledger balances in EUR: start + every movement = end.
    steps = [v for k, v in figures["waterfall"].items() if k != "Ending MRR"]
    assert sum(steps) == figures["waterfall"]["Ending MRR"]
    # Paying at the start: A, B, C; B churned. GRR = (550.05 − 80 − 160) ÷ 550.05 = 56.4 %;
    # NRR = (550.05 − 240 + 50) ÷ 550.05 = 65.5 %.
    assert figures["rates"]["Logo churn"] == (33.3, "1 of 3 paying accounts")
    assert figures["rates"]["Gross revenue retention"][0] == 56.4
    assert figures["rates"]["Net revenue retention"][0] == 65.5
    # Lost MRR: B USD 200 × 0.80 = 160.00; D's GBP 80 has no rate (the event still counts).
    assert by(figures["churn_reasons"], "reason") == {
        "Price": {"reason": "Price", "events": 1, "lost": Decimal("160.00")},
        "Moved to a competitor": {
            "reason": "Moved to a competitor",
            "events": 1,
            "lost": Decimal("0.00"),
        },
    }


def _assert_notes(page: str):
    assert (
        "Amounts in EUR (the company currency): each MRR movement at the rate in force on " in page
    )
    assert "the last day of its month" in page
    assert "USD 0.9 (valid from 2026-01-01)" in page and "USD 0.8 (valid from 2026-05-15)" in page
    assert "1 movement without a rate for the day left out of the MRR: GBP 2026-04 (1)." in page
    assert (
        "1 churn event without a rate for the day left out of the MRR lost: GBP 2026-06 (1)."
        in page
    )


def test_the_rollups_total_the_ledger_in_eur_at_month_end_rates(manager_client, ledger):
    # The rollups hold the converted amounts: every movement, 380.05 in all; D's row keeps its
    # count with no rate and no amount.
    assert sum(MrrMoveDay.objects.values_list("amount", flat=True)) == Decimal("380.05")
    gbp = MrrMoveDay.objects.get(currency="GBP")
    assert (gbp.movements, gbp.rate, gbp.amount) == (1, None, Decimal("0.00"))
    usd_churn = MrrMoveDay.objects.get(kind=MovementKind.CHURN)
    assert (usd_churn.rate, usd_churn.rate_date) == (Decimal("0.8"), dt.date(2026, 5, 15))
    assert sum(ChurnDay.objects.values_list("lost_mrr", flat=True)) == Decimal("160.00")

    response = manager_client.get(URL, RANGE)
    assert RollupState.objects.get(name="mrr").refreshed_at is not None
    _assert_hand_figures(_figures(response))
    _assert_notes(response.content.decode())


def test_the_ledger_read_live_gives_the_same_figures(manager_client, manager, ledger):
    # With a segment of every account, the figures read the ledger and the churn events.
    segment = every_account(manager)
    live = manager_client.get(URL, {**RANGE, "segment": segment.pk})
    _assert_hand_figures(_figures(live))
    _assert_notes(live.content.decode())
    # Rollups not filled: the ledger itself, the same figures.
    RollupState.objects.filter(name="mrr").update(refreshed_at=None)
    unfilled = manager_client.get(URL, RANGE)
    assert _figures(unfilled)["waterfall"] == WATERFALL
    assert "GBP 2026-04 (1)" in unfilled.content.decode()


def test_a_rate_entered_later_brings_the_movement_in_at_the_next_rebuild(
    manager_client, admin, ledger
):
    exchange_rate_set(user=admin, currency="GBP", valid_from=dt.date(2026, 4, 1), rate="1.15")
    rollups_rebuild()
    waterfall = {
        r["step"]: r["mrr"] for r in figure_rows(manager_client.get(URL, RANGE), "waterfall")
    }
    # New: E 20 + D GBP 80 × 1.15 = 112.00; end 380.05 + 92 = 472.05.
    assert (waterfall["New"], waterfall["Ending MRR"]) == (Decimal("112.00"), Decimal("472.05"))
