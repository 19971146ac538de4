"""The admins' security audit shows sign-ins (a tab of its own, with filters, paging, a fixed
query count and a formula-safe CSV), and role changes made in Django admin leave a line."""

import csv
import io
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from crm.choices import AuditAction, Role, SignInOutcome
from crm.models import AuditEvent, SignInEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def riley(db):
    return UserFactory(
        username="riley", email="riley@example.com", password="demo", roles=[Role.SALES_REP]
    )


def many_attempts(riley, count):
    now = timezone.now()
    outcomes = [SignInOutcome.SUCCEEDED, SignInOutcome.FAILED, SignInOutcome.LOCKED]
    SignInEvent.objects.bulk_create(
        SignInEvent(
            user=riley if n % 4 else None,
            login="riley" if n % 4 else f"guess{n}",
            outcome=outcomes[n % 3],
            ip="10.0.0.7" if n % 2 else "192.0.2.9",
            user_agent="Firefox",
            at=now - timedelta(hours=n),
        )
        for n in range(count)
    )


def test_sign_ins_and_failures_land_in_the_audit_tab(client, riley, admin):
    client.post(reverse("login"), {"username": "riley", "password": "wrong"})
    client.post(reverse("login"), {"username": "riley", "password": "demo"})
    client.logout()
    client.force_login(admin)
    rows = client.get(reverse("signin_list"), {"user": riley.pk}).context["object_list"]
    assert [r.outcome for r in rows] == [SignInOutcome.SUCCEEDED, SignInOutcome.FAILED]
    assert {r.ip for r in rows} == {"127.0.0.1"}
    page = client.get(reverse("signin_list"))
    assert "Sign-ins" in page.text and reverse("audit_list") in page.text
    person = client.get(reverse("person_detail", args=[riley.pk])).text
    assert f"{reverse('signin_list')}?user={riley.pk}" in person


def test_sign_ins_tab_filters_pages_and_keeps_a_fixed_query_count(
    client, admin, riley, django_assert_max_num_queries
):
    many_attempts(riley, 120)
    client.force_login(admin)
    with django_assert_max_num_queries(10):
        first = client.get(reverse("signin_list"))
    assert len(first.context["object_list"]) == settings.LIST_PAGE_SIZE
    with django_assert_max_num_queries(10):
        client.get(reverse("signin_list"), {"page": 3})
    failed = client.get(reverse("signin_list"), {"outcome": SignInOutcome.FAILED})
    assert {r.outcome for r in failed.context["object_list"]} == {SignInOutcome.FAILED}
    theirs = client.get(reverse("signin_list"), {"user": riley.pk, "page": 2})
    assert {r.user_id for r in theirs.context["object_list"]} == {riley.pk}
    network = client.get(reverse("signin_list"), {"ip": "10.0."}).context["object_list"]
    assert network and {r.ip for r in network} == {"10.0.0.7"}
    today = timezone.localdate().isoformat()
    recent = client.get(reverse("signin_list"), {"when_after": today, "when_before": today})
    assert 0 < len(recent.context["object_list"]) <= 25  # today's hours, and the admin's
    htmx = client.get(reverse("signin_list"), {"page": 2}, HTTP_HX_REQUEST="true")
    assert '<nav class="navbar' not in htmx.text
    # A bad filter value is a message on the page, not an error.
    bad = client.get(reverse("signin_list"), {"user": "x", "when_after": "soon"})
    assert bad.status_code == 200


def test_sign_ins_csv_follows_the_filters_and_is_formula_safe(client, admin):
    SignInEvent.objects.create(
        login="=HYPERLINK(1)",
        outcome=SignInOutcome.FAILED,
        ip="203.0.113.5",
        user_agent="@evil",
        at=timezone.now(),
    )
    SignInEvent.objects.create(
        user=admin, login="admin", outcome=SignInOutcome.SUCCEEDED, at=timezone.now()
    )
    client.force_login(admin)
    response = client.get(reverse("signin_export"), {"outcome": SignInOutcome.FAILED})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][:2] == ["time", "outcome"] and len(rows) == 2
    assert rows[1][1] == SignInOutcome.FAILED and rows[1][3] == ""
    assert rows[1][4] == "'=HYPERLINK(1)" and rows[1][6] == "'@evil"


def test_the_changes_tab_filters_by_address(client, admin):
    AuditEvent.objects.create(action=AuditAction.ACCOUNT_UNLOCKED, ip="10.1.2.3", at=timezone.now())
    AuditEvent.objects.create(action=AuditAction.ACCOUNT_UNLOCKED, ip="10.9.9.9", at=timezone.now())
    client.force_login(admin)
    rows = client.get(reverse("audit_list"), {"ip": "10.1."}).context["object_list"]
    assert [r.ip for r in rows] == ["10.1.2.3"]
    assert "Sign-ins" in client.get(reverse("audit_list")).text


def admin_change_data(user, **changes):
    data = {
        "username": user.username,
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "is_active": "on",
        "date_joined_0": timezone.localtime(user.date_joined).strftime("%Y-%m-%d"),
        "date_joined_1": timezone.localtime(user.date_joined).strftime("%H:%M:%S"),
        "groups": [g.pk for g in user.groups.all()],
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_role_changes_made_in_django_admin_are_audited(client, admin, riley):
    client.force_login(admin)
    manager = Group.objects.get(name=Role.MANAGER)
    url = reverse("admin:crm_user_change", args=[riley.pk])
    response = client.post(url, admin_change_data(riley, groups=[manager.pk]))
    assert response.status_code == 302, response.context["adminform"].form.errors
    line = AuditEvent.objects.get(action=AuditAction.ROLES_CHANGED)
    assert (line.actor, line.target_user) == (admin, riley)
    assert line.detail["roles"] == {"old": [Role.SALES_REP], "new": [Role.MANAGER]}
    assert line.detail["through"] == "Django admin" and line.ip == "127.0.0.1"
    # Saving without a change of roles writes nothing more; making a superuser does.
    client.post(url, admin_change_data(riley, groups=[manager.pk], first_name="Riley"))
    assert AuditEvent.objects.filter(action=AuditAction.ROLES_CHANGED).count() == 1
    client.post(url, admin_change_data(riley, groups=[manager.pk], is_superuser="on"))
    latest = AuditEvent.objects.filter(action=AuditAction.ROLES_CHANGED).order_by("-id").first()
    assert latest.detail["superuser"] == {"old": "no", "new": "yes"}
    assert "roles" not in latest.detail


def test_the_admins_audit_shows_every_kind_of_security_change(client, admin, riley, settings):
    from crm.retention import retention_rules_run
    from tests.factories.leads import LeadFactory

    riley_client = type(client)()
    riley_client.post(reverse("login"), {"username": "riley", "password": "demo"})
    riley_client.post(reverse("api_token_create"), {"name": "billing", "scope": "read", "days": 30})
    LeadFactory(owner=riley)
    assert riley_client.get(reverse("leads:lead_list"), {"export": "csv"}).status_code == 200
    client.force_login(admin)
    manager = Group.objects.get(name=Role.MANAGER)
    client.post(
        reverse("admin:crm_user_change", args=[riley.pk]),
        admin_change_data(riley, groups=[manager.pk]),
    )
    settings.RETENTION_UNCONVERTED_LEADS_MONTHS = 12
    retention_rules_run(names=["leads.unconverted"])

    page = client.get(reverse("audit_list")).text
    for label in (
        "API token created",
        "Records exported",
        "Roles changed",
        "Retention: unconverted leads deleted",
    ):
        assert label in page, label
    signins = client.get(reverse("signin_list"), {"user": riley.pk}).context["object_list"]
    assert [s.outcome for s in signins] == [SignInOutcome.SUCCEEDED]
