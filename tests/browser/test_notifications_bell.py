"""On a phone (390 px), in Chromium: the bell shows the unread count, opens on its latest
notifications (loaded when it opens), marks them all read, and leads to what one is about."""

import pytest

from crm.choices import Role
from crm.models import Notification
from crm.services.notifications import notify
from tests.browser.test_console_clean import REPORT_VIOLATIONS
from tests.factories import UserFactory
from tests.factories.crm import ContactFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_the_bell_on_a_phone(chromium, live_server):
    rep = UserFactory(username="rep", roles=[Role.SALES_REP], password="demo")
    contact = ContactFactory(owner=rep, first_name="Ada", last_name="Bell")
    for n in range(3):
        notify(
            recipient=rep,
            kind="mentioned",
            verb=f"Mention number {n}",
            dedupe_key=f"m{n}",
            target=contact,
        )
    context = chromium.new_context(viewport={"width": 390, "height": 860})
    context.add_init_script(REPORT_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems = []
    page.on("console", lambda msg: msg.type == "error" and problems.append(msg.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "rep")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    assert page.locator("#notification-bell").is_visible()
    assert page.locator("#user-menu").is_visible()
    assert page.locator("#notification-count").inner_text().startswith("3")
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")

    page.click("#notification-bell")
    menu = page.locator("#notification-menu")
    menu.get_by_text("Mention number 2").wait_for(state="visible")
    box = menu.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    page.click("#notification-read-all")
    page.locator("#notification-count.d-none").wait_for(state="attached")
    assert not Notification.objects.filter(read_at__isnull=True).exists()

    menu.get_by_text("Mention number 1").click()
    page.wait_for_url(f"**{contact.get_absolute_url()}")
    assert not problems, problems
    context.close()
