"""A security key, end to end in Chromium with its virtual authenticator (DevTools' WebAuthn
domain): a user registers a key on the add page and signs in with it at the second step, under
the site's Content-Security-Policy with a clean console. A unit test cannot run allauth's
scripts or the browser's WebAuthn ceremony."""

import pytest
from allauth.mfa.models import Authenticator
from django.urls import reverse

from crm.choices import Role
from tests.browser.navigation import user_menu_open
from tests.browser.test_console_clean import REPORT_VIOLATIONS
from tests.factories import UserFactory

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_register_a_security_key_and_sign_in_with_it(chromium, live_server, settings):
    # Browsers offer keys at http://localhost (a secure context); the key is the SITE_URL host's.
    assert live_server.url.startswith("http://localhost:")
    settings.SITE_URL = live_server.url
    riley = UserFactory(username="riley", password="demo", roles=[Role.SALES_REP])
    context = chromium.new_context()
    context.add_init_script(REPORT_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems = []
    page.on("console", lambda msg: msg.type == "error" and problems.append(msg.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    devtools = context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    devtools.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    url = live_server.url

    def sign_in_with_password():
        page.goto(f"{url}/login/")
        page.fill("input[name=username]", "riley")
        page.fill("input[name=password]", "demo")
        page.click("button[type=submit]")

    # Given a signed-in user on the settings page
    sign_in_with_password()
    page.wait_for_url(f"{url}/")
    page.goto(f"{url}{reverse('user_settings')}")
    page.click("text=Add a security key")
    page.wait_for_load_state()
    if "reauthenticate" in page.url:  # adding a factor asks for the password again
        page.fill("main input[name=password]", "demo")
        page.click("main button[type=submit]")
        page.wait_for_load_state()
    # When they name a key and press Add, the browser's ceremony runs and the form is sent
    page.wait_for_selector("#mfa_webauthn_add")
    page.fill("input[name=name]", "Desk key")
    page.click("#mfa_webauthn_add")
    page.wait_for_url(lambda u: "/webauthn/add" not in u)
    key = Authenticator.objects.get(user=riley, type=Authenticator.Type.WEBAUTHN)
    assert key.wrap().name == "Desk key"

    # And signing in again asks for the second factor, which the key gives
    page.goto(f"{url}{reverse('user_settings')}")
    user_menu_open(page, "Sign out")
    sign_in_with_password()
    page.wait_for_url(f"**{reverse('mfa_authenticate')}")
    page.click("#mfa_webauthn_authenticate")
    page.wait_for_url(f"{url}/")
    assert "riley" in page.content()
    assert not problems, problems
