"""Personal access tokens: creating one (its secret shown once), revoking, and checking one a
request carries.

A token reads ``crm_<prefix>_<secret>``: the prefix finds the row, and the SHA-256 of the whole
token is compared in constant time with the stored hash (the secret has 256 bits of entropy, so
a plain hash is enough: there is nothing to guess a dictionary for)."""

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from crm.choices import AuditAction
from crm.models import ApiToken, ApiTokenScope
from crm.services.audit import audit_record

TOKEN_START = "crm_"
#: ``last_used_at`` is written at most this often, so a busy integration does not write a row
#: on every request.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
#: The lifetimes offered when creating a token, in days.
LIFETIME_DAYS = (7, 30, 90, 365)
#: Live tokens one user may hold at once.
MAX_LIVE_TOKENS = 20


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # the whole token, shown once


def api_token_create(*, user, name: str, scope: str, days: int, now=None) -> NewToken:
    """A new token for ``user``: the row keeps the prefix and the hash; the returned ``secret``
    is the only time the whole token exists."""
    now = now or timezone.now()
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Name the token after what will use it."})
    if scope not in ApiTokenScope.values:
        raise ValidationError({"scope": "Choose read or read and write."})
    if days not in LIFETIME_DAYS:
        raise ValidationError({"days": "Choose one of the lifetimes offered."})
    live = api_token_list(user=user).filter(revoked_at__isnull=True, expires_at__gt=now).count()
    if live >= MAX_LIVE_TOKENS:
        raise ValidationError(f"You hold {live} live tokens already: revoke one first.")
    for _ in range(5):
        prefix = secrets.token_hex(5)
        secret = f"{TOKEN_START}{prefix}_{secrets.token_urlsafe(32)}"
        try:
            with transaction.atomic():
                token = ApiToken.objects.create(
                    user=user,
                    name=name[:100],
                    prefix=prefix,
                    secret_hash=token_hash(secret),
                    scope=scope,
                    created_at=now,
                    expires_at=now + dt.timedelta(days=days),
                )
        except IntegrityError:  # the prefix was taken: draw another
            continue
        audit_record(
            action=AuditAction.API_TOKEN_CREATED,
            actor=user,
            target_user=user,
            target=token,
            detail={"name": token.name, "scope": token.scope, "days": days},
        )
        return NewToken(token=token, secret=secret)
    raise RuntimeError("Could not draw an unused token prefix.")


def api_token_list(*, user):
    """The user's own tokens (nobody sees another's), newest first."""
    return ApiToken.objects.filter(user_id=user.pk).order_by("-created_at", "-id")


def api_token_revoke(*, token: ApiToken, user, now=None) -> ApiToken:
    """Stop a token at once; revoking a revoked token changes nothing."""
    if token.revoked_at is None:
        token.revoked_at = now or timezone.now()
        token.save(update_fields=["revoked_at"])
        audit_record(
            action=AuditAction.API_TOKEN_REVOKED,
            actor=user,
            target_user=token.user,
            target=token,
            detail={"name": token.name},
        )
    return token


def api_token_check(raw: str, *, now=None) -> ApiToken | None:
    """The live token ``raw`` names, with its user, or None (unknown, wrong secret, revoked,
    expired, or its user inactive). Notes when it was used, at most once a minute."""
    now = now or timezone.now()
    if not raw.startswith(TOKEN_START) or len(raw) > 200:
        return None
    prefix = raw[len(TOKEN_START) :].split("_", 1)[0]
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None or not hmac.compare_digest(token.secret_hash, token_hash(raw)):
        return None
    if not token.is_live(now) or not token.user.is_active:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        token.last_used_at = now
    return token
