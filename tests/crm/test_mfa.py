"""The second factor: TOTP with recovery codes, asked for at sign-in, and required of the roles
in MFA_REQUIRED_ROLES before they can open any page."""

import time

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import (
    TOTP,
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.urls import reverse

from crm.choices import Role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def totp_code(secret: str) -> str:
    """The current code, made at least two seconds before its 30-second step ends, so that it is
    still current when the server checks it on a busy machine."""
    left = 30 - time.time() % 30
    if left < 2:
        time.sleep(left)
    return format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time())))


def sign_in(client, username: str, secret: str = "") -> None:
    """Through the sign-in page, then the password again: changing the second factor asks for
    it (allauth's reauthentication) however recent the sign-in."""
    client.post(reverse("login"), {"username": username, "password": "demo"})
    if secret:
        client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
    assert client.session["_auth_user_id"]
    client.post(reverse("account_reauthenticate"), {"password": "demo"})


def with_totp(user) -> str:
    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    RecoveryCodes.activate(user)
    return secret


@pytest.fixture
def boss(db):
    return UserFactory(
        username="boss", password="demo", roles=[Role.ADMIN], is_staff=True, is_superuser=True
    )


def test_sign_in_asks_for_the_code_after_the_password(client, boss):
    secret = with_totp(boss)
    response = client.post(reverse("login"), {"username": "boss", "password": "demo"})
    assert response.url == reverse("mfa_authenticate")
    assert "_auth_user_id" not in client.session
    response = client.post(reverse("mfa_authenticate"), {"code": "000000"})
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    response = client.post(reverse("mfa_authenticate"), {"code": totp_code(secret)})
    assert response.status_code == 302 and response.url == reverse("home")
    assert client.session["_auth_user_id"] == str(boss.pk)


def test_a_recovery_code_signs_in_once(client, boss):
    with_totp(boss)
    code = Authenticator.objects.get(user=boss, type="recovery_codes").wrap().get_unused_codes()[0]
    client.post(reverse("login"), {"username": "boss", "password": "demo"})
    assert client.post(reverse("mfa_authenticate"), {"code": code}).status_code == 302
    client.logout()
    client.post(reverse("login"), {"username": "boss", "password": "demo"})
    client.post(reverse("mfa_authenticate"), {"code": code})
    assert "_auth_user_id" not in client.session


def test_admin_cannot_open_the_app_without_totp_when_required(client, boss, rep, settings):
    settings.MFA_REQUIRED_ROLES = ["Admin", "Manager"]
    sign_in(client, "boss")
    for path in (reverse("home"), reverse("account_list"), "/admin/", reverse("user_settings")):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.url == reverse("mfa_activate_totp")
    htmx = client.get(reverse("account_list"), HTTP_HX_REQUEST="true")
    assert htmx["HX-Redirect"] == reverse("mfa_activate_totp")
    # The set-up page itself stays open.
    page = client.get(reverse("mfa_activate_totp"))
    assert page.status_code == 200 and "Authenticator secret" in page.text

    # A rep is not asked.
    client.force_login(rep)
    assert client.get(reverse("home")).status_code == 200


def test_setting_up_totp_in_the_browser_opens_the_app(client, boss, settings):
    settings.MFA_REQUIRED_ROLES = ["Admin"]
    sign_in(client, "boss")
    page = client.get(reverse("mfa_activate_totp"))
    secret = page.context["form"].secret
    response = client.post(reverse("mfa_activate_totp"), {"code": totp_code(secret)})
    assert response.status_code == 302
    assert Authenticator.objects.filter(user=boss, type="totp").exists()
    assert Authenticator.objects.filter(user=boss, type="recovery_codes").exists()
    assert client.get(reverse("home")).status_code == 200


def test_who_must_keep_totp_cannot_turn_it_off(client, boss, settings):
    settings.MFA_REQUIRED_ROLES = ["Admin"]
    secret = with_totp(boss)
    sign_in(client, "boss", secret)
    client.post(reverse("mfa_deactivate_totp"))
    assert Authenticator.objects.filter(user=boss, type="totp").exists()
    settings.MFA_REQUIRED_ROLES = []
    client.post(reverse("mfa_deactivate_totp"))
    assert not Authenticator.objects.filter(user=boss, type="totp").exists()


def test_no_role_is_required_by_default_in_development(settings):
    assert settings.MFA_REQUIRED_ROLES == []
