"""Sessions: the settings page with the sign-in history, "sign out everywhere", deactivation
ending every session at once, and the idle and absolute limits."""

import time

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse

from crm.auth.middleware import SEEN_AT, SIGNED_IN_AT
from crm.choices import Role, SignInOutcome
from crm.models import SignInEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def riley(db):
    return UserFactory(username="riley", password="demo", roles=[Role.SALES_REP])


def browser(user_agent: str, address: str = "127.0.0.1") -> Client:
    client = Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=address)
    response = client.post(reverse("login"), {"username": "riley", "password": "demo"})
    assert response.status_code == 302
    return client


def signed_in(client) -> bool:
    return client.get(reverse("home")).status_code == 200


def test_the_user_name_in_the_navbar_opens_the_settings_page(riley):
    client = browser("Firefox/140")
    assert reverse("user_settings") in client.get(reverse("home")).text


def test_settings_page_shows_own_sign_ins_and_sessions(riley, rep2, django_assert_max_num_queries):
    Client(REMOTE_ADDR="10.1.1.1").post(reverse("login"), {"username": "riley", "password": "bad"})
    browser("Safari/18", "10.2.2.2")
    client = browser("Firefox/140")
    browser("Other/1").logout()  # rep2 activity must not show
    Client().post(reverse("login"), {"username": "rep2", "password": "bad"})

    with django_assert_max_num_queries(20):
        page = client.get(reverse("user_settings"))
    assert page.status_code == 200
    signins = list(page.context["signins"])
    assert [e.outcome for e in signins] == [SignInOutcome.SUCCEEDED] * 3 + [SignInOutcome.FAILED]
    assert {e.user for e in signins} == {riley}
    assert "10.1.1.1" in page.text and "Safari/18" in page.text
    assert len(page.context["sessions"]) == 2  # Safari and this Firefox; Other signed out
    assert "Change password" in page.text and "Set up an authenticator app" in page.text


def test_sign_out_everywhere_ends_every_session_of_the_user_only(riley, rep2):
    phone, laptop = browser("Phone/1"), browser("Laptop/1")
    other = Client()
    other.force_login(rep2)

    response = laptop.post(reverse("sign_out_everywhere"))
    assert response.status_code == 302 and response.url == reverse("login")
    assert not signed_in(phone) and not signed_in(laptop)
    assert signed_in(other)


def test_sign_out_everywhere_is_post_only(riley):
    client = browser("Laptop/1")
    assert client.get(reverse("sign_out_everywhere")).status_code == 405
    assert signed_in(client)


def test_deactivating_a_user_ends_their_sessions_at_once(riley, django_capture_on_commit_callbacks):
    phone, laptop = browser("Phone/1"), browser("Laptop/1")
    assert Session.objects.count() == 2

    with django_capture_on_commit_callbacks(execute=True):
        riley.is_active = False
        riley.save(update_fields=["is_active"])

    assert Session.objects.count() == 0
    assert not signed_in(phone) and not signed_in(laptop)


def test_saving_an_active_user_keeps_their_sessions(riley, django_capture_on_commit_callbacks):
    client = browser("Laptop/1")
    with django_capture_on_commit_callbacks(execute=True):
        riley.first_name = "Riley"
        riley.save(update_fields=["first_name"])
    assert signed_in(client)


def _age_session(client, *, signed_in_ago: int, seen_ago: int) -> None:
    session = client.session
    now = int(time.time())
    session[SIGNED_IN_AT] = now - signed_in_ago
    session[SEEN_AT] = now - seen_ago
    session.save()


def test_idle_session_ends_and_comes_back_to_the_page(riley, settings):
    settings.SESSION_IDLE_SECONDS = 600
    client = browser("Laptop/1")
    _age_session(client, signed_in_ago=700, seen_ago=601)
    response = client.get(reverse("task_list"))
    assert response.status_code == 302
    assert response.url == reverse("login") + "?next=%2Ftasks%2F"
    assert "without activity" in client.get(response.url).text
    assert not signed_in(client)


def test_active_session_ends_at_its_maximum_age(riley, settings):
    settings.SESSION_MAX_AGE_SECONDS = 3600
    client = browser("Laptop/1")
    _age_session(client, signed_in_ago=3601, seen_ago=5)
    response = client.get(reverse("home"), HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == reverse("login")
    assert not signed_in(client)


def test_activity_keeps_the_session_and_is_noted_at_most_once_a_minute(riley, settings):
    settings.SESSION_IDLE_SECONDS = 600
    client = browser("Laptop/1")
    _age_session(client, signed_in_ago=900, seen_ago=500)
    assert signed_in(client)
    seen = client.session[SEEN_AT]
    assert int(time.time()) - seen < 5
    assert signed_in(client)
    assert client.session[SEEN_AT] == seen


def test_every_sign_in_is_recorded_once(riley):
    browser("Laptop/1")
    assert SignInEvent.objects.filter(user=riley, outcome=SignInOutcome.SUCCEEDED).count() == 1


def test_a_session_is_read_by_its_key_until_it_expires(riley):
    """The session's read (one column through a cursor): its data while it lasts; an expired,
    unknown or malformed key reads nothing and is forgotten, so the next save makes a new key."""
    from datetime import timedelta

    from django.utils import timezone

    from crm.auth.sessions import SessionStore

    store = SessionStore()
    store["colour"] = "teal"
    store.save()
    key = store.session_key
    assert SessionStore(key).load() == {"colour": "teal"}
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    expired = SessionStore(key)
    assert expired.load() == {}
    assert expired.session_key is None
    for unknown in ("x" * 32, "short", None):
        assert SessionStore(unknown).load() == {}
