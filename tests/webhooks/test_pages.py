"""The admins' Webhooks pages: endpoints created, changed and deleted with their URL checked,
the secret rotated, a test event sent, a disabled endpoint enabled, the delivery log paged at a
fixed query count and a delivery replayed. Everyone else gets 404."""

import pytest
from django.urls import reverse

from crm.choices import WebhookDeliveryState as State
from crm.models import WebhookDelivery, WebhookEndpoint
from tests.factories import WebhookDeliveryFactory, WebhookEndpointFactory

pytestmark = pytest.mark.django_db


def test_an_admin_creates_an_endpoint_and_sees_its_secret(client, admin, dns):
    dns["hooks.example.com"] = ["93.184.215.14"]
    client.force_login(admin)

    response = client.post(
        reverse("webhook_create"),
        {
            "url": "https://hooks.example.com/crm",
            "description": "Billing",
            "event_types": ["opportunity.won", "subscription.changed"],
        },
        follow=True,
    )

    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.event_types == ["opportunity.won", "subscription.changed"]
    assert endpoint.created_by == admin and endpoint.active
    page = response.content.decode()
    assert endpoint.secret in page and endpoint.secret.startswith("whsec_")
    assert "Billing" in client.get(reverse("webhook_list")).content.decode()


def test_a_url_inside_the_network_is_a_form_error(client, admin, dns, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    dns["intranet.example.com"] = ["10.0.0.8"]
    client.force_login(admin)

    response = client.post(
        reverse("webhook_create"), {"url": "https://intranet.example.com/", "description": "x"}
    )

    assert response.status_code == 200
    assert "10.0.0.8 is a private address" in response.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_an_admin_edits_and_deletes_an_endpoint(client, admin, dns):
    dns["new.example.com"] = ["93.184.215.14"]
    endpoint = WebhookEndpointFactory()
    client.force_login(admin)
    edit = reverse("webhook_edit", args=[endpoint.pk])
    form = client.get(edit).content.decode()
    assert 'name="_version"' in form

    client.post(edit, {"url": "https://new.example.com/in", "description": "Renamed"})
    endpoint.refresh_from_db()
    assert (endpoint.url, endpoint.description, endpoint.event_types) == (
        "https://new.example.com/in",
        "Renamed",
        [],
    )

    client.post(reverse("webhook_delete", args=[endpoint.pk]))
    assert not WebhookEndpoint.objects.exists()


def test_rotate_test_event_and_enable(client, admin):
    endpoint = WebhookEndpointFactory(active=False, disabled_reason="Kept failing.")
    old = endpoint.secret
    client.force_login(admin)

    client.post(reverse("webhook_rotate", args=[endpoint.pk]))
    client.post(reverse("webhook_test", args=[endpoint.pk]))
    page = client.get(endpoint.get_absolute_url()).content.decode()
    assert "Kept failing." in page and "Enable again" in page
    client.post(reverse("webhook_enable", args=[endpoint.pk]))

    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.previous_secret == old and endpoint.active
    assert WebhookDelivery.objects.get().event_type == "webhook.test"


def test_replay_from_the_log(client, admin):
    delivery = WebhookDeliveryFactory(state=State.FAILED, attempts=8)
    pending = WebhookDeliveryFactory(endpoint=delivery.endpoint)
    client.force_login(admin)

    client.post(reverse("webhook_replay", args=[delivery.endpoint_id, delivery.pk]))
    response = client.post(
        reverse("webhook_replay", args=[pending.endpoint_id, pending.pk]), follow=True
    )

    replay = WebhookDelivery.objects.get(replay_of=delivery)
    assert (replay.event_id, replay.payload, replay.state) == (
        delivery.event_id,
        delivery.payload,
        State.PENDING,
    )
    assert "still on its way" in response.content.decode()
    assert not WebhookDelivery.objects.filter(replay_of=pending).exists()


@pytest.mark.parametrize("rows", [3, 40])
def test_the_delivery_log_has_a_fixed_query_count(
    client, admin, rows, django_assert_max_num_queries
):
    endpoint = WebhookEndpointFactory()
    WebhookDeliveryFactory.create_batch(rows, endpoint=endpoint, state=State.DELIVERED)
    client.force_login(admin)

    with django_assert_max_num_queries(12):
        response = client.get(endpoint.get_absolute_url())

    assert response.status_code == 200
    assert response.content.decode().count(">Replay</button>") == min(rows, 25)
    assert client.get(endpoint.get_absolute_url(), {"page": "2"}).status_code == 200
    assert client.get(endpoint.get_absolute_url(), {"page": "x"}).status_code == 200


def test_what_a_receiver_answered_is_shown_escaped(client, admin):
    delivery = WebhookDeliveryFactory(
        state=State.FAILED,
        last_response_code=500,
        last_response_body="<script>alert('x')</script>",
        last_error="HTTP 500 <b>",
    )
    client.force_login(admin)

    page = client.get(
        reverse("webhook_delivery", args=[delivery.endpoint_id, delivery.pk])
    ).content.decode()
    log = client.get(delivery.endpoint.get_absolute_url()).content.decode()

    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert "<b>" not in log.split("<main", 1)[-1]


@pytest.mark.parametrize("who", ["rep", "agent", "manager"])
def test_other_roles_get_404_everywhere(client, request, who):
    delivery = WebhookDeliveryFactory(state=State.DELIVERED)
    endpoint = delivery.endpoint
    client.force_login(request.getfixturevalue(who))
    pk = endpoint.pk

    for name, args in [
        ("webhook_list", []),
        ("webhook_create", []),
        ("webhook_detail", [pk]),
        ("webhook_edit", [pk]),
        ("webhook_delete", [pk]),
        ("webhook_delivery", [pk, delivery.pk]),
    ]:
        assert client.get(reverse(name, args=args)).status_code == 404, name
    for name, args in [
        ("webhook_rotate", [pk]),
        ("webhook_test", [pk]),
        ("webhook_enable", [pk]),
        ("webhook_replay", [pk, delivery.pk]),
        ("webhook_delete", [pk]),
    ]:
        assert client.post(reverse(name, args=args)).status_code == 404, name
    endpoint.refresh_from_db()
    assert WebhookDelivery.objects.count() == 1


def test_a_delivery_of_another_endpoint_is_a_404(client, admin):
    delivery = WebhookDeliveryFactory()
    other = WebhookEndpointFactory()
    client.force_login(admin)

    assert client.get(reverse("webhook_delivery", args=[other.pk, delivery.pk])).status_code == 404


def test_admins_see_deliveries_read_only_in_django_admin(client, admin):
    delivery = WebhookDeliveryFactory()
    client.force_login(admin)

    assert client.get(reverse("admin:crm_webhookdelivery_changelist")).status_code == 200
    change = client.get(reverse("admin:crm_webhookdelivery_change", args=[delivery.pk]))
    assert change.status_code == 200 and 'name="_save"' not in change.content.decode()
    assert client.get(reverse("admin:crm_webhookdelivery_add")).status_code == 403
