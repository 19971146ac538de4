import datetime as dt
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from retention.models import IntegrationToken, UsageDaily, UsageEvent
from retention.services import usage
from tests.factories.retention import SubscriptionFactory

pytestmark = pytest.mark.django_db

URL = "/api/usage/"


@pytest.fixture
def token():
    return usage.integration_token_create(name="Product backend")[1]


def post(client, body, token=None, raw=False):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.post(
        URL, body if raw else json.dumps(body), content_type="application/json", **headers
    )


def test_the_url_is_the_documented_one():
    assert reverse("retention:usage_api") == URL


def test_only_a_hash_of_the_token_is_stored(token):
    stored = IntegrationToken.objects.get()
    assert token not in (stored.token_hash, stored.prefix)
    assert usage.integration_token_check(token) == stored


def test_without_or_with_a_bad_or_revoked_token_it_answers_401(client, account, token):
    event = {"account": account.pk, "kind": "login", "occurred_at": "2026-01-05T10:00:00Z"}
    assert post(client, event).status_code == 401
    assert post(client, event, token="rt_wrong").status_code == 401
    response = client.post(
        URL, json.dumps(event), content_type="application/json", HTTP_AUTHORIZATION=f"Basic {token}"
    )
    assert response.status_code == 401
    IntegrationToken.objects.update(revoked_at=timezone.now())
    assert post(client, event, token=token).status_code == 401
    assert not UsageEvent.objects.exists()


def test_bulk_events_are_stored_and_aggregated_per_day(client, account, token):
    SubscriptionFactory(account=account, seats=20)
    day = timezone.localdate() - dt.timedelta(days=1)
    events = [
        {"account": account.pk, "kind": "login", "occurred_at": f"{day}T09:00:00"},
        {"account": account.pk, "kind": "login", "quantity": 3, "occurred_at": f"{day}T10:00:00"},
        {
            "account_domain": account.domain,
            "kind": "feature",
            "feature": "Reports",
            "occurred_at": str(day),
        },
        {"account": account.pk, "kind": "active_users", "quantity": 17, "occurred_at": str(day)},
    ]
    response = post(client, {"events": events}, token=token)
    assert response.status_code == 201, response.content
    assert response.json() == {"accepted": 4}

    daily = {(d.kind, d.feature): (d.total, d.events) for d in UsageDaily.objects.all()}
    assert daily == {
        ("login", ""): (4, 2),
        ("feature", "Reports"): (1, 1),
        ("active_users", ""): (17, 1),
    }
    assert account.subscriptions.get().seats_used == 17

    # More events the same day: the row is upserted, not duplicated
    post(client, [events[0]], token=token)
    login = UsageDaily.objects.get(kind="login")
    assert (login.total, login.events) == (5, 3)
    assert UsageDaily.objects.count() == 3


@pytest.mark.parametrize(
    "body, reason",
    [
        ("{not json", "not valid JSON"),
        ("[]", "No events"),
        (
            json.dumps([{"account": 999999, "kind": "login", "occurred_at": "2026-01-01"}]),
            "account",
        ),
        (json.dumps([{"account": "1", "kind": "dance", "occurred_at": "2026-01-01"}]), "kind"),
        (json.dumps({"account": "1", "kind": "login", "occurred_at": "yesterday"}), "occurred_at"),
        (
            json.dumps(
                {"account": "1", "kind": "login", "occurred_at": "2026-01-01", "quantity": -4}
            ),
            "quantity",
        ),
        (json.dumps({"account": "1", "kind": "feature", "occurred_at": "2026-01-01"}), "feature"),
        (json.dumps(["just a string"]), "object"),
    ],
)
def test_bad_input_answers_400_with_reasons_and_stores_nothing(
    client, account, token, body, reason
):
    body = body.replace('"1"', f'"{account.pk}"')
    response = post(client, body, token=token, raw=True)
    assert response.status_code == 400
    assert reason in json.dumps(response.json())
    assert not UsageEvent.objects.exists()


def test_one_bad_event_in_a_batch_names_its_index(client, account, token):
    events = [
        {"account": account.pk, "kind": "login", "occurred_at": "2026-01-05"},
        {"account": account.pk, "kind": "login"},
    ]
    response = post(client, events, token=token)
    assert response.status_code == 400
    assert response.json()["events"] == [
        {"index": 1, "errors": {"occurred_at": "An ISO 8601 date or date and time."}}
    ]


def csv_file(text):
    return SimpleUploadedFile("usage.csv", text.encode(), content_type="text/csv")


def test_csv_import_keeps_good_rows_and_reports_bad_ones(account):
    text = (
        "account,account_domain,kind,feature,quantity,occurred_at\n"
        f"{account.pk},,login,,2,2026-01-05\n"
        f",{account.domain},feature,Export,1,2026-01-05T14:00:00\n"
        f"{account.pk},,teleport,,1,2026-01-05\n"
        f"{account.pk},,login,,x,2026-01-05\n"
        ",nobody.example,login,,1,2026-01-05\n"
    )
    result = usage.usage_import_csv(file=csv_file(text))
    assert result.created == 2
    assert [line for line, _ in result.errors] == [4, 5, 6]
    assert "kind" in result.errors[0][1]
    assert UsageEvent.objects.filter(source="csv").count() == 2


def test_csv_import_page_for_managers(client, manager, rep, account):
    url = reverse("retention:usage_import")
    client.force_login(rep)
    assert client.get(url).status_code == 404
    client.force_login(manager)
    manager_client = client
    response = manager_client.post(
        url, {"file": csv_file(f"account,kind,occurred_at\n{account.pk},login,2026-01-02\n")}
    )
    assert response.status_code == 200
    assert response.context["result"].created == 1
    # A file without the needed columns is reported, not a 500
    response = manager_client.post(url, {"file": csv_file("foo,bar\n1,2\n")})
    assert response.context["result"].errors
    # No file at all re-renders with an error
    assert manager_client.post(url, {}).status_code == 400
