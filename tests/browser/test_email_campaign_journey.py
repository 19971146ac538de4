"""A manager builds "VPs in Germany with no activity in 30 days" in the browser, drafts an A/B
email campaign to it, previews it, sends it and reads the results."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from crm.choices import Role
from crm.models import OutboundEmail, Segment
from leads.models import EmailCampaign
from leads.tasks import email_campaigns_run
from tests.browser.navigation import nav_open
from tests.factories import UserFactory
from tests.factories.crm import AccountFactory, ActivityFactory, ContactFactory
from tests.factories.email_campaigns import SuppressionFactory
from tests.factories.leads import CampaignFactory
from tests.factories.segments import condition, group

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

VP_GERMANY_QUIET = group(
    "and",
    condition("title", "contains", "VP"),
    condition("account_country", "in", ["DE"]),
    condition("last_activity", "not_within", 30),
)


def _add_condition(page, criterion):
    """Fill the builder's empty condition row, or add one, with ``criterion``; returns the row."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout  # the fixture checked it

    rows = page.locator("#segment-tree .seg-condition")
    empty = [
        i for i in range(rows.count()) if not rows.nth(i).locator("select").first.input_value()
    ]
    if not empty:
        before = rows.count()
        page.click("#segment-tree button:text('+ Condition')")
        page.wait_for_function(
            # A function, not an expression: Playwright would eval an expression, which the
            # page's Content-Security-Policy refuses.
            f"() => document.querySelectorAll('#segment-tree .seg-condition').length > {before}"
        )
        empty = [rows.count() - 1]
    row = "#" + rows.nth(empty[0]).get_attribute("id")
    # Let HTMX finish swapping and wiring the new row first (a real user is never this fast).
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping')"
    )
    page.wait_for_timeout(150)
    page.select_option(f"{row} select[name$='-criterion']", criterion)
    # A row HTMX has just added may not listen yet when the choice is made: choose again.
    for _ in range(3):
        try:
            page.wait_for_selector(f"{row} select[name$='-operator']", timeout=4000)
            return row
        except PlaywrightTimeout:
            page.dispatch_event(f"{row} select[name$='-criterion']", "change")
    page.wait_for_selector(f"{row} select[name$='-operator']")
    return row


def test_manager_sends_an_ab_campaign_to_a_segment(browser_page, live_server):
    manager = UserFactory(username="manager", roles=[Role.MANAGER], password="demo")
    CampaignFactory(name="Spring fair")
    germany = AccountFactory(country="DE", name="Nordwind")
    consenting = [
        ContactFactory(title="VP Sales", account=germany, marketing_consent=True, first_name=n)
        for n in ("Anna", "Berta", "Carl", "Dora")
    ]
    ContactFactory(title="VP Ops", account=germany, marketing_consent=False)
    unsubscribed = ContactFactory(title="VP Ops", account=germany, marketing_consent=True)
    SuppressionFactory(email=unsubscribed.email, reason="unsubscribe")
    ContactFactory(title="VP Ops", account=AccountFactory(country="FR"), marketing_consent=True)
    busy = ContactFactory(title="VP Ops", account=germany, marketing_consent=True)
    ActivityFactory(subject=busy, occurred_at=timezone.now() - timedelta(days=3))
    page = browser_page

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "manager")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    # Build "VPs in Germany with no activity in 30 days" with its live count
    page.goto(f"{live_server.url}/segments/new/")
    page.fill("#id_name", "VPs in Germany, quiet 30 days")
    row = _add_condition(page, "title")
    page.select_option(f"{row} select[name$='-operator']", "contains")
    page.fill(f"{row} input[name$='-value']", "VP")
    row = _add_condition(page, "account_country")
    value = f"document.querySelector('{row} select[name$=\"-value\"]')"
    page.wait_for_function(f"() => {value} && {value}.tomselect")  # Tom Select wired it
    page.evaluate(f"{value}.tomselect.setValue(['DE'])")
    row = _add_condition(page, "last_activity")
    page.select_option(f"{row} select[name$='-operator']", "not_within")
    page.fill(f"{row} input[name$='-value']", "30")
    page.wait_for_selector("#segment-count [data-segment-count='6']")
    page.click("button:text('Save segment')")
    page.wait_for_load_state()
    segment = Segment.objects.get(name="VPs in Germany, quiet 30 days")
    assert segment.owner == manager
    assert segment.definition["children"] == VP_GERMANY_QUIET["children"]

    # Draft the campaign: the audience's live size, two variants and a preview
    nav_open(page, "marketing", "Email campaigns")
    page.click("a.btn:text-is('New')")
    page.fill("input[name=name]", "Spring invitation")
    page.select_option("select[name=campaign]", label="Spring fair")
    page.select_option("select[name=segment]", label="VPs in Germany, quiet 30 days")
    page.wait_for_selector("#audience-size >> text=6 contacts")
    assert "5 with marketing consent" in page.inner_text("#audience-size")
    page.fill("input[name=variant-0-subject]", "Meet us, {{ first_name }}")
    page.fill("textarea[name=variant-0-body]", "Dear {{ first_name }} of {{ company }}")
    page.fill("input[name=variant-1-subject]", "{{ first_name }}, our spring offer")
    page.fill("textarea[name=variant-1-body]", "Hello {{ full_name }}, see https://example.com")
    page.click(".variant-card >> nth=0 >> button:text('Preview')")
    page.wait_for_selector("#preview-0 .preview-subject")
    assert page.inner_text("#preview-0 .preview-subject") == "Meet us, Anna"
    email_body = page.frame_locator("#preview-0 iframe.preview-body").locator("body")
    assert "Dear Anna of Nordwind" in email_body.inner_text()
    page.click("button:text('Save draft')")
    page.wait_for_selector("h1:has-text('Spring invitation')")
    campaign = EmailCampaign.objects.get(name="Spring invitation")
    assert list(campaign.variants.values_list("label", flat=True)) == ["A", "B"]

    # Send now
    page.click("#schedule-form button:text('Schedule')")
    page.wait_for_selector("text=Sending starts within a minute")
    assert page.inner_text("h1 .badge") == "Scheduled"

    # The minute's run (beat's task) sends; the page shows progress and the variants
    email_campaigns_run.apply()
    page.reload()
    assert page.inner_text("[data-count=recipients]") == "6"
    assert page.inner_text("[data-count=skipped]") == "2"
    queued = int(page.inner_text("[data-count=queued]")) + int(page.inner_text("[data-count=sent]"))
    assert queued == 4
    # A row per variant given to someone: the split hashes the campaign's and contacts' ids, so
    # four recipients may all fall to one variant; each of them is one of the two variants.
    given = set(
        campaign.recipients.filter(variant__isnull=False).values_list("variant__label", flat=True)
    )
    assert given <= {"A", "B"} and given
    rows = page.locator("#variant-results tr[data-variant]")
    assert sorted(rows.nth(i).get_attribute("data-variant") for i in range(rows.count())) == sorted(
        given
    )
    assert re.search(r"No marketing consent 1", page.inner_text("#skip-reasons"), re.I)
    assert page.locator("#list-table tbody tr").count() == 6
    page.wait_for_selector("#campaign-roi[data-loaded] >> text=First touch")
    emails = OutboundEmail.objects.filter(idempotency_key__startswith=f"camp:{campaign.pk}:")
    assert sorted(emails.values_list("to_email", flat=True)) == sorted(c.email for c in consenting)
    assert campaign.recipients.filter(queued_at__lte=timezone.now()).count() == 4
