"""A manager builds an automation rule in the browser: the trigger, a condition through the
segment builder's HTMX rows, actions whose inputs HTMX swaps in, then the dry run and switching
it on, with a clean console (no script refused by the Content-Security-Policy)."""

from decimal import Decimal

import pytest

from crm.choices import Role
from crm.models import Rule
from tests.factories import UserFactory
from tests.factories.crm import TeamFactory
from tests.factories.sales import OpportunityFactory, stage_named

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_a_manager_builds_a_rule_checks_its_dry_run_and_switches_it_on(browser_page, live_server):
    rep = UserFactory(username="rep", roles=[Role.SALES_REP])
    manager = UserFactory(username="manager", roles=[Role.MANAGER], password="demo")
    TeamFactory(name="Sales", members=[rep], managers=[manager])
    negotiation = stage_named("Negotiation")
    OpportunityFactory(owner=rep, amount=Decimal("80000"), stage=negotiation)
    OpportunityFactory(owner=rep, amount=Decimal("1000"), stage=negotiation)
    page = browser_page
    errors = []
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "manager")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/automations/")
    page.click("button:has-text('New rule')")
    page.click("a.dropdown-item:has-text('On deals')")
    page.wait_for_url("**entity=deal**")
    page.fill("#id_name", "Big deal in Negotiation")
    page.check("#trigger-stage")
    page.select_option("select[name=trigger_stage]", str(negotiation.pk))
    # A condition: the criterion's row is swapped in with its operator and value inputs
    page.select_option("select[name$='-criterion']", "amount")
    page.wait_for_selector("select[name$='-operator']")
    page.select_option("select[name$='-operator']", "gte")
    page.fill("input[name$='-value']", "50000")
    # Two actions: each kind brings its own inputs
    page.select_option("select[name='action-0-kind']", "create_task")
    page.wait_for_selector("input[name='action-0-title']")
    page.fill("input[name='action-0-title']", "Legal review")
    page.select_option("select[name='action-0-assignee']", "owner")
    page.select_option("select[name='action-1-kind']", "add_note")
    page.wait_for_selector("textarea[name='action-1-text']")
    page.fill("textarea[name='action-1-text']", "Legal review requested")
    page.click("button:has-text('Save rule')")

    page.wait_for_selector("text=Run log")
    rule = Rule.objects.get()
    assert not rule.active
    assert [a["kind"] for a in rule.actions] == ["create_task", "add_note"]
    assert rule.conditions["children"][0]["criterion"] == "amount"
    page.click("button:has-text('Dry run')")
    page.wait_for_selector("#dry-run >> text=Would fire on 1 record.")
    page.click("button:has-text('Switch on')")
    page.wait_for_selector("text=is on")
    rule.refresh_from_db()
    assert rule.active
    assert not errors, errors
