"""Custom values leave and go with the record: in webhook payloads, in a person's data
export, and gone after the person is erased (record and field history)."""

import json
import zipfile

import pytest

from crm.models import Contact, WebhookDelivery
from crm.services import custom_fields as services
from crm.services.customers import account_create, contact_update
from crm.services.personal_data import person_erase, person_export
from tests.factories import ContactFactory, WebhookEndpointFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def fields(admin):
    services.custom_field_create(
        user=admin,
        entity="account",
        label="Industry tier",
        kind="choice",
        choices=services.choices_from_text("gold | Gold\nsilver | Silver"),
    )
    old = services.custom_field_create(user=admin, entity="account", label="Old", kind="text")
    services.custom_field_archive(field=old, user=admin)
    services.custom_field_create(user=admin, entity="contact", label="Shoe size", kind="number")


def test_webhook_payload_carries_active_custom_values(fields, rep):
    WebhookEndpointFactory()
    account = account_create(user=rep, name="Tiered", custom={"industry_tier": "gold"})
    type(account).objects.filter(pk=account.pk).update(
        custom={"industry_tier": "gold", "old": "kept"}
    )
    [payload] = [d.payload for d in WebhookDelivery.objects.filter(event_type="account.created")]
    assert payload["data"]["custom"] == {"industry_tier": "gold"}


def test_personal_data_export_and_erasure(fields, admin, rep):
    # Given a contact with a custom value, changed once (so its history holds it too)
    contact = ContactFactory(owner=rep, first_name="Ada", last_name="Lovelace")
    contact_update(contact=contact, user=rep, custom={"shoe_size": 38})
    contact_update(contact=Contact.objects.get(pk=contact.pk), user=rep, custom={"shoe_size": 39})

    # When their data is exported, then the custom values are in it
    archive, _name = person_export(record=contact, user=admin)
    document = json.loads(zipfile.ZipFile(archive).read("person.json"))
    contacts = next(
        v for v in document["data"].values() if v["label"].lower().startswith("contact")
    )
    assert contacts["rows"][0]["custom"] == {"shoe_size": 39}

    # When they are erased, then the values are gone from the record and its history
    person_erase(record=contact, user=admin, reason="Request #1")
    assert Contact.objects.get(pk=contact.pk).custom == {}
    from crm.personal_data import event_model_for

    events = event_model_for(Contact)
    if events is not None and "custom" in {f.name for f in events._meta.concrete_fields}:
        for event in events.objects.filter(pgh_obj_id=contact.pk):
            assert not event.custom
            assert "shoe_size" not in json.dumps(event.pgh_changes or {})
