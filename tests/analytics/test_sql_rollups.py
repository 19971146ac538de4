"""The rollups written in SQL equal what the former Python code computed row by row
(``tests.analytics.python_rollups``), on the demo data and on hand-made records."""

import io

from django.utils import timezone

from analytics import rollups
from analytics.models import (
    AccountTicketsDay,
    ChurnDay,
    DealDay,
    LeadDay,
    MrrDay,
    MrrMoveDay,
    NpsDay,
    StageDay,
    SupportDay,
)
from analytics.rollups.base import _all_days, spans
from crm.seeding import seed_run
from tests.analytics.python_rollups import funnel, pipeline, retention, support
from tests.analytics.test_rollups import world  # noqa: F401  (the hand-made records)

REFERENCE = {
    "leads": funnel._lead_rows,
    "deals": pipeline._deal_rows,
    "stages": pipeline._stage_rows,
    "support": support._support_rows,
    "accounts": support._account_rows,
    "nps": retention._nps_rows,
    "churn": retention._churn_rows,
    "mrr": retention._mrr_rows,
    "mrr_moves": retention._mrr_move_rows,
}
MODELS = (LeadDay, DealDay, StageDay, SupportDay, AccountTicketsDay, NpsDay, ChurnDay, MrrDay)
# Columns the Python code did not have (the currency of a deal or MRR row, its rate, and how
# many movements an MRR row holds).
NEW_COLUMNS = {"id", "currency", "rate", "rate_date", "movements"}


def _value(value):
    if isinstance(value, bytes | memoryview):
        return tuple(sorted(rollups.unpack(bytes(value))))  # a group's durations, any order
    if isinstance(value, float):
        return round(value, 3)  # sums of floats, added in another order
    return value


def _normal(model, objs) -> list[tuple]:
    fields = [f.attname for f in model._meta.concrete_fields if f.attname not in NEW_COLUMNS]
    return sorted(
        (tuple(_value(getattr(o, f)) for f in fields) for o in objs),
        key=lambda row: tuple((v is None, str(v)) for v in row),
    )


def _assert_sql_equals_python(today):
    assert rollups.rollups_rebuild(today=today) is not None
    compared = 0
    for rollup in rollups.ROLLUPS:
        expected = []
        for first, last in spans(_all_days(rollup, today)):
            expected += REFERENCE[rollup.name](first, last)
        written = list(rollup.model.objects.all())
        assert _normal(rollup.model, written) == _normal(rollup.model, expected), rollup.name
        compared += len(written)
    return compared


def test_the_sql_rollups_equal_the_python_ones_on_hand_made_records(world):  # noqa: F811
    assert _assert_sql_equals_python(timezone.localdate()) > 0
    assert MrrMoveDay.objects.count() == 0  # no ledger in these records


def test_the_sql_rollups_equal_the_python_ones_on_the_demo_data(db):
    ctx = seed_run(scale=0.3, password="demo", stdout=io.StringIO())
    assert all(m.objects.exists() for m in MODELS)
    assert _assert_sql_equals_python(ctx.today) > 1000


def test_a_rebuild_read_in_one_pass_writes_what_month_by_month_statements_write(db):
    """A rebuild reads every day of a rollup with one statement and writes it a month at a
    time; the rows are those of one statement per month (the refresh's way)."""

    def stored(model) -> list[tuple]:
        fields = [f.attname for f in model._meta.concrete_fields if not f.primary_key]
        rows = (tuple(_value(getattr(o, f)) for f in fields) for o in model.objects.all())
        return sorted(rows, key=lambda row: tuple((v is None, str(v)) for v in row))

    ctx = seed_run(scale=0.3, password="demo", stdout=io.StringIO())
    compared = []
    for rollup in rollups.ROLLUPS:
        days = _all_days(rollup, ctx.today)
        if len(spans(days)) == 1:
            continue  # a month or less (the NPS answers): one statement either way
        compared.append(rollup.name)

        per_month = rollups._rewrite(rollup, days)
        by_month = stored(rollup.model)
        in_one_pass = rollups._rewrite(rollup, days, whole=True)

        assert in_one_pass == per_month, rollup.name
        assert stored(rollup.model) == by_month, rollup.name
    assert {"leads", "deals", "stages", "support", "accounts", "mrr"} <= set(compared)
