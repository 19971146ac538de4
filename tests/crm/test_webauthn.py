"""Security keys and passkeys (WebAuthn) as a second factor, on by default (MFA_WEBAUTHN): their
pages render under the site's Content-Security-Policy (allauth's scripts are our own static
files and carry the page's nonce; the data they read is in JSON blocks that never run), the
relying party is SITE_URL's host, and a key counts as the second factor a role requires."""

import re

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.staticfiles import finders
from django.urls import reverse

from crm.auth.adapter import MfaAdapter
from crm.choices import Role
from tests.crm.test_security_headers import assert_secure_html
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SCRIPTS = ("mfa/js/webauthn-json.js", "mfa/js/webauthn.js", "account/js/onload.js")


@pytest.fixture
def riley(db):
    return UserFactory(username="riley", password="demo", roles=[Role.SALES_REP])


def reauthenticated(client):
    client.post(reverse("login"), {"username": "riley", "password": "demo"})
    client.post(reverse("account_reauthenticate"), {"password": "demo"})


def assert_webauthn_scripts(response):
    nonce = assert_secure_html(response)
    html = response.text
    for script in SCRIPTS:
        tags = re.findall(rf'<script src="/static/{script}"[^>]*>', html)
        assert tags and all(f'nonce="{nonce}"' in tag for tag in tags), script
        assert finders.find(script), f"{script} is not served from our static files"
    assert not re.search(r"<script(?![^>]*(src=|application/json))[^>]*>", html)
    assert not re.search(r"<[^>]+\son[a-z]+=", html), "an inline event handler"


def test_webauthn_is_on_by_default(settings):
    assert settings.MFA_WEBAUTHN is True
    assert "webauthn" in settings.MFA_SUPPORTED_TYPES


def test_add_and_list_pages_render_under_the_policy(client, riley):
    reauthenticated(client)
    response = client.get(reverse("mfa_add_webauthn"))
    assert response.status_code == 200
    assert 'id="mfa_webauthn_add"' in response.text and 'id="js_data"' in response.text
    assert_webauthn_scripts(response)
    listing = client.get(reverse("mfa_list_webauthn"))
    assert listing.status_code == 200
    assert_secure_html(listing)
    settings_page = client.get(reverse("user_settings"))
    assert reverse("mfa_add_webauthn") in settings_page.text


def test_sign_in_offers_a_security_key_next_to_the_code(client, riley):
    TOTP.activate(riley, generate_totp_secret())
    client.post(reverse("login"), {"username": "riley", "password": "demo"})
    response = client.get(reverse("mfa_authenticate"))
    assert response.status_code == 200 and "Use a security key" in response.text
    assert_webauthn_scripts(response)


def test_recovery_codes_page_scripts_carry_the_nonce(client, riley):
    TOTP.activate(riley, generate_totp_secret())
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes

    RecoveryCodes.activate(riley)
    client.force_login(riley)
    client.post(reverse("account_reauthenticate"), {"password": "demo"})
    response = client.get(reverse("mfa_view_recovery_codes"))
    assert response.status_code == 200
    assert_secure_html(response)
    assert 'src="/static/mfa/js/recovery_codes.js" nonce="' in response.text


def test_relying_party_is_site_url_host(settings):
    settings.SITE_URL = "https://crm.example.org"
    assert MfaAdapter().get_public_key_credential_rp_entity()["id"] == "crm.example.org"


def test_a_security_key_is_the_second_factor_a_role_requires(client, settings):
    settings.MFA_REQUIRED_ROLES = ["Manager"]
    boss = UserFactory(username="boss", password="demo", roles=[Role.MANAGER])
    client.force_login(boss)
    assert client.get(reverse("home")).url == reverse("mfa_activate_totp")
    Authenticator.objects.create(user=boss, type=Authenticator.Type.WEBAUTHN, data={})
    assert client.get(reverse("home")).status_code == 200


def test_off_by_setting_hides_it(client, riley, settings):
    settings.MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
    client.force_login(riley)
    assert reverse("mfa_add_webauthn") not in client.get(reverse("user_settings")).text


def test_another_users_key_answers_404(client, riley):
    key = Authenticator.objects.create(user=riley, type=Authenticator.Type.WEBAUTHN, data={})
    UserFactory(username="other", password="demo", roles=[Role.SALES_REP])
    client.post(reverse("login"), {"username": "other", "password": "demo"})
    client.post(reverse("account_reauthenticate"), {"password": "demo"})
    for name in ("mfa_edit_webauthn", "mfa_remove_webauthn"):
        assert client.get(reverse(name, args=[key.pk])).status_code == 404
        assert client.post(reverse(name, args=[key.pk])).status_code == 404
    assert Authenticator.objects.filter(pk=key.pk).exists()
