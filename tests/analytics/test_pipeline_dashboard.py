"""The pipeline dashboard against a small dataset worked by hand.

Range: 2026-01-01 to 2026-03-31. ``rep`` and ``rep2`` are in the manager's team; ``outsider``
is not, and must never count for the manager or the reps.
"""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from analytics.rollups import rollups_rebuild
from crm.choices import Role
from crm.models import Account
from sales.choices import ForecastCategory, PeriodKind
from sales.models import Opportunity, StageChange
from tests.analytics.helpers import (
    at,
    by,
    count_queries,
    every_account,
    figure_rows,
    rows_of_every_figure,
    segment_of,
)
from tests.factories.crm import AccountFactory, TeamFactory, UserFactory
from tests.factories.sales import OpportunityFactory, QuotaFactory, stage_named

URL = reverse("analytics:pipeline")
RANGE = {"start": "2026-01-01", "end": "2026-03-31"}


def deal(owner, stage, amount, *, created=None, closed=None, **kwargs):
    opp = OpportunityFactory(
        owner=owner,
        account=AccountFactory(owner=owner),
        stage=stage_named(stage),
        amount=Decimal(amount),
        **kwargs,
    )
    fields = {}
    if created:
        fields["created_at"] = at(created)
    if closed:
        fields["closed_at"] = at(closed)
    if fields:
        Opportunity.objects.filter(pk=opp.pk).update(**fields)
    return opp


def move(opp, from_stage, to_stage, days_in_from):
    StageChange.objects.create(
        opportunity=opp,
        from_stage=stage_named(from_stage) if from_stage else None,
        to_stage=stage_named(to_stage),
        changed_at=at("2026-02-01"),
        seconds_in_from_stage=int(days_in_from * 86400) if from_stage else None,
    )


@pytest.fixture
def outsider(db):
    return UserFactory(username="outsider", roles=[Role.SALES_REP])


@pytest.fixture
def pipeline_data(rep, rep2, manager, outsider):
    yesterday = dt.date.today() - dt.timedelta(days=1)
    qualification = deal(rep, "Qualification", "1000", expected_close_date=yesterday)
    deal(
        rep,
        "Proposal",
        "2000",
        expected_close_date=dt.date(2026, 3, 20),
        forecast_category=ForecastCategory.COMMIT,
    )
    deal(rep2, "Proposal", "3000", expected_close_date=dt.date(2026, 3, 10))
    deal(outsider, "Proposal", "5000", expected_close_date=dt.date(2026, 3, 10))
    # Closed in the range (created → closed gives the cycle).
    deal(rep, "Closed won", "4000", created="2026-01-31", closed="2026-02-10")  # 10 days
    deal(rep, "Closed lost", "1000", created="2026-01-01", closed="2026-02-12")
    deal(rep2, "Closed won", "2000", created="2026-01-26", closed="2026-02-15")  # 20 days
    deal(rep2, "Closed won", "2000", created="2026-02-03", closed="2026-03-05")  # 30 days
    deal(rep2, "Closed lost", "2000", created="2026-01-01", closed="2026-02-20")
    deal(outsider, "Closed won", "9999", created="2026-01-01", closed="2026-02-20")
    QuotaFactory(owner=rep, period_kind=PeriodKind.MONTH, period_start=dt.date(2026, 2, 1),
                 amount=Decimal("10000"))  # fmt: skip
    QuotaFactory(owner=rep2, period_kind=PeriodKind.QUARTER, period_start=dt.date(2026, 1, 1),
                 amount=Decimal("6000"))  # fmt: skip
    QuotaFactory(owner=outsider, period_kind=PeriodKind.MONTH, period_start=dt.date(2026, 2, 1),
                 amount=Decimal("50000"))  # fmt: skip
    # Stage history of three of rep's deals (all in February).
    a, b, c = (deal(rep, "Discovery", "100") for _ in range(3))
    for opp in (a, b, c):
        move(opp, None, "Qualification", 0)
    move(a, "Qualification", "Discovery", 2)
    move(a, "Discovery", "Proposal", 4)
    move(b, "Qualification", "Closed lost", 6)
    move(c, "Qualification", "Discovery", 4)
    rollups_rebuild()
    return {"qualification": qualification, "stage_deals": (a, b, c)}


def test_open_pipeline_by_stage_for_the_manager(manager_client, pipeline_data):
    rows = by(figure_rows(manager_client.get(URL, RANGE), "open_by_stage"), "stage")
    # Qualification: rep's 1,000 at 10 % → 100 weighted.
    assert rows["New business · Qualification"]["deals"] == 1
    assert rows["New business · Qualification"]["weighted"] == Decimal("100.00")
    # Proposal: rep 2,000 + rep2 3,000 = 5,000 at 40 % → 2,000; outsider's 5,000 left out.
    assert rows["New business · Proposal"]["deals"] == 2
    assert rows["New business · Proposal"]["value"] == Decimal("5000.00")
    assert rows["New business · Proposal"]["weighted"] == Decimal("2000.00")
    # Discovery: the three 100 deals of the stage-history set, 20 % → 60.
    assert rows["New business · Discovery"]["value"] == Decimal("300.00")
    assert rows["New business · Discovery"]["weighted"] == Decimal("60.00")


def test_forecast_against_quota(manager_client, pipeline_data):
    rows = by(figure_rows(manager_client.get(URL, RANGE), "forecast"), "month")
    # January: rep2's quarterly 6,000 ÷ 3 = 2,000 quota, nothing won.
    assert rows["2026-01"]["quota"] == Decimal("2000.00")
    assert rows["2026-01"]["won"] == 0
    assert rows["2026-01"]["attainment"] == 0
    # February: quota 10,000 + 2,000 = 12,000; won 4,000 + 2,000 = 6,000 → 50 %.
    assert rows["2026-02"]["quota"] == Decimal("12000.00")
    assert rows["2026-02"]["won"] == Decimal("6000.00")
    assert rows["2026-02"]["attainment"] == 50.0
    # March: won 2,000; commit = rep's 2,000 Commit deal; forecast 4,000;
    # weighted = 2,000 × 40 % + 3,000 × 40 % = 2,000; attainment 2,000 ÷ 2,000 = 100 %.
    march = rows["2026-03"]
    assert (march["won"], march["commit"], march["forecast"]) == (
        Decimal("2000.00"),
        Decimal("2000.00"),
        Decimal("4000.00"),
    )
    assert march["weighted"] == Decimal("2000.00")
    assert march["attainment"] == 100.0


def test_win_rates_by_rep_and_month(manager_client, rep, rep2, pipeline_data):
    response = manager_client.get(URL, RANGE)
    reps = by(figure_rows(response, "win_rate_rep"), "label")
    mine = reps[str(rep.get_full_name())]
    # rep: 1 won of 2 closed = 50 %; value 4,000 ÷ (4,000 + 1,000) = 80 %.
    assert (mine["won"], mine["lost"], mine["rate_count"], mine["rate_value"]) == (1, 1, 50.0, 80.0)
    theirs = reps[str(rep2.get_full_name())]
    # rep2: 2 of 3 = 66.7 %; value 4,000 ÷ 6,000 = 66.7 %.
    assert (theirs["rate_count"], theirs["rate_value"]) == (66.7, 66.7)
    assert len(reps) == 2  # the outsider is not the manager's
    months = by(figure_rows(response, "win_rate_month"), "label")
    # February: won 2 (4,000 + 2,000), lost 2 (1,000 + 2,000): 50 % by count, 6,000/9,000 by value.
    assert (months["2026-02"]["rate_count"], months["2026-02"]["rate_value"]) == (50.0, 66.7)
    assert months["2026-03"]["rate_count"] == 100.0
    sources = figure_rows(response, "win_rate_source")
    assert [s["label"] for s in sources] == ["No lead (direct)"]
    assert (sources[0]["won"], sources[0]["lost"]) == (3, 2)


def test_deal_size_cycle_and_velocity(manager_client, rep, rep2, pipeline_data):
    rows = by(figure_rows(manager_client.get(URL, RANGE), "rep_performance"), "rep")
    mine = rows[rep.get_full_name()]
    # rep: open 2 + 3 stage-history deals = 5; one win of 4,000 after 10 days; win rate 1/2.
    # velocity = 5 × 4,000 × 0.5 ÷ 10 = 1,000 a day.
    assert (mine["open"], mine["won"], mine["avg_deal"], mine["cycle_days"]) == (
        5,
        1,
        Decimal("4000.00"),
        10.0,
    )
    assert mine["velocity"] == 1000.0
    theirs = rows[rep2.get_full_name()]
    # rep2: wins of 2,000 after 20 and 30 days → 2,000 average, 25-day cycle; win rate 2/3;
    # velocity = 1 × 2,000 × 2/3 ÷ 25 = 53.33.
    assert (theirs["avg_deal"], theirs["cycle_days"], theirs["win_rate"]) == (
        Decimal("2000.00"),
        25.0,
        66.7,
    )
    assert theirs["velocity"] == 53.33


def test_stage_conversion_and_time_in_stage(manager_client, pipeline_data):
    response = manager_client.get(URL, RANGE)
    conversion = by(figure_rows(response, "stage_conversion"), "stage")
    # Qualification: entered by a, b, c; a and c moved on to Discovery (b was lost) → 2/3.
    assert conversion["New business · Qualification"]["entered"] == 3
    assert conversion["New business · Qualification"]["advanced"] == 2
    assert conversion["New business · Qualification"]["conversion"] == 66.7
    # Discovery: entered by a and c; a moved on to Proposal → 1/2.
    assert conversion["New business · Discovery"]["conversion"] == 50.0
    times = by(figure_rows(response, "time_in_stage"), "stage")
    # Days in Qualification: 2, 6, 4 → median 4; p90 at rank 1.8 of [2, 4, 6] = 4 + 0.8 × 2 = 5.6.
    assert times["New business · Qualification"]["median"] == 4.0
    assert times["New business · Qualification"]["p90"] == 5.6
    assert times["New business · Discovery"]["median"] == 4.0


def test_slipped_deals(manager_client, rep, rep2, pipeline_data):
    rows = figure_rows(manager_client.get(URL, RANGE), "slipped")
    # Open and expected before today: rep's 1,000 (yesterday) + 2,000 (2026-03-20) = 3,000;
    # rep2's 3,000 (2026-03-10). The stage-history deals have no expected date.
    assert [(r["rep"], r["deals"], r["value"]) for r in rows] == [
        (rep.get_full_name(), 2, Decimal("3000.00")),
        (rep2.get_full_name(), 1, Decimal("3000.00")),
    ]


def test_a_rep_sees_only_their_own_numbers_whatever_the_filter(client, rep, rep2, pipeline_data):
    client.force_login(rep)
    response = client.get(URL, {**RANGE, "owner": rep2.pk})
    assert "owner" not in response.context["form"].fields
    reps = figure_rows(response, "win_rate_rep")
    assert [r["label"] for r in reps] == [rep.get_full_name()]
    stages = by(figure_rows(response, "open_by_stage"), "stage")
    assert stages["New business · Proposal"]["value"] == Decimal("2000.00")


def test_manager_filters_by_owner_and_by_managed_teams_only(manager_client, manager, rep2,
                                                            outsider, pipeline_data):  # fmt: skip
    TeamFactory(name="Elsewhere", members=[outsider])
    response = manager_client.get(URL, {**RANGE, "owner": rep2.pk})
    assert [r["label"] for r in figure_rows(response, "win_rate_rep")] == [rep2.get_full_name()]
    form = response.context["form"]
    assert [t.name for t in form.fields["team"].queryset] == ["Sales"]
    assert outsider not in form.fields["owner"].queryset
    # Asking for someone outside the managed teams is a form error, not their numbers.
    response = manager_client.get(URL, {**RANGE, "owner": outsider.pk})
    assert response.status_code == 200
    assert "owner" in response.context["form"].errors
    assert len(figure_rows(response, "win_rate_rep")) == 2


def test_admin_sees_everybody(admin_client_, pipeline_data):
    rows = figure_rows(admin_client_.get(URL, RANGE), "win_rate_rep")
    assert len(rows) == 3


def test_bad_dates_re_render_with_errors(manager_client, pipeline_data):
    response = manager_client.get(URL, {"start": "2026-13-45", "end": "2026-01-01"})
    assert response.status_code == 200
    assert "start" in response.context["form"].errors
    response = manager_client.get(URL, {"start": "2026-03-01", "end": "2026-01-01"})
    assert response.status_code == 200
    assert "end" in response.context["form"].errors


def test_page_shows_chart_data_table_and_how(manager_client, pipeline_data):
    response = manager_client.get(URL, RANGE)
    html = response.content.decode()
    assert 'id="figure-open_by_stage-data" type="application/json"' in html
    assert "vendor/chartjs/chart.umd.min.js" in html
    assert "How it is computed" in html
    assert "export=forecast" in html


def test_csv_export_is_formula_safe(manager_client, rep, pipeline_data):
    rep.first_name, rep.last_name = "=HYPERLINK(1)", "x"
    rep.save(update_fields=["first_name", "last_name"])
    response = manager_client.get(URL, {**RANGE, "export": "win_rate_rep"})
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.getvalue().decode("utf-8-sig"))))
    assert rows[0][:3] == ["Rep", "Won", "Lost"]
    # Rows are by username: rep before rep2. The name is quoted so it is not a formula.
    assert rows[1][:4] == ["'=HYPERLINK(1) x", "1", "1", "50.0"]
    assert manager_client.get(URL, {"export": "nope"}).status_code == 404


def test_agents_and_anonymous_users_cannot_open_it(client, agent_client):
    assert agent_client.get(URL).status_code == 404
    assert agent_client.get(URL, {"export": "forecast"}).status_code == 404
    client.logout()
    assert client.get(URL).status_code == 302


def test_query_count_is_fixed_at_3_and_60_deals(manager_client, rep):
    """About 25 queries (session, user, roles, filters, ~1 per figure, the JIT-off transaction); the same at 3 and at
    60 deals."""
    account = AccountFactory(owner=rep)

    def add(n):
        for i in range(n):
            stage = ["Qualification", "Proposal", "Closed won", "Closed lost"][i % 4]
            opp = OpportunityFactory(owner=rep, account=account, stage=stage_named(stage))
            StageChange.objects.create(
                opportunity=opp, from_stage=stage_named("Qualification"), to_stage=opp.stage,
                seconds_in_from_stage=86400 * (i + 1),
            )  # fmt: skip

    add(3)
    small = count_queries(manager_client, URL)
    add(57)
    assert count_queries(manager_client, URL) == small <= 28


# With a segment: computed live from the segment's accounts' deals and stage changes.


def test_segment_of_rep2s_accounts(manager_client, rep2, pipeline_data, manager):
    theirs = segment_of(manager, "account", ("owner", "in", [str(rep2.pk)]))
    response = manager_client.get(URL, {**RANGE, "segment": theirs.pk})
    assert response.context["form"].errors == {}
    # Open: rep2's Proposal 3,000 at 40 % → 1,200.
    assert figure_rows(response, "open_by_stage") == [
        {
            "stage": "New business · Proposal",
            "deals": 1,
            "value": Decimal("3000.00"),
            "weighted": Decimal("1200.00"),
        }
    ]
    reps = figure_rows(response, "win_rate_rep")
    assert [(r["label"], r["rate_count"], r["rate_value"]) for r in reps] == [
        (rep2.get_full_name(), 66.7, 66.7)
    ]
    months = by(figure_rows(response, "win_rate_month"), "label")
    # February: 2,000 won, 2,000 lost → 50 % both ways; March: 2,000 won → 100 %.
    assert (months["2026-02"]["rate_count"], months["2026-02"]["rate_value"]) == (50.0, 50.0)
    assert months["2026-03"]["rate_count"] == 100.0
    performance = figure_rows(response, "rep_performance")
    # 1 open × 2,000 average × 2/3 ÷ 25-day cycle = 53.33 a day.
    assert [(r["open"], r["won"], r["cycle_days"], r["velocity"]) for r in performance] == [
        (1, 2, 25.0, 53.33)
    ]
    assert [(r["deals"], r["value"]) for r in figure_rows(response, "slipped")] == [
        (1, Decimal("3000.00"))
    ]
    assert figure_rows(response, "stage_conversion") == figure_rows(response, "time_in_stage") == []


def test_segment_stage_figures_and_quota(manager_client, pipeline_data, manager):
    a, _, c = pipeline_data["stage_deals"]
    Account.objects.update(country="FR")
    Account.objects.filter(pk__in=[a.account_id, c.account_id]).update(country="DE")
    german = segment_of(manager, "account", ("country", "in", ["DE"]))
    response = manager_client.get(URL, {**RANGE, "segment": german.pk})
    conversion = by(figure_rows(response, "stage_conversion"), "stage")
    # Qualification: entered by a and c, both moved on → 100 %; Discovery: a moved on → 50 %.
    assert conversion["New business · Qualification"]["conversion"] == 100.0
    assert conversion["New business · Discovery"]["conversion"] == 50.0
    times = by(figure_rows(response, "time_in_stage"), "stage")
    # Days in Qualification: a 2, c 4 → median 3; p90 at rank 0.9 → 2 + 0.9 × 2 = 3.8.
    assert (times["New business · Qualification"]["moves"],) == (2,)
    assert times["New business · Qualification"]["median"] == 3.0
    assert times["New business · Qualification"]["p90"] == 3.8
    # Quotas are per rep: the forecast shows every deal and says the segment does not apply.
    forecast = next(i for i in response.context["rendered"] if i.figure.key == "forecast")
    assert forecast.segment_ignored
    assert forecast.rows == figure_rows(manager_client.get(URL, RANGE), "forecast")
    assert "The segment does not apply to this figure" in response.content.decode()


@pytest.mark.parametrize("who", ["rep", "manager"])
def test_segment_of_everything_agrees_with_the_rollups(client, pipeline_data, who, request):
    user = request.getfixturevalue(who)
    client.force_login(user)
    everything = every_account(user)
    plain = rows_of_every_figure(client.get(URL, RANGE))
    assert plain == rows_of_every_figure(client.get(URL, {**RANGE, "segment": everything.pk}))


def test_segment_csv_export(manager_client, rep2, pipeline_data, manager):
    theirs = segment_of(manager, "account", ("owner", "in", [str(rep2.pk)]))
    params = {**RANGE, "segment": theirs.pk, "export": "open_by_stage"}
    rows = list(
        csv.reader(io.StringIO(manager_client.get(URL, params).getvalue().decode("utf-8-sig")))
    )
    assert rows[1:] == [["New business · Proposal", "1", "3000.00", "1200.00"]]


def test_segment_query_count_is_fixed(manager_client, rep, rep2, pipeline_data, manager):
    theirs = segment_of(manager, "account", ("owner", "in", [str(rep2.pk)]))
    params = {**RANGE, "segment": theirs.pk}

    def add(n):
        for _ in range(n):
            opp = deal(rep2, "Closed won", "100", created="2026-01-02", closed="2026-02-02")
            move(opp, "Qualification", "Discovery", 1)

    add(1)
    before = count_queries(manager_client, URL, params)
    add(5)
    assert count_queries(manager_client, URL, params) == before
    # The segments offered, the chosen one, checking its definition (the owners it may name,
    # in the form and once for the figures) and time in stage's count beside its percentiles.
    assert before <= count_queries(manager_client, URL, RANGE) + 5
