"""Personal access tokens: made on the settings page and shown once, stored as a hash, scoped
read or write, and refused once expired, revoked, or their user made inactive."""

import datetime as dt
import hashlib

import pytest
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from crm.models import ApiToken, ApiTokenScope
from crm.services.api_tokens import api_token_check, api_token_create
from tests.api.conftest import client_for
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_the_settings_page_shows_a_new_token_once_and_keeps_only_its_hash(rep_client, rep):
    response = rep_client.post(
        "/me/tokens/", {"name": "Zapier", "scope": "write", "days": "30", "_submission": "k" * 16}
    )
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    secret = response.context["new_token"].secret
    assert secret.startswith("crm_") and secret in response.content.decode()

    token = ApiToken.objects.get(user=rep)
    assert token.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(token.__dict__)
    page = rep_client.get("/me/").content.decode()
    assert secret not in page and token.prefix in page and "Zapier" in page
    # The same form sent again (a double click) makes no second token.
    again = rep_client.post(
        "/me/tokens/", {"name": "Zapier", "scope": "write", "days": "30", "_submission": "k" * 16}
    )
    assert again.status_code == 302 and ApiToken.objects.filter(user=rep).count() == 1

    assert bearer(secret).get("/api/v1/accounts/").status_code == 200


def test_a_token_form_with_bad_values_answers_400(rep_client):
    response = rep_client.post("/me/tokens/", {"name": "", "scope": "root", "days": "9999"})
    assert response.status_code == 400 and not ApiToken.objects.exists()


def test_revoking_stops_the_token_at_once(rep_client, rep):
    new = api_token_create(user=rep, name="ci", scope="read", days=30)
    assert bearer(new.secret).get("/api/v1/accounts/").status_code == 200
    response = rep_client.post(f"/me/tokens/{new.token.pk}/revoke/")
    assert response.status_code == 302
    answer = bearer(new.secret).get("/api/v1/accounts/")
    assert answer.status_code == 401 and "Bearer" in answer["WWW-Authenticate"]


def test_expired_wrong_and_malformed_tokens_are_refused(rep):
    new = api_token_create(user=rep, name="ci", scope="read", days=7)
    ApiToken.objects.filter(pk=new.token.pk).update(expires_at=timezone.now() - dt.timedelta(1))
    assert bearer(new.secret).get("/api/v1/accounts/").status_code == 401
    other = api_token_create(user=rep, name="ci2", scope="read", days=7)
    assert bearer(other.secret[:-2] + "xx").get("/api/v1/accounts/").status_code == 401
    for header in ("Bearer", "Bearer a b", "Bearer crm_", "Bearer ünï"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        assert client.get("/api/v1/accounts/").status_code == 401
    assert APIClient().get("/api/v1/accounts/").status_code == 401


def test_an_inactive_users_tokens_stop_working_at_once(rep):
    client = client_for(rep)
    assert client.get("/api/v1/accounts/").status_code == 200
    rep.is_active = False
    rep.save(update_fields=["is_active"])
    assert client.get("/api/v1/accounts/").status_code == 401


def test_a_read_token_reads_and_gets_403_on_every_write(rep):
    account = AccountFactory(owner=rep)
    client = client_for(rep, ApiTokenScope.READ)
    assert client.get(f"/api/v1/accounts/{account.pk}/").status_code == 200
    assert client.patch(f"/api/v1/accounts/{account.pk}/", {"name": "X"}).status_code == 403
    assert client.post("/api/v1/accounts/", {"name": "X"}).status_code == 403
    account.refresh_from_db()
    assert account.name != "X"


def test_last_used_is_written_at_most_once_a_minute(rep, django_assert_num_queries):
    new = api_token_create(user=rep, name="ci", scope="read", days=7)
    now = timezone.now()
    assert api_token_check(new.secret, now=now).last_used_at == now
    with django_assert_num_queries(1):  # the lookup; no write within the minute
        api_token_check(new.secret, now=now + dt.timedelta(seconds=30))
    later = now + dt.timedelta(seconds=61)
    api_token_check(new.secret, now=later)
    new.token.refresh_from_db()
    assert new.token.last_used_at == later


@override_settings(MFA_REQUIRED_ROLES=["Sales rep"])
def test_a_token_stops_when_its_users_role_must_use_a_second_factor_not_set_up(rep):
    client = client_for(rep)
    response = client.get("/api/v1/accounts/")
    assert response.status_code == 401 and "second factor" in response.json()["detail"]


def test_a_user_without_a_role_gets_403(db):
    from tests.factories import UserFactory

    response = client_for(UserFactory(username="norole")).get("/api/v1/accounts/")
    assert response.status_code == 403


@override_settings(API_THROTTLE_RATE="3/min")
def test_each_token_has_its_own_request_budget(rep, rep2):
    from django.core.cache import cache

    cache.clear()
    client, other = client_for(rep), client_for(rep2)
    assert [client.get("/api/v1/accounts/").status_code for _ in range(3)] == [200] * 3
    refused = client.get("/api/v1/accounts/")
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert other.get("/api/v1/accounts/").status_code == 200
