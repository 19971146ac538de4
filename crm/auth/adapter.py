import hashlib
from types import SimpleNamespace
from urllib.parse import quote, urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from allauth.mfa.adapter import DefaultMFAAdapter
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.urls import reverse

from crm.choices import SignInOutcome
from crm.models import User
from crm.services.outbox import email_queue
from crm.services.signins import signin_record


def _site() -> SimpleNamespace:
    """The site as emails name it: from SITE_URL, never from the request's Host header."""
    return SimpleNamespace(name="CRM", domain=urlsplit(settings.SITE_URL).netloc or "localhost")


class AccountAdapter(DefaultAccountAdapter):
    """allauth for the CRM: accounts are made by admins (no sign-up), every email goes through
    the outbox with links built from SITE_URL, failed sign-ins are recorded, and the lockout
    counts wrong passwords per account whether the user typed their username or email."""

    def is_open_for_signup(self, request) -> bool:
        return False

    def get_client_ip(self, request) -> str:
        # Sign-ins made in-process (tests, management shells) have no connection address.
        try:
            return super().get_client_ip(request)
        except Exception:
            return "0.0.0.0"

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        ctx = {**context, "email": email, "current_site": _site()}
        message = self.render_mail(template_prefix, email, ctx)
        body_html = ""
        for content, mimetype in getattr(message, "alternatives", ()):
            if mimetype == "text/html":
                body_html = content
        # The same email asked for twice in one go (a double submit) is queued once; a new
        # request makes a new link, so a new key.
        digest = hashlib.sha256(
            "\x00".join((template_prefix, email, message.subject, message.body)).encode()
        ).hexdigest()
        email_queue(
            to_email=email,
            subject=message.subject,
            body_text=message.body,
            body_html=body_html,
            idempotency_key=f"account:{template_prefix.rsplit('/', 1)[-1]}:{digest[:40]}",
        )

    def send_password_reset_mail(self, user, email: str, context: dict) -> None:
        from crm.choices import AuditAction
        from crm.services.audit import audit_record

        audit_record(
            action=AuditAction.PASSWORD_RESET_REQUESTED,
            target_user=user,
            request=context.get("request"),
        )
        super().send_password_reset_mail(user, email, context)

    def get_reset_password_from_key_url(self, key: str) -> str:
        path = reverse("account_reset_password_from_key", kwargs={"uidb36": "UID", "key": "KEY"})
        return settings.SITE_URL + path.replace("UID-KEY", quote(key))

    def _get_login_attempts_cache_key(self, request, **credentials) -> str:
        login = (credentials.get("email") or credentials.get("username") or "").strip().lower()
        user_id = (
            User.objects.filter(Q(username__iexact=login) | Q(email__iexact=login))
            .order_by("pk")
            .values_list("pk", flat=True)
            .first()
            if login
            else None
        )
        return f"user:{user_id}" if user_id else f"login:{login}"

    def pre_authenticate(self, request, **credentials) -> None:
        try:
            super().pre_authenticate(request, **credentials)
        except ValidationError:
            signin_record(
                request=request, login=_login_of(credentials), outcome=SignInOutcome.LOCKED
            )
            raise

    def authentication_failed(self, request, **credentials) -> None:
        signin_record(request=request, login=_login_of(credentials), outcome=SignInOutcome.FAILED)


def _login_of(credentials: dict) -> str:
    return (credentials.get("username") or credentials.get("email") or "")[:150]


class MfaAdapter(DefaultMFAAdapter):
    """Who must keep a second factor may not remove their last one (MFA_REQUIRED_ROLES); a
    security key's relying party is SITE_URL's host, never the request's Host header."""

    def can_delete_authenticator(self, authenticator) -> bool:
        from allauth.mfa.models import Authenticator

        from crm.auth.middleware import mfa_required_for

        if mfa_required_for(authenticator.user):
            others = (
                Authenticator.objects.filter(user_id=authenticator.user_id)
                .exclude(pk=authenticator.pk)
                .exclude(type=Authenticator.Type.RECOVERY_CODES)
            )
            if not others.exists():
                return False
        return super().can_delete_authenticator(authenticator)

    def get_public_key_credential_rp_entity(self) -> dict[str, str]:
        return {
            "id": urlsplit(settings.SITE_URL).hostname or "localhost",
            "name": settings.MFA_TOTP_ISSUER,
        }
