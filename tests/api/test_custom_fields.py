"""Custom fields in the API: ``custom`` on reads (only fields the caller may see), writes
checked by the fields' rules through the services, ``cf_<key>`` list filters, and the schema
with one property per active field."""

import pytest

from crm.models import Account, Contact
from crm.services import custom_fields as services
from tests.api.conftest import client_for
from tests.factories import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def tier(admin):
    return services.custom_field_create(
        user=admin,
        entity="account",
        label="Industry tier",
        kind="choice",
        help_text="How much they buy",
        choices=services.choices_from_text("gold | Gold\nsilver | Silver"),
    )


def test_read_shows_values_of_fields_the_caller_may_see(api, rep, admin, tier):
    services.custom_field_create(
        user=admin, entity="account", label="Secret", kind="text", roles=["Admin"]
    )
    account = AccountFactory(owner=rep, custom={"industry_tier": "gold", "secret": "s"})
    body = api.get(f"/api/v1/accounts/{account.pk}/").json()
    assert body["custom"] == {"industry_tier": "gold"}
    assert client_for(admin).get(f"/api/v1/accounts/{account.pk}/").json()["custom"] == {
        "industry_tier": "gold",
        "secret": "s",
    }


def test_list_reads_definitions_once(api, rep, tier, django_assert_max_num_queries):
    for _ in range(3):
        AccountFactory(owner=rep, custom={"industry_tier": "silver"})
    with django_assert_max_num_queries(12) as counted:
        body = api.get("/api/v1/accounts/").json()
    assert [r["custom"] for r in body["results"]] == [{"industry_tier": "silver"}] * 3
    AccountFactory.create_batch(5, owner=rep)
    with django_assert_max_num_queries(len(counted.captured_queries)):
        api.get("/api/v1/accounts/")


def test_write_through_the_service_and_per_key_errors(api, rep, tier):
    # Given an account of the rep
    account = AccountFactory(owner=rep)
    url = f"/api/v1/accounts/{account.pk}/"

    # When a bad value and an unknown key are sent, then 400 names each key, nothing changes
    response = api.patch(url, {"custom": {"industry_tier": "platinum", "nope": 1}}, format="json")
    assert response.status_code == 400
    errors = response.json()["custom"]
    assert "not one of its choices" in errors["industry_tier"][0]
    assert errors["nope"] == ["No such custom field."]
    assert Account.objects.get(pk=account.pk).custom == {}

    # When a good value is sent (by label), it is stored and logged on the timeline
    response = api.patch(url, {"custom": {"industry_tier": "Gold"}}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["custom"] == {"industry_tier": "gold"}
    assert account.activities.filter(summary__contains="Industry tier").exists()

    # When null is sent, the value is cleared; a PATCH without custom leaves values alone
    api.patch(url, {"name": "Renamed"}, format="json")
    assert Account.objects.get(pk=account.pk).custom == {"industry_tier": "gold"}
    api.patch(url, {"custom": {"industry_tier": None}}, format="json")
    assert Account.objects.get(pk=account.pk).custom == {}
    assert api.patch(url, {"custom": "gold"}, format="json").status_code == 400


def test_create_applies_defaults_and_requires_required_fields(api, admin, tier):
    services.custom_field_create(
        user=admin, entity="contact", label="Shoe size", kind="number", required=True
    )
    services.custom_field_create(
        user=admin, entity="contact", label="Newsletter", kind="boolean", default=True
    )
    response = api.post("/api/v1/contacts/", {"last_name": "Doe"}, format="json")
    assert response.status_code == 400
    assert "shoe_size" in response.json()["custom"]
    response = api.post(
        "/api/v1/contacts/", {"last_name": "Doe", "custom": {"shoe_size": "42"}}, format="json"
    )
    assert response.status_code == 201, response.json()
    contact = Contact.objects.get(pk=response.json()["id"])
    assert contact.custom == {"shoe_size": 42, "newsletter": True}
    # a PATCH of another field does not trip over the required one
    ContactFactory(owner=contact.owner)
    other = ContactFactory(owner=contact.owner)
    response = api.patch(f"/api/v1/contacts/{other.pk}/", {"title": "CTO"}, format="json")
    assert response.status_code == 200, response.json()


def test_filter_the_list_by_a_custom_field(api, rep, admin, tier):
    services.custom_field_create(user=admin, entity="account", label="Seats", kind="number")
    gold = AccountFactory(owner=rep, custom={"industry_tier": "gold", "seats": 10})
    silver = AccountFactory(owner=rep, custom={"industry_tier": "silver", "seats": 3})
    AccountFactory(owner=rep)

    def ids(**query):
        response = api.get("/api/v1/accounts/", query)
        assert response.status_code == 200, response.json()
        return {r["id"] for r in response.json()["results"]}

    assert ids(cf_industry_tier="gold") == {gold.pk}
    assert ids(cf_industry_tier="gold,silver") == {gold.pk, silver.pk}
    assert ids(cf_seats__gte="5") == {gold.pk}
    assert ids(cf_seats__set="true") == {gold.pk, silver.pk}
    bad = api.get("/api/v1/accounts/", {"cf_industry_tier": "platinum"})
    assert bad.status_code == 400 and "cf_industry_tier" in bad.json()
    assert api.get("/api/v1/accounts/", {"cf_unknown": "1"}).status_code == 400
    assert api.get("/api/v1/accounts/", {"cf_industry_tier__gte": "1"}).status_code == 400


def test_schema_describes_each_active_field(api, admin, tier):
    old = services.custom_field_create(user=admin, entity="account", label="Old", kind="text")
    services.custom_field_archive(field=old, user=admin)
    schema = api.get("/api/v1/schema/", {"format": "json"}).json()
    custom = schema["components"]["schemas"]["Account"]["properties"]["custom"]
    assert custom["properties"]["industry_tier"]["enum"] == ["gold", "silver"]
    assert "Industry tier" in custom["properties"]["industry_tier"]["description"]
    assert "old" not in custom["properties"]
    request = schema["components"]["schemas"]["PatchedAccountRequest"]["properties"]
    assert "industry_tier" in request["custom"]["properties"]
    params = [p["name"] for p in schema["paths"]["/api/v1/accounts/"]["get"]["parameters"]]
    assert "cf_industry_tier" in params
