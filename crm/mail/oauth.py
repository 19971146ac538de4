"""OAuth2 sign-in to Google and Microsoft 365 mailboxes (IMAP and SMTP with XOAUTH2).

The admin registers the CRM as an application with the provider and sets its client id and
secret (``MAIL_OAUTH_GOOGLE_*``, ``MAIL_OAUTH_MICROSOFT_*``); README, "Your mailbox", says how.
A user then connects with the authorization-code flow: the CRM sends the browser to the
provider with a random ``state`` and a PKCE challenge (both kept in the user's session), the
provider sends it back to ``/settings/mailbox/oauth/callback/`` with a code, and the CRM trades
the code (with the PKCE verifier and the client secret) for an access token and a refresh token
at the provider's token endpoint. Tokens are stored encrypted on the mailbox; the access token
(valid about an hour) is refreshed a few minutes before it runs out, under a row lock, so two
workers never spend the same refresh token (Microsoft rotates them). A refresh the provider
refuses (``invalid_grant``: access revoked, password changed) puts the mailbox in "needs
attention": the user connects again.
"""

import base64
import hashlib
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from crm.choices import MailAuth, MailSecurity
from crm.mail.connect import MailAuthError, MailNetworkError

#: An access token this close to its expiry is refreshed before use.
REFRESH_MARGIN = timedelta(minutes=5)
#: Seconds to wait for the provider's token endpoint.
TOKEN_TIMEOUT_SECONDS = 20


@dataclass(frozen=True)
class Provider:
    """A mail provider's OAuth2 endpoints and mail servers."""

    key: str
    label: str
    authorize_url: str
    token_url: str
    scope: str
    imap_host: str
    smtp_host: str
    extra_params: tuple[tuple[str, str], ...] = ()

    @property
    def client_id(self) -> str:
        return getattr(settings, f"MAIL_OAUTH_{self.key.upper()}_CLIENT_ID", "")

    @property
    def client_secret(self) -> str:
        return getattr(settings, f"MAIL_OAUTH_{self.key.upper()}_CLIENT_SECRET", "")

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret)


def _microsoft_url(path: str) -> str:
    tenant = settings.MAIL_OAUTH_MICROSOFT_TENANT or "common"
    return f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/{path}"


def providers() -> dict[str, Provider]:
    """The providers the CRM knows (configured or not), by key (``MailAuth`` values)."""
    return {
        MailAuth.GOOGLE: Provider(
            key=MailAuth.GOOGLE,
            label="Google",
            authorize_url="https://accounts.google.com/o/oauth2/v2/auth",
            token_url="https://oauth2.googleapis.com/token",
            scope="https://mail.google.com/ openid email",
            imap_host="imap.gmail.com",
            smtp_host="smtp.gmail.com",
            # A refresh token is only given with offline access, and again only on consent.
            extra_params=(("access_type", "offline"), ("prompt", "consent")),
        ),
        MailAuth.MICROSOFT: Provider(
            key=MailAuth.MICROSOFT,
            label="Microsoft 365",
            authorize_url=_microsoft_url("authorize"),
            token_url=_microsoft_url("token"),
            scope="https://outlook.office.com/IMAP.AccessAsUser.All "
            "https://outlook.office.com/SMTP.Send offline_access openid email",
            imap_host="outlook.office365.com",
            smtp_host="smtp.office365.com",
        ),
    }


def provider_get(key: str) -> Provider | None:
    """A configured provider by key, else None."""
    provider = providers().get(key)
    return provider if provider and provider.configured else None


def configured_providers() -> list[Provider]:
    return [p for p in providers().values() if p.configured]


def redirect_uri() -> str:
    """The callback address to register with the provider (from ``SITE_URL``)."""
    return settings.SITE_URL + reverse("mailbox_oauth_callback")


def _pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorization_start(*, provider: Provider, session) -> str:
    """The provider's sign-in URL for this browser; the state and PKCE verifier it will need
    at the callback are kept in ``session``."""
    state = secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(48)
    session["mail_oauth"] = {"state": state, "verifier": verifier, "provider": provider.key}
    params = {
        "client_id": provider.client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri(),
        "scope": provider.scope,
        "state": state,
        "code_challenge": _pkce_challenge(verifier),
        "code_challenge_method": "S256",
        **dict(provider.extra_params),
    }
    return provider.authorize_url + "?" + urllib.parse.urlencode(params)


class OAuthError(Exception):
    """The flow failed; ``str()`` tells the user why."""


def _token_request(provider: Provider, fields: dict) -> dict:
    body = urllib.parse.urlencode(
        {"client_id": provider.client_id, "client_secret": provider.client_secret, **fields}
    ).encode()
    request = urllib.request.Request(
        provider.token_url,
        data=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=TOKEN_TIMEOUT_SECONDS) as response:  # noqa: S310 - provider's https URL
            return json.loads(response.read(1_000_000) or b"{}")
    except urllib.error.HTTPError as error:
        try:
            answer = json.loads(error.read(100_000) or b"{}")
        except ValueError:
            answer = {}
        if error.code in (400, 401) and answer.get("error"):
            raise MailAuthError(
                f"{provider.label} refused the sign-in ({answer.get('error')}"
                f"{': ' + answer['error_description'] if answer.get('error_description') else ''}"
                "): connect the mailbox again."
            ) from error
        raise MailNetworkError(
            f"{provider.label}'s token service answered {error.code}; trying again later."
        ) from error
    except (OSError, ValueError) as error:
        raise MailNetworkError(
            f"{provider.label}'s token service could not be reached ({error})."
        ) from error


def _id_token_email(id_token: str) -> str:
    """The address in an ID token received straight from the token endpoint over TLS (OpenID
    Connect allows trusting that channel instead of checking the signature)."""
    try:
        payload = id_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return ""
    return (claims.get("email") or claims.get("preferred_username") or "").strip()


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_at: object
    email: str


def _tokens(answer: dict, *, refresh_token: str = "") -> Tokens:
    if not answer.get("access_token"):
        raise OAuthError("The provider gave no access token.")
    return Tokens(
        access_token=answer["access_token"],
        refresh_token=answer.get("refresh_token") or refresh_token,
        expires_at=timezone.now() + timedelta(seconds=int(answer.get("expires_in") or 3600)),
        email=_id_token_email(answer.get("id_token") or ""),
    )


def authorization_finish(*, session, params) -> tuple[Provider, Tokens]:
    """Check the callback's state against the session, and trade its code for tokens."""
    pending = session.pop("mail_oauth", None)
    if not pending or not params.get("state") or params.get("state") != pending.get("state"):
        raise OAuthError("This sign-in was not started here, or has expired: try again.")
    provider = provider_get(pending.get("provider", ""))
    if provider is None:
        raise OAuthError("This provider is not configured.")
    if params.get("error"):
        raise OAuthError(
            f"{provider.label} did not allow access ({params.get('error')}"
            f"{': ' + params['error_description'] if params.get('error_description') else ''})."
        )
    if not params.get("code"):
        raise OAuthError(f"{provider.label} sent no authorization code.")
    try:
        answer = _token_request(
            provider,
            {
                "grant_type": "authorization_code",
                "code": params["code"],
                "redirect_uri": redirect_uri(),
                "code_verifier": pending["verifier"],
            },
        )
    except (MailAuthError, MailNetworkError) as error:
        raise OAuthError(str(error)) from error
    tokens = _tokens(answer)
    if not tokens.refresh_token:
        raise OAuthError(
            f"{provider.label} gave no refresh token: the CRM could not stay signed in."
        )
    return provider, tokens


@transaction.atomic
def mailbox_connect_oauth(*, user, provider: Provider, tokens: Tokens):
    """Connect (or reconnect) the user's mailbox with OAuth2 tokens and the provider's
    servers; the first sync starts at once."""
    from crm.choices import MailSyncStatus
    from crm.models import Mailbox
    from crm.services.mailboxes import _wake

    mailbox = Mailbox.objects.select_for_update().filter(user=user).first() or Mailbox(user=user)
    address = tokens.email or mailbox.email_address or user.email
    if not address:
        raise OAuthError(f"{provider.label} did not say which address was signed in.")
    if mailbox.pk and (mailbox.imap_host, mailbox.imap_username) != (provider.imap_host, address):
        mailbox.folders.all().delete()  # another account: its checkpoints do not apply
    mailbox.email_address = address
    mailbox.auth_method = provider.key
    mailbox.imap_host, mailbox.imap_port = provider.imap_host, 993
    mailbox.imap_security = MailSecurity.SSL
    mailbox.imap_username = address
    mailbox.smtp_host, mailbox.smtp_port = provider.smtp_host, 587
    mailbox.smtp_security = MailSecurity.STARTTLS
    mailbox.smtp_username = address
    mailbox.imap_password = mailbox.smtp_password = None
    mailbox.oauth_access_token = tokens.access_token
    mailbox.oauth_refresh_token = tokens.refresh_token
    mailbox.oauth_expires_at = tokens.expires_at
    mailbox.sync_status = MailSyncStatus.WAITING
    mailbox.sync_error = ""
    mailbox.sync_attempts = 0
    mailbox.next_sync_at = None
    mailbox.save()
    _wake(mailbox.pk)
    return mailbox


def oauth_access_token(*, mailbox) -> str:
    """A valid access token for the mailbox, refreshed first when it is about to run out (and
    stored). Raises ``MailAuthError`` when the provider refuses the refresh."""
    from crm.models import Mailbox

    now = timezone.now()
    if (
        mailbox.oauth_access_token
        and mailbox.oauth_expires_at
        and mailbox.oauth_expires_at > now + REFRESH_MARGIN
    ):
        return mailbox.oauth_access_token
    provider = providers().get(mailbox.auth_method)
    if provider is None or not provider.configured:
        raise MailAuthError(
            "OAuth2 for this provider is no longer configured: ask an administrator, or connect "
            "with a password."
        )
    if mailbox.pk is None:
        raise MailAuthError("Connect the mailbox first.")
    with transaction.atomic():
        row = Mailbox.objects.select_for_update().get(pk=mailbox.pk)
        if (
            row.oauth_access_token
            and row.oauth_expires_at
            and row.oauth_expires_at > (now + REFRESH_MARGIN)
        ):
            tokens = Tokens(
                row.oauth_access_token, row.oauth_refresh_token, row.oauth_expires_at, ""
            )
        else:
            if not row.oauth_refresh_token:
                raise MailAuthError(f"No {provider.label} sign-in is stored: connect again.")
            answer = _token_request(
                provider,
                {"grant_type": "refresh_token", "refresh_token": row.oauth_refresh_token},
            )
            try:
                tokens = _tokens(answer, refresh_token=row.oauth_refresh_token)
            except OAuthError as error:
                raise MailNetworkError(str(error)) from error
            row.oauth_access_token = tokens.access_token
            row.oauth_refresh_token = tokens.refresh_token
            row.oauth_expires_at = tokens.expires_at
            row.save(
                update_fields=["oauth_access_token", "oauth_refresh_token", "oauth_expires_at"]
            )
    mailbox.oauth_access_token = tokens.access_token
    mailbox.oauth_refresh_token = tokens.refresh_token
    mailbox.oauth_expires_at = tokens.expires_at
    return mailbox.oauth_access_token
