"""The top navigation: entries grouped into menus named for jobs (Sell, Support, Customers,
Marketing, Insights, Admin), filtered by role so nobody sees a link that would answer 404;
search and the user menu on every page; the "new record" chooser."""

import pytest
from django.urls import reverse

from crm import registry
from crm.choices import Role
from crm.registry import NAV_GROUPS, NavigationRegistry
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ADMIN_TOOLS = (
    "people_list",
    "audit_list",
    "history_changes",
    "webhook_list",
    "work_problems",
    "custom_field_list",
    "sales:seller_profile",
)
ADMIN_MENU = ADMIN_TOOLS

# What each role finds in which menu (labels, in order).
MENUS = {
    "rep_client": {
        "Sell": [
            "Leads",
            "Deals",
            "Board",
            "Products",
            "Booking page",
            "Renewals",
            "Upsell",
            "Email templates",
        ],
        "Customers": ["Accounts", "Contacts", "Tasks", "Meetings", "Onboarding", "Subscriptions"],
        "Support": ["Tickets", "Knowledge base"],
        "Marketing": ["Segments", "Sequences", "NPS", "Advocacy"],
        "Insights": ["Forecast", "At risk"],
    },
    "agent_client": {
        "Support": ["My queue", "Tickets", "Knowledge base"],
        "Customers": ["Accounts", "Contacts", "Tasks", "Meetings", "Onboarding"],
        "Marketing": ["Segments", "NPS", "Advocacy"],
        "Insights": ["At risk"],
    },
    "manager_client": {
        "Sell": [
            "Leads",
            "Deals",
            "Board",
            "Products",
            "Booking page",
            "Renewals",
            "Upsell",
            "Email templates",
        ],
        "Support": ["My queue", "Tickets", "Knowledge base"],
        "Customers": [
            "Accounts",
            "Contacts",
            "Tasks",
            "Meetings",
            "Onboarding",
            "Subscriptions",
            "Automations",
        ],
        "Marketing": [
            "Segments",
            "Sequences",
            "Email campaigns",
            "NPS",
            "Advocacy",
            "Import leads",
        ],
        "Insights": ["Dashboards", "Forecast", "At risk"],
    },
}


def _menus(context) -> dict[str, list[str]]:
    return {g["label"]: [link["label"] for link in g["items"]] for g in context["nav_groups"]}


def test_every_entry_belongs_to_a_job_menu():
    known = {group.key for group in NAV_GROUPS}
    stray = [(i.label, i.group) for i in registry.navigation.items() if i.group not in known]
    assert stray == []


def test_menus_come_in_the_order_of_the_jobs_and_leave_out_empty_ones():
    nav = NavigationRegistry()
    nav.register("Tickets", "support:ticket_list", group="support")
    nav.register("Leads", "leads:lead_list", group="sell", roles=[Role.SALES_REP])
    nav.register("Dashboards", "analytics:index", group="insights", order=1)
    nav.register("Odd", "home", group="nowhere")
    rep = UserFactory(roles=[Role.SALES_REP])
    agent = UserFactory(roles=[Role.SUPPORT_AGENT])

    assert [(g.label, [i.label for i in items]) for g, items in nav.groups_for(rep)] == [
        ("Sell", ["Leads"]),
        ("Support", ["Tickets"]),
        ("Insights", ["Dashboards"]),
        ("More", ["Odd"]),  # an entry with an unknown group stays reachable
    ]
    assert [g.label for g, _ in nav.groups_for(agent)] == ["Support", "Insights", "More"]
    assert nav.groups_for(UserFactory(roles=[])) == []


@pytest.mark.parametrize("client_name", sorted(MENUS))
def test_each_role_gets_its_menus(request, client_name):
    client = request.getfixturevalue(client_name)
    response = client.get(reverse("home"))
    assert _menus(response.context) == MENUS[client_name]
    body = response.content.decode()
    assert body.count('data-bs-toggle="dropdown" aria-expanded="false" data-nav-group=') == len(
        MENUS[client_name]
    )


def test_admins_find_their_tools_in_the_admin_menu(admin_client_):
    response = admin_client_.get(reverse("home"))
    menus = {g["label"]: g for g in response.context["nav_groups"]}
    assert [g["label"] for g in response.context["nav_groups"]] == [
        "Sell",
        "Support",
        "Customers",
        "Marketing",
        "Insights",
        "Admin",
    ]
    assert [link["url"] for link in menus["Admin"]["items"]] == [
        reverse(name) for name in (*ADMIN_MENU, "trash_list")
    ]
    body = response.content.decode()
    assert reverse("admin:index") in body


@pytest.mark.parametrize("client_name", ["rep_client", "manager_client", "agent_client"])
def test_other_roles_get_no_admin_menu(request, client_name):
    client = request.getfixturevalue(client_name)
    response = client.get(reverse("home"))
    assert "Admin" not in _menus(response.context)
    for name in ADMIN_TOOLS:
        assert reverse(name) not in response.content.decode()


@pytest.mark.parametrize("client_name", ["rep_client", "manager_client", "agent_client"])
def test_the_user_menu_holds_settings_trash_theme_and_sign_out(request, client_name):
    client = request.getfixturevalue(client_name)
    body = client.get(reverse("home")).content.decode()
    user_menu = body[body.index('id="user-menu"') : body.index("</nav>")]
    assert f'href="{reverse("user_settings")}"' in user_menu
    assert f'href="{reverse("trash_list")}"' in user_menu
    assert f'action="{reverse("logout")}"' in user_menu and "Sign out" in user_menu
    assert 'data-theme-choice="dark"' in user_menu


@pytest.mark.parametrize(
    "path", ["/", "/accounts/", "/tickets/", "/search/?q=x", "/me/", "/segments/"]
)
def test_search_and_the_user_menu_are_on_every_page(rep_client, path):
    body = rep_client.get(path).content.decode()
    assert 'id="nav-search"' in body and 'id="nav-search-toggle"' in body
    assert 'id="user-menu"' in body and 'data-bs-target="#nav"' in body


def test_the_current_page_marks_its_menu_and_entry(rep_client):
    context = rep_client.get(reverse("sales:board_default")).context
    sell = next(g for g in context["nav_groups"] if g["label"] == "Sell")
    assert sell["active"]
    assert [link["label"] for link in sell["items"] if link["active"]] == ["Board"]
    others = [g["label"] for g in context["nav_groups"] if g["active"]]
    assert others == ["Sell"]


def test_new_record_offers_what_the_role_may_create(client, rep, agent):
    client.force_login(rep)
    offered = [link["label"] for link in client.get(reverse("home")).context["nav_new"]]
    assert offered == ["Lead", "Deal", "Account", "Contact", "Subscription", "Segment"]
    client.force_login(agent)
    agent_offers = client.get(reverse("home")).context["nav_new"]
    assert [link["label"] for link in agent_offers] == ["Ticket", "Segment"]


def test_n_opens_the_new_form_of_the_list_on_screen(rep_client):
    assert rep_client.get(reverse("leads:lead_list")).context["nav_new_here"] == reverse(
        "leads:lead_create"
    )
    assert rep_client.get(reverse("sales:board_default")).context["nav_new_here"] == reverse(
        "sales:opportunity_create"
    )
    home = rep_client.get(reverse("home"))
    assert home.context["nav_new_here"] == ""
    assert 'id="new-record"' in home.content.decode()


def test_pages_link_the_manifest_and_icons_and_load_no_inline_script(rep_client):
    body = rep_client.get(reverse("home")).content.decode()
    assert f'<link rel="manifest" href="{reverse("web_manifest")}">' in body
    assert "crm/icons/apple-touch-icon.png" in body and 'name="theme-color"' in body
    assert "crm/theme.js" in body
    assert "<script>" not in body and "onclick=" not in body


def test_the_bar_escapes_what_comes_from_the_user_and_the_request(client, rep):
    rep.first_name, rep.last_name = "<b>{0}", "{}"
    rep.save(update_fields=["first_name", "last_name"])
    client.force_login(rep)
    body = client.get("/search/?q=" + "%3Cscript%3E%7B1%7D%22").content.decode()
    assert 'value="&lt;script&gt;{1}&quot;"' in body
    assert "&lt;b&gt;{0}" in body and "<b>{0}" not in body and "<script>" not in body


def test_the_bar_is_the_template_rendered_for_the_page(rep_client, rep):
    from django.template.loader import render_to_string

    for path in ("/", reverse("leads:lead_list"), reverse("sales:board_default")):
        response = rep_client.get(path)
        token = {"csrf_token": str(response.context["csrf_token"])}
        expected = render_to_string("crm/_navbar.html", token, request=response.wsgi_request)
        assert expected in response.content.decode()


def test_an_entry_registered_later_shows_from_the_next_request(rep_client, monkeypatch):
    monkeypatch.setattr(registry.navigation, "_items", list(registry.navigation._items))
    monkeypatch.setattr(registry.navigation, "version", registry.navigation.version)
    assert "Later entry" not in rep_client.get("/").content.decode()
    registry.navigation.register("Later entry", "task_list", group="sell")
    assert "Later entry" in rep_client.get("/").content.decode()
