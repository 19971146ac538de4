"""Bulk edit on the main lists (``crm.bulk``): each row changes through its own service, only
rows the user may change, the result says what changed and what was refused and why."""

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm import bulk as crm_bulk
from crm.history import Source
from crm.models import Account, Activity, Contact, Task, TrashedRecord
from retention.choices import SubscriptionStatus
from retention.models import Subscription
from sales.choices import StageKind
from sales.models import Opportunity, Order
from tests.factories.crm import AccountFactory, ContactFactory, TaskFactory
from tests.factories.retention import SubscriptionFactory
from tests.factories.sales import OpportunityFactory, stage_named

pytestmark = pytest.mark.django_db


def bulk_url(kind):
    return reverse("bulk_edit", args=[kind])


def post(client, kind, **data):
    return client.post(bulk_url(kind), data)


def said(response) -> str:
    """The message this response left (earlier ones wait unread: the redirect is not followed)."""
    return str(list(get_messages(response.wsgi_request))[-1])


# Accounts ----------------------------------------------------------------------------------


def test_a_rep_bulk_changes_their_accounts_and_never_another_reps(rep_client, rep, rep2):
    mine = AccountFactory.create_batch(2, owner=rep)
    theirs = AccountFactory(owner=rep2)
    response = post(
        rep_client,
        "accounts",
        action="lifecycle_stage",
        lifecycle_stage="customer",
        ids=[a.pk for a in [*mine, theirs]],
    )
    assert response.status_code == 302 and response["Location"] == reverse("account_list")
    assert said(response) == "2 changed, 1 refused: not yours to change."
    stages = dict(Account.objects.values_list("pk", "lifecycle_stage"))
    assert [stages[a.pk] for a in mine] == ["customer", "customer"]
    assert stages[theirs.pk] == "prospect"
    # through the account's service: its timeline and field history, as a bulk edit
    assert Activity.objects.filter(object_id=mine[0].pk, summary__startswith="Changed").exists()
    event = mine[0].history_events.filter(pgh_label="update").select_related("pgh_context")
    assert event.last().pgh_context.metadata["source"] == Source.BULK_EDIT


def test_a_rep_is_not_offered_the_owner_change_and_posting_it_changes_nothing(
    rep_client, rep, rep2
):
    account = AccountFactory(owner=rep)
    page = rep_client.get(reverse("account_list"))
    actions = [a.name for a in page.context["bulk_form"].actions]
    assert "owner" not in actions and "lifecycle_stage" in actions
    response = post(rep_client, "accounts", action="owner", owner=rep2.pk, ids=[account.pk])
    assert said(response).startswith("Nothing was changed")
    account.refresh_from_db()
    assert account.owner == rep


def test_a_manager_reassigns_accounts_of_their_teams_only(manager_client, manager, rep, rep2):
    team = AccountFactory.create_batch(2, owner=rep)
    outside = AccountFactory()  # owned by someone outside the manager's teams
    response = post(
        manager_client,
        "accounts",
        action="owner",
        owner=rep2.pk,
        ids=[a.pk for a in [*team, outside]],
    )
    assert said(response) == "2 changed, 1 refused: not yours to change."
    assert set(Account.objects.filter(owner=rep2).values_list("pk", flat=True)) == {
        a.pk for a in team
    }


def test_guessed_and_mangled_ids_change_nothing_and_answer_no_error(rep_client, rep):
    account = AccountFactory(owner=rep, industry="software")
    response = post(
        rep_client,
        "accounts",
        action="industry",
        industry="retail",
        ids=["999999999", "2" * 30, "x", "-1", str(account.pk)],
    )
    assert response.status_code == 302
    assert said(response) == "1 changed, 4 refused: not found."
    response = post(rep_client, "accounts", action="industry", industry="retail", ids=["x"])
    assert said(response).startswith("Nothing was changed")


def test_select_all_matching_changes_every_page_of_the_filtered_rows(rep_client, rep):
    AccountFactory.create_batch(60, owner=rep, name="Acme")
    other = AccountFactory(owner=rep, name="Globex")
    page = rep_client.get(reverse("account_list"), {"q": "acme", "per_page": 25})
    html = page.content.decode()
    assert 'name="query" value="q=acme&amp;per_page=25"' in html
    assert "Act on all 60 matching accounts" in html
    response = post(
        rep_client,
        "accounts",
        action="lifecycle_stage",
        lifecycle_stage="churned",
        scope=["selected", "matching"],
        query="q=acme&per_page=25",
    )
    assert said(response) == "60 changed."
    assert Account.objects.filter(lifecycle_stage="churned").count() == 60
    other.refresh_from_db()
    assert other.lifecycle_stage == "prospect"


def test_more_matching_rows_than_the_cap_change_nothing_and_say_so(rep_client, rep, monkeypatch):
    monkeypatch.setattr(crm_bulk, "BULK_MAX_ROWS", 3)
    AccountFactory.create_batch(4, owner=rep)
    response = post(
        rep_client,
        "accounts",
        action="lifecycle_stage",
        lifecycle_stage="customer",
        scope="matching",
        query="",
    )
    assert said(response) == (
        "Nothing was changed: 4 accounts match, and a bulk action changes at most 3 at a "
        "time. Narrow the filter and try again."
    )
    assert not Account.objects.filter(lifecycle_stage="customer").exists()


def test_rows_changed_since_the_list_was_read_are_left_alone(manager_client, rep, rep2):
    seen = AccountFactory(owner=rep)
    edited = AccountFactory(owner=rep)
    seen_at = timezone.now()
    Account.objects.filter(pk=edited.pk).update(updated_at=seen_at + dt.timedelta(seconds=5))
    response = post(
        manager_client,
        "accounts",
        action="owner",
        owner=rep2.pk,
        ids=[seen.pk, edited.pk],
        seen_at=seen_at.isoformat(),
    )
    assert said(response) == (
        "1 changed, 1 refused: changed by someone else since you loaded the list."
    )
    edited.refresh_from_db()
    assert edited.owner == rep


def test_accounts_go_to_the_trash_and_one_with_deals_is_refused_with_the_reason(rep_client, rep):
    plain = AccountFactory(owner=rep, name="Plain")
    with_deal = OpportunityFactory(owner=rep).account
    response = post(rep_client, "accounts", action="trash", ids=[plain.pk, with_deal.pk])
    text = said(response)
    assert text.startswith("1 moved to the trash, 1 refused: ")
    assert "cannot be deleted while it has" in text
    assert TrashedRecord.objects.filter(kind="crm.account", object_pk=plain.pk).exists()
    assert Account.objects.filter(pk=with_deal.pk).exists()


def test_get_csrf_and_unknown_kinds_are_refused(rep, rep_client, agent_client):
    account = AccountFactory(owner=rep)
    assert rep_client.get(bulk_url("accounts")).status_code == 405
    assert post(rep_client, "nothing", action="x", ids=[account.pk]).status_code == 404
    # a support agent changes no accounts: no bar, and the endpoint does not exist for them
    assert "bulk_form" not in agent_client.get(reverse("account_list")).context
    data = {"action": "trash", "ids": [account.pk]}
    assert agent_client.post(bulk_url("accounts"), data).status_code == 404
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(rep)
    assert csrf_client.post(bulk_url("accounts"), data).status_code == 403
    assert Account.objects.filter(pk=account.pk).exists()


# Contacts ----------------------------------------------------------------------------------


def test_contacts_move_to_an_account_and_to_the_trash(rep_client, rep, rep2):
    target = AccountFactory(owner=rep2)  # any account the rep can see
    mine = ContactFactory.create_batch(2, owner=rep)
    theirs = ContactFactory(owner=rep2)
    ids = [c.pk for c in [*mine, theirs]]
    response = post(rep_client, "contacts", action="account", account=target.pk, ids=ids)
    assert said(response) == "2 changed, 1 refused: not yours to change."
    assert set(Contact.objects.filter(account=target).values_list("pk", flat=True)) == {
        c.pk for c in mine
    }
    response = post(rep_client, "contacts", action="trash", ids=ids)
    assert said(response) == "2 moved to the trash, 1 refused: not yours to change."
    assert list(Contact.objects.values_list("pk", flat=True)) == [theirs.pk]


# Deals -------------------------------------------------------------------------------------


def test_deals_won_in_bulk_close_through_the_deal_service(manager_client, rep, rep2):
    deals = OpportunityFactory.create_batch(2, owner=rep)
    won = stage_named("Closed won")
    response = post(
        manager_client, "deals", action="stage", stage=won.pk, ids=[d.pk for d in deals]
    )
    assert said(response) == "2 changed."
    for deal in Opportunity.objects.filter(pk__in=[d.pk for d in deals]):
        assert deal.status == StageKind.WON and deal.closed_at is not None
        assert deal.expected_close_date == timezone.localdate()
    assert Order.objects.filter(opportunity__in=deals).count() == 2
    # a won deal is final: moving it back is refused with the service's reason
    response = post(
        manager_client,
        "deals",
        action="stage",
        stage=stage_named("Qualification").pk,
        ids=[deals[0].pk],
    )
    assert (
        said(response) == "0 changed, 1 refused: A won deal is final; its order has been recorded."
    )


def test_a_lost_stage_needs_a_reason_before_anything_changes(rep_client, rep):
    deal = OpportunityFactory(owner=rep)
    lost = stage_named("Closed lost")
    response = post(rep_client, "deals", action="stage", stage=lost.pk, ids=[deal.pk])
    assert said(response).startswith("Nothing was changed")
    deal.refresh_from_db()
    assert deal.status == StageKind.OPEN
    response = post(
        rep_client, "deals", action="stage", stage=lost.pk, lost_reason="price", ids=[deal.pk]
    )
    assert said(response) == "1 changed."
    deal.refresh_from_db()
    assert (deal.status, deal.lost_reason) == (StageKind.LOST, "price")


def test_a_rep_cannot_bulk_change_or_trash_another_reps_deals(rep_client, rep, rep2):
    theirs = OpportunityFactory(owner=rep2)
    response = post(
        rep_client,
        "deals",
        action="stage",
        stage=stage_named("Proposal").pk,
        ids=[theirs.pk],
    )
    assert said(response) == "0 changed, 1 refused: not found."
    # deleting deals is for managers: not offered to a rep
    response = post(rep_client, "deals", action="trash", ids=[theirs.pk])
    assert said(response).startswith("Nothing was changed")
    theirs.refresh_from_db()
    assert theirs.stage == stage_named("Qualification")


# Tasks -------------------------------------------------------------------------------------


def test_tasks_are_marked_done_and_rescheduled_only_where_the_user_may(rep_client, rep, rep2):
    mine = TaskFactory.create_batch(2, assignee=rep)
    theirs = TaskFactory(assignee=rep2)
    ids = [t.pk for t in [*mine, theirs]]
    response = post(rep_client, "tasks", action="done", ids=ids)
    assert said(response) == "2 marked done, 1 refused: not found."
    assert Task.objects.filter(done_at__isnull=False).count() == 2
    response = post(rep_client, "tasks", action="done", ids=ids)
    assert said(response) == "0 marked done, 2 already so, 1 refused: not found."
    due = (timezone.localtime() + dt.timedelta(days=3)).replace(second=0, microsecond=0)
    response = post(
        rep_client, "tasks", action="due", due_at=due.strftime("%Y-%m-%dT%H:%M"), ids=ids
    )
    assert said(response) == "2 changed, 1 refused: not found."
    assert {t.due_at for t in Task.objects.filter(assignee=rep)} == {due}


# Subscriptions -----------------------------------------------------------------------------


def test_subscription_statuses_change_only_along_the_allowed_transitions(rep_client, rep):
    active = SubscriptionFactory(account=AccountFactory(owner=rep))
    churned = SubscriptionFactory(
        account=AccountFactory(owner=rep), status=SubscriptionStatus.CHURNED
    )
    response = post(
        rep_client,
        "subscriptions",
        action="status",
        status=SubscriptionStatus.CANCELLED,
        ids=[active.pk, churned.pk],
    )
    assert said(response) == (
        "1 changed, 1 refused: A churned subscription cannot become cancelled (runs to term)."
    )
    active.refresh_from_db()
    assert active.status == SubscriptionStatus.CANCELLED and not active.auto_renew
    assert Subscription.objects.get(pk=churned.pk).status == SubscriptionStatus.CHURNED


# The list pages ----------------------------------------------------------------------------


LISTS = [
    ("account_list", "accounts"),
    ("contact_list", "contacts"),
    ("task_list", "tasks"),
    ("sales:opportunity_list", "deals"),
    ("retention:subscription_list", "subscriptions"),
]


def _rows(owner, count):
    for _ in range(count):
        account = AccountFactory(owner=owner)
        ContactFactory(account=account, owner=owner)
        TaskFactory(assignee=owner, content_type=None)
        OpportunityFactory(owner=owner, account=account)
        SubscriptionFactory(account=account)


@pytest.mark.parametrize("url, kind", LISTS)
def test_every_main_list_has_a_checkbox_a_row_and_the_bulk_bar(manager_client, rep, url, kind):
    _rows(rep, 2)
    html = manager_client.get(reverse(url)).content.decode()
    assert f'action="{bulk_url(kind)}"' in html
    assert html.count('name="ids"') == 2
    assert 'data-check-all="bulk-form"' in html


@pytest.mark.parametrize("url, kind", LISTS)
def test_the_bulk_bar_keeps_the_list_query_count_whatever_the_rows(manager_client, rep, url, kind):
    _rows(rep, 3)
    manager_client.get(reverse(url))  # the catalog read and kept (crm.catalog)
    with CaptureQueriesContext(connection) as few:
        manager_client.get(reverse(url))
    _rows(rep, 40)
    with CaptureQueriesContext(connection) as many:
        response = manager_client.get(reverse(url))
    assert response.context["bulk"].name == kind
    assert len(many) == len(few)


@pytest.mark.parametrize(
    "kind, make",
    [
        ("contacts", lambda owner: ContactFactory(owner=owner)),
        ("deals", lambda owner: OpportunityFactory(owner=owner)),
        ("subscriptions", lambda owner: SubscriptionFactory(account=AccountFactory(owner=owner))),
    ],
)
def test_a_manager_reassigns_rows_of_every_owned_list(manager_client, rep, rep2, kind, make):
    rows = [make(rep), make(rep)]
    response = post(manager_client, kind, action="owner", owner=rep2.pk, ids=[r.pk for r in rows])
    assert said(response) == "2 changed."
    for row in rows:
        row.refresh_from_db()
        assert row.owner == rep2


def test_a_task_ticked_done_in_place_keeps_its_bulk_checkbox(rep_client, rep):
    task = TaskFactory(assignee=rep)
    page = rep_client.get(reverse("task_list")).content.decode()
    assert '<input type="hidden" name="bulk" value="1">' in page
    row = rep_client.post(
        reverse("task_toggle", args=[task.pk]), {"bulk": "1"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert f'name="ids" value="{task.pk}"' in row
