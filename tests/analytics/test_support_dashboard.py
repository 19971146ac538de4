"""The support dashboard against a small dataset worked by hand (range Jan–Mar 2026).

All tickets created 2026-02-02 09:00 UTC; hours are after that.
  account X (owned by rep): normal priority, all under an SLA policy
    T1 first reply 1 h, resolved 5 h, solved                      (both targets met)
    T2 first reply 3 h, resolved 9 h, solved, first reply breached
    T3 first reply 2 h, open (resolution not due yet)
    T4 no reply, new, both targets breached
  account Y:
    T5 high, SLA, first reply 0.5 h, resolved 2 h, solved          (both met)
    T6 urgent, no SLA, pending customer
CSAT: T1 rated 5 on Feb 3, T2 rated 2 on Feb 4, T5 rated 4 on Mar 1.
"""

import datetime as dt

import pytest
from django.urls import reverse

from analytics.rollups import rollups_rebuild
from crm.models import Account
from support.choices import Priority, TicketStatus
from tests.analytics.helpers import (
    at,
    by,
    count_queries,
    every_account,
    figure_rows,
    rows_of_every_figure,
    segment_of,
)
from tests.factories.crm import AccountFactory, ContactFactory
from tests.factories.support import CsatSurveyFactory, SLAPolicyFactory, TicketFactory

URL = reverse("analytics:support")
RANGE = {"start": "2026-01-01", "end": "2026-03-31"}
CREATED = at("2026-02-02", 9)


def ticket(account, priority, status, *, policy=None, reply=None, resolved=None, **flags):
    hours = dt.timedelta(hours=1)
    return TicketFactory(
        contact=ContactFactory(account=account, owner=account.owner),
        account=account,
        priority=priority,
        status=status,
        sla_policy=policy,
        created_at=CREATED,
        first_responded_at=CREATED + reply * hours if reply is not None else None,
        resolved_at=CREATED + resolved * hours if resolved is not None else None,
        **flags,
    )


def survey(t, rating, day):
    CsatSurveyFactory(
        ticket=t, token=f"token-{t.pk}", rating=rating, sent_at=at(day), answered_at=at(day)
    )


@pytest.fixture
def desk(rep, agent):
    x = AccountFactory(name="Account X", owner=rep)
    y = AccountFactory(name="Account Y")
    normal, high = SLAPolicyFactory(), SLAPolicyFactory(priority=Priority.HIGH)
    n, solved = Priority.NORMAL, TicketStatus.SOLVED
    t1 = ticket(x, n, solved, policy=normal, reply=1, resolved=5)
    t2 = ticket(x, n, solved, policy=normal, reply=3, resolved=9, first_response_breached=True)
    ticket(x, n, TicketStatus.OPEN, policy=normal, reply=2)
    ticket(x, n, TicketStatus.NEW, policy=normal, first_response_breached=True,
           resolution_breached=True)  # fmt: skip
    t5 = ticket(y, Priority.HIGH, solved, policy=high, reply=0.5, resolved=2)
    ticket(y, Priority.URGENT, TicketStatus.PENDING)
    survey(t1, 5, "2026-02-03")
    survey(t2, 2, "2026-02-04")
    survey(t5, 4, "2026-03-01")
    rollups_rebuild()


def test_backlog_by_status_and_priority(agent_client, desk):
    rows = by(figure_rows(agent_client.get(URL, RANGE), "backlog"), "status")
    # Active now: T4 new/normal, T3 open/normal, T6 pending/urgent.
    assert rows["New"]["normal"] == 1 and rows["New"]["total"] == 1
    assert rows["Open"]["normal"] == 1
    assert rows["Pending customer"]["urgent"] == 1
    assert set(rows) == {"New", "Open", "Pending customer"}


def test_first_response_and_resolution_percentiles(agent_client, desk):
    rows = by(figure_rows(agent_client.get(URL, RANGE), "response_times"), "priority")
    normal = rows["Normal"]
    # First replies 1, 2, 3 h → median 2; p90 at rank 0.9 × 2 = 1.8 → 2 + 0.8 × 1 = 2.8.
    # Resolutions 5, 9 h → median 7; p90 at rank 0.9 → 5 + 0.9 × 4 = 8.6.
    assert normal["tickets"] == 4
    assert (normal["first_median"], normal["first_p90"]) == (2.0, 2.8)
    assert (normal["resolution_median"], normal["resolution_p90"]) == (7.0, 8.6)
    high = rows["High"]
    assert (high["first_median"], high["resolution_p90"]) == (0.5, 2.0)
    assert rows["Urgent"]["first_median"] is None


def test_sla_attainment(agent_client, desk):
    rows = by(figure_rows(agent_client.get(URL, RANGE), "sla"), "priority")
    normal = rows["Normal"]
    # First response: due for T1–T4 (replied or breached); met T1, T3 → 2/4 = 50 %.
    # Resolution: due for T1, T2 (resolved) and T4 (breached); met T1, T2 → 2/3 = 66.7 %.
    assert (normal["first_met"], normal["first_due"], normal["first_rate"]) == (2, 4, 50.0)
    assert (normal["resolution_met"], normal["resolution_due"]) == (2, 3)
    assert normal["resolution_rate"] == 66.7
    assert rows["High"]["first_rate"] == rows["High"]["resolution_rate"] == 100.0
    assert "Urgent" not in rows  # T6 has no SLA policy


def test_csat_by_month(agent_client, desk):
    rows = by(figure_rows(agent_client.get(URL, RANGE), "csat"), "month")
    # February: ratings 5 and 2 → average 3.5; one of two is 4+ → 50 %. March: 4 → 100 %.
    assert rows["2026-02"] == {"month": "2026-02", "answers": 2, "average": 3.5, "csat": 50.0}
    assert rows["2026-03"]["csat"] == 100.0


def test_tickets_per_account(agent_client, desk):
    rows = figure_rows(agent_client.get(URL, RANGE), "per_account")
    # X: T1–T4, active T3 and T4; Y: T5 (high) and T6 (urgent, active).
    assert rows == [
        {"account": "Account X", "tickets": 4, "active": 2, "urgent": 0},
        {"account": "Account Y", "tickets": 2, "active": 1, "urgent": 2},
    ]


def test_a_rep_sees_their_accounts_tickets_only(rep_client, desk):
    response = rep_client.get(URL, RANGE)
    assert [r["account"] for r in figure_rows(response, "per_account")] == ["Account X"]
    assert figure_rows(response, "csat")[0]["answers"] == 2


def test_agent_filters_by_assignee(agent_client, agent, desk):
    response = agent_client.get(URL, {**RANGE, "owner": agent.pk})
    assert response.status_code == 200
    assert figure_rows(response, "per_account") == []  # nothing is assigned to the agent
    assert agent in response.context["form"].fields["owner"].queryset


def test_agent_sees_only_the_support_dashboard_in_the_index(agent_client):
    response = agent_client.get(reverse("analytics:index"))
    assert [title for _, title, _ in response.context["links"]] == ["Support"]


def test_query_count_is_fixed_at_3_and_60_tickets(agent_client):
    account = AccountFactory()
    contact = ContactFactory(account=account)
    TicketFactory.create_batch(3, contact=contact, account=account)
    small = count_queries(agent_client, URL)
    TicketFactory.create_batch(57, contact=contact, account=account)
    assert count_queries(agent_client, URL) == small <= 20


# With a segment: account X is German, Y French; the figures read X's tickets, live.


@pytest.fixture
def german(desk, agent):
    Account.objects.update(country="FR")
    Account.objects.filter(name="Account X").update(country="DE")
    return segment_of(agent, "account", ("country", "in", ["DE"]))


def test_segment_restricts_every_figure(agent_client, german):
    response = agent_client.get(URL, {**RANGE, "segment": german.pk})
    assert response.context["form"].errors == {}
    backlog = by(figure_rows(response, "backlog"), "status")
    assert set(backlog) == {"New", "Open"}  # T6 (Y, pending) is out
    times = by(figure_rows(response, "response_times"), "priority")
    # X's tickets only: first replies 1, 2, 3 h → median 2, p90 2.8; resolutions 5, 9 h →
    # median 7, p90 8.6; nothing of high or urgent priority.
    assert set(times) == {"Normal"}
    assert (times["Normal"]["first_median"], times["Normal"]["first_p90"]) == (2.0, 2.8)
    assert (times["Normal"]["resolution_median"], times["Normal"]["resolution_p90"]) == (7.0, 8.6)
    sla = by(figure_rows(response, "sla"), "priority")
    assert set(sla) == {"Normal"} and sla["Normal"]["first_rate"] == 50.0
    # February: 5 and 2 → 3.5 and 50 %; March's answer is about Y's T5.
    assert figure_rows(response, "csat") == [
        {"month": "2026-02", "answers": 2, "average": 3.5, "csat": 50.0}
    ]
    assert figure_rows(response, "per_account") == [
        {"account": "Account X", "tickets": 4, "active": 2, "urgent": 0}
    ]
    page = response.content.decode()
    assert "computed live" in page and "The segment does not apply to this figure" in page
    history = next(i for i in response.context["rendered"] if i.figure.key == "backlog_history")
    assert history.segment_ignored


def test_contact_segment_means_their_accounts(agent_client, desk, agent):
    ContactFactory(account=Account.objects.get(name="Account Y"), title="VP Support")
    vps = segment_of(agent, "contact", ("title", "contains", "VP"))
    response = agent_client.get(URL, {**RANGE, "segment": vps.pk})
    times = by(figure_rows(response, "response_times"), "priority")
    # Y: T5 high, replied in 0.5 h, resolved in 2 h; T6 urgent, no reply.
    assert set(times) == {"High", "Urgent"}
    assert (times["High"]["first_median"], times["High"]["resolution_p90"]) == (0.5, 2.0)
    assert [r["account"] for r in figure_rows(response, "per_account")] == ["Account Y"]


@pytest.mark.parametrize("who", ["agent", "rep", "manager"])
def test_segment_of_everything_agrees_with_the_rollups(client, desk, who, request):
    user = request.getfixturevalue(who)
    rollups_rebuild()  # the manager's own rows
    client.force_login(user)
    everything = every_account(user)
    plain = rows_of_every_figure(client.get(URL, RANGE))
    assert plain == rows_of_every_figure(client.get(URL, {**RANGE, "segment": everything.pk}))


def test_segment_csv_export(agent_client, german):
    response = agent_client.get(URL, {**RANGE, "segment": german.pk, "export": "per_account"})
    assert response.content.decode().splitlines()[1:] == ["Account X,4,2,0"]


def test_segment_query_count_is_fixed(agent_client, german):
    params = {**RANGE, "segment": german.pk}
    before = count_queries(agent_client, URL, params)
    x = Account.objects.get(name="Account X")
    for _ in range(10):
        ticket(x, Priority.HIGH, TicketStatus.OPEN, reply=1)
    assert count_queries(agent_client, URL, params) == before
    assert before <= count_queries(agent_client, URL, RANGE) + 2
