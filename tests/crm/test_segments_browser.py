"""The segment builder in a real browser: HTMX rows, Tom Select values, the live count."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from crm.choices import Role
from crm.models import Segment
from tests.browser.conftest import browser_page, chromium  # noqa: F401  (the fixtures)
from tests.browser.navigation import nav_open
from tests.factories.crm import AccountFactory, ActivityFactory, ContactFactory, UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def settled(page):
    """Wait until HTMX has swapped and wired up new content (a real user is never this fast)."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping')"
    )
    page.wait_for_timeout(150)


def test_manager_builds_vps_in_germany_with_no_recent_activity(browser_page, live_server):  # noqa: F811
    # An earlier transactional test may have flushed the role groups the migrations made.
    Group.objects.get_or_create(name=Role.MANAGER)
    manager = UserFactory(username="manager", roles=[Role.MANAGER], password="demo")
    de, fr = (
        AccountFactory(country="DE", owner=manager),
        AccountFactory(country="FR", owner=manager),
    )
    ContactFactory.create_batch(2, title="VP Sales", account=de, owner=manager)
    busy = ContactFactory(title="VP Finance", account=de, owner=manager)
    ActivityFactory(subject=busy, occurred_at=timezone.now() - dt.timedelta(days=2))
    ContactFactory(title="VP Sales", account=fr, owner=manager)
    ContactFactory(title="Clerk", account=de, owner=manager)
    page = browser_page

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "manager")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    nav_open(page, "marketing", "Segments")
    page.click("a[href='/segments/new/']")
    page.fill("input[name=name]", "VPs in Germany, quiet")
    count = page.locator("#segment-count [data-segment-count]")
    count.wait_for()
    assert count.get_attribute("data-segment-count") == "5"  # no condition yet: all contacts

    # Row 1: job title contains VP (choosing the criterion swaps in its inputs)
    rows = page.locator(".seg-condition")
    settled(page)
    rows.nth(0).locator("select[name$=-criterion]").select_option(label="Job title")
    settled(page)
    rows.nth(0).locator("input[name$=-value]").fill("VP")
    page.wait_for_selector('#segment-count [data-segment-count="4"]')

    # Row 2: country of account is Germany (a Tom Select multi-picker)
    page.click("#group-root >> text=+ Condition")
    rows.nth(1).wait_for()
    settled(page)
    rows.nth(1).locator("select[name$=-criterion]").select_option(label="Country (of account)")
    settled(page)
    rows.nth(1).locator(".ts-control input").fill("Germany")
    rows.nth(1).locator(".ts-dropdown .option", has_text="Germany").click()
    page.wait_for_selector('#segment-count [data-segment-count="3"]')

    # Row 3: no activity within the last 30 days
    page.click("#group-root >> text=+ Condition")
    rows.nth(2).wait_for()
    settled(page)
    rows.nth(2).locator("select[name$=-criterion]").select_option(label="Last activity")
    settled(page)
    rows.nth(2).locator("select[name$=-operator]").select_option(label="not within the last")
    page.wait_for_selector('#segment-count [data-segment-count="2"]')

    # Preview, then save
    page.click("text=Preview")
    page.wait_for_selector("#segment-preview tbody tr")
    assert page.locator("#segment-preview tbody tr").count() == 2
    page.click("text=Save segment")
    page.wait_for_selector("text=was created")
    segment = Segment.objects.get()
    assert segment.definition == {
        "op": "and",
        "children": [
            {"criterion": "title", "operator": "contains", "value": "VP"},
            {"criterion": "account_country", "operator": "in", "value": ["DE"]},
            {"criterion": "last_activity", "operator": "not_within", "value": 30},
        ],
    }
    # Removing a row updates the count
    page.locator(".seg-condition").nth(2).locator("[data-segment-remove]").click()
    page.wait_for_selector('#segment-count [data-segment-count="3"]')

    # Another target asks first; cancelling keeps the conditions, accepting swaps the criteria
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.select_option("#id_target", "account")
    assert page.input_value("#id_target") == "contact"
    assert page.locator(".seg-condition").count() == 2
    page.once("dialog", lambda dialog: dialog.accept())
    page.select_option("#id_target", "account")
    page.wait_for_selector("#segment-tree option:text('Number of contacts')", state="attached")
    page.wait_for_selector('#segment-count [data-segment-count="2"]')  # all (both) accounts


def test_manager_builds_open_urgent_ticket_and_health_below_50(browser_page, live_server):  # noqa: F811
    from support.choices import Priority, TicketStatus
    from tests.factories.retention import HealthScoreFactory
    from tests.factories.support import TicketFactory

    Group.objects.get_or_create(name=Role.MANAGER)
    manager = UserFactory(username="manager", roles=[Role.MANAGER], password="demo")

    def account(name, health, priority, status=TicketStatus.OPEN):
        acc = AccountFactory(name=name, owner=manager)
        HealthScoreFactory(account=acc, score=health, colour="yellow")
        contact = ContactFactory(account=acc, owner=manager)
        TicketFactory(account=acc, contact=contact, priority=priority, status=status)
        return acc

    account("Urgent and sick", 30, Priority.URGENT)
    account("Urgent, health 49", 49, Priority.URGENT, TicketStatus.PENDING)
    account("Urgent, health 50", 50, Priority.URGENT)
    account("Sick, normal ticket", 20, Priority.NORMAL)
    account("Sick, urgent solved", 10, Priority.URGENT, TicketStatus.SOLVED)
    page = browser_page

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "manager")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/segments/new/?target=account")
    page.fill("input[name=name]", "Urgent tickets, health below 50")
    page.wait_for_selector('#segment-count [data-segment-count="5"]')

    # Row 1: an open ticket with priority Urgent (the picker's "Support" group, a multi-picker)
    rows = page.locator(".seg-condition")
    settled(page)
    support = rows.nth(0).locator("select[name$=-criterion] optgroup[label='Support']")
    assert support.locator("option", has_text="Open ticket with priority").count() == 1
    rows.nth(0).locator("select[name$=-criterion]").select_option(label="Open ticket with priority")
    settled(page)
    rows.nth(0).locator(".ts-control input").fill("Urgent")
    rows.nth(0).locator(".ts-dropdown .option", has_text="Urgent").click()
    page.wait_for_selector('#segment-count [data-segment-count="3"]')

    # Row 2: health score less than 50
    page.click("#group-root >> text=+ Condition")
    rows.nth(1).wait_for()
    settled(page)
    rows.nth(1).locator("select[name$=-criterion]").select_option(label="Health score")
    settled(page)
    rows.nth(1).locator("select[name$=-operator]").select_option(label="less than")
    rows.nth(1).locator("input[name$=-value]").fill("50")
    page.wait_for_selector('#segment-count [data-segment-count="2"]')

    page.click("text=Preview")
    page.wait_for_selector("#segment-preview tbody tr")
    names = set(page.locator("#segment-preview tbody tr td:first-child").all_inner_texts())
    assert names == {"Urgent and sick", "Urgent, health 49"}
    page.click("text=Save segment")
    page.wait_for_selector("text=was created")
    assert Segment.objects.get().definition == {
        "op": "and",
        "children": [
            {"criterion": "open_ticket_priority", "operator": "in", "value": ["urgent"]},
            {"criterion": "health", "operator": "lt", "value": 50},
        ],
    }
