"""The API's docs page renders Swagger UI from our own static files under the site's
Content-Security-Policy: the operations appear, and nothing is refused or fails on the console."""

import pytest

from crm.choices import Role
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline"));
});
"""


def test_the_docs_page_shows_the_operations_with_a_clean_console(chromium, live_server):
    UserFactory(username="docsreader", roles=[Role.SALES_REP])
    context = chromium.new_context()
    context.add_init_script(REPORT_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(20_000)
    problems = []
    page.on("console", lambda msg: msg.type == "error" and problems.append(msg.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "docsreader")
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/api/v1/docs/")
    page.wait_for_selector("text=/api/v1/leads/{id}/convert/")
    assert page.locator(".opblock").count() > 20
    assert problems == []
    context.close()
