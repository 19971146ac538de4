"""The load scenario's parts that touch the product (``bin/load-test``): the people it signs in
as are made through the People service and given records through the reassignment services,
and the forms locust sends, read from real pages as ``bench/locust/browsing.py`` reads them,
pass CSRF and do their work (a lead's activity and task, a board move, a ticket reply)."""

import importlib.util
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from crm.choices import AuditAction, Role
from crm.models import Activity, AuditEvent, Task, Team, User
from leads.models import Lead
from sales.models import Opportunity
from support.models import TicketMessage
from tests.factories.crm import UserFactory
from tests.factories.leads import LeadFactory
from tests.factories.sales import OpportunityFactory, stage_named
from tests.factories.support import TicketFactory

pytestmark = pytest.mark.django_db

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _module(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


load_users = _module("bench_load_users", BENCH / "load_users.py")
browsing = _module("bench_browsing", BENCH / "locust" / "browsing.py")


@pytest.fixture
def demo_records(admin, manager, rep):
    """Open leads and deals of a seeded rep (``rep3``) to hand out, and some of ``rep``'s."""
    rep3 = UserFactory(username="rep3", roles=[Role.SALES_REP])
    Team.objects.get(name="Sales").members.add(rep3)
    for n in range(5):
        LeadFactory(owner=rep3, last_name=f"Pool{n}")
        OpportunityFactory(owner=rep3)
    LeadFactory(owner=rep, last_name="Kept")
    OpportunityFactory(owner=rep, name="Rep's deal")
    return rep3


def test_load_users_are_invited_and_given_records(demo_records, rep):
    # when
    made = load_users.load_users_create(
        reps=2, agents=1, managers=1, leads_per_rep=2, deals_per_rep=1, stdout=io.StringIO()
    )

    # then: invited through the People service, with the roles, teams and password asked for
    assert made.reps == ["load-rep-01", "load-rep-02"]
    invited = AuditEvent.objects.filter(action=AuditAction.USER_INVITED)
    assert invited.count() == 4
    first = User.objects.get(username="load-rep-01")
    assert first.check_password("demo")
    assert first.groups.filter(name=Role.SALES_REP).exists()
    assert Team.objects.get(name="Sales").members.filter(pk=first.pk).exists()
    agent = User.objects.get(username="load-agent-01")
    assert Team.objects.get(name="Support").members.filter(pk=agent.pk).exists()
    boss = User.objects.get(username="load-manager-01")
    assert set(boss.managed_teams.values_list("name", flat=True)) == {"Sales", "Support"}
    # each rep owns a working day's records, taken from the seeded rep, never from `rep`
    for name in made.reps:
        assert Lead.objects.open().filter(owner__username=name).count() == 2
        assert Opportunity.objects.open().filter(owner__username=name).count() == 1
    assert Lead.objects.get(last_name="Kept").owner == rep
    assert Opportunity.objects.get(name="Rep's deal").owner == rep
    assert Lead.objects.filter(owner=demo_records).count() == 1
    # and a manager's view of them is a manager's: the load manager sees the reps' leads
    assert Lead.objects.visible_to(boss).filter(owner=first).count() == 2


def test_running_it_again_changes_nothing(demo_records):
    load_users.load_users_create(
        reps=1, agents=1, managers=1, leads_per_rep=2, deals_per_rep=1, stdout=io.StringIO()
    )
    users, leads = User.objects.count(), list(Lead.objects.values_list("pk", "owner_id"))

    out = io.StringIO()
    load_users.load_users_create(
        reps=1, agents=1, managers=1, leads_per_rep=2, deals_per_rep=1, stdout=out
    )

    assert User.objects.count() == users
    assert list(Lead.objects.values_list("pk", "owner_id")) == leads
    assert "0 invited, 3 kept" in out.getvalue()
    assert "0 leads and 0 deals" in out.getvalue()


def _browser(username: str) -> Client:
    """Signs in at /login/ with the sign-in form read from the page, as locust does."""
    client = Client(enforce_csrf_checks=True)
    page = client.get("/login/", follow=True)
    form = browsing.page_form(page.content.decode(), r"login")
    data = {**form["fields"], "username": username, "password": "secret-pass-1"}
    response = client.post(page.request["PATH_INFO"], data)
    assert response.status_code == 302
    return client


def _user(username: str, role: str) -> User:
    user = UserFactory(username=username, roles=[role])
    user.set_password("secret-pass-1")
    user.save(update_fields=["password"])
    return user


def test_a_rep_logs_an_activity_and_a_task_through_the_leads_page():
    rep = _user("load-rep-01", Role.SALES_REP)
    lead = LeadFactory(owner=rep)
    browser = _browser("load-rep-01")
    page = browser.get(f"/leads/{lead.pk}/").content.decode()
    token = browsing.csrf_header(page)
    assert token

    form = browsing.page_form(page, r"/timeline/[^/]+/\d+/activities/$")
    data = {**form["fields"], "activity-summary": "Call about pricing", "activity-kind": "call"}
    response = browser.post(form["action"], data, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200
    assert Activity.objects.filter(summary="Call about pricing", actor=rep).count() == 1

    form = browsing.page_form(page, r"/timeline/[^/]+/\d+/tasks/$")
    data = {**form["fields"], "task-title": "Follow up: pricing", "task-due_at": browsing.due()}
    response = browser.post(form["action"], data, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200
    assert Task.objects.get(title="Follow up: pricing").assignee == rep


def test_a_board_move_read_from_the_board_moves_the_deal():
    rep = _user("load-rep-01", Role.SALES_REP)
    deal = OpportunityFactory(owner=rep, stage=stage_named("Qualification"))
    browser = _browser("load-rep-01")
    page = browser.get("/opportunities/board/").content.decode()

    url, data = browsing.board_move(page)

    assert url == f"/opportunities/{deal.pk}/move/"
    response = browser.post(
        url, data, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=browsing.csrf_header(page)
    )
    assert response.status_code == 200
    deal.refresh_from_db()
    assert deal.stage_id == int(data["stage"])
    assert deal.is_closed is False


def test_an_agent_replies_to_a_ticket_with_the_pages_form():
    _user("load-agent-01", Role.SUPPORT_AGENT)
    ticket = TicketFactory()
    browser = _browser("load-agent-01")
    path = f"/tickets/{ticket.pk}/"
    page = browser.get(path).content.decode()

    form = browsing.page_form(page, r"/tickets/\d+/reply/$")
    data = {**form["fields"], "body": "We found the cause.", "status": ""}
    response = browser.post(form["action"], data, HTTP_REFERER=f"http://testserver{path}")

    assert response.status_code == 302
    assert TicketMessage.objects.filter(ticket=ticket, body="We found the cause.").count() == 1
    # the same form sent twice (a retry) replies once: the page's submission key is in it
    browser.post(form["action"], data, HTTP_REFERER=f"http://testserver{path}")
    assert TicketMessage.objects.filter(ticket=ticket, body="We found the cause.").count() == 1


def test_page_form_reads_what_a_browser_sends():
    page = """
    <form action="/x/" method="post"><input type="hidden" name="csrfmiddlewaretoken" value="t">
      <input name="a" value="1"><input type="checkbox" name="b" value="on">
      <input type="checkbox" name="c" value="yes" checked>
      <select name="s"><option value="">-</option><option value="2" selected>Two</option></select>
      <select name="first"><option value="p">P</option><option value="q">Q</option></select>
      <textarea name="t">Hello &amp; bye</textarea><input type="submit" name="go" value="Go">
    </form>"""

    form = browsing.page_form(page, r"^/x/$")

    assert form["method"] == "post"
    assert form["fields"] == {
        "csrfmiddlewaretoken": "t",
        "a": "1",
        "c": "yes",
        "s": "2",
        "first": "p",
        "t": "Hello & bye",
    }
    assert form["options"]["first"] == ["p", "q"]
    assert browsing.page_form(page, r"/y/") is None


def _locust() -> str | None:
    beside = Path(sys.executable).parent / "locust"
    return os.environ.get("LOCUST") or (str(beside) if beside.exists() else shutil.which("locust"))


@pytest.mark.skipif(_locust() is None, reason="locust is not installed (requirements-dev.txt)")
def test_locust_loads_the_scenario_with_its_three_roles():
    # In a process of its own: locust patches the standard library (gevent) when imported.
    listed = subprocess.run(
        [_locust(), "-f", str(BENCH / "locust" / "locustfile.py"), "--list"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert listed.stdout.split()[-3:] == ["Rep", "Agent", "Manager"]
