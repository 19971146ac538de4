"""Signing in: by username or email on /login/, the lockout after wrong passwords (per account
and per address, counted in the shared database cache), password reset and change with their
emails through the outbox, and the sign-in history."""

import re
import subprocess
import sys

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test import Client
from django.urls import reverse

from crm.choices import OutboxStatus, Role, SignInOutcome
from crm.models import OutboundEmail, SignInEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def riley(db):
    return UserFactory(
        username="riley", email="riley@example.com", password="demo", roles=[Role.SALES_REP]
    )


def sign_in(client, login, password, **extra):
    return client.post(reverse("login"), {"username": login, "password": password}, **extra)


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_login_page_asks_for_username_or_email_and_password(client):
    response = client.get("/login/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="username"' in html and 'name="password"' in html
    assert "Username or email" in html
    assert reverse("account_reset_password") in html


@pytest.mark.parametrize("login", ["riley", "RILEY", "riley@example.com", "Riley@Example.com"])
def test_sign_in_by_username_or_email(client, riley, login):
    response = sign_in(client, login, "demo")
    assert response.status_code == 302 and response.url == reverse("home")
    assert signed_in(client)
    event = SignInEvent.objects.get()
    assert (event.user, event.outcome) == (riley, SignInOutcome.SUCCEEDED)


def test_next_is_followed_only_within_the_site(client, riley):
    response = client.post(
        reverse("login"),
        {"username": "riley", "password": "demo", "next": "https://evil.example/"},
    )
    assert response.url == reverse("home")
    client.logout()
    response = client.post(
        reverse("login"), {"username": "riley", "password": "demo", "next": "/tasks/"}
    )
    assert response.url == "/tasks/"


def test_wrong_password_is_a_form_error_and_recorded(client, riley):
    response = sign_in(client, "riley", "nope", HTTP_USER_AGENT="Firefox/140")
    assert response.status_code == 200
    assert "not correct" in response.content.decode()
    assert not signed_in(client)
    event = SignInEvent.objects.get()
    assert (event.user, event.outcome, event.login) == (riley, SignInOutcome.FAILED, "riley")
    assert event.ip == "127.0.0.1" and event.user_agent == "Firefox/140"


def test_sixth_wrong_password_locks_the_account_from_any_address_and_by_email_too(riley):
    """Five wrong passwords from one address (by username); the right one from another
    address, another client, by email, is refused: the count is per account and lives in the
    database cache every process shares."""
    first = Client(REMOTE_ADDR="10.0.0.1")
    for _ in range(5):
        assert sign_in(first, "riley", "wrong").status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM crm_cache WHERE cache_key LIKE %s", ["%login_failed%"])
        assert cursor.fetchone()[0] >= 1

    second = Client(REMOTE_ADDR="10.0.0.2")
    response = sign_in(second, "riley@example.com", "demo")
    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()
    assert not signed_in(second)
    assert SignInEvent.objects.filter(user=riley, outcome=SignInOutcome.LOCKED).count() == 1


def test_lockout_ends_after_the_window(client, riley, settings):
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": "20/900s/ip,5/900s/key"}
    for _ in range(5):
        sign_in(client, "riley", "wrong")
    assert not signed_in(client) and "Too many" in sign_in(client, "riley", "demo").text
    # The window is over (the counts expire with it).
    from django.core.cache import cache

    cache.clear()
    assert sign_in(client, "riley", "demo").status_code == 302


def test_many_failures_from_one_address_lock_that_address(riley):
    attacker = Client(REMOTE_ADDR="10.6.6.6")
    for number in range(20):
        sign_in(attacker, f"someone{number}", "guess")
    assert "Too many" in sign_in(attacker, "riley", "demo").text
    assert sign_in(Client(REMOTE_ADDR="10.7.7.7"), "riley", "demo").status_code == 302


def test_a_team_behind_one_address_signs_in_at_once():
    """Fifty people of one office (one address) sign in within the same minute: none is turned
    away (allauth's default of 30 sign-ins a minute per address refused the last 20)."""
    office = "10.8.8.8"
    for number in range(50):
        UserFactory(username=f"person{number}", password="demo", roles=[Role.SALES_REP])
    answers = [
        sign_in(Client(REMOTE_ADDR=office), f"person{number}", "demo").status_code
        for number in range(50)
    ]
    assert answers == [302] * 50


def test_sign_ins_per_address_are_still_limited(riley, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login": "3/m/ip"}
    answers = [sign_in(Client(REMOTE_ADDR="10.9.9.9"), "riley", "demo") for _ in range(4)]
    assert [a.status_code for a in answers] == [302, 302, 302, 429]
    assert sign_in(Client(REMOTE_ADDR="10.9.9.10"), "riley", "demo").status_code == 302


def test_a_good_sign_in_does_not_reset_the_account_count(riley):
    """A success between failures takes back only its own attempt: an attacker who knows one
    password cannot interleave it to keep guessing another account's."""
    client = Client()
    for _ in range(4):
        sign_in(client, "riley", "wrong")
    assert sign_in(client, "riley", "demo").status_code == 302
    client.logout()
    sign_in(client, "riley", "wrong")
    assert "Too many" in sign_in(client, "riley", "demo").text


def test_password_reset_by_email_through_the_outbox_with_site_url_links(client, riley, settings):
    settings.SITE_URL = "https://crm.example.org"
    response = client.post(
        reverse("account_reset_password"),
        {"email": "riley@example.com"},
        HTTP_HOST="localhost",
    )
    assert response.status_code == 302
    assert mail.outbox == []  # nothing sent inside the request
    email = OutboundEmail.objects.get(to_email="riley@example.com")
    assert email.status == OutboxStatus.QUEUED
    assert email.subject.startswith("[CRM] ")
    links = re.findall(r"https?://\S+", email.body_text)
    assert links and all(link.startswith("https://crm.example.org/auth/") for link in links)
    assert "localhost" not in email.body_text

    path = links[0].removeprefix("https://crm.example.org")
    response = client.get(path)
    assert response.status_code == 302  # the key moves into the session
    form_url = response.url
    response = client.post(
        form_url, {"password1": "a-new-Passw0rd!", "password2": "a-new-Passw0rd!"}
    )
    assert response.status_code == 302
    riley.refresh_from_db()
    assert riley.check_password("a-new-Passw0rd!")
    assert sign_in(Client(), "riley", "a-new-Passw0rd!").status_code == 302


def test_reset_for_an_unknown_address_sends_nothing_and_says_the_same(client, riley):
    response = client.post(reverse("account_reset_password"), {"email": "nobody@example.com"})
    assert response.status_code == 302
    assert not OutboundEmail.objects.exists()


def test_password_change_keeps_the_session_and_tells_the_user_by_email(client, riley):
    sign_in(client, "riley", "demo")
    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": "demo", "password1": "An0ther-pass!", "password2": "An0ther-pass!"},
    )
    assert response.status_code == 302
    riley.refresh_from_db()
    assert riley.check_password("An0ther-pass!")
    assert client.get(reverse("home")).status_code == 200
    assert OutboundEmail.objects.filter(to_email="riley@example.com").exists()
    assert mail.outbox == []


def test_django_admin_signs_in_through_the_crm_page(client, admin):
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response.url == reverse("login") + "?next=/admin/"
    response = client.get("/admin/login/?next=https://evil.example/")
    assert "evil" not in response.url


def test_sign_up_is_closed(client):
    response = client.post(
        reverse("account_signup"),
        {"username": "mallory", "email": "m@example.com", "password1": "Xx-123456789"},
    )
    assert response.status_code in (200, 302)
    from crm.models import User

    assert not User.objects.filter(username="mallory").exists()


FAIL_FIVE_TIMES = """
from django.test import Client
client = Client(REMOTE_ADDR="10.0.0.1")
for _ in range(5):
    assert client.post("/login/", {"username": "riley", "password": "wrong"}).status_code == 200
print("five failures")
"""


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_lockout_holds_across_processes(tmp_path):
    """Five wrong passwords in another process (as another gunicorn worker would take them):
    the right password in this one is refused."""
    from django.core.cache import cache

    from tests.worker import worker_env

    UserFactory(username="riley", email="riley@example.com", password="demo")
    try:
        result = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", FAIL_FIVE_TIMES],
            cwd=settings.BASE_DIR,
            env=worker_env(var_dir=tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        assert "five failures" in result.stdout

        response = sign_in(Client(REMOTE_ADDR="10.0.0.2"), "riley", "demo")
        assert "Too many failed login attempts" in response.text
    finally:
        cache.clear()
