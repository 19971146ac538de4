"""Bulk edit in a real browser: tick the page, the chosen action shows its fields, Apply."""

import pytest
from django.contrib.auth.models import Group

from crm.choices import Role
from crm.models import Account
from tests.browser.conftest import browser_page, chromium  # noqa: F401  (the fixtures)
from tests.factories.crm import AccountFactory, TeamFactory, UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_manager_reassigns_the_ticked_page_of_accounts(browser_page, live_server):  # noqa: F811
    for role in (Role.MANAGER, Role.SALES_REP):
        Group.objects.get_or_create(name=role)
    manager = UserFactory(username="manager", roles=[Role.MANAGER], password="demo")
    rep = UserFactory(username="rep", roles=[Role.SALES_REP], first_name="Rita", last_name="Rep")
    other = UserFactory(username="rep2", roles=[Role.SALES_REP], first_name="Otto")
    TeamFactory(managers=[manager], members=[rep, other])
    AccountFactory.create_batch(3, owner=rep)
    page = browser_page

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "manager")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/accounts/")

    # Only the chosen action's fields show
    assert page.locator("#bulk-owner").is_hidden()
    page.select_option("#bulk-action", "owner")
    assert page.locator("#bulk-owner").is_visible()
    assert page.locator("#bulk-lifecycle_stage").is_hidden()

    # The header box ticks every row of the page
    page.check("input[data-check-all]")
    assert page.locator("input[name=ids]:checked").count() == 3
    page.select_option("#bulk-owner", str(other.pk))
    # choosing in the bulk bar does not reload the table (which would untick the rows)
    page.wait_for_timeout(300)
    assert page.locator("input[name=ids]:checked").count() == 3
    with page.expect_navigation():
        page.click("#bulk-form button[type=submit]")
    assert "3 changed." in page.content()
    assert Account.objects.filter(owner=other).count() == 3
