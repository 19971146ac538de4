import pytest

from crm.choices import Role
from crm.models import Activity, Contact
from tests.browser.navigation import nav_open
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_rep_creates_account_and_contact_logs_a_call_and_finds_it(browser_page, live_server):
    UserFactory(username="rep", roles=[Role.SALES_REP], password="demo", first_name="Riley")
    page = browser_page

    # Log in
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "rep")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    assert "Good day, Riley" in page.content()

    # Create an account
    nav_open(page, "customers", "Accounts")
    page.click("a.btn:text-is('New')")
    page.fill("input[name=name]", "Nordwind Logistics")
    page.fill("input[name=domain]", "nordwind.example")
    page.select_option("select[name=industry]", "logistics")
    page.select_option("select[name=country]", "DE")
    page.click("button:text('Save')")
    page.wait_for_selector("h1:has-text('Nordwind Logistics')")

    # Add a contact to it from the account page
    page.click("text=Add a contact")
    page.fill("input[name=first_name]", "Greta")
    page.fill("input[name=last_name]", "Hansen")
    page.fill("input[name=email]", "Greta.Hansen@Nordwind.example")
    page.fill("input[name=phone]", "040 1234567")
    page.click("button:text('Save')")
    page.wait_for_selector("h1:has-text('Greta Hansen')")
    contact = Contact.objects.get(last_name="Hansen")
    assert contact.account.name == "Nordwind Logistics"
    assert contact.email == "greta.hansen@nordwind.example"
    assert contact.phone == "+49401234567"

    # Log a call inline (HTMX: the page does not reload)
    page.evaluate("window.__marker = 'same page'")
    page.select_option("select[name=activity-kind]", "call")
    page.fill("input[name=activity-summary]", "Intro call about fleet tracking")
    page.click("button:text('Log activity')")
    page.wait_for_selector("#timeline >> text=Intro call about fleet tracking")
    assert page.evaluate("window.__marker") == "same page"
    assert Activity.objects.for_object(contact).filter(kind="call").count() == 1

    # Find the contact through global search
    page.fill("nav input[name=q]", "hansen")
    page.press("nav input[name=q]", "Enter")
    page.wait_for_selector("#search-results >> text=Greta Hansen")
    page.click("#search-results >> text=Greta Hansen")
    page.wait_for_selector("h1:has-text('Greta Hansen')")
