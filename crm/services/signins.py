"""Sign-in history and ending a user's sessions.

Every session a user signs in with is indexed per user (allauth's usersessions), so "sign out
everywhere" and deactivating a user end each of them at once, in every process: sessions live
in the database, and a deleted session is gone for every worker.
"""

from django.contrib.auth import logout
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from crm.choices import SignInOutcome
from crm.models import SignInEvent, User


def client_address(request) -> str | None:
    """The client's address as the lockout counts it (``TRUSTED_PROXY_COUNT`` proxies
    skipped), or None without a request or a connection address."""
    from allauth.account.adapter import get_adapter

    ip = get_adapter().get_client_ip(request) if request is not None else None
    return None if ip in (None, "0.0.0.0") else ip


def _client(request) -> tuple[str | None, str]:
    agent = request.META.get("HTTP_USER_AGENT", "") if request is not None else ""
    return client_address(request), agent[:300]


def signin_record(*, request, outcome: str, user: User | None = None, login: str = "") -> None:
    """Record one sign-in attempt. A failed one names the user its login matches, if any, so
    they see attempts on their account; the login typed is kept as it was (trimmed)."""
    login = (login or "").strip()[:150]
    if user is None and login:
        user = (
            User.objects.filter(Q(username__iexact=login) | Q(email__iexact=login))
            .order_by("pk")
            .first()
        )
    ip, agent = _client(request)
    SignInEvent.objects.create(
        user=user,
        login=login or (user.get_username() if user else ""),
        outcome=outcome,
        ip=ip,
        user_agent=agent,
        at=timezone.now(),
    )


def signin_record_success(*, request, user: User) -> None:
    signin_record(request=request, user=user, outcome=SignInOutcome.SUCCEEDED)


def user_sessions_end(*, user: User, request=None) -> int:
    """End every session of ``user`` (on every device); with ``request`` of that user, its own
    session too. Returns how many sessions were ended."""
    from allauth.usersessions.models import UserSession

    ended = 0
    for user_session in UserSession.objects.filter(user_id=user.pk):
        if request is not None and user_session.session_key == request.session.session_key:
            continue
        user_session.end()
        ended += 1
    if request is not None and request.user.is_authenticated and request.user.pk == user.pk:
        logout(request)
        ended += 1
    return ended


def user_sessions_end_on_commit(*, user_id: int) -> None:
    """End a user's sessions once the change that calls for it (a deactivation) is committed."""

    def end():
        user = User.objects.filter(pk=user_id).first()
        if user is not None:
            user_sessions_end(user=user)

    transaction.on_commit(end)


def signin_history_prune(*, now=None, batch: int | None = None) -> int:
    """Delete sign-in attempts older than ``SIGNIN_HISTORY_DAYS``, in batches; the prune is a
    line of the audit trail. Returns how many attempts went."""
    from datetime import timedelta

    from django.conf import settings

    from crm.choices import AuditAction
    from crm.services.audit import PRUNE_BATCH, audit_record, rows_delete_before

    now = now or timezone.now()
    before = now - timedelta(days=settings.SIGNIN_HISTORY_DAYS)
    deleted = rows_delete_before(
        SignInEvent.objects.all(), field="at", before=before, batch=batch or PRUNE_BATCH
    )
    if deleted:
        audit_record(
            action=AuditAction.SIGNIN_HISTORY_PRUNED,
            detail={"deleted": deleted, "before": before.isoformat()},
        )
    return deleted
