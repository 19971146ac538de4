"""Custom field values in field history: one line per changed field, labelled and shown as the
record's page shows it; archived and deleted fields by their key; fields limited to roles the
reader lacks left out; the source of each change; personal-data export and erasure."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils.formats import date_format

from crm.history import Source, source
from crm.models import Account, Contact
from crm.personal_data import history_rows
from crm.services import custom_fields as fields
from crm.services.customers import account_create, account_update
from crm.services.personal_data import person_erase
from tests.api.conftest import client_for
from tests.factories.crm import AccountFactory, ContactFactory
from tests.factories.leads import LeadFactory
from tests.factories.retention import SubscriptionFactory
from tests.factories.sales import OpportunityFactory
from tests.factories.support import TicketFactory
from tests.tabular.conftest import csv_bytes, import_file

pytestmark = pytest.mark.django_db


def history_url(obj):
    return reverse("record_history", args=[obj._meta.label_lower, obj.pk])


def define(admin, label, kind, entity="account", **data):
    return fields.custom_field_create(user=admin, entity=entity, label=label, kind=kind, **data)


def tier(admin, **data):
    return define(
        admin,
        "Industry tier",
        "choice",
        key="tier",
        choices=fields.choices_from_text("silver | Silver\ngold | Gold"),
        **data,
    )


def lines(response) -> dict[str, tuple[str, str]]:
    """{label: (old, new)} of every change on the page, newest row last wins."""
    found = {}
    for row in reversed(response.context["rows"]):
        for change in row.changes:
            found[change.label] = (change.old, change.new)
    return found


@pytest.fixture
def account(rep):
    return AccountFactory(owner=rep, name="Acme")


def test_each_changed_custom_field_is_a_line_labelled_and_shown_as_its_kind(
    rep_client, rep, rep2, admin, account
):
    # Given fields of every kind that reads differently from its stored value
    tier(admin)
    define(admin, "Account manager", "user", key="manager")
    define(admin, "Budget", "money", key="budget")
    define(admin, "Partner", "boolean", key="partner")
    define(admin, "Renewal", "date", key="renewal")
    define(admin, "Main contact", "record", key="main", link_entity="contact")
    define(
        admin,
        "Regions",
        "multi_choice",
        key="regions",
        choices=fields.choices_from_text("eu | Europe\nus | Americas"),
    )
    contact = ContactFactory(first_name="Ada", last_name="Lovelace")
    with source(Source.PAGE, user=rep):
        account_update(account=account, user=rep, custom={"tier": "silver"})
    # When one edit changes them all
    with source(Source.PAGE, user=rep):
        account_update(
            account=account,
            user=rep,
            custom={
                "tier": "gold",
                "manager": rep2.pk,
                "budget": {"amount": "12500", "currency": "EUR"},
                "partner": "yes",
                "renewal": "2027-03-01",
                "main": contact.pk,
                "regions": ["eu", "us"],
            },
        )
    response = rep_client.get(history_url(account))
    # Then each is a line of its own with the field's label and the value as pages show it
    assert response.status_code == 200
    latest = response.context["rows"][0]
    shown = {c.label: (c.old, c.new) for c in latest.changes}
    assert shown["Industry tier"] == ("Silver", "Gold")
    assert shown["Account manager"] == ("(empty)", str(rep2))
    assert shown["Budget"][1] == "12,500.00 EUR"
    assert shown["Partner"] == ("(empty)", "Yes")
    assert shown["Renewal"][1] == date_format(dt.date(2027, 3, 1))
    assert shown["Main contact"][1] == str(contact)
    assert shown["Regions"][1] == "Europe, Americas"
    assert "Custom fields" not in shown and "(structured value)" not in response.content.decode()
    text = response.content.decode()
    assert 'Industry tier: <span class="text-body-secondary">Silver</span> → Gold' in text


def test_a_record_created_with_custom_values_shows_them(rep_client, rep, admin):
    tier(admin)
    with source(Source.PAGE, user=rep):
        made = account_create(user=rep, name="Newco", owner=rep, custom={"tier": "gold"})
    [row] = rep_client.get(history_url(made)).context["rows"]
    assert row.kind == "insert"
    assert ("Industry tier", "(empty)", "Gold") in [(c.label, c.old, c.new) for c in row.changes]


def test_archived_and_deleted_fields_show_their_key_and_raw_value(rep_client, rep, admin, account):
    archived = tier(admin)
    gone = define(admin, "Old code", "text", key="old_code")
    with source(Source.PAGE, user=rep):
        account_update(account=account, user=rep, custom={"tier": "gold", "old_code": "X-1"})
    # When the admin archives one field and deletes the other
    fields.custom_field_archive(field=archived, user=admin)
    fields.custom_field_archive(field=gone, user=admin)
    fields.custom_field_delete(field=gone, user=admin)
    rows = rep_client.get(history_url(account)).context["rows"]
    # Then history still says what changed, by key, with the stored value as text (and deleting
    # the field, which took its values out of records, is a change of its own)
    shown = [[(c.label, c.old, c.new) for c in row.changes] for row in rows if row.kind == "update"]
    assert shown == [
        [("old_code", "X-1", "(empty)")],
        [("tier", "(empty)", "gold"), ("old_code", "(empty)", "X-1")],
    ]


def test_fields_limited_to_roles_the_reader_lacks_are_not_shown(
    rep_client, client, rep, manager, admin, account
):
    tier(admin)
    define(admin, "Discount ceiling", "number", key="ceiling", roles=["Manager"])
    with source(Source.PAGE, user=manager):
        account_update(account=account, user=manager, custom={"ceiling": 35})
    with source(Source.PAGE, user=manager):
        account_update(account=account, user=manager, custom={"tier": "gold", "ceiling": 40})
    # A rep sees the tier change, never the ceiling, and no row made only of ceiling changes
    response = rep_client.get(history_url(account))
    text = response.content.decode()
    assert "Discount ceiling" not in text and "ceiling" not in text
    assert ">35<" not in text and "→ 40" not in text
    shown_rows = response.context["rows"]
    assert [[c.label for c in row.changes] for row in shown_rows if row.kind == "update"] == [
        ["Industry tier"]
    ]
    # A manager sees both, and so does an admin (admins see every field)
    for reader in (manager, admin):
        client.force_login(reader)
        page = lines(client.get(history_url(account)))
        assert page["Discount ceiling"] == ("35", "40")
    # The admins' page and its export show it to admins
    client.force_login(admin)
    response = client.get(reverse("history_changes"), {"format": "csv"})
    export = b"".join(response.streaming_content).decode()
    assert "Discount ceiling" in export and "Industry tier" in export


def test_archived_fields_limited_to_roles_stay_hidden(rep_client, rep, manager, admin, account):
    secret = define(admin, "Margin", "text", key="margin", roles=["Manager"])
    with source(Source.PAGE, user=manager):
        account_update(account=account, user=manager, custom={"margin": "Razor-thin"})
    fields.custom_field_archive(field=secret, user=admin)
    response = rep_client.get(history_url(account))
    text = response.content.decode()
    assert "Razor-thin" not in text and "Margin" not in text
    assert not [row for row in response.context["rows"] if row.kind == "update"]


def test_custom_values_are_escaped(rep_client, client, rep, admin, account):
    notes = define(admin, "Notes", "text", key="notes")
    with source(Source.PAGE, user=rep):
        account_update(account=account, user=rep, custom={"notes": "<script>alert(1)</script>"})
    text = rep_client.get(history_url(account)).content.decode()
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    # Also by key once archived (the raw value), and on the admins' page
    fields.custom_field_archive(field=notes, user=admin)
    assert "<script>alert" not in rep_client.get(history_url(account)).content.decode()
    client.force_login(admin)
    admin_page = client.get(reverse("history_changes")).content.decode()
    assert "&lt;script&gt;alert(1)" in admin_page and "<script>alert" not in admin_page


def test_history_tab_query_count_is_fixed_whatever_the_custom_changes(
    rep_client, rep, rep2, admin, account, django_assert_max_num_queries
):
    tier(admin)
    define(admin, "Account manager", "user", key="manager")
    define(admin, "Main contact", "record", key="main", link_entity="contact")
    define(admin, "Notes", "text", key="notes")
    contacts = [ContactFactory() for _ in range(3)]

    def change(times):
        for i in range(times):
            with source(Source.PAGE, user=rep if i % 2 else rep2):
                account_update(
                    account=Account.objects.get(pk=account.pk),
                    user=rep,
                    custom={
                        "tier": "gold" if i % 2 else "silver",
                        "manager": (rep if i % 3 else rep2).pk,
                        "main": contacts[i % 3].pk,
                        "notes": f"Note {i}",
                    },
                )

    change(2)
    with django_assert_max_num_queries(40) as few:
        rep_client.get(history_url(account))
    change(30)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = rep_client.get(history_url(account))
    assert len(response.context["rows"]) == 25
    assert all(len(row.changes) >= 1 for row in response.context["rows"])


def test_the_source_of_a_custom_change_shows_as_for_other_fields(rep_client, rep, admin, account):
    tier(admin)
    # Through the import, the API and an automation
    job = import_file(rep, "accounts", csv_bytes([["id", "tier"], [account.pk, "silver"]]))
    assert job.updated_count == 1, job.message
    answer = client_for(rep).patch(
        f"/api/v1/accounts/{account.pk}/", {"custom": {"tier": "gold"}}, format="json"
    )
    assert answer.status_code == 200, answer.content
    with source(Source.AUTOMATION, task="crm.tasks.tidy"):
        Account.objects.filter(pk=account.pk).update(custom={"tier": "silver"})
    rows = rep_client.get(history_url(account)).context["rows"]
    updates = [
        (row.source_label, row.user, [(c.label, c.old, c.new) for c in row.changes])
        for row in rows
        if row.kind == "update"
    ]
    assert updates == [
        ("automation", None, [("Industry tier", "Gold", "Silver")]),
        ("API", rep, [("Industry tier", "Silver", "Gold")]),
        ("import", rep, [("Industry tier", "(empty)", "Silver")]),
    ]


def test_personal_data_export_has_custom_changes_readably(rep, admin):
    define(admin, "Preferred name", "text", key="preferred", entity="contact")
    define(admin, "Newsletter", "boolean", key="newsletter", entity="contact")
    contact = ContactFactory(owner=rep)
    Contact.objects.filter(pk=contact.pk).update(custom={"preferred": "Addy", "newsletter": True})
    [*_, last] = history_rows(Contact, [contact.pk])
    assert last["custom_changes"] == [
        {"field": "Newsletter", "key": "newsletter", "old": "(empty)", "new": "Yes"},
        {"field": "Preferred name", "key": "preferred", "old": "(empty)", "new": "Addy"},
    ] or last["custom_changes"] == [
        {"field": "Preferred name", "key": "preferred", "old": "(empty)", "new": "Addy"},
        {"field": "Newsletter", "key": "newsletter", "old": "(empty)", "new": "Yes"},
    ]


def test_erasure_clears_custom_values_from_history(rep, admin):
    define(admin, "Nickname", "text", key="nickname", entity="contact")
    contact = Contact.objects.create(first_name="Sam", last_name="Stone", email="sam@example.com")
    Contact.objects.filter(pk=contact.pk).update(custom={"nickname": "Secret Sam"})
    assert any(row["custom_changes"] for row in history_rows(Contact, [contact.pk]))
    # When the person is erased
    person_erase(record=contact, user=admin, reason="Asked to be forgotten")
    # Then their custom values are gone from history, as the record's own are
    events = list(contact.history_events.all())
    assert events and all(event.custom == {} for event in events)
    assert all("Secret Sam" not in str(event.pgh_changes) for event in events)
    assert all(not row["custom_changes"] for row in history_rows(Contact, [contact.pk]))


def test_a_value_not_of_its_fields_kind_shows_as_stored(rep_client, rep, admin, account):
    # Given a key whose history holds a value its (re-made) field's kind cannot read
    define(admin, "Size", "number", key="size")
    Account.objects.filter(pk=account.pk).update(custom={"size": "big"})
    # Then the page shows it as stored, not an error
    response = rep_client.get(history_url(account))
    assert response.status_code == 200
    assert lines(response)["Size"] == ("(empty)", "big")


RECORDS = {
    "contact": ("rep_client", lambda rep: ContactFactory(owner=rep)),
    "lead": ("rep_client", lambda rep: LeadFactory(owner=rep)),
    "opportunity": ("rep_client", lambda rep: OpportunityFactory(owner=rep)),
    "ticket": ("agent_client", lambda rep: TicketFactory()),
    "subscription": (
        "rep_client",
        lambda rep: SubscriptionFactory(account=AccountFactory(owner=rep), owner=rep),
    ),
}


@pytest.mark.parametrize("entity", list(RECORDS))
def test_every_kind_with_custom_fields_keeps_their_history(request, rep, admin, entity):
    client_name, make = RECORDS[entity]
    define(
        admin,
        "Priority band",
        "choice",
        entity=entity,
        key="band",
        choices=fields.choices_from_text("a | Band A\nb | Band B"),
    )
    record = make(rep)
    with source(Source.BULK_EDIT, user=rep):
        type(record).objects.filter(pk=record.pk).update(custom={"band": "a"})
        type(record).objects.filter(pk=record.pk).update(custom={"band": "b"})
    rows = request.getfixturevalue(client_name).get(history_url(record)).context["rows"]
    [newest, older] = [row for row in rows if row.kind == "update"]
    assert [(c.label, c.old, c.new) for c in newest.changes] == [
        ("Priority band", "Band A", "Band B")
    ]
    assert newest.source_label == older.source_label == "bulk edit"
