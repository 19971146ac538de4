"""The security audit trail: lines from allauth's password and second-factor signals, the Audit
page for admins (filters, paging, fixed query count), its formula-safe CSV export, Django
admin read only, action codes from a registry, and the daily prune of old audit lines and
sign-in attempts."""

import csv
import io
import re
from datetime import timedelta

import pytest
from allauth.mfa.totp.internal.auth import (
    format_hotp_value,
    generate_totp_secret,
    hotp_value,
    yield_hotp_counters_from_time,
)
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from crm import registry
from crm.choices import AuditAction, Role, SignInOutcome
from crm.models import AuditEvent, SignInEvent
from crm.services.audit import audit_prune, audit_record
from crm.services.signins import signin_history_prune
from crm.tasks import security_history_prune
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def riley(db):
    return UserFactory(
        username="riley", email="riley@example.com", password="demo", roles=[Role.SALES_REP]
    )


def reauthenticated(client, user):
    client.post(reverse("login"), {"username": user.username, "password": "demo"})
    client.post(reverse("account_reauthenticate"), {"password": "demo"})


def test_password_change_and_reset_request_are_audited(client, riley):
    reauthenticated(client, riley)
    client.post(
        reverse("account_change_password"),
        {"oldpassword": "demo", "password1": "An0ther-pass!", "password2": "An0ther-pass!"},
    )
    changed = AuditEvent.objects.get(action=AuditAction.PASSWORD_CHANGED)
    assert (changed.actor, changed.target_user, changed.ip) == (riley, riley, "127.0.0.1")
    client.logout()
    client.post(reverse("account_reset_password"), {"email": "riley@example.com"})
    requested = AuditEvent.objects.get(action=AuditAction.PASSWORD_RESET_REQUESTED)
    assert requested.actor is None and requested.target_user == riley
    # An unknown address leaves no line (and no hint).
    client.post(reverse("account_reset_password"), {"email": "nobody@example.com"})
    assert AuditEvent.objects.filter(action=AuditAction.PASSWORD_RESET_REQUESTED).count() == 1


def test_turning_the_second_factor_on_and_off_is_audited(
    client, riley, django_capture_on_commit_callbacks
):
    reauthenticated(client, riley)
    page = client.get(reverse("mfa_activate_totp"))
    secret = page.context["form"].secret
    code = format_hotp_value(hotp_value(secret, next(yield_hotp_counters_from_time())))
    # allauth sends its signal once the factor is committed.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("mfa_activate_totp"), {"code": code})
    enabled = AuditEvent.objects.get(action=AuditAction.MFA_ENABLED)
    assert enabled.target_user == riley and enabled.detail == {"type": "totp"}
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("mfa_generate_recovery_codes"))
    assert AuditEvent.objects.filter(action=AuditAction.RECOVERY_CODES_REGENERATED).exists()
    client.post(reverse("mfa_deactivate_totp"))
    assert AuditEvent.objects.filter(action=AuditAction.MFA_DISABLED, actor=riley).exists()


def test_actions_come_from_the_registry():
    with pytest.raises(ValueError):
        audit_record(action="no.such.action")
    registry.audit_actions.register("export.downloaded", "Export downloaded")
    try:
        event = audit_record(action="export.downloaded", detail={"rows": 3})
        assert event.action_label == "Export downloaded"
        assert ("export.downloaded", "Export downloaded") in registry.audit_actions.choices()
    finally:
        registry.audit_actions._labels.pop("export.downloaded")


def many_events(admin, riley, count):
    now = timezone.now()
    AuditEvent.objects.bulk_create(
        AuditEvent(
            actor=admin if n % 2 else None,
            action=AuditAction.ROLES_CHANGED if n % 3 else AuditAction.USER_DEACTIVATED,
            target_user=riley,
            target_label="riley",
            detail={"old": ["Sales rep"], "new": ["Manager"]},
            ip="10.0.0.1",
            at=now - timedelta(hours=n),
        )
        for n in range(count)
    )


def test_audit_page_filters_pages_and_a_fixed_query_count(
    client, admin, riley, django_assert_max_num_queries
):
    many_events(admin, riley, 120)
    client.force_login(admin)
    with django_assert_max_num_queries(10):
        response = client.get(reverse("audit_list"))
    assert response.status_code == 200
    assert len(response.context["object_list"]) == settings.LIST_PAGE_SIZE
    assert "Sales rep → Manager" in response.text
    with django_assert_max_num_queries(10):
        client.get(reverse("audit_list"), {"page": 3})
    rows = client.get(reverse("audit_list"), {"action": AuditAction.USER_DEACTIVATED}).context[
        "object_list"
    ]
    assert rows and {r.action for r in rows} == {AuditAction.USER_DEACTIVATED}
    rows = client.get(reverse("audit_list"), {"actor": admin.pk, "page": 2}).context["object_list"]
    assert rows and {r.actor_id for r in rows} == {admin.pk}
    today = timezone.localdate().isoformat()
    rows = client.get(
        reverse("audit_list"), {"target_user": riley.pk, "when_after": today, "when_before": today}
    ).context["object_list"]
    assert 0 < len(rows) <= 24
    htmx = client.get(reverse("audit_list"), {"page": 2}, HTTP_HX_REQUEST="true")
    assert '<nav class="navbar' not in htmx.text


def test_audit_csv_follows_the_filters_and_is_formula_safe(client, admin):
    mallory = UserFactory(username="=HYPERLINK(1)", roles=[Role.SALES_REP])
    audit_record(
        action=AuditAction.USER_INVITED,
        actor=admin,
        target_user=mallory,
        detail={"email": "@evil", "teams": ["+cmd|' /C calc'!A0"]},
    )
    audit_record(action=AuditAction.ACCOUNT_UNLOCKED, target_user=admin)
    client.force_login(admin)
    response = client.get(reverse("audit_export"), {"action": AuditAction.USER_INVITED})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    assert rows[0][0] == "time" and len(rows) == 2
    row = rows[1]
    assert row[1] == AuditAction.USER_INVITED and row[3] == "admin"
    assert row[4] == "'=HYPERLINK(1)" and row[7] == "'=HYPERLINK(1)"
    assert not any(re.match(r"[=+\-@]", cell) for cell in row)


def test_audit_in_django_admin_is_read_only(client, admin):
    event = audit_record(action=AuditAction.ACCOUNT_UNLOCKED, target_user=admin)
    client.force_login(admin)
    assert client.get(reverse("admin:crm_auditevent_changelist")).status_code == 200
    page = client.get(reverse("admin:crm_auditevent_change", args=[event.pk]))
    assert page.status_code == 200 and 'type="submit"' not in page.text.split("<form")[-1]
    assert client.get(reverse("admin:crm_auditevent_add")).status_code == 403
    assert client.post(reverse("admin:crm_auditevent_delete", args=[event.pk])).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_prune_deletes_old_audit_lines_and_sign_in_attempts_in_batches(riley, settings):
    settings.AUDIT_RETENTION_DAYS = 30
    settings.SIGNIN_HISTORY_DAYS = 10
    now = timezone.now()
    AuditEvent.objects.bulk_create(
        AuditEvent(action=AuditAction.ACCOUNT_UNLOCKED, at=now - timedelta(days=days))
        for days in (1, 29, 31, 40, 400, 401, 402)
    )
    SignInEvent.objects.bulk_create(
        SignInEvent(user=riley, login="riley", outcome=SignInOutcome.SUCCEEDED, at=at)
        for at in [now - timedelta(days=d) for d in (0, 9, 11, 12, 13, 100, 200)]
    )
    assert audit_prune(batch=2) == 5
    assert sorted(
        (now - e.at).days for e in AuditEvent.objects.exclude(action=AuditAction.AUDIT_PRUNED)
    ) == [1, 29]
    assert signin_history_prune(batch=2) == 5
    assert SignInEvent.objects.count() == 2
    assert AuditEvent.objects.get(action=AuditAction.SIGNIN_HISTORY_PRUNED).detail["deleted"] == 5
    # A second run finds nothing and writes nothing.
    lines = AuditEvent.objects.count()
    assert security_history_prune() == {"audit": 0, "signins": 0}
    assert AuditEvent.objects.count() == lines


def test_the_prune_runs_daily_from_beat():
    entry = settings.CELERY_BEAT_SCHEDULE["security-history-prune"]
    assert entry["task"] == "crm.tasks.security_history_prune"
    assert entry["schedule"] == 24 * 60 * 60.0
    assert settings.AUDIT_RETENTION_DAYS == 730 and settings.SIGNIN_HISTORY_DAYS == 365


def test_a_totp_enable_by_another_way_than_the_page_is_not_a_line(riley):
    # Sanity: the trail records only through the signals' senders (allauth's flows).
    from allauth.mfa.totp.internal.auth import TOTP

    TOTP.activate(riley, generate_totp_secret())
    assert not AuditEvent.objects.exists()
