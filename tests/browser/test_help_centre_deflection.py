"""A visitor types their question into the public ticket form, sees the help-centre article
that answers it, opens it and says it solved the problem: one deflection, and no ticket."""

import pytest

from support.choices import ArticleStatus, ArticleVisibility
from support.models import Deflection, Ticket
from tests.factories.support import ArticleFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_typing_a_question_suggests_the_article_that_answers_it(browser_page, live_server):
    ArticleFactory(
        title="Reset your password",
        slug="reset-your-password",
        summary="Forgot your password? Set a new one in two minutes.",
        body="Open the sign-in page and click **Forgot password?**",
    )
    ArticleFactory(title="Download past invoices", body="Every invoice is a PDF file.")
    ArticleFactory(
        title="Password resets for staff accounts", visibility=ArticleVisibility.INTERNAL
    )
    ArticleFactory(title="Password reset (draft)", status=ArticleStatus.DRAFT)
    page = browser_page
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    page.goto(f"{live_server.url}/support/new/")
    page.locator("#id_subject").press_sequentially("I forgot my password", delay=30)
    suggestions = page.locator("#help-suggestions a")
    suggestions.first.wait_for()
    assert suggestions.all_inner_texts() == ["Reset your password"]

    with page.context.expect_page() as opened:
        suggestions.first.click()
    article = opened.value
    article.wait_for_load_state()
    assert article.url.endswith("/help/reset-your-password/?from=ticket")
    assert "Forgot password?" in article.locator(".kb-body").inner_text()
    article.get_by_role("button", name="Yes, this solved my problem").click()
    article.get_by_text("You do not need to send your request").wait_for()

    steps = set(Deflection.objects.values_list("step", flat=True))
    assert steps == {"shown", "opened", "deflected"}
    assert not Ticket.objects.exists()
    assert errors == []


def test_agent_inserts_a_suggested_articles_link_into_the_reply(browser_page, live_server):
    from crm.choices import Role
    from support.services import tickets as ticket_services
    from tests.factories import UserFactory
    from tests.factories.crm import ContactFactory

    agent = UserFactory(username="agent", roles=[Role.SUPPORT_AGENT], password="demo")
    ArticleFactory(title="Reset your password", slug="reset-your-password")
    ticket = ticket_services.ticket_create(
        subject="Password reset link expired", contact=ContactFactory(), user=agent
    )
    page = browser_page
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "agent")
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}{ticket.get_absolute_url()}")
    page.fill("#id_reply-body", "Hello, this guide explains the steps:")
    page.locator("#kb-panel").get_by_role("button", name="Insert link").click()
    reply = page.locator("#id_reply-body").input_value()
    assert reply.startswith("Hello, this guide explains the steps:")
    assert "Reset your password: http" in reply and "/help/reset-your-password/" in reply
