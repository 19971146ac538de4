"""Connecting a mailbox with OAuth2: the authorization-code flow with state and PKCE against a
real local token endpoint, the refresh before expiry, and XOAUTH2 sign-in to dovecot."""

import base64
import hashlib
import json
import secrets
import threading
from dataclasses import replace
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.choices import MailAuth, MailSecurity, MailSyncStatus
from crm.mail import oauth
from crm.mail.connect import xoauth2_string
from crm.mail.sync import mailbox_sync
from crm.models import Mailbox, MailMessage
from tests.factories.crm import ContactFactory
from tests.mailserver import HOST, message_bytes


class TokenEndpoint:
    """A provider's token endpoint: trades codes (checking the PKCE verifier) and refresh
    tokens for access tokens, which it registers with the test IMAP server."""

    def __init__(self, mailserver, mail_user):
        self.mailserver, self.mail_user = mailserver, mail_user
        self.codes: dict[str, str] = {}  # code -> PKCE challenge
        self.refresh_tokens: set[str] = set()
        self.requests: list[dict] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                fields = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                endpoint.requests.append(fields)
                status, body = endpoint.answer(fields)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://{HOST}:{self.server.server_address[1]}/token"

    def answer(self, fields):
        if fields.get("client_id") != "cid" or fields.get("client_secret") != "csecret":
            return 401, {"error": "invalid_client"}
        if fields.get("grant_type") == "authorization_code":
            challenge = self.codes.pop(fields.get("code", ""), None)
            verifier = fields.get("code_verifier", "")
            digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            if challenge is None or digest.rstrip(b"=").decode() != challenge:
                return 400, {"error": "invalid_grant", "error_description": "bad code or PKCE"}
        elif fields.get("grant_type") == "refresh_token":
            if fields.get("refresh_token") not in self.refresh_tokens:
                return 400, {"error": "invalid_grant", "error_description": "Token revoked"}
        else:
            return 400, {"error": "unsupported_grant_type"}
        access, refresh = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        self.refresh_tokens = {refresh}  # rotated, as Microsoft does
        self.mailserver.add_token(self.mail_user, access)
        claims = base64.urlsafe_b64encode(json.dumps({"email": self.mail_user}).encode())
        return 200, {
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": 3600,
            "id_token": f"e30.{claims.decode().rstrip('=')}.sig",
        }

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mail_user(mailserver):
    return mailserver.add_user()


@pytest.fixture
def endpoint(mailserver, mail_user, settings, monkeypatch):
    settings.MAIL_OAUTH_GOOGLE_CLIENT_ID = "cid"
    settings.MAIL_OAUTH_GOOGLE_CLIENT_SECRET = "csecret"
    token_endpoint = TokenEndpoint(mailserver, mail_user)
    real = oauth.providers

    def local_providers():
        found = real()
        found[MailAuth.GOOGLE] = replace(
            found[MailAuth.GOOGLE],
            authorize_url="https://accounts.example/authorize",
            token_url=token_endpoint.url,
        )
        return found

    monkeypatch.setattr(oauth, "providers", local_providers)
    yield token_endpoint
    token_endpoint.stop()


def start(client) -> dict:
    response = client.get(reverse("mailbox_oauth_start", args=["google"]))
    assert response.status_code == 302
    url = urlsplit(response["Location"])
    assert url.netloc == "accounts.example"
    return {k: v[0] for k, v in parse_qs(url.query).items()}


def on_local_dovecot(mailbox, mailserver):
    """The provider's servers are Google's; point the connected mailbox at the test server."""
    Mailbox.objects.filter(pk=mailbox.pk).update(
        imap_host=HOST, imap_port=mailserver.imap_port, imap_security=MailSecurity.NONE
    )
    mailbox.refresh_from_db()


def test_connect_with_google_then_sync_over_xoauth2_refreshing_the_token(
    client, rep, endpoint, mailserver, mail_user
):
    client.force_login(rep)
    assert "Connect with Google" in client.get(reverse("mailbox_settings")).content.decode()
    asked = start(client)
    assert asked["code_challenge_method"] == "S256"
    assert asked["redirect_uri"] == "http://testserver/settings/mailbox/oauth/callback/" or (
        asked["redirect_uri"].endswith("/settings/mailbox/oauth/callback/")
    )
    assert "https://mail.google.com/" in asked["scope"]
    endpoint.codes["the-code"] = asked["code_challenge"]

    back = client.get(
        reverse("mailbox_oauth_callback"), {"code": "the-code", "state": asked["state"]}
    )

    assert back.status_code == 302
    mailbox = Mailbox.objects.get(user=rep)
    assert (mailbox.auth_method, mailbox.email_address) == (MailAuth.GOOGLE, mail_user)
    assert mailbox.imap_host == "imap.gmail.com" and mailbox.imap_password is None
    assert endpoint.requests[-1]["code_verifier"]
    first_refresh = mailbox.oauth_refresh_token
    # The access token ran out: the sync refreshes it first, then signs in with XOAUTH2.
    Mailbox.objects.filter(pk=mailbox.pk).update(oauth_expires_at=timezone.now())
    on_local_dovecot(mailbox, mailserver)
    ContactFactory(email="ann@acme.test", owner=rep)
    mailserver.append(mail_user, message_bytes(sender="ann@acme.test", to=mail_user))

    outcome = mailbox_sync(mailbox_id=mailbox.pk)

    assert (outcome.status, outcome.imported) == (MailSyncStatus.WAITING, 1)
    assert MailMessage.objects.count() == 1
    mailbox.refresh_from_db()
    assert endpoint.requests[-1]["grant_type"] == "refresh_token"
    assert mailbox.oauth_refresh_token != first_refresh  # the rotated one is kept
    assert mailbox.oauth_expires_at > timezone.now() + timedelta(minutes=50)


def test_a_token_still_valid_is_used_without_a_refresh(endpoint, rep, mailserver, mail_user):
    mailserver.add_token(mail_user, "still-good")
    mailbox = Mailbox.objects.create(
        user=rep,
        email_address=mail_user,
        auth_method=MailAuth.GOOGLE,
        oauth_access_token="still-good",
        oauth_refresh_token="r",
        oauth_expires_at=timezone.now() + timedelta(minutes=30),
    )
    on_local_dovecot(mailbox, mailserver)

    assert mailbox_sync(mailbox_id=mailbox.pk).status == MailSyncStatus.WAITING
    assert endpoint.requests == []


def test_a_revoked_grant_needs_the_users_attention(endpoint, rep, mailserver, mail_user):
    mailbox = Mailbox.objects.create(
        user=rep,
        email_address=mail_user,
        auth_method=MailAuth.GOOGLE,
        oauth_access_token="old",
        oauth_refresh_token="revoked",
        oauth_expires_at=timezone.now() - timedelta(minutes=1),
    )
    on_local_dovecot(mailbox, mailserver)

    outcome = mailbox_sync(mailbox_id=mailbox.pk)

    assert outcome.status == MailSyncStatus.ATTENTION
    assert "Google refused the sign-in (invalid_grant: Token revoked)" in outcome.error


def test_a_callback_with_a_foreign_state_connects_nothing(client, rep, endpoint):
    client.force_login(rep)
    asked = start(client)
    endpoint.codes["the-code"] = asked["code_challenge"]

    response = client.get(
        reverse("mailbox_oauth_callback"), {"code": "the-code", "state": "forged"}, follow=True
    )

    assert "was not started here" in response.content.decode()
    assert not Mailbox.objects.exists()
    assert endpoint.requests == []


def test_a_refusal_at_the_provider_is_explained(client, rep, endpoint):
    client.force_login(rep)
    asked = start(client)

    response = client.get(
        reverse("mailbox_oauth_callback"),
        {"error": "access_denied", "state": asked["state"]},
        follow=True,
    )

    assert "Google did not allow access (access_denied)" in response.content.decode()
    assert not Mailbox.objects.exists()


def test_no_oauth_button_or_page_unless_configured(client, rep):
    client.force_login(rep)

    assert "Connect with Google" not in client.get(reverse("mailbox_settings")).content.decode()
    assert client.get(reverse("mailbox_oauth_start", args=["google"])).status_code == 404
    assert client.get(reverse("mailbox_oauth_start", args=["microsoft"])).status_code == 404


def test_xoauth2_is_the_sasl_string_google_and_microsoft_document():
    assert xoauth2_string("a@b.c", "tok") == "user=a@b.c\x01auth=Bearer tok\x01\x01"


def test_an_oauth_mailbox_changes_only_what_is_read(client, rep, endpoint, mail_user):
    mailbox = Mailbox.objects.create(
        user=rep,
        email_address=mail_user,
        auth_method=MailAuth.GOOGLE,
        imap_host="imap.gmail.com",
        oauth_refresh_token="r",
    )
    client.force_login(rep)
    page = client.get(reverse("mailbox_settings")).content.decode()
    assert 'name="imap_host"' not in page and 'name="imap_password"' not in page

    client.post(
        reverse("mailbox_settings"),
        {"folders": "INBOX\n[Gmail]/Sent Mail", "private_label": "Mine", "action": "save"},
    )

    mailbox.refresh_from_db()
    assert (mailbox.private_label, mailbox.imap_host) == ("Mine", "imap.gmail.com")
    assert list(mailbox.folders.values_list("name", flat=True)) == ["INBOX", "[Gmail]/Sent Mail"]


def test_test_connection_signs_in_to_imap_and_smtp_with_xoauth2(
    endpoint, rep, mailserver, mail_user
):
    from crm.services.mailboxes import mailbox_test

    mailserver.add_token(mail_user, "fresh")
    mailbox = Mailbox.objects.create(
        user=rep,
        email_address=mail_user,
        auth_method=MailAuth.GOOGLE,
        imap_host=HOST,
        imap_port=mailserver.imap_port,
        imap_security=MailSecurity.NONE,
        smtp_host=HOST,
        smtp_port=mailserver.smtp_port,
        smtp_security=MailSecurity.NONE,
        oauth_access_token="fresh",
        oauth_refresh_token="r",
        oauth_expires_at=timezone.now() + timedelta(minutes=30),
    )

    result = mailbox_test(mailbox=mailbox)

    assert result.ok, result.steps
    Mailbox.objects.filter(pk=mailbox.pk).update(oauth_access_token="stale")
    mailbox.refresh_from_db()
    failed = mailbox_test(mailbox=mailbox)
    assert [step.ok for step in failed.steps] == [False, False]
    assert "refused the OAuth2 sign-in" in failed.steps[0].message


def test_microsoft_sign_in_asks_the_tenant_for_imap_smtp_and_offline_access(client, rep, settings):
    settings.MAIL_OAUTH_MICROSOFT_CLIENT_ID = "ms-id"
    settings.MAIL_OAUTH_MICROSOFT_CLIENT_SECRET = "ms-secret"
    settings.MAIL_OAUTH_MICROSOFT_TENANT = "contoso.onmicrosoft.com"
    client.force_login(rep)
    assert "Connect with Microsoft 365" in client.get(reverse("mailbox_settings")).content.decode()

    response = client.get(reverse("mailbox_oauth_start", args=["microsoft"]))

    url = urlsplit(response["Location"])
    asked = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert url.netloc == "login.microsoftonline.com"
    assert url.path == "/contoso.onmicrosoft.com/oauth2/v2.0/authorize"
    scopes = asked["scope"].split()
    assert "https://outlook.office.com/IMAP.AccessAsUser.All" in scopes
    assert "https://outlook.office.com/SMTP.Send" in scopes and "offline_access" in scopes
    assert asked["client_id"] == "ms-id" and "ms-secret" not in response["Location"]
    assert client.session["mail_oauth"]["state"] == asked["state"]
