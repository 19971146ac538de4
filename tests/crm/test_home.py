"""The role-aware home page: what the role works on first leads the page (a rep's tasks, deals
and leads; an agent's queue; a manager's team figures; an admin's operations), in a bounded
number of queries whatever the data."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from analytics.models import OpenDeals, OpenTickets
from sales.models import Opportunity
from tests.factories.crm import AccountFactory, TaskFactory
from tests.factories.leads import LeadFactory
from tests.factories.sales import OpportunityFactory
from tests.factories.support import TicketFactory

pytestmark = pytest.mark.django_db

HOME_QUERIES = 40


def _titles(response, column):
    return [widget.title for widget, _ in response.context[column]]


def _widget(response, title):
    for column in ("focus_widgets", "other_widgets", "aside_widgets"):
        for widget, context in response.context[column]:
            if widget.title == title:
                return context
    raise AssertionError(f"no {title!r} block")


def _some_records(rep, agent):
    account = AccountFactory(owner=rep)
    for n in range(3):
        LeadFactory(owner=rep, last_name=f"Lead{n}")
        OpportunityFactory(owner=rep, account=account)
        TicketFactory(account=account, assignee=agent)
        TaskFactory(assignee=rep, due_at=timezone.now() - timedelta(hours=n + 1))
        TaskFactory(assignee=agent, due_at=timezone.now() - timedelta(hours=n + 1))


def test_a_rep_sees_tasks_deals_and_leads_first(
    rep_client, rep, agent, django_assert_max_num_queries
):
    _some_records(rep, agent)
    with django_assert_max_num_queries(HOME_QUERIES):
        response = rep_client.get(reverse("home"))
    assert _titles(response, "focus_widgets") == ["My tasks today", "My pipeline", "Open leads"]
    assert _titles(response, "aside_widgets") == ["Recent activity"]
    assert "My queue" not in _titles(response, "focus_widgets") + _titles(response, "other_widgets")
    assert len(_widget(response, "My tasks today")["overdue"]) == 3
    assert _widget(response, "Open leads")["total"] == 3


def test_a_rep_home_stays_within_its_queries_with_more_data(
    rep_client, rep, agent, django_assert_max_num_queries
):
    for _ in range(3):
        _some_records(rep, agent)
    with django_assert_max_num_queries(HOME_QUERIES):
        assert rep_client.get(reverse("home")).status_code == 200


def test_an_agent_sees_their_queue_first(agent_client, rep, agent, django_assert_max_num_queries):
    _some_records(rep, agent)
    with django_assert_max_num_queries(HOME_QUERIES):
        response = agent_client.get(reverse("home"))
    assert _titles(response, "focus_widgets") == ["My queue"]
    queue = _widget(response, "My queue")
    assert queue["totals"]["total"] == 3 and len(queue["following"]) == 3
    shown = _titles(response, "other_widgets")
    assert "My tasks today" in shown and "My pipeline" not in shown and "Open leads" not in shown
    assert 'href="/opportunities/"' not in response.content.decode()


def test_a_manager_sees_team_figures_from_the_snapshots_first(
    manager_client, manager, rep, agent, django_assert_max_num_queries
):
    _some_records(rep, agent)
    deal = Opportunity.objects.first()
    OpenDeals.objects.create(
        owner=rep,
        pipeline_id=deal.pipeline_id,
        stage_id=deal.stage_id,
        forecast_category="pipeline",
        slipped=True,
        deals_count=4,
        amount=12000,
        weighted=3000,
    )
    OpenTickets.objects.create(
        audience="manager", person=manager, status="pending", priority="normal", tickets=5
    )
    with django_assert_max_num_queries(HOME_QUERIES):
        response = manager_client.get(reverse("home"))
    assert _titles(response, "focus_widgets") == ["Team figures"]
    assert _titles(response, "other_widgets")[:2] == ["My tasks today", "My queue"]
    figures = _widget(response, "Team figures")
    assert figures["pipeline"]["amount"] == 12000 and figures["pipeline"]["slipped"] == 4
    assert figures["tickets"]["open"] == 5 and figures["tickets"]["pending"] == 5
    body = response.content.decode()
    assert "12,000" in body and "past their close date" in body


def test_an_admin_sees_operations_first(admin_client_, rep, agent, django_assert_max_num_queries):
    _some_records(rep, agent)
    with django_assert_max_num_queries(HOME_QUERIES):
        response = admin_client_.get(reverse("home"))
    assert _titles(response, "focus_widgets") == ["Operations"]
    operations = _widget(response, "Operations")
    assert [label for label, _ in operations["services"]] == ["Broker", "Background work"]
    body = response.content.decode()
    assert "Background work" in body and reverse("work_problems") in body


def test_a_user_without_a_role_is_told_to_ask_for_one(client):
    from tests.factories import UserFactory

    client.force_login(UserFactory(roles=[]))
    response = client.get(reverse("home"))
    assert "no role yet" in response.content.decode()
    assert response.context["focus_widgets"] == []
