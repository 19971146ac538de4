"""The role-aware home page: what the role works on first leads the page (a rep's tasks, deals
and leads; an agent's queue; a manager's team figures; an admin's operations), in a bounded
number of queries whatever the data."""

import time
from datetime import timedelta

import pytest
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.urls import reverse
from django.utils import timezone

from analytics.models import OpenDeals, OpenTickets
from sales.models import Opportunity
from tests.factories.crm import AccountFactory, TaskFactory
from tests.factories.leads import LeadFactory
from tests.factories.sales import OpportunityFactory
from tests.factories.support import TicketFactory

pytestmark = pytest.mark.django_db

#: Each role's home page at most, on a first visit (its figures not kept yet; a second visit
#: within HOME_FIGURES_SECONDS reads fewer): the session, the user, their roles, the bell and
#: the navigation, then the role's blocks.
HOME_QUERIES = {"rep": 11, "agent": 9, "manager": 18, "admin": 27}


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
    with django_assert_max_num_queries(HOME_QUERIES["rep"]):
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
    with django_assert_max_num_queries(HOME_QUERIES["rep"]):
        assert rep_client.get(reverse("home")).status_code == 200


def test_an_agent_sees_their_queue_first(agent_client, rep, agent, django_assert_max_num_queries):
    _some_records(rep, agent)
    with django_assert_max_num_queries(HOME_QUERIES["agent"]):
        response = agent_client.get(reverse("home"))
    assert _titles(response, "focus_widgets") == ["My queue"]
    queue = _widget(response, "My queue")
    assert queue["totals"]["total"] == 3 and len(queue["following"]) == 3
    shown = _titles(response, "other_widgets")
    assert "My tasks today" in shown and "My pipeline" not in shown and "Open leads" not in shown
    assert 'href="/opportunities/"' not in response.content.decode()


def test_an_agent_s_home_lists_the_first_of_their_queue_in_its_order(agent_client, agent):
    """Paused or pending tickets wait on the customer: last, as in "My queue"."""
    now = timezone.now()
    for hours, status, paused in [
        (1, "open", None),
        (-2, "open", None),
        (-5, "open", now),  # its clock paused: waiting on the customer
        (3, "pending", None),
        (2, "open", None),
        (4, "new", None),
        (5, "open", None),
    ]:
        TicketFactory(
            assignee=agent, status=status, sla_due_at=now + timedelta(hours=hours),
            sla_paused_at=paused,
        )  # fmt: skip
    queue = _widget(agent_client.get(reverse("home")), "My queue")
    page = agent_client.get(reverse("support:my_queue")).context["object_list"]
    assert [t.pk for t in queue["following"]] == [t.pk for t in page][:6]
    following = queue["following"]
    assert following[0].sla_due_at == now - timedelta(hours=2)
    assert following[-1].sla_paused_at is not None  # overdue, but after every running one


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
    with django_assert_max_num_queries(HOME_QUERIES["manager"]):
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
    with django_assert_max_num_queries(HOME_QUERIES["admin"]):
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


def test_the_task_lists_come_in_one_query_with_their_records(
    rep_client, rep, django_assert_num_queries
):
    """Given overdue and due-today tasks about leads, accounts and contacts (some overdue lead
    tasks, so the follow-ups block shows), the three lists are read in one query and their
    records in one query per kind of record, whatever the number of tasks."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm.models import Task
    from tests.factories.crm import ContactFactory

    now = timezone.now()
    for n in range(20):  # more than a list shows
        subject = [LeadFactory(owner=rep), AccountFactory(owner=rep), ContactFactory()][n % 3]
        TaskFactory(assignee=rep, subject=subject, due_at=now - timedelta(hours=n + 1))
    TaskFactory(
        assignee=rep, due_at=min(now + timedelta(minutes=5), now.replace(hour=23, minute=59))
    )
    with CaptureQueriesContext(connection) as captured:
        response = rep_client.get(reverse("home"))
    task_queries = [q["sql"] for q in captured if 'FROM "crm_task"' in q["sql"]]
    assert len(task_queries) == 1 and "UNION ALL" in task_queries[0]
    tasks = _widget(response, "My tasks today")
    assert len(tasks["overdue"]) == 15 and tasks["more_overdue"]
    overdue = Task.objects.filter(assignee=rep, due_at__lt=now).order_by("due_at", "id")
    assert [t.pk for t in tasks["overdue"]] == [t.pk for t in overdue[:15]]
    follow_ups = _widget(response, "Overdue lead follow-ups")["tasks"]
    lead_tasks = [t for t in overdue if t.content_type.model == "lead"]
    assert [t.pk for t in follow_ups] == [t.pk for t in lead_tasks[:10]]
    assert all(t.subject is not None for t in [*tasks["overdue"], *follow_ups])
    body = response.content.decode()
    first = tasks["overdue"][0]
    assert reverse("task_toggle", args=[first.pk]) in body
    assert reverse("task_edit", args=[first.pk]) in body
    assert first.subject.get_absolute_url() in body


def test_the_blocks_records_are_read_once_a_kind_for_every_block(rep_client, rep):
    """A contact that an overdue task, a meeting today and a recent activity are about is read
    once for the three blocks, and each block shows it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories.crm import ActivityFactory, ContactFactory, MeetingFactory

    now = timezone.now()
    soon = now + timedelta(minutes=5)
    if timezone.localtime(soon).date() != timezone.localdate():
        pytest.skip("too close to midnight for a meeting later today")
    contact = ContactFactory(owner=rep, first_name="Ada", last_name="Subject")
    TaskFactory(assignee=rep, subject=contact, due_at=now - timedelta(hours=1))
    MeetingFactory(organizer=rep, title="Call with Ada", starts_at=soon, about=contact)
    ActivityFactory(subject=contact, summary="Spoke with Ada")
    with CaptureQueriesContext(connection) as captured:
        response = rep_client.get(reverse("home"))
    contact_reads = [q["sql"] for q in captured if 'FROM "crm_contact"' in q["sql"]]
    assert len(contact_reads) == 1
    assert _widget(response, "My tasks today")["overdue"][0].subject == contact
    assert _widget(response, "My meetings today")["meetings"][0].subject == contact
    (line,) = _widget(response, "Recent activity")["recent"]
    assert contact.get_absolute_url() in line and "Spoke with Ada" in line


def test_figures_are_kept_for_a_minute_and_then_read_again(rep_client, rep, monkeypatch):
    """A rep's open lead counts and pipeline totals are kept per user for
    ``HOME_FIGURES_SECONDS``: a lead added meanwhile shows in the best leads at once and in the
    counts once they are read again."""
    from django.core.cache import caches

    LeadFactory(owner=rep, last_name="First")
    OpportunityFactory(owner=rep, amount=1000)
    assert _widget(rep_client.get(reverse("home")), "Open leads")["total"] == 1
    LeadFactory(owner=rep, last_name="Second", score=99)
    OpportunityFactory(owner=rep, amount=1000)
    response = rep_client.get(reverse("home"))
    leads = _widget(response, "Open leads")
    assert leads["total"] == 1  # the kept figures
    assert "Second" in [lead.last_name for lead in leads["best"]]  # the list is read each time
    assert _widget(response, "My pipeline")["totals"]["n"] == 1
    caches["home"].clear()  # what expiry does after HOME_FIGURES_SECONDS
    response = rep_client.get(reverse("home"))
    assert _widget(response, "Open leads")["total"] == 2
    assert _widget(response, "My pipeline")["totals"]["n"] == 2


def test_figures_are_kept_per_user(rep_client, rep, rep2, client):
    LeadFactory(owner=rep)
    assert _widget(rep_client.get(reverse("home")), "Open leads")["total"] == 1
    client.force_login(rep2)
    assert _widget(client.get(reverse("home")), "Open leads")["total"] == 0


def test_a_task_row_is_the_task_row_template_with_every_text_escaped(rep_client, rep):
    """Given an overdue task whose title and record's name carry markup, the home page's row is
    what ``crm/_task_row.html`` writes for it (but the form's one-time key), the markup shown as
    text."""
    import re

    from django.template.loader import render_to_string

    from tests.factories.crm import ContactFactory

    contact = ContactFactory(first_name="<b>Bold</b>", last_name="O'Hara & Co")
    task = TaskFactory(
        assignee=rep,
        subject=contact,
        title='<script>alert("x")</script>',
        due_at=timezone.now() - timedelta(hours=2),
    )
    response = rep_client.get(reverse("home") + "?a=<i>&b=1")
    row = str(_widget(response, "My tasks today")["overdue"][0].home_row)
    assert "<script>" not in row and "<b>" not in row and "<i>" not in row
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in row
    assert row in response.content.decode()

    request = response.wsgi_request
    task.subject = contact
    expected = render_to_string(
        "crm/_task_row.html", {"task": task, "show_subject": True}, request=request
    )

    def cells(html):  # but the one-time values, and the blank line of the template's "if bulk"
        html = re.sub(r'(name="(?:_submission|csrfmiddlewaretoken)" value=")[^"]*"', r'\1"', html)
        return [line for line in html.strip().splitlines() if line.strip()]

    assert cells(row) == cells(expected)


def test_a_recent_activity_line_shows_the_entry_with_every_text_escaped(rep_client, rep):
    """Given an entry whose summary, author and record's name carry markup, the home page's
    line shows its kind, time, author, a link to the record and the summary, the markup as
    text."""
    from crm.choices import ActivityKind
    from crm.models import Activity
    from tests.factories.crm import ContactFactory

    rep.first_name, rep.last_name = "<i>Rep</i>", "Smith"
    rep.save()
    contact = ContactFactory(owner=rep, first_name="<b>Bold</b>", last_name="O'Hara & Co")
    when = timezone.now() - timedelta(days=1)
    Activity.objects.create(
        subject=contact,
        kind=ActivityKind.CALL,
        summary='<script>alert("x")</script>',
        occurred_at=when,
        actor=rep,
    )
    response = rep_client.get(reverse("home"))
    line = str(_widget(response, "Recent activity")["recent"][0])
    assert "<script>" not in line and "<b>" not in line and "<i>" not in line
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in line
    assert (
        f'<a href="{contact.get_absolute_url()}">&lt;b&gt;Bold&lt;/b&gt; O&#x27;Hara &amp; Co</a>'
        in line
    )
    local = timezone.localtime(when)
    assert (
        f'Call · <time datetime="{local.isoformat()}">{local:%Y-%m-%d %H:%M}</time>'
        " · &lt;i&gt;Rep&lt;/i&gt; Smith" in line
    )
    assert line in response.content.decode()


class UnansweringCache(BaseCache):
    """A shared cache whose server does not answer."""

    def __init__(self, location, params):
        super().__init__(params)

    def get_many(self, keys, version=None):
        raise ConnectionError("no answer")

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        raise ConnectionError("no answer")


def _shared_cache(settings, backend="django.core.cache.backends.locmem.LocMemCache"):
    settings.HOME_FIGURES_SHARED = True
    settings.CACHES = {**settings.CACHES, "default": {"BACKEND": backend, "LOCATION": "shared"}}


def test_figures_computed_by_another_process_are_taken_for_the_rest_of_the_minute(
    rep_client, rep, settings, monkeypatch
):
    """With the figures shared, a web process that has none takes those another computed, until
    they are ``HOME_FIGURES_SECONDS`` old; then they are computed again."""
    from django.core.cache import caches

    from crm.views import home

    _shared_cache(settings)
    LeadFactory(owner=rep)
    assert _widget(rep_client.get(reverse("home")), "Open leads")["total"] == 1
    LeadFactory(owner=rep)
    caches["home"].clear()  # another web process: nothing in its memory
    assert _widget(rep_client.get(reverse("home")), "Open leads")["total"] == 1
    computed = time.time()
    monkeypatch.setattr(home.time, "time", lambda: computed + home.HOME_FIGURES_SECONDS + 1)
    caches["home"].clear()
    assert _widget(rep_client.get(reverse("home")), "Open leads")["total"] == 2


def test_a_shared_cache_that_does_not_answer_costs_only_computing_the_figures(
    rep_client, rep, settings
):
    _shared_cache(settings, backend=f"{__name__}.UnansweringCache")
    LeadFactory(owner=rep)
    response = rep_client.get(reverse("home"))
    assert response.status_code == 200
    assert _widget(response, "Open leads")["total"] == 1
