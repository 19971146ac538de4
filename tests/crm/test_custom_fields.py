"""Custom fields: definitions by admins, values on forms and pages through the services,
validation shared by every surface, filters over the JSONB column, archive before delete."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from crm.custom_fields.query import custom_q, order_expression
from crm.custom_fields.values import clean_values, display, export_text, parse
from crm.models import Account, Contact, CustomField
from crm.services import custom_fields as services
from crm.services.customers import account_update
from tests.factories.crm import AccountFactory, ContactFactory


def _field(admin, **data):
    data.setdefault("entity", "account")
    return services.custom_field_create(user=admin, **data)


def test_admin_adds_a_choice_field_in_the_browser(admin_client_, admin):
    response = admin_client_.get(reverse("custom_field_list"))
    assert response.status_code == 200
    response = admin_client_.post(
        reverse("custom_field_create"),
        {
            "entity": "account",
            "label": "Industry tier",
            "kind": "choice",
            "choices": "gold | Gold\nSilver\n",
            "order": 10,
        },
    )
    assert response.status_code == 302
    field = CustomField.objects.get()
    assert (field.key, field.entity, field.kind) == ("industry_tier", "account", "choice")
    assert field.choices == [
        {"value": "gold", "label": "Gold"},
        {"value": "silver", "label": "Silver"},
    ]
    assert field.created_by == admin


def test_definition_errors_re_render_the_form(admin_client_, tier):
    response = admin_client_.post(
        reverse("custom_field_create"),
        {
            "entity": "account",
            "label": "Tier",
            "key": "industry_tier",
            "kind": "choice",
            "order": 1,
        },
    )
    assert response.status_code == 400
    content = response.content.decode()
    assert "needs at least one choice" in content
    assert CustomField.objects.count() == 1
    response = admin_client_.post(
        reverse("custom_field_create"),
        {"entity": "account", "label": "Tier", "key": "industry_tier", "kind": "text", "order": 1},
    )
    assert response.status_code == 400
    assert "already has a field" in response.content.decode()
    response = admin_client_.post(
        reverse("custom_field_create"),
        {"entity": "account", "label": "Bad key", "key": "Bad Key!", "kind": "text", "order": 1},
    )
    assert response.status_code == 400


def test_only_admins_reach_the_pages(rep_client, manager_client, tier):
    for client in (rep_client, manager_client):
        for url in (
            reverse("custom_field_list"),
            reverse("custom_field_create"),
            reverse("custom_field_edit", args=[tier.pk]),
            reverse("custom_field_delete", args=[tier.pk]),
        ):
            assert client.get(url).status_code == 404
        assert client.post(reverse("custom_field_archive", args=[tier.pk])).status_code == 404
    tier.refresh_from_db()
    assert not tier.is_archived


def test_value_on_the_account_form_and_page(rep_client, rep, tier):
    account = AccountFactory(owner=rep, name="Acme")
    url = reverse("account_edit", args=[account.pk])
    form = rep_client.get(url).content.decode()
    assert 'name="cf_industry_tier"' in form and "Gold" in form
    data = {
        "name": "Acme",
        "owner": rep.pk,
        "lifecycle_stage": account.lifecycle_stage,
        "cf_industry_tier": "gold",
    }
    response = rep_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    account.refresh_from_db()
    assert account.custom == {"industry_tier": "gold"}
    page = rep_client.get(account.get_absolute_url()).content.decode()
    assert "Industry tier" in page and "Gold" in page
    summaries = list(account.activities.values_list("summary", flat=True))
    assert any(s.startswith("Changed") and s.endswith("Industry tier") for s in summaries)

    data["cf_industry_tier"] = "platinum"
    response = rep_client.post(url, data)
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    account.refresh_from_db()
    assert account.custom == {"industry_tier": "gold"}


def test_required_field_and_default_on_create(rep_client, rep, admin):
    _field(admin, entity="contact", label="Persona", kind="text", required=True, default="Buyer")
    response = rep_client.get(reverse("contact_create"))
    assert 'value="Buyer"' in response.content.decode()
    response = rep_client.post(
        reverse("contact_create"),
        {"first_name": "Ada", "last_name": "L", "owner": rep.pk, "cf_persona": ""},
    )
    assert response.status_code == 200
    assert not Contact.objects.exists()
    response = rep_client.post(
        reverse("contact_create"),
        {"first_name": "Ada", "last_name": "L", "owner": rep.pk, "cf_persona": "Champion"},
    )
    assert response.status_code == 302
    assert Contact.objects.get().custom == {"persona": "Champion"}


def test_role_limited_field_is_neither_shown_nor_written(rep, admin):
    secret = _field(admin, label="Credit limit", kind="money", roles=["Manager"])
    account = AccountFactory(owner=rep, custom={"credit_limit": {"amount": 5, "currency": "EUR"}})
    with pytest.raises(ValidationError):
        account_update(account=account, user=rep, custom={"credit_limit": None})
    assert Account.objects.get(pk=account.pk).custom["credit_limit"]["amount"] == 5
    assert secret.visible_to(admin) and not secret.visible_to(rep)


def test_every_kind_parses_displays_and_exports(admin, rep):
    other = AccountFactory(name="Parent Co")
    cases = [
        ({"label": "Notes", "kind": "long_text"}, "Line 1\nLine 2", "Line 1\nLine 2"),
        ({"label": "Seats", "kind": "number"}, "1,250", 1250),
        ({"label": "Ratio", "kind": "number"}, "0.25", 0.25),
        ({"label": "Budget", "kind": "money"}, "1200.5 USD", {"amount": 1200.5, "currency": "USD"}),
        ({"label": "Renewal", "kind": "date"}, "2026-03-01", "2026-03-01"),
        ({"label": "Partner", "kind": "boolean"}, "Yes", True),
        (
            {
                "label": "Regions",
                "kind": "multi_choice",
                "choices": [{"value": "eu", "label": "Europe"}, {"value": "us", "label": "US"}],
            },
            "Europe; us",
            ["eu", "us"],
        ),
        ({"label": "Advisor", "kind": "user"}, rep.username, rep.pk),
        ({"label": "Parent", "kind": "record", "link_entity": "account"}, str(other.pk), other.pk),
    ]
    for data, raw, stored in cases:
        field = _field(admin, **data)
        assert parse(field, raw) == stored, data
        assert parse(field, parse(field, raw)) == stored  # stored JSON parses to itself
        assert export_text(field, stored) != ""
        assert display(field, stored) != ""
    seats = CustomField.objects.get(key="seats")
    for bad in ("many", "1e30"):
        with pytest.raises(ValidationError):
            parse(seats, bad)
    with pytest.raises(ValidationError):
        parse(CustomField.objects.get(key="renewal"), "03/01/2026")
    with pytest.raises(ValidationError):
        parse(CustomField.objects.get(key="budget"), "12 ZZZ")


def test_clean_values_names_each_bad_key(admin, tier):
    _field(admin, label="Seats", kind="number", required=True)
    with pytest.raises(ValidationError) as caught:
        clean_values("account", {"industry_tier": "wood", "nope": 1}, partial=False)
    errors = caught.value.message_dict
    assert set(errors) == {"industry_tier", "nope", "seats"}
    assert clean_values("account", {"industry_tier": "Gold", "seats": "3"}) == {
        "industry_tier": "gold",
        "seats": 3,
    }


def test_filters_use_the_json_column(admin, tier):
    seats = _field(admin, label="Seats", kind="number")
    renewal = _field(admin, label="Renewal", kind="date")
    regions = _field(
        admin,
        label="Regions",
        kind="multi_choice",
        choices=[{"value": "eu", "label": "EU"}, {"value": "us", "label": "US"}],
    )
    a = AccountFactory(
        custom={"industry_tier": "gold", "seats": 10, "renewal": "2026-01-05", "regions": ["eu"]}
    )
    b = AccountFactory(custom={"industry_tier": "silver", "seats": 200, "regions": ["eu", "us"]})
    c = AccountFactory(custom={})

    def names(q):
        return set(Account.objects.filter(q).values_list("pk", flat=True))

    assert names(custom_q(tier, "in", ["gold"])) == {a.pk}
    assert names(custom_q(tier, "in", ["gold", "silver"])) == {a.pk, b.pk}
    assert names(~custom_q(tier, "in", ["gold"])) == {b.pk, c.pk}
    assert names(custom_q(seats, "gte", 50)) == {b.pk}
    assert names(custom_q(seats, "lte", 50)) == {a.pk}
    assert names(custom_q(renewal, "gte", "2026-01-01")) == {a.pk}
    assert names(custom_q(regions, "all", ["eu", "us"])) == {b.pk}
    assert names(custom_q(regions, "in", ["us"])) == {b.pk}
    assert names(custom_q(seats, "set", None)) == {a.pk, b.pk}
    ordered = list(
        Account.objects.filter(pk__in=[a.pk, b.pk, c.pk])
        .order_by(order_expression(seats, descending=True))
        .values_list("pk", flat=True)
    )
    assert ordered == [b.pk, a.pk, c.pk]


def test_rename_keeps_values_and_used_choice_cannot_go(admin, tier):
    account = AccountFactory(custom={"industry_tier": "bronze"})
    services.custom_field_update(field=tier, user=admin, label="Tier")
    account.refresh_from_db()
    assert account.custom == {"industry_tier": "bronze"}
    with pytest.raises(ValidationError) as caught:
        services.custom_field_update(
            field=tier,
            user=admin,
            choices=[{"value": "gold", "label": "Gold"}, {"value": "silver", "label": "Silver"}],
        )
    assert "1 record use" in str(caught.value)
    services.custom_field_update(
        field=tier,
        user=admin,
        choices=[
            {"value": "gold", "label": "Gold"},
            {"value": "bronze", "label": "Copper"},
        ],
    )
    assert display(CustomField.objects.get(pk=tier.pk), "bronze") == "Copper"


def test_archive_hides_keeps_values_then_delete_removes_them(admin_client_, rep, tier):
    rep_client = Client()
    rep_client.force_login(rep)
    account = AccountFactory(owner=rep, custom={"industry_tier": "gold", "other": 1})
    AccountFactory(custom={"industry_tier": "silver"})
    delete_url = reverse("custom_field_delete", args=[tier.pk])
    assert admin_client_.post(delete_url, {"confirm_key": "industry_tier"}).status_code == 302
    assert CustomField.objects.filter(pk=tier.pk).exists()  # not archived yet: refused

    admin_client_.post(reverse("custom_field_archive", args=[tier.pk]))
    tier.refresh_from_db()
    assert tier.is_archived
    form = rep_client.get(reverse("account_edit", args=[account.pk])).content.decode()
    assert "cf_industry_tier" not in form
    account.refresh_from_db()
    assert account.custom["industry_tier"] == "gold"

    page = admin_client_.get(delete_url).content.decode()
    assert 'id="values-in-use">2<' in page
    admin_client_.post(delete_url, {"confirm_key": "wrong"})
    assert CustomField.objects.filter(pk=tier.pk).exists()
    admin_client_.post(delete_url, {"confirm_key": "industry_tier"})
    assert not CustomField.objects.filter(pk=tier.pk).exists()
    account.refresh_from_db()
    assert account.custom == {"other": 1}


def test_concurrent_edit_of_a_custom_field_is_reported(rep_client, rep, tier):
    account = AccountFactory(owner=rep, name="Acme")
    url = reverse("account_edit", args=[account.pk])
    page = rep_client.get(url).content.decode()
    version = page.split('name="_version" value="')[1].split('"')[0]
    account_update(account=account, user=rep, custom={"industry_tier": "silver"})
    response = rep_client.post(
        url,
        {
            "name": "Acme",
            "owner": rep.pk,
            "lifecycle_stage": account.lifecycle_stage,
            "cf_industry_tier": "gold",
            "_version": version,
        },
    )
    assert response.status_code == 200
    content = response.content.decode()
    assert "Industry tier: yours “Gold”, now “Silver”" in content.replace("&ldquo;", "“").replace(
        "&rdquo;", "”"
    )
    account.refresh_from_db()
    assert account.custom == {"industry_tier": "silver"}


def test_money_and_dates_on_the_form(rep_client, rep, admin):
    _field(admin, label="Budget", kind="money")
    _field(admin, label="Renewal", kind="date")
    account = AccountFactory(owner=rep, name="Acme")
    response = rep_client.post(
        reverse("account_edit", args=[account.pk]),
        {
            "name": "Acme",
            "owner": rep.pk,
            "lifecycle_stage": account.lifecycle_stage,
            "cf_budget_0": "1500.50",
            "cf_budget_1": "USD",
            "cf_renewal": "2026-09-30",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    account.refresh_from_db()
    assert account.custom == {
        "budget": {"amount": 1500.5, "currency": "USD"},
        "renewal": "2026-09-30",
    }
    page = rep_client.get(account.get_absolute_url()).content.decode()
    assert "1,500.50 USD" in page
    assert Decimal(str(account.custom["budget"]["amount"])) == Decimal("1500.5")
    assert datetime.date.fromisoformat(account.custom["renewal"]).month == 9


def test_contact_value_is_escaped(rep_client, rep, admin):
    _field(admin, entity="contact", label="Motto", kind="text")
    contact = ContactFactory(owner=rep, custom={"motto": "<script>alert(1)</script>"})
    page = rep_client.get(contact.get_absolute_url()).content.decode()
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page
