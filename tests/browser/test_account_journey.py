import re

import pytest

from crm.choices import Role
from crm.models import OutboundEmail
from tests.browser.navigation import user_menu_open
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_forgotten_password_reset_then_change_from_the_settings_page(
    browser_page, live_server, settings
):
    settings.SITE_URL = live_server.url
    UserFactory(
        username="riley",
        email="riley@example.com",
        password="demo",
        first_name="Riley",
        roles=[Role.SALES_REP],
    )
    page = browser_page

    # Forgot the password: ask for a link by email
    page.goto(f"{live_server.url}/login/")
    page.click("text=Forgot your password?")
    page.fill("input[name=email]", "riley@example.com")
    page.click("main button[type=submit]")
    page.wait_for_selector("text=We have sent you an email")

    # The email waits in the outbox; its link starts with SITE_URL
    email = OutboundEmail.objects.get(to_email="riley@example.com")
    link = re.search(r"https?://\S+", email.body_text).group(0)
    assert link.startswith(f"{live_server.url}/auth/password/reset/key/")
    page.goto(link)
    page.fill("input[name=password1]", "Fresh-Passw0rd-1")
    page.fill("input[name=password2]", "Fresh-Passw0rd-1")
    page.click("main button[name=action]")
    page.wait_for_selector("text=Your password is now changed")

    # Sign in by email with the new password
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "riley@example.com")
    page.fill("input[name=password]", "Fresh-Passw0rd-1")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    # Change it again from the settings page (the name in the navigation bar)
    user_menu_open(page, "Your settings")
    page.wait_for_selector("h1:has-text('Your settings')")
    assert "Signed in" in page.content()
    page.click("text=Change password")
    page.fill("input[name=oldpassword]", "Fresh-Passw0rd-1")
    page.fill("input[name=password1]", "Second-Passw0rd-2")
    page.fill("input[name=password2]", "Second-Passw0rd-2")
    page.click("main button[type=submit]")
    page.wait_for_selector("text=Password successfully changed")

    # Every email went through the outbox: the link, and a notice of each change
    assert OutboundEmail.objects.filter(to_email="riley@example.com").count() >= 2
