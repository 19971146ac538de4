"""A rep filters the lead list, saves it as a view without a column, and finds it again: the
view's filters, its hidden column, and the update that keeps filters changed by HTMX."""

import pytest

from crm.choices import Role
from crm.models import SavedView
from tests.factories import UserFactory
from tests.factories.leads import LeadFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_rep_saves_a_lead_view_and_applies_it(browser_page, live_server):
    rep = UserFactory(username="rep", roles=[Role.SALES_REP], password="demo")
    LeadFactory(owner=rep, last_name="Newcomer", status="new")
    LeadFactory(owner=rep, last_name="Qualifier", status="qualified")
    page = browser_page
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "rep")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    # Filter the list (HTMX: the address changes, the page does not reload)
    page.goto(f"{live_server.url}/leads/")
    page.select_option("select[name=status]", "new")
    page.wait_for_url("**status=new**")
    page.wait_for_selector("#list-table >> text=Newcomer")

    # Save it as a view, without the Campaign column, as the list's default
    page.click("button:has-text('Views')")
    page.fill("#saved-view-name", "New leads")
    page.uncheck("#saved-view-col-campaign")
    page.check("#saved-view-default")
    page.click("button:text('Save view')")
    page.wait_for_url("**view=**")
    view = SavedView.objects.get(owner=rep)
    assert "status=new" in view.query and view.hidden_columns == ["campaign"]
    assert page.is_visible("button:has-text('View: New leads')")
    assert not page.is_visible("th:text-is('Campaign')")
    assert page.is_visible("th:has-text('Company')")
    assert "Qualifier" not in page.inner_text("#list-table")

    # The list opens with it; a filter changed in place is saved into it
    page.goto(f"{live_server.url}/leads/")
    page.wait_for_url(f"**view={view.pk}**")
    page.select_option("select[name=status]", "qualified")
    page.wait_for_selector("#list-table >> text=Qualifier")
    assert not page.is_visible("th:text-is('Campaign')")  # the view's columns stay
    page.click("button:has-text('to the current filters')")
    page.wait_for_selector("text=now keeps the current filters")
    view.refresh_from_db()
    assert "status=qualified" in view.query
    page.click("button:has-text('View: New leads')")
    assert page.is_visible("a.dropdown-item.active:has-text('New leads')")
    assert page.is_visible("text=Plain list (no view)")
