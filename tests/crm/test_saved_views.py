"""Saved views of the list pages (``crm.models.SavedView``): saving the list as it is shown,
applying a view (its filters, sort and columns), sharing with the team, the default view, and
that nobody reaches another user's view by guessing its id."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.choices import Role
from crm.models import SavedView
from crm.selectors import saved_view_list
from crm.services import saved_views as services
from tests.factories.crm import (
    ContactFactory,
    SavedViewFactory,
    TeamFactory,
    UserFactory,
)
from tests.factories.leads import LeadFactory
from tests.factories.support import TicketFactory

pytestmark = pytest.mark.django_db

LEADS = reverse("leads:lead_list")
CONTACTS = reverse("contact_list")
TICKETS = reverse("support:ticket_list")
LEAD_COLUMNS = [
    "name",
    "company",
    "status",
    "source",
    "campaign",
    "owner",
    "score",
    "grade",
    "quality",
    "created",
]


def table_classes(response) -> str:
    html = response.content.decode()
    start = html.index('<table class="table')
    return html[start : html.index(">", start)]


# Services ------------------------------------------------------------------------------------


def test_a_view_keeps_filters_sort_and_size_but_not_the_page(rep):
    view = services.saved_view_create(
        user=rep,
        list_key="leads:lead_list",
        name="  Hot   leads ",
        query="status=new&q=&page=3&sort=-score&per_page=100&view=9&export=csv",
        hidden_columns=["campaign"],
        choosable=LEAD_COLUMNS,
    )
    assert view.name == "Hot leads"
    assert view.query == "status=new&sort=-score&per_page=100"
    assert view.hidden_columns == ["campaign"]
    assert not view.shared_with_team and not view.is_default


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"name": "   "}, "name"),
        ({"hidden_columns": LEAD_COLUMNS}, "columns"),
        ({"hidden_columns": ["secret"]}, "columns"),
        ({"name": "hot LEADS"}, "name"),  # taken, whatever the case
    ],
)
def test_a_view_needs_a_free_name_and_a_shown_column(rep, changes, field):
    SavedViewFactory(owner=rep, name="Hot leads")
    arguments = {
        "user": rep,
        "list_key": "leads:lead_list",
        "name": "Cold leads",
        "query": "",
        "choosable": LEAD_COLUMNS,
        **changes,
    }
    with pytest.raises(ValidationError) as caught:
        services.saved_view_create(**arguments)
    assert field in caught.value.message_dict


def test_the_same_name_may_serve_another_list_or_another_user(rep, rep2):
    SavedViewFactory(owner=rep, name="Mine")
    services.saved_view_create(user=rep, list_key="contact_list", name="Mine", query="")
    services.saved_view_create(user=rep2, list_key="leads:lead_list", name="Mine", query="")
    assert SavedView.objects.filter(name="Mine").count() == 3


def test_one_default_per_user_and_list(rep):
    first = SavedViewFactory(owner=rep, is_default=True)
    other_list = SavedViewFactory(owner=rep, list_key="contact_list", is_default=True)
    second = SavedViewFactory(owner=rep)
    services.saved_view_make_default(view=second, user=rep)
    first.refresh_from_db(), second.refresh_from_db(), other_list.refresh_from_db()
    assert (first.is_default, second.is_default, other_list.is_default) == (False, True, True)
    services.saved_view_make_default(view=second, user=rep, default=False)
    second.refresh_from_db()
    assert not second.is_default


def test_only_the_owner_changes_a_view(rep, rep2):
    view = SavedViewFactory(owner=rep, shared_with_team=True)
    for change in (
        lambda: services.saved_view_rename(view=view, user=rep2, name="Taken"),
        lambda: services.saved_view_update(view=view, user=rep2, query="status=lost"),
        lambda: services.saved_view_share(view=view, user=rep2, shared=False),
        lambda: services.saved_view_make_default(view=view, user=rep2),
        lambda: services.saved_view_delete(view=view, user=rep2),
    ):
        with pytest.raises(ValidationError):
            change()
    view.refresh_from_db()
    assert view.shared_with_team and view.query == "status=new&sort=-score"


def test_rename_update_share_and_delete(rep):
    view = SavedViewFactory(owner=rep)
    services.saved_view_rename(view=view, user=rep, name="Renamed")
    services.saved_view_update(view=view, user=rep, query="status=qualified&page=2")
    services.saved_view_share(view=view, user=rep)
    view.refresh_from_db()
    assert (view.name, view.query, view.shared_with_team) == (
        "Renamed",
        "status=qualified",
        True,
    )
    services.saved_view_delete(view=view, user=rep)
    assert not SavedView.objects.filter(pk=view.pk).exists()


# Who sees which views ------------------------------------------------------------------------


def test_a_user_sees_their_own_and_their_teams_shared_views(rep, rep2, manager, admin):
    outsider = UserFactory(roles=[Role.SALES_REP])
    TeamFactory(members=[outsider])
    mine = SavedViewFactory(owner=rep)
    teammates_shared = SavedViewFactory(owner=rep2, shared_with_team=True)
    teammates_private = SavedViewFactory(owner=rep2)
    managers_shared = SavedViewFactory(owner=manager, shared_with_team=True)
    outsiders_shared = SavedViewFactory(owner=outsider, shared_with_team=True)

    def seen(user):
        return set(saved_view_list(user=user, list_key="leads:lead_list"))

    assert seen(rep) == {mine, teammates_shared, managers_shared}
    assert seen(manager) == {teammates_shared, managers_shared}
    assert seen(outsider) == {outsiders_shared}
    assert seen(admin) == {teammates_shared, managers_shared, outsiders_shared}
    assert set(saved_view_list(user=rep, for_change=True)) == {mine}
    assert teammates_private not in seen(admin)


# The list pages ------------------------------------------------------------------------------


def test_the_list_offers_my_views_and_my_teams(rep_client, rep, rep2, manager):
    SavedViewFactory(owner=rep, name="My <b>hot</b> leads")
    SavedViewFactory(owner=rep2, name="Team pipeline", shared_with_team=True)
    SavedViewFactory(owner=rep2, name="Rep2 private")
    SavedViewFactory(owner=rep, name="My contacts", list_key="contact_list")
    response = rep_client.get(LEADS)
    menu = response.context["saved_views"]
    assert [v.name for v in menu.mine] == ["My <b>hot</b> leads"]
    assert [v.name for v in menu.team] == ["Team pipeline"]
    html = response.content.decode()
    assert "My &lt;b&gt;hot&lt;/b&gt; leads" in html and "<b>hot</b>" not in html
    assert "Rep2 private" not in html and "My contacts" not in html
    assert "Save current view…" in html and 'name="columns" value="campaign"' in html


@pytest.mark.parametrize(
    "url, client_name, make, hidden, positions",
    [
        (LEADS, "rep_client", lambda user: LeadFactory(owner=user), ["campaign", "grade"], [6, 9]),
        # The contacts list's first cell is the bulk bar's checkbox.
        (CONTACTS, "rep_client", lambda user: ContactFactory(owner=user), ["phone"], [4]),
        (TICKETS, "agent_client", lambda user: TicketFactory(), ["queue", "sla-due"], [6, 8]),
    ],
)
def test_applying_a_view_hides_its_columns(request, url, client_name, make, hidden, positions):
    client = request.getfixturevalue(client_name)
    user = request.getfixturevalue(client_name.removesuffix("_client"))
    make(user)
    list_key = client.get(url).resolver_match.view_name
    view = SavedViewFactory(owner=user, list_key=list_key, query="", hidden_columns=hidden)
    response = client.get(f"{url}?{view.apply_query()}")
    assert response.status_code == 200
    assert response.context["saved_views"].active == view
    assert response.context["hidden_columns"] == positions
    assert all(f"hide-col-{n}" in table_classes(response) for n in positions)
    assert f'name="view" value="{view.pk}"' in response.content.decode()  # the filter bar keeps it
    # The table alone (filtering, sorting, paging by HTMX) keeps hiding them.
    partial = client.get(f"{url}?{view.apply_query()}&page=1", HTTP_HX_REQUEST="true")
    assert partial.context["hidden_columns"] == positions
    assert "hide-col-" not in table_classes(client.get(url))


def test_the_view_applies_its_filters_and_sort(rep_client, rep):
    LeadFactory(owner=rep, last_name="Newman", status="new")
    LeadFactory(owner=rep, last_name="Oldman", status="qualified")
    view = SavedViewFactory(owner=rep, query="status=new")
    response = rep_client.get(f"{LEADS}?{view.apply_query()}")
    assert [lead.last_name for lead in response.context["object_list"]] == ["Newman"]
    assert not response.context["saved_views"].changed
    assert not response.context["empty_state"]
    changed = rep_client.get(f"{LEADS}?status=qualified&view={view.pk}")
    assert changed.context["saved_views"].changed
    assert "Update “" in changed.content.decode()


def test_a_teammates_shared_view_applies_but_offers_no_update(rep_client, rep2, manager):
    view = SavedViewFactory(owner=rep2, shared_with_team=True, hidden_columns=["company"])
    response = rep_client.get(f"{LEADS}?{view.apply_query()}")
    assert response.status_code == 200
    assert response.context["hidden_columns"] == [3]
    html = response.content.decode()
    assert reverse("saved_view_update", args=[view.pk]) not in html
    assert "Shared by" in html


def test_guessing_another_users_private_view_answers_404(rep_client, rep, rep2, manager):
    private = SavedViewFactory(owner=rep2)
    outsider = SavedViewFactory(owner=UserFactory(), shared_with_team=True)
    for view in (private, outsider):
        assert rep_client.get(f"{LEADS}?view={view.pk}").status_code == 404
        assert rep_client.get(f"{LEADS}?view={view.pk}", HTTP_HX_REQUEST="true").status_code == 404
    assert rep_client.get(f"{LEADS}?view=x").status_code == 404
    assert rep_client.get(f"{LEADS}?view=99999999999999999999").status_code == 404


def test_a_view_of_another_list_is_not_applied(rep_client, rep):
    view = SavedViewFactory(owner=rep, list_key="contact_list", query="")
    assert rep_client.get(f"{LEADS}?view={view.pk}").status_code == 404
    assert rep_client.get(f"{CONTACTS}?view={view.pk}").status_code == 200


def test_the_default_view_opens_with_the_list(rep_client, rep, rep2, manager):
    SavedViewFactory(owner=rep2, shared_with_team=True, is_default=True)  # rep2's, not mine
    assert rep_client.get(LEADS).status_code == 200
    view = SavedViewFactory(owner=rep, query="status=new&sort=-score", is_default=True)
    response = rep_client.get(LEADS)
    assert response.status_code == 302
    assert response["Location"] == f"{LEADS}?status=new&sort=-score&view={view.pk}"
    # Any query string is the list as asked, and "?view=" the plain list.
    assert rep_client.get(LEADS, {"status": "qualified"}).status_code == 200
    plain = rep_client.get(f"{LEADS}?view=")
    assert plain.status_code == 200 and plain.context["saved_views"].active is None
    assert not plain.context["empty_state"].get("filtered")


def test_list_views_add_one_query_whatever_their_number(rep_client, rep, rep2, manager):
    LeadFactory.create_batch(3, owner=rep)
    rep_client.get(LEADS)  # warm caches (content types, sessions)

    def queries(url):
        rep_client.get(url)  # the catalog (crm.catalog) read and kept, as on a busy server
        with CaptureQueriesContext(connection) as captured:
            assert rep_client.get(url).status_code == 200
        return len(captured)

    SavedView.objects.all().delete()
    none = queries(f"{LEADS}?status=new")
    view = SavedViewFactory(owner=rep, query="status=new", hidden_columns=["grade"])
    SavedViewFactory.create_batch(5, owner=rep)
    SavedViewFactory.create_batch(5, owner=rep2, shared_with_team=True)
    many = queries(f"{LEADS}?{view.apply_query()}")
    assert many == none
    with CaptureQueriesContext(connection) as captured:
        rep_client.get(f"{LEADS}?{view.apply_query()}", HTTP_HX_REQUEST="true")
    assert sum("crm_savedview" in q["sql"] for q in captured.captured_queries) == 1


def test_a_list_page_with_views_has_a_fixed_query_count(
    rep_client, rep, django_assert_max_num_queries
):
    LeadFactory.create_batch(30, owner=rep)
    view = SavedViewFactory(owner=rep, query="", hidden_columns=["grade"])
    SavedViewFactory.create_batch(10, owner=rep)
    with django_assert_max_num_queries(20):
        assert rep_client.get(f"{LEADS}?{view.apply_query()}").status_code == 200


# Saving, changing and deleting from the pages -------------------------------------------------


def test_saving_the_list_as_shown(rep_client, rep):
    response = rep_client.post(
        reverse("saved_view_create"),
        {
            "list": LEADS,
            "query": "status=new&sort=-score&page=4",
            "name": "New by score",
            "columns": [c for c in LEAD_COLUMNS if c != "source"],
            "shared": "on",
            "default": "on",
        },
    )
    view = SavedView.objects.get(owner=rep)
    assert response.status_code == 302
    assert response["Location"] == f"{LEADS}?status=new&sort=-score&view={view.pk}"
    assert (view.list_key, view.hidden_columns) == ("leads:lead_list", ["source"])
    assert view.shared_with_team and view.is_default


def test_saving_with_bad_input_shows_the_form_again(rep_client, rep):
    SavedViewFactory(owner=rep, name="Taken")
    for data in (
        {"name": "", "columns": LEAD_COLUMNS},
        {"name": "Taken", "columns": LEAD_COLUMNS},
        {"name": "No columns"},
        {"name": "Odd column", "columns": ["nope"]},
    ):
        response = rep_client.post(
            reverse("saved_view_create"), {"list": LEADS, "query": "status=new", **data}
        )
        assert response.status_code == 400
        assert response.context["form"].errors
        assert 'name="query" value="status=new"' in response.content.decode()
    assert SavedView.objects.filter(owner=rep).count() == 1


@pytest.mark.parametrize(
    "path", ["", "https://evil.example/leads/", "/nowhere/", reverse("home"), "/leads/1/"]
)
def test_only_a_list_page_is_saved(rep_client, path):
    response = rep_client.post(reverse("saved_view_create"), {"list": path, "name": "x"})
    assert response.status_code == 404
    assert not SavedView.objects.exists()


def test_the_view_settings_page(rep_client, rep):
    view = SavedViewFactory(owner=rep, hidden_columns=["grade"])
    url = reverse("saved_view_edit", args=[view.pk])
    page = rep_client.get(url)
    assert page.status_code == 200
    assert page.context["form"].initial["columns"] == [c for c in LEAD_COLUMNS if c != "grade"]
    response = rep_client.post(
        url, {"name": "Renamed", "columns": ["name", "score"], "shared": "on", "default": "on"}
    )
    assert response.status_code == 302
    view.refresh_from_db()
    assert view.name == "Renamed" and view.shared_with_team and view.is_default
    assert view.hidden_columns == [c for c in LEAD_COLUMNS if c not in ("name", "score")]
    bad = rep_client.post(url, {"name": "", "columns": []})
    assert bad.status_code == 400 and set(bad.context["form"].errors) == {"name"}


def test_updating_a_view_to_the_current_filters(rep_client, rep):
    view = SavedViewFactory(owner=rep)
    response = rep_client.post(
        reverse("saved_view_update", args=[view.pk]), {"query": "status=lost&page=2&view=1"}
    )
    view.refresh_from_db()
    assert view.query == "status=lost"
    assert response["Location"] == f"{LEADS}?status=lost&view={view.pk}"


def test_deleting_a_view(rep_client, rep):
    view = SavedViewFactory(owner=rep)
    response = rep_client.post(reverse("saved_view_delete", args=[view.pk]))
    assert response.status_code == 302 and response["Location"] == f"{LEADS}?view="
    assert not SavedView.objects.exists()


def test_saving_needs_a_post_and_a_sign_in(client, rep_client):
    assert rep_client.get(reverse("saved_view_create")).status_code == 405
    client.logout()
    response = client.post(reverse("saved_view_create"), {"list": LEADS, "name": "x"})
    assert response.status_code == 302 and "login" in response["Location"]


def test_admins_find_every_view_in_django_admin(admin_client_, rep):
    SavedViewFactory(owner=rep, name="Rep's private view")
    response = admin_client_.get(reverse("admin:crm_savedview_changelist"))
    assert response.status_code == 200 and "Rep&#x27;s private view" in response.content.decode()
