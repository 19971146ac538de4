"""The People pages for admins: the list, inviting someone (email through the outbox, a
one-time set-password link from SITE_URL), roles and teams, deactivation (ends sessions, never
the last admin), second-factor reset, the lockout, teams; 404 for every other role; an audit
line and a message for each action."""

import re

import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from crm.auth.lockout import account_is_locked
from crm.choices import AuditAction, OutboxStatus, Role
from crm.models import AuditEvent, OutboundEmail, Team, User
from crm.views.submissions import SUBMISSION_FIELD
from tests.factories import TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def sign_in(client, login, password):
    return client.post(reverse("login"), {"username": login, "password": password})


def signed_in(client) -> bool:
    return "_auth_user_id" in client.session


def key(n: int = 1) -> str:
    return f"people-test-key-{n:04d}"


@pytest.fixture
def riley(db):
    return UserFactory(
        username="riley", email="riley@example.com", password="demo", roles=[Role.SALES_REP]
    )


def people_urls(person, team) -> list[tuple[str, str]]:
    return [
        ("GET", reverse("people_list")),
        ("GET", reverse("person_invite")),
        ("POST", reverse("person_invite")),
        ("GET", reverse("person_detail", args=[person.pk])),
        ("POST", reverse("person_access", args=[person.pk])),
        ("POST", reverse("person_deactivate", args=[person.pk])),
        ("POST", reverse("person_reactivate", args=[person.pk])),
        ("POST", reverse("person_mfa_reset", args=[person.pk])),
        ("POST", reverse("person_unlock", args=[person.pk])),
        ("POST", reverse("person_invitation_resend", args=[person.pk])),
        ("GET", reverse("team_index")),
        ("POST", reverse("team_index")),
        ("GET", reverse("team_edit", args=[team.pk])),
        ("POST", reverse("team_edit", args=[team.pk])),
        ("GET", reverse("audit_list")),
        ("GET", reverse("audit_export")),
        ("GET", reverse("signin_list")),
        ("GET", reverse("signin_export")),
    ]


@pytest.mark.parametrize("role", ["rep", "agent", "manager"])
def test_every_people_and_audit_url_is_404_to_non_admins(request, client, role, admin, riley):
    user = request.getfixturevalue(role)
    team = TeamFactory(name="Guessed")
    client.force_login(user)
    for method, url in people_urls(riley, team) + people_urls(user, team):
        for htmx in (False, True):
            headers = {"HX-Request": "true"} if htmx else {}
            if method == "GET":
                response = client.get(url, headers=headers)
            else:
                response = client.post(url, {"name": "x", "roles": [Role.ADMIN]}, headers=headers)
            assert response.status_code == 404, (role, method, url, htmx)
    # A pk that does not exist is the same 404.
    assert client.get(reverse("person_detail", args=[10**9])).status_code == 404
    assert not AuditEvent.objects.exists()
    riley.refresh_from_db()
    assert riley.is_active and not riley.groups.filter(name=Role.ADMIN).exists()


def test_navigation_shows_people_and_audit_to_admins_only(client, admin, rep):
    client.force_login(admin)
    html = client.get(reverse("home")).text
    assert reverse("people_list") in html and reverse("audit_list") in html
    client.force_login(rep)
    html = client.get(reverse("home")).text
    assert reverse("people_list") not in html and reverse("audit_list") not in html


def test_people_list_filters_and_a_fixed_query_count(
    client, admin, manager, rep, agent, django_assert_max_num_queries
):
    client.force_login(admin)
    for n in range(30):
        user = UserFactory(username=f"extra{n}", roles=[Role.SALES_REP])
        TeamFactory(name=f"T{n}", members=[user], managers=[manager])
    secret = generate_totp_secret()
    TOTP.activate(rep, secret)
    with django_assert_max_num_queries(14):
        response = client.get(reverse("people_list"))
    assert response.status_code == 200
    html = response.text
    assert "rep@example.com" in html and "Sales (manager)" in html
    with django_assert_max_num_queries(14):
        client.get(reverse("people_list"), {"page": 2})

    rows = client.get(reverse("people_list"), {"q": "agent"}).context["object_list"]
    assert [u.username for u in rows] == ["agent"]
    rows = client.get(reverse("people_list"), {"role": Role.MANAGER}).context["object_list"]
    assert [u.username for u in rows] == ["manager"]
    rows = client.get(reverse("people_list"), {"role": Role.ADMIN}).context["object_list"]
    assert [u.username for u in rows] == ["admin"]
    sales = Team.objects.get(name="Sales")
    rows = client.get(reverse("people_list"), {"team": sales.pk}).context["object_list"]
    assert {u.username for u in rows} == {"manager", "rep", "rep2"}
    rep2 = User.objects.get(username="rep2")
    rep2.is_active = False
    rep2.save(update_fields=["is_active"])
    rows = client.get(reverse("people_list"), {"active": "no"}).context["object_list"]
    assert [u.username for u in rows] == ["rep2"]
    rows = client.get(reverse("people_list"), {"q": "rep"}).context["object_list"]
    by_name = {u.username: u for u in rows}
    assert by_name["rep"].has_mfa and not by_name["rep2"].has_mfa


def test_invite_emails_a_set_password_link_then_the_user_signs_in(client, admin, settings):
    settings.SITE_URL = "https://crm.example.org"
    sales = TeamFactory(name="Field sales")
    client.force_login(admin)
    response = client.post(
        reverse("person_invite"),
        {
            "email": "Nora@Example.com",
            "username": "nora",
            "first_name": "Nora",
            "last_name": "Quinn",
            "roles": [Role.SALES_REP],
            "teams": [sales.pk],
            SUBMISSION_FIELD: key(),
        },
        HTTP_HOST="localhost",
    )
    nora = User.objects.get(username="nora")
    assert response.status_code == 302 and response.url == reverse("person_detail", args=[nora.pk])
    assert not nora.has_usable_password() and nora.is_active
    assert list(nora.groups.values_list("name", flat=True)) == [Role.SALES_REP]
    assert list(nora.teams.all()) == [sales]
    event = AuditEvent.objects.get(action=AuditAction.USER_INVITED)
    assert (event.actor, event.target_user) == (admin, nora)
    assert event.detail["roles"] == [Role.SALES_REP] and event.detail["teams"] == ["Field sales"]

    # The same form sent twice invites once.
    again = client.post(
        reverse("person_invite"), {"email": "x@example.com", SUBMISSION_FIELD: key()}
    )
    assert again.status_code == 302
    assert User.objects.filter(username="nora").count() == 1

    email = OutboundEmail.objects.get(to_email__iexact="nora@example.com")
    assert email.status == OutboxStatus.QUEUED
    links = re.findall(r"https?://\S+", email.body_text)
    assert links and all(link.startswith("https://crm.example.org/") for link in links)
    assert "localhost" not in email.body_text

    # Nobody can sign in as her before she chose a password.
    assert sign_in(Client(), "nora", "").status_code == 200

    visitor = Client()
    (link,) = [link for link in links if "/auth/" in link]
    path = link.removeprefix("https://crm.example.org")
    response = visitor.get(path)
    assert response.status_code == 302
    response = visitor.post(
        response.url, {"password1": "Nora-s3cret-pass", "password2": "Nora-s3cret-pass"}
    )
    assert response.status_code == 302
    assert AuditEvent.objects.filter(action=AuditAction.PASSWORD_RESET, target_user=nora).exists()
    # The link works once.
    assert "invalid" in visitor.get(path, follow=True).text.lower()
    assert sign_in(visitor, "nora@example.com", "Nora-s3cret-pass").status_code == 302
    assert signed_in(visitor)


def test_invitation_link_expires_with_the_password_reset_timeout(client, admin, settings):
    client.force_login(admin)
    client.post(
        reverse("person_invite"),
        {"email": "late@example.com", "username": "late", "roles": [Role.SUPPORT_AGENT]},
    )
    link = re.findall(r"https?://\S+/auth/\S+", OutboundEmail.objects.get().body_text)[0]
    settings.PASSWORD_RESET_TIMEOUT = -1
    visitor = Client()
    response = visitor.get(link.removeprefix(settings.SITE_URL), follow=True)
    assert 'name="password1"' not in response.text


def test_invite_refuses_a_taken_email_or_username(client, admin, riley):
    client.force_login(admin)
    response = client.post(
        reverse("person_invite"),
        {"email": "RILEY@example.com", "username": "Riley", "roles": [Role.SALES_REP]},
    )
    assert response.status_code == 200
    assert "exists already" in response.text and "taken" in response.text
    assert not OutboundEmail.objects.exists()


def test_invitation_sent_again_while_no_password(client, admin, riley):
    client.force_login(admin)
    client.post(
        reverse("person_invite"),
        {"email": "kai@example.com", "username": "kai", "roles": [Role.SALES_REP]},
    )
    kai = User.objects.get(username="kai")
    client.post(reverse("person_invitation_resend", args=[kai.pk]))
    assert AuditEvent.objects.filter(action=AuditAction.INVITATION_RESENT).count() == 1
    response = client.post(reverse("person_invitation_resend", args=[riley.pk]), follow=True)
    assert "chosen a password already" in response.text


def test_edit_roles_and_teams_with_audit_lines(client, admin, riley):
    north = TeamFactory(name="North")
    south = TeamFactory(name="South", members=[riley])
    client.force_login(admin)
    page = client.get(reverse("person_detail", args=[riley.pk]))
    assert page.status_code == 200
    state = re.search(r'name="_state" value="([^"]+)"', page.text).group(1)
    response = client.post(
        reverse("person_access", args=[riley.pk]),
        {
            "roles": [Role.SALES_REP, Role.MANAGER],
            "member_of": [north.pk],
            "manager_of": [south.pk],
            "_state": state,
            SUBMISSION_FIELD: key(),
        },
        follow=True,
    )
    assert "Saved the roles and teams" in response.text
    riley = User.objects.get(pk=riley.pk)
    assert riley.role_names == {Role.SALES_REP, Role.MANAGER}
    assert list(riley.teams.all()) == [north] and list(riley.managed_teams.all()) == [south]
    roles = AuditEvent.objects.get(action=AuditAction.ROLES_CHANGED)
    assert roles.detail == {"old": [Role.SALES_REP], "new": [Role.SALES_REP, Role.MANAGER]}
    teams = AuditEvent.objects.get(action=AuditAction.TEAMS_CHANGED)
    assert teams.detail["member"] == {"old": ["South"], "new": ["North"]}

    # A form opened before that change saves nothing and says so.
    stale = client.post(
        reverse("person_access", args=[riley.pk]),
        {"roles": [Role.SUPPORT_AGENT], "_state": state},
    )
    assert stale.status_code == 409 and "Someone changed" in stale.text
    assert User.objects.get(pk=riley.pk).role_names == {Role.SALES_REP, Role.MANAGER}


def test_deactivate_ends_sessions_and_reactivate(
    client, admin, riley, django_capture_on_commit_callbacks
):
    theirs = Client()
    assert sign_in(theirs, "riley", "demo").status_code == 302
    assert Session.objects.count() == 1
    client.force_login(admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("person_deactivate", args=[riley.pk]), {SUBMISSION_FIELD: key()}, follow=True
        )
    assert "Deactivated" in response.text and "signed out everywhere" in response.text
    riley.refresh_from_db()
    assert not riley.is_active
    assert theirs.get(reverse("home")).status_code == 302  # signed out
    assert not signed_in(theirs)
    assert AuditEvent.objects.filter(
        action=AuditAction.USER_DEACTIVATED, actor=admin, target_user=riley
    ).exists()

    client.post(reverse("person_reactivate", args=[riley.pk]))
    riley.refresh_from_db()
    assert riley.is_active
    assert AuditEvent.objects.filter(action=AuditAction.USER_ACTIVATED).count() == 1
    assert sign_in(theirs, "riley", "demo").status_code == 302


def test_an_admin_cannot_deactivate_themselves_or_the_last_admin(client, admin, riley):
    client.force_login(admin)
    response = client.post(reverse("person_deactivate", args=[admin.pk]), follow=True)
    assert "cannot deactivate yourself" in response.text
    # A second admin may not remove the last one's Admin role or deactivate them either.
    second = UserFactory(username="second", roles=[Role.ADMIN])
    client.force_login(second)
    client.post(reverse("person_deactivate", args=[admin.pk]))
    admin.refresh_from_db()
    assert not admin.is_active  # two admins: one may go
    response = client.get(reverse("person_detail", args=[second.pk]))
    state = re.search(r'name="_state" value="([^"]+)"', response.text).group(1)
    response = client.post(
        reverse("person_access", args=[second.pk]),
        {"roles": [Role.SALES_REP], "_state": state},
        follow=True,
    )
    assert "last active admin" in response.text
    assert User.objects.get(pk=second.pk).role_names == {Role.ADMIN}
    assert AuditEvent.objects.filter(action=AuditAction.USER_DEACTIVATED).count() == 1
    assert not AuditEvent.objects.filter(action=AuditAction.ROLES_CHANGED).exists()


def test_last_admin_cannot_be_deactivated_by_a_superuser_without_the_role(client, admin):
    other = UserFactory(username="other-admin", roles=[Role.ADMIN])
    client.force_login(other)
    other.groups.clear()  # other is no admin any more (and cannot reach the page)
    assert client.post(reverse("person_deactivate", args=[admin.pk])).status_code == 404


def test_reset_mfa_deletes_authenticators_and_ends_sessions(
    client, admin, riley, django_capture_on_commit_callbacks
):
    theirs = Client()
    assert sign_in(theirs, "riley", "demo").status_code == 302
    TOTP.activate(riley, generate_totp_secret())
    RecoveryCodes.activate(riley)
    client.force_login(admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("person_mfa_reset", args=[riley.pk]), follow=True)
    assert "Reset the second factor" in response.text
    assert not Authenticator.objects.filter(user=riley).exists()
    event = AuditEvent.objects.get(action=AuditAction.MFA_RESET)
    assert event.detail == {"types": ["recovery_codes", "totp"]}
    assert not Session.objects.filter(session_key=theirs.session.session_key).exists()


def test_unlock_clears_the_lockout_from_the_page(client, admin, riley):
    attacker = Client(REMOTE_ADDR="10.9.9.9")
    for _ in range(5):
        sign_in(attacker, "riley", "wrong")
    assert account_is_locked(riley)
    client.force_login(admin)
    assert "locked out" in client.get(reverse("person_detail", args=[riley.pk])).text
    response = client.post(reverse("person_unlock", args=[riley.pk]), follow=True)
    assert "Cleared the sign-in lockout" in response.text
    assert not account_is_locked(riley)
    assert AuditEvent.objects.get(action=AuditAction.ACCOUNT_UNLOCKED).detail == {
        "failures_cleared": 5
    }
    assert sign_in(Client(), "riley", "demo").status_code == 302


def test_unlock_account_command_by_email_and_address(riley, capsys):
    attacker = Client(REMOTE_ADDR="10.6.6.6")
    for _ in range(5):
        sign_in(attacker, "riley", "wrong")
    assert "Too many" in sign_in(Client(), "riley", "demo").text
    call_command("unlock_account", "RILEY@example.com")
    assert "Cleared the lockout of riley" in capsys.readouterr().out
    assert sign_in(Client(), "riley", "demo").status_code == 302
    event = AuditEvent.objects.get(action=AuditAction.ACCOUNT_UNLOCKED)
    assert event.actor is None and event.detail["via"] == "unlock_account"

    for number in range(20):
        sign_in(attacker, f"someone{number}", "guess")
    assert "Too many" in sign_in(attacker, "riley", "demo").text
    call_command("unlock_account", "--address", "10.6.6.6")
    assert sign_in(attacker, "riley", "demo").status_code == 302
    assert AuditEvent.objects.get(action=AuditAction.ADDRESS_UNLOCKED).detail["address"] == (
        "10.6.6.6"
    )


def test_unlock_account_command_refuses_unknown_logins():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("unlock_account", "nobody@example.com")
    with pytest.raises(CommandError):
        call_command("unlock_account", "--address", "not-an-ip")


def test_teams_create_rename_and_staff(client, admin, rep, rep2, manager):
    client.force_login(admin)
    response = client.post(
        reverse("team_index"),
        {"name": "Enterprise", "members": [rep.pk], "managers": [manager.pk]},
    )
    team = Team.objects.get(name="Enterprise")
    assert response.url == reverse("team_edit", args=[team.pk])
    assert list(team.members.all()) == [rep]
    page = client.get(reverse("team_edit", args=[team.pk]))
    state = re.search(r'name="_state" value="([^"]+)"', page.text).group(1)
    client.post(
        reverse("team_edit", args=[team.pk]),
        {"name": "Enterprise EMEA", "members": [rep.pk, rep2.pk], "_state": state},
    )
    team.refresh_from_db()
    assert team.name == "Enterprise EMEA" and set(team.members.all()) == {rep, rep2}
    assert not team.managers.exists()
    changed = AuditEvent.objects.get(action=AuditAction.TEAM_CHANGED)
    assert changed.detail["name"] == {"old": "Enterprise", "new": "Enterprise EMEA"}
    assert changed.target_label == "Enterprise EMEA"
    assert AuditEvent.objects.filter(action=AuditAction.TEAM_CREATED).exists()
    assert "Enterprise EMEA" in client.get(reverse("team_index")).text
    # Its old page state is stale now.
    stale = client.post(reverse("team_edit", args=[team.pk]), {"name": "X", "_state": state})
    assert stale.status_code == 409
    duplicate = client.post(reverse("team_index"), {"name": "enterprise emea"})
    assert duplicate.status_code == 200 and "exists already" in duplicate.text
