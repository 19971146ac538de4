"""The top navigation: admins' tools sit in one "Admin" menu, so the bar stays short; nobody sees
a link that would answer 404."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

ADMIN_TOOLS = ("people_list", "audit_list", "history_changes", "webhook_list", "work_problems")
# Everyone has a trash (what they deleted or own): admins find it in their menu.
ADMIN_MENU = (*ADMIN_TOOLS, "trash_list")


def test_admins_find_their_tools_in_one_admin_menu(admin_client_):
    context = admin_client_.get(reverse("home")).context
    [menu] = context["nav_menus"]
    assert menu["label"] == "Admin"
    assert [link["url"] for link in menu["items"]] == [reverse(name) for name in ADMIN_MENU]
    bar = {link["url"] for link in context["nav_items"]}
    assert not bar & {reverse(name) for name in ADMIN_MENU}
    body = admin_client_.get(reverse("home")).content.decode()
    assert 'data-bs-toggle="dropdown"' in body and reverse("admin:index") in body


@pytest.mark.parametrize("client_name", ["rep_client", "manager_client", "agent_client"])
def test_other_roles_get_no_admin_menu(request, client_name):
    client = request.getfixturevalue(client_name)
    response = client.get(reverse("home"))
    assert response.context["nav_menus"] == []
    for name in ADMIN_TOOLS:
        assert reverse(name) not in response.content.decode()


@pytest.mark.parametrize("client_name", ["rep_client", "manager_client", "agent_client"])
def test_other_roles_find_their_trash_beside_their_name(request, client_name):
    client = request.getfixturevalue(client_name)
    body = client.get(reverse("home")).content.decode()
    assert f'href="{reverse("trash_list")}"' in body
