"""The API hides what the pages hide: for every resource, a record outside the caller's
visibility answers 404 (read) or is missing from the list, a record the caller may see but not
change answers 404 to a write, and a control user who may reach it gets it."""

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from crm.choices import Role
from sales.models import Quote
from sales.services import line_item_add, quote_create
from tests.api.conftest import client_for
from tests.factories import AccountFactory, ContactFactory, TaskFactory, UserFactory
from tests.factories.leads import CampaignFactory, LeadFactory
from tests.factories.retention import SubscriptionFactory
from tests.factories.sales import OpportunityFactory, ProductFactory
from tests.factories.segments import SegmentFactory
from tests.factories.support import ArticleFactory, TicketFactory

pytestmark = pytest.mark.django_db


def _quote(owner) -> Quote:
    deal = OpportunityFactory(owner=owner)
    line_item_add(opportunity=deal, user=owner, product=ProductFactory())
    return quote_create(opportunity=deal, user=owner)


@dataclass(frozen=True)
class Hidden:
    resource: str
    actor: str  # who must not see the record
    make: Callable  # (users) -> record
    control: str  # who sees it
    why: str


READ_HIDDEN = [
    Hidden("leads", "rep", lambda u: LeadFactory(owner=u["rep2"]), "rep2", "another rep's lead"),
    Hidden(
        "leads", "agent", lambda u: LeadFactory(owner=u["rep"]), "manager", "agents see no leads"
    ),
    Hidden(
        "leads", "manager", lambda u: LeadFactory(owner=u["outsider"]), "admin", "another team's"
    ),
    Hidden(
        "opportunities",
        "rep",
        lambda u: OpportunityFactory(owner=u["rep2"]),
        "rep2",
        "another rep's deal",
    ),
    Hidden(
        "opportunities",
        "agent",
        lambda u: OpportunityFactory(owner=u["rep"]),
        "rep",
        "agents see no deals nor their amounts",
    ),
    Hidden(
        "tickets",
        "rep",
        lambda u: TicketFactory(contact=ContactFactory(owner=u["rep2"])),
        "agent",
        "a ticket of another rep's account",
    ),
    Hidden(
        "accounts", "nobody", lambda u: AccountFactory(owner=u["rep"]), "agent", "no role, no data"
    ),
    Hidden(
        "contacts", "nobody", lambda u: ContactFactory(owner=u["rep"]), "agent", "no role, no data"
    ),
    Hidden("tasks", "rep", lambda u: TaskFactory(assignee=u["rep2"]), "rep2", "another rep's task"),
    Hidden("products", "agent", lambda u: ProductFactory(), "rep", "the catalogue is for sellers"),
    Hidden("quotes", "rep", lambda u: _quote(u["rep2"]), "rep2", "a quote of another rep's deal"),
    Hidden(
        "subscriptions",
        "rep",
        lambda u: SubscriptionFactory(account=AccountFactory(owner=u["rep2"])),
        "rep2",
        "another rep's subscription",
    ),
    Hidden(
        "subscriptions",
        "agent",
        lambda u: SubscriptionFactory(account=AccountFactory(owner=u["rep"])),
        "rep",
        "agents see no revenue",
    ),
    Hidden(
        "segments",
        "rep",
        lambda u: SegmentFactory(owner=u["rep2"], shared=False),
        "rep2",
        "another rep's private segment",
    ),
    Hidden(
        "articles",
        "rep",
        lambda u: ArticleFactory(status="draft"),
        "agent",
        "reps read published articles only",
    ),
    Hidden("articles", "nobody", lambda u: ArticleFactory(), "rep", "no role, no data"),
    Hidden("campaigns", "nobody", lambda u: CampaignFactory(), "agent", "no role, no data"),
    Hidden("users", "nobody", lambda u: u["rep"], "agent", "no role, no data"),
]

WRITE_HIDDEN = [
    # (resource, actor, make, data, control): the actor sees the record but may not change it.
    ("accounts", "agent", lambda u: AccountFactory(owner=u["rep"]), {"name": "X"}, "rep"),
    ("contacts", "rep2", lambda u: ContactFactory(owner=u["rep"]), {"title": "X"}, "rep"),
    (
        "tickets",
        "rep",
        lambda u: TicketFactory(contact=ContactFactory(owner=u["rep"])),
        {"priority": "high"},
        "agent",
    ),
]


@pytest.fixture
def users(rep, rep2, agent, manager, admin):
    from tests.factories import TeamFactory

    outsider = UserFactory(username="outsider", roles=[Role.SALES_REP])
    TeamFactory(name="Elsewhere", members=[outsider])
    return {
        "rep": rep,
        "rep2": rep2,
        "agent": agent,
        "manager": manager,
        "admin": admin,
        "outsider": outsider,
        "nobody": UserFactory(username="nobody"),
    }


@pytest.mark.parametrize("row", READ_HIDDEN, ids=lambda r: f"{r.resource}-{r.actor}")
def test_a_record_the_caller_may_not_see_answers_404(users, row):
    record = row.make(users)
    url = f"/api/v1/{row.resource}/{record.pk}/"
    actor = client_for(users[row.actor])
    response = actor.get(url)
    expected = 403 if row.actor == "nobody" else 404  # no role: refused before any record
    assert response.status_code == expected, row.why
    if row.actor != "nobody":
        listed = actor.get(f"/api/v1/{row.resource}/", {"fields": "id", "page_size": 200})
        assert listed.status_code == 200
        assert record.pk not in [r["id"] for r in listed.json()["results"]], row.why
    assert client_for(users[row.control]).get(url).status_code == 200, "control"


@pytest.mark.parametrize("resource, actor, make, data, control", WRITE_HIDDEN)
def test_a_record_the_caller_sees_but_may_not_change_answers_404_to_a_write(
    users, resource, actor, make, data, control
):
    record = make(users)
    url = f"/api/v1/{resource}/{record.pk}/"
    client = client_for(users[actor])
    assert client.get(url).status_code == 200
    assert client.patch(url, data, format="json").status_code == 404
    assert client_for(users[control]).patch(url, data, format="json").status_code == 200


def test_actions_on_a_hidden_record_answer_404(users):
    lead = LeadFactory(owner=users["rep2"])
    deal = OpportunityFactory(owner=users["rep2"])
    rep = client_for(users["rep"])
    assert rep.post(f"/api/v1/leads/{lead.pk}/convert/", {}, format="json").status_code == 404
    for name in ("win", "lose", "move"):
        response = rep.post(f"/api/v1/opportunities/{deal.pk}/{name}/", {}, format="json")
        assert response.status_code == 404, name
    ticket = TicketFactory(contact=ContactFactory(owner=users["rep"]))
    body = {"body": "Hello"}
    assert rep.post(f"/api/v1/tickets/{ticket.pk}/replies/", body, format="json").status_code == 404
    assert rep.get(f"/api/v1/tickets/{ticket.pk}/replies/").status_code == 200  # reads


def test_timeline_writes_need_change_rights_on_the_subject(users):
    lead = LeadFactory(owner=users["rep2"])
    body = {"subject_type": "leads.lead", "subject_id": lead.pk, "kind": "call", "summary": "Hi"}
    rep = client_for(users["rep"])
    assert rep.post("/api/v1/activities/", body, format="json").status_code == 404
    task = {
        "subject_type": "leads.lead",
        "subject_id": lead.pk,
        "title": "x",
        "due_at": "2031-01-01T10:00:00Z",
    }
    assert rep.post("/api/v1/tasks/", task, format="json").status_code == 404
    assert (
        client_for(users["rep2"]).post("/api/v1/activities/", body, format="json").status_code
        == 201
    )


def test_mangled_ids_answer_404(users):
    rep = client_for(users["rep"])
    for pk in ("abc", "0", str(2**63), "-1", "1.5"):
        assert rep.get(f"/api/v1/leads/{pk}/").status_code == 404
