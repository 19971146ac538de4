"""A person clicks an action button twice while the first click is still at work on a slow
server: the browser sends the form twice, one quote is made and the browser lands on it."""

import time

import pytest

from crm.choices import Role
from crm.models import SubmittedForm
from sales import services
from sales.models import Quote
from tests.factories import UserFactory
from tests.factories.crm import AccountFactory
from tests.factories.sales import OpportunityFactory, ProductFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_a_second_click_on_new_quote_makes_no_second_quote(browser_page, live_server, monkeypatch):
    rep = UserFactory(username="rep", roles=[Role.SALES_REP], password="demo")
    deal = OpportunityFactory(owner=rep, account=AccountFactory(owner=rep), name="Fleet deal")
    services.line_item_add(opportunity=deal, user=rep, product=ProductFactory())
    quote_create = services.quote_create

    def slow_quote_create(**kwargs):
        time.sleep(0.5)  # a busy server: the second click comes before the first answer
        return quote_create(**kwargs)

    monkeypatch.setattr(services, "quote_create", slow_quote_create)
    page = browser_page
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "rep")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}{deal.get_absolute_url()}")
    sent = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" else None)
    # Two clicks 150 ms apart, the second while the first is on its way (a person's double
    # click; Playwright's own clicks would wait for the first page to load).
    page.evaluate(
        """() => {
          const button = [...document.querySelectorAll("button")]
            .find((b) => b.textContent.includes("New quote"));
          button.click();
          setTimeout(() => button.click(), 150);
        }"""
    )
    page.wait_for_timeout(300)  # past the second click, which cancels the first page's load
    page.wait_for_url("**/quotes/*/")

    assert len(sent) == 2, sent  # the browser did send the form twice
    quote = Quote.objects.get(opportunity=deal)
    assert page.url.endswith(quote.get_absolute_url())
    assert SubmittedForm.objects.get(user=rep).location == quote.get_absolute_url()
