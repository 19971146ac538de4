"""Writes through the API go through the services with the pages' validation: 400 with field
errors for bad input, 409 with the current values on a stale If-Match, one object per
Idempotency-Key, and the same history and signals as the pages."""

import pytest

from crm.models import Activity, ApiIdempotencyKey
from leads.choices import LeadStatus
from leads.models import Lead
from sales.choices import StageKind
from sales.models import Opportunity, Order
from support.models import Ticket, TicketMessage
from tests.api.conftest import client_for
from tests.factories import AccountFactory, ContactFactory, TaskFactory
from tests.factories.leads import LeadFactory
from tests.factories.sales import OpportunityFactory, stage_named
from tests.factories.support import TicketFactory

pytestmark = [pytest.mark.django_db, pytest.mark.pgbouncer]


def test_creating_a_lead_runs_the_service_and_logs_it(api, rep):
    response = api.post(
        "/api/v1/leads/",
        {"first_name": "Ada", "last_name": "Lovelace", "email": "ADA@Example.com"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    lead = Lead.objects.get(pk=body["id"])
    assert lead.email == "ada@example.com" and lead.owner == rep  # normalised, assigned
    assert body["status"] == LeadStatus.NEW and response["ETag"]
    assert Activity.objects.for_object(lead).filter(summary__startswith="Lead created").exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"first_name": "No last name"}, "last_name"),
        ({"last_name": "X", "email": "not-an-email"}, "email"),
        ({"last_name": "X", "website": "nodot"}, "website"),
        ({"last_name": "X", "employees": "many"}, "employees"),
        ({"last_name": ["a", "list"]}, "last_name"),
        ({"last_name": "X", "email_consent": "yes"}, "email_consent"),
        ({"last_name": "X", "owner": 10**12}, "owner"),
        ({"last_name": "X" * 300}, "last_name"),
        ({"last_name": "X\x00"}, "last_name"),
        ([1, 2], "non_field_errors"),
    ],
)
def test_bad_lead_input_answers_400_with_field_errors(api, body, field):
    response = api.post("/api/v1/leads/", body, format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert not Lead.objects.exists()


def test_a_duplicate_lead_is_refused_like_on_the_page(api, rep):
    LeadFactory(owner=rep, email="dup@example.com")
    response = api.post(
        "/api/v1/leads/", {"last_name": "D", "email": "dup@example.com"}, format="json"
    )
    assert response.status_code == 400 and "This person is already the lead" in str(response.json())


def test_a_rep_cannot_give_a_lead_to_another_rep(api, rep2):
    response = api.post("/api/v1/leads/", {"last_name": "X", "owner": rep2.pk}, format="json")
    assert response.status_code == 400 and "owner" in response.json()


def test_malformed_json_answers_400(api):
    response = api.generic("POST", "/api/v1/leads/", "{not json", content_type="application/json")
    assert response.status_code == 400
    form = api.post("/api/v1/leads/", {"last_name": "X"})  # multipart: JSON only
    assert form.status_code == 415


def test_patch_changes_only_what_it_sends_and_if_match_guards_it(api, rep):
    lead = LeadFactory(owner=rep, title="CTO", company_name="Acme")
    url = f"/api/v1/leads/{lead.pk}/"
    etag = api.get(url)["ETag"]

    changed = api.patch(url, {"title": "CEO"}, format="json", HTTP_IF_MATCH=etag)
    assert changed.status_code == 200 and changed.json()["title"] == "CEO"
    assert changed.json()["company_name"] == "Acme" and changed["ETag"] != etag

    stale = api.patch(url, {"title": "CFO"}, format="json", HTTP_IF_MATCH=etag)
    assert stale.status_code == 409
    assert stale.json()["current"]["title"] == "CEO" and stale["ETag"] == changed["ETag"]
    lead.refresh_from_db()
    assert lead.title == "CEO"
    assert api.patch(url, {"title": "CFO"}, format="json", HTTP_IF_MATCH="*").status_code == 200
    assert Activity.objects.for_object(lead).filter(summary__startswith="Changed").count() == 2


def test_an_idempotency_key_repeat_answers_the_first_answer_and_makes_one_lead(api):
    body = {"last_name": "Once", "email": "once@example.com"}
    first = api.post("/api/v1/leads/", body, format="json", HTTP_IDEMPOTENCY_KEY="key-1")
    again = api.post("/api/v1/leads/", body, format="json", HTTP_IDEMPOTENCY_KEY="key-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Lead.objects.count() == 1
    # The replay carries the version its body shows, so an If-Match built on it works until
    # the record changes, and is refused after.
    assert again["ETag"] == first["ETag"]
    url = f"/api/v1/leads/{first.json()['id']}/"
    changed = api.patch(url, {"title": "CEO"}, format="json", HTTP_IF_MATCH=again["ETag"])
    assert changed.status_code == 200
    replay = api.post("/api/v1/leads/", body, format="json", HTTP_IDEMPOTENCY_KEY="key-1")
    assert replay["ETag"] == first["ETag"]
    stale = api.patch(url, {"title": "CFO"}, format="json", HTTP_IF_MATCH=replay["ETag"])
    assert stale.status_code == 409
    other = api.post(
        "/api/v1/leads/", {"last_name": "Other"}, format="json", HTTP_IDEMPOTENCY_KEY="key-1"
    )
    assert other.status_code == 422 and Lead.objects.count() == 1


def test_an_idempotency_key_is_forgotten_after_a_day(api):
    import datetime as dt

    from django.utils import timezone

    body = {"last_name": "Daily"}
    api.post("/api/v1/leads/", body, format="json", HTTP_IDEMPOTENCY_KEY="daily")
    ApiIdempotencyKey.objects.update(created_at=timezone.now() - dt.timedelta(days=1, seconds=1))
    again = api.post("/api/v1/leads/", body, format="json", HTTP_IDEMPOTENCY_KEY="daily")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert Lead.objects.count() == 2 and ApiIdempotencyKey.objects.count() == 1


def test_a_failed_request_frees_its_idempotency_key(api):
    bad = api.post("/api/v1/leads/", {"first_name": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="k2")
    assert bad.status_code == 400 and not ApiIdempotencyKey.objects.exists()


def test_idempotency_keys_are_per_user(rep, rep2):
    for user in (rep, rep2):
        # two different accounts (one account twice would be refused as a duplicate)
        body = {"name": f"Acme {user.pk}", "domain": f"acme{user.pk}.example"}
        response = client_for(user).post(
            "/api/v1/accounts/", body, format="json", HTTP_IDEMPOTENCY_KEY="same"
        )
        assert response.status_code == 201
    assert ApiIdempotencyKey.objects.count() == 2


def test_converting_a_lead_makes_account_contact_and_deal_once(api, rep):
    lead = LeadFactory(owner=rep, status=LeadStatus.QUALIFIED, company_name="Convertia")
    url = f"/api/v1/leads/{lead.pk}/convert/"
    response = api.post(url, {"opportunity_name": "First deal"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == LeadStatus.CONVERTED
    assert response.json()["converted_account"] and response.json()["converted_contact"]
    assert api.post(url, {}, format="json").status_code == 200
    assert Opportunity.objects.filter(source_lead=lead).count() == 1


def test_lead_status_follows_the_allowed_transitions(api, rep):
    lead = LeadFactory(owner=rep)
    url = f"/api/v1/leads/{lead.pk}/status/"
    assert api.post(url, {"status": "disqualified"}, format="json").status_code == 400
    ok = api.post(url, {"status": "disqualified", "reason": "no_budget"}, format="json")
    assert ok.status_code == 200 and ok.json()["status"] == "disqualified"
    assert api.post(url, {"status": "qualified"}, format="json").status_code == 400


def test_deals_are_created_moved_won_and_lost_through_the_services(api, rep):
    account = AccountFactory(owner=rep)
    created = api.post(
        "/api/v1/opportunities/",
        {"name": "Big one", "account": account.pk, "amount": "5000.00", "currency": "eur"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    deal = created.json()
    assert deal["currency"] == "EUR" and deal["status"] == StageKind.OPEN

    proposal = stage_named("Proposal")
    moved = api.post(
        f"/api/v1/opportunities/{deal['id']}/move/", {"stage": proposal.pk}, format="json"
    )
    assert moved.status_code == 200 and moved.json()["stage"] == proposal.pk
    won_stage = stage_named("Closed won")
    refused = api.post(
        f"/api/v1/opportunities/{deal['id']}/move/", {"stage": won_stage.pk}, format="json"
    )
    assert refused.status_code == 400 and "stage" in refused.json()

    won = api.post(f"/api/v1/opportunities/{deal['id']}/win/", format="json")
    assert won.status_code == 200 and won.json()["status"] == StageKind.WON
    assert Order.objects.filter(opportunity_id=deal["id"]).count() == 1
    final = api.post(
        f"/api/v1/opportunities/{deal['id']}/lose/", {"reason": "price"}, format="json"
    )
    assert final.status_code == 400  # a won deal is final

    other = OpportunityFactory(owner=rep)
    assert api.post(f"/api/v1/opportunities/{other.pk}/lose/", {}, format="json").status_code == 400
    lost = api.post(f"/api/v1/opportunities/{other.pk}/lose/", {"reason": "price"}, format="json")
    assert lost.status_code == 200 and lost.json()["status"] == StageKind.LOST


def test_a_deal_for_an_unknown_account_or_a_foreign_contact_answers_400(api, rep):
    account = AccountFactory(owner=rep)
    elsewhere = ContactFactory()  # of another account
    response = api.post(
        "/api/v1/opportunities/",
        {"name": "X", "account": account.pk, "primary_contact": elsewhere.pk, "currency": "EUR"},
        format="json",
    )
    assert response.status_code == 400 and "primary_contact" in response.json()
    response = api.post(
        "/api/v1/opportunities/", {"name": "X", "account": 10**15, "currency": "EUR"}, format="json"
    )
    assert response.status_code == 400 and "account" in response.json()


def test_the_desk_opens_changes_and_answers_tickets(agent):
    api = client_for(agent)
    contact = ContactFactory(email="cust@example.com")
    created = api.post(
        "/api/v1/tickets/",
        {"subject": "Broken", "contact": contact.pk, "priority": "high", "tag_names": "outage"},
        format="json",
    )
    assert created.status_code == 201, created.json()
    ticket = created.json()
    assert ticket["reference"] and ticket["tags"] == ["outage"]
    url = f"/api/v1/tickets/{ticket['id']}/"
    assert api.patch(url, {"status": "nonsense"}, format="json").status_code == 400
    changed = api.patch(url, {"priority": "low", "status": "open"}, format="json")
    assert changed.status_code == 200, changed.json()
    assert changed.json()["priority"] == "low" and changed.json()["status"] == "open"

    reply = api.post(f"{url}replies/", {"body": "We are on it"}, format="json")
    assert reply.status_code == 201 and reply.json()["kind"] == "reply"
    assert api.post(f"{url}replies/", {"body": ""}, format="json").status_code == 400
    note = api.post(f"{url}notes/", {"body": "Internal"}, format="json")
    assert note.status_code == 201
    thread = api.get(f"{url}replies/").json()
    assert [m["body"] for m in thread][-2:] == ["We are on it", "Internal"]
    assert TicketMessage.objects.filter(ticket_id=ticket["id"]).count() >= 2


def test_a_rep_reads_tickets_of_their_accounts_but_opens_none(api, rep):
    ticket = TicketFactory(contact=ContactFactory(owner=rep))
    assert api.get(f"/api/v1/tickets/{ticket.pk}/").status_code == 200
    assert api.post("/api/v1/tickets/", {"subject": "x"}, format="json").status_code == 403
    assert Ticket.objects.count() == 1


def test_activities_and_tasks_on_a_record_the_caller_may_change(api, rep):
    lead = LeadFactory(owner=rep)
    subject = {"subject_type": "leads.lead", "subject_id": lead.pk}
    logged = api.post(
        "/api/v1/activities/", {**subject, "kind": "call", "summary": "Called"}, format="json"
    )
    assert logged.status_code == 201 and logged.json()["subject_type"] == "leads.lead"
    system = api.post(
        "/api/v1/activities/", {**subject, "kind": "system", "summary": "x"}, format="json"
    )
    assert system.status_code == 400 and "kind" in system.json()
    unknown = api.post(
        "/api/v1/activities/", {"subject_type": "crm.user", "subject_id": 1}, format="json"
    )
    assert unknown.status_code == 400

    task = api.post(
        "/api/v1/tasks/",
        {**subject, "title": "Call back", "due_at": "2031-01-01T10:00:00Z"},
        format="json",
    )
    assert task.status_code == 201 and task.json()["assignee"] == rep.pk
    url = f"/api/v1/tasks/{task.json()['id']}/"
    assert (
        api.patch(url, {"title": "Call back soon"}, format="json").json()["title"]
        == "Call back soon"
    )
    done = api.post(f"{url}complete/", format="json")
    assert done.status_code == 200 and done.json()["done_at"]
    assert (
        api.post("/api/v1/tasks/", {"title": "x", "due_at": "nonsense"}, format="json").status_code
        == 400
    )


@pytest.mark.parametrize(
    "resource, make",
    [
        ("accounts", lambda rep: AccountFactory(owner=rep)),
        ("contacts", lambda rep: ContactFactory(owner=rep)),
        ("leads", lambda rep: LeadFactory(owner=rep)),
        ("opportunities", lambda rep: OpportunityFactory(owner=rep)),
        ("tickets", lambda rep: TicketFactory(contact=ContactFactory(owner=rep))),
        ("tasks", lambda rep: TaskFactory(assignee=rep)),
    ],
)
def test_lists_have_a_fixed_query_count(api, rep, resource, make, django_assert_max_num_queries):
    make(rep)
    api.get(f"/api/v1/{resource}/")  # warm caches (content types, roles)
    # 12, the custom field definitions among them (read once, by the filters and the serializer)
    with django_assert_max_num_queries(12) as few:
        api.get(f"/api/v1/{resource}/")
    for _ in range(15):
        make(rep)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = api.get(f"/api/v1/{resource}/")
    assert response.status_code == 200 and len(response.json()["results"]) >= 16


def test_lists_filter_with_the_pages_filters_and_page_by_cursor(api, rep):
    for n in range(5):
        LeadFactory(owner=rep, status=LeadStatus.WORKING if n % 2 else LeadStatus.NEW)
    working = api.get("/api/v1/leads/", {"status": "working"}).json()["results"]
    assert len(working) == 2 and {r["status"] for r in working} == {"working"}
    assert api.get("/api/v1/leads/", {"status": "bogus"}).status_code == 400
    first = api.get("/api/v1/leads/", {"page_size": 2, "fields": "id,status"}).json()
    assert len(first["results"]) == 2 and set(first["results"][0]) == {"id", "status"}
    second = api.get(first["next"]).json()
    ids = [r["id"] for r in first["results"] + second["results"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 4
    by_creation = api.get("/api/v1/leads/", {"ordering": "created_at"}).json()["results"]
    assert by_creation[0]["created_at"] <= by_creation[-1]["created_at"]
    assert api.get("/api/v1/leads/", {"cursor": "garbage"}).status_code == 404
