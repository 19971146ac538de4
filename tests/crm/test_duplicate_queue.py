"""The review queues of likely duplicate contacts and accounts: pairs flagged on every way in
(form, API, import, lead conversion), the pages, "not a duplicate", and the scan."""

import io

import pytest
from django.core.management import call_command
from django.urls import reverse

from crm.models import AccountDuplicate, Contact, ContactDuplicate, DuplicateDismissal
from crm.services.customers import (
    DuplicateRecordError,
    account_create,
    contact_create,
    contact_update,
)
from crm.services.duplicates import duplicate_dismiss
from crm.services.trash import trash_delete
from leads.services.leads import lead_convert
from tests.api.conftest import client_for
from tests.factories.crm import AccountFactory, ContactFactory
from tests.factories.leads import LeadFactory
from tests.tabular.conftest import csv_bytes, import_file

pytestmark = pytest.mark.django_db


SURNAMES = ("Lovelace", "Hopper", "Turing", "Noether", "Curie", "Meitner", "Franklin", "Goodall")
COMPANIES = ("Umbrella", "Initech", "Globex", "Hooli", "Vandelay", "Soylent", "Tyrell", "Wonka")


def _ada(owner, n: int = 0, **fields):
    """A saved contact that a second "Ada <surname n>" without an email resembles."""
    defaults = {
        "first_name": "Ada",
        "last_name": SURNAMES[n],
        "email": f"ada{n}@home.example",
        "phone": "",
        "account": None,
    }
    return ContactFactory(owner=owner, **{**defaults, **fields})


def _likely_pair(owner, n: int = 0):
    known = _ada(owner, n)
    new = contact_create(user=owner, first_name="Ada", last_name=known.last_name, owner=owner)
    return known, new


def test_a_likely_duplicate_made_through_the_form_is_flagged_and_the_user_told(rep_client, rep):
    known = _ada(rep)

    response = rep_client.post(
        reverse("contact_create"), {"first_name": "Ada", "last_name": "Lovelace"}, follow=True
    )

    created = Contact.objects.exclude(pk=known.pk).get(last_name="Lovelace")
    pair = ContactDuplicate.objects.get()
    assert (pair.contact_id, pair.other_id) == (known.pk, created.pk)
    assert pair.reasons == "same name" and 0.35 <= pair.score < 0.7
    page = response.content.decode()
    assert f"may be the same as Ada Lovelace (#{known.pk}): same name" in page
    assert f"{reverse('contact_duplicate_list')}?record={created.pk}" in page
    assert "Possible duplicate (1)" in page


def test_an_account_resembling_one_there_is_flagged_from_the_form(rep_client, rep):
    known = AccountFactory(owner=rep, name="Initech GmbH", domain="", country="DE")

    response = rep_client.post(
        reverse("account_create"),
        {"name": "Initech", "domain": "initech.example", "lifecycle_stage": "prospect"},
        follow=True,
    )

    pair = AccountDuplicate.objects.select_related("other").get()
    assert pair.account_id == known.pk and pair.other.name == "Initech"
    assert f"may be the same as Initech GmbH (#{known.pk}): same name" in (
        response.content.decode()
    )


def test_a_surely_same_contact_is_still_refused_and_nothing_flagged(rep):
    _ada(rep, email="ada@home.example")
    with pytest.raises(DuplicateRecordError):
        contact_create(user=rep, first_name="Ada", last_name="Lovelace", email="ADA@home.example")
    assert not ContactDuplicate.objects.exists()


def test_an_edit_that_makes_two_alike_flags_them_and_one_that_parts_them_unflags(rep):
    known = _ada(rep)
    other = contact_create(user=rep, first_name="Grace", last_name="Hopper", owner=rep)
    assert not ContactDuplicate.objects.exists()

    contact_update(contact=other, user=rep, first_name="Ada", last_name="Lovelace")
    assert ContactDuplicate.objects.filter(contact=known, other=other).exists()

    contact_update(contact=other, user=rep, first_name="Grace", last_name="Hopper")
    assert not ContactDuplicate.objects.exists()


def test_a_likely_duplicate_made_through_the_api_is_flagged(rep):
    known = _ada(rep)
    response = client_for(rep).post(
        "/api/v1/contacts/", {"first_name": "Ada", "last_name": "Lovelace"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert ContactDuplicate.objects.filter(contact=known, other_id=response.json()["id"]).exists()


def test_likely_duplicates_in_an_import_are_flagged(admin):
    known = _ada(admin)
    AccountFactory(name="Initech GmbH", domain="initech.example")
    contacts = csv_bytes([["first_name", "last_name"], ["Ada", "Lovelace"], ["Alan", "Turing"]])
    accounts = csv_bytes([["name"], ["Initech"]])

    assert import_file(admin, "contacts", contacts).created_count == 2
    assert import_file(admin, "accounts", accounts).created_count == 1

    assert ContactDuplicate.objects.get().contact_id == known.pk
    pair = AccountDuplicate.objects.select_related("account", "other").get()
    assert (pair.account.name, pair.other.name, pair.reasons) == (
        "Initech GmbH",
        "Initech",
        "same name",
    )


def test_a_lead_converted_into_a_new_contact_and_account_flags_what_they_resemble(rep):
    known = _ada(rep, email="")
    acme = AccountFactory(name="Acme Tool", domain="", owner=rep)
    lead = LeadFactory(
        owner=rep,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@acme-tools.example",
        phone="",
        company_name="ACME Tools Ltd",
        website="acme-tools.example",
    )

    conversion = lead_convert(lead=lead, user=rep)

    assert conversion.contact.pk != known.pk and conversion.account.pk != acme.pk
    assert ContactDuplicate.objects.filter(contact=known, other=conversion.contact).exists()
    assert AccountDuplicate.objects.filter(account=acme, other=conversion.account).exists()


def test_a_pair_answered_not_a_duplicate_is_not_flagged_again(rep):
    known, new = _likely_pair(rep)
    ContactDuplicate.objects.all().delete()
    duplicate_dismiss(kind="contact", first_pk=new.pk, second_pk=known.pk, user=rep)

    contact_update(contact=new, user=rep, phone="+4930123456")

    assert not ContactDuplicate.objects.exists()


def test_dismissing_removes_the_pair_for_good(rep_client, rep):
    known, new = _likely_pair(rep)
    pair = ContactDuplicate.objects.get()
    url = reverse("contact_duplicate_list")

    response = rep_client.post(reverse("contact_duplicate_dismiss", args=[pair.pk]), {"next": url})

    assert response.status_code == 302 and response["Location"] == url
    assert not ContactDuplicate.objects.exists()
    assert DuplicateDismissal.objects.filter(
        kind="contact", first_id=known.pk, second_id=new.pk
    ).exists()
    assert known.activities.filter(summary__startswith="Marked as not a duplicate").exists()
    contact_update(contact=new, user=rep, title="CTO", first_name="A.")
    call_command("duplicates_scan", "--model", "contact", stdout=io.StringIO())
    assert not ContactDuplicate.objects.exists()
    assert "No possible duplicates to review" in rep_client.get(url).content.decode()


def test_a_rep_answers_only_for_pairs_with_a_record_of_theirs(rep_client, rep, rep2, agent_client):
    _likely_pair(rep2)
    pair = ContactDuplicate.objects.get()
    dismiss = reverse("contact_duplicate_dismiss", args=[pair.pk])

    page = rep_client.get(reverse("contact_duplicate_list")).content.decode()
    assert "Ada Lovelace" in page and dismiss not in page
    assert rep_client.post(dismiss).status_code == 404
    assert agent_client.post(dismiss).status_code == 404
    assert ContactDuplicate.objects.exists()


def test_a_user_without_a_role_sees_no_pair_and_cannot_dismiss(client, rep):
    from tests.factories.crm import UserFactory

    _likely_pair(rep)
    pair = ContactDuplicate.objects.get()
    client.force_login(UserFactory(username="nobody"))

    response = client.get(reverse("contact_duplicate_list"))
    assert response.status_code == 200 and not response.context["object_list"]
    assert client.post(reverse("contact_duplicate_dismiss", args=[pair.pk])).status_code == 404
    assert ContactDuplicate.objects.exists()


def test_the_queue_shows_pairs_side_by_side_with_merge_only_where_the_page_exists(rep_client, rep):
    known, new = _likely_pair(rep)
    page = rep_client.get(reverse("contact_duplicate_list")).content.decode()
    assert "ada0@home.example" in page and "same name" in page and "0.40" in page
    try:
        merge = reverse("contact_merge", args=[known.pk]) + f"?with={new.pk}"
    except Exception:  # the merge page is not there: no link either
        assert "Merge…" not in page
    else:
        assert merge in page


@pytest.mark.parametrize("kind", ["contact", "account"])
def test_the_queue_pages_keep_their_query_count(
    kind, rep_client, rep, django_assert_max_num_queries
):
    def make(n):
        if kind == "contact":
            _likely_pair(rep, n)
        else:
            AccountFactory(owner=rep, name=COMPANIES[n], domain="")
            account_create(user=rep, name=f"{COMPANIES[n]} GmbH", owner=rep)

    url = reverse(f"{kind}_duplicate_list")
    make(0)
    rep_client.get(url)  # warm caches
    with django_assert_max_num_queries(12) as few:
        rep_client.get(url)
    for n in range(1, 8):
        make(n)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = rep_client.get(url)
    assert len(response.context["object_list"]) == 8


def test_the_list_pages_link_the_queue_with_its_size(rep_client, rep):
    _likely_pair(rep)
    page = rep_client.get(reverse("contact_list")).content.decode()
    assert "Possible duplicates (1)" in page
    assert "Possible duplicates (0)" in rep_client.get(reverse("account_list")).content.decode()


def test_the_link_counts_a_long_queue_only_up_to_a_limit(rep):
    from crm.selectors import contact_duplicate_list
    from crm.views.customers import counted_up_to

    for n in range(3):
        _likely_pair(rep, n)
    pairs = contact_duplicate_list(user=rep)
    found = pairs.count()
    assert found >= 3
    assert counted_up_to(pairs, limit=found) == str(found)
    assert counted_up_to(pairs, limit=found - 1) == f"{found - 1}+"


def test_the_queue_filters_to_one_records_pairs(rep_client, rep):
    known, _ = _likely_pair(rep, 0)
    _likely_pair(rep, 1)
    url = reverse("contact_duplicate_list")
    assert len(rep_client.get(url).context["object_list"]) == 2
    assert len(rep_client.get(url, {"record": known.pk}).context["object_list"]) == 1
    assert not rep_client.get(url, {"record": "9" * 30}).context["object_list"]


def test_pairs_go_with_a_deleted_record_and_do_not_come_back_with_the_trash(rep):
    from crm.services.trash import trash_restore

    known, new = _likely_pair(rep)
    entry = trash_delete(obj=known, user=rep)
    assert not ContactDuplicate.objects.exists()

    trash_restore(entry=entry, user=rep)
    assert Contact.objects.filter(pk=known.pk).exists()
    assert not ContactDuplicate.objects.exists()


def test_pairs_cascade_when_a_record_is_deleted_outright(rep):
    known, _ = _likely_pair(rep)
    Contact.objects.filter(pk=known.pk).delete()
    assert not ContactDuplicate.objects.exists()


def test_the_scan_fills_the_queues_from_records_saved_around_the_services(rep):
    ContactFactory(first_name="Robert", last_name="Smith", email="", phone="", owner=rep)
    ContactFactory(first_name="Bob", last_name="Smith", email="", phone="", owner=rep)
    ContactFactory(first_name="Alan", last_name="Turing", email="", phone="", owner=rep)
    AccountFactory(name="Globex", domain="")
    AccountFactory(name="Globex Inc.", domain="globex.example")
    out = io.StringIO()

    call_command("duplicates_scan", "--model", "contact", stdout=out)
    call_command("duplicates_scan", stdout=out)  # both kinds; nothing new, nothing twice

    pair = ContactDuplicate.objects.select_related("contact", "other").get()
    assert {pair.contact.first_name, pair.other.first_name} == {"Robert", "Bob"}
    assert "nickname" in pair.reasons
    assert AccountDuplicate.objects.count() == 1
    assert "contacts: 3 read, 1 pair in the queue" in out.getvalue()


def test_the_demo_data_has_likely_duplicates_in_both_queues():
    from crm.services.customers import record_compare

    call_command(
        "seed_demo",
        "--scale",
        "0.05",
        "--force",
        "--anchor-date",
        "2025-03-14",
        stdout=io.StringIO(),
    )

    contact_pairs = list(ContactDuplicate.objects.select_related("contact", "other"))
    account_pairs = list(AccountDuplicate.objects.select_related("account", "other"))
    assert contact_pairs and account_pairs
    for pair in contact_pairs + account_pairs:
        first = getattr(pair, "contact", None) or pair.account
        judged = record_compare(first, pair.other)
        assert judged and judged.describe() == pair.reasons, pair


def test_an_erased_person_leaves_the_queue(rep, admin):
    from crm.services.personal_data import person_erase

    known, _ = _likely_pair(rep)
    person_erase(record=known, user=admin, reason="Asked to be forgotten")
    assert not ContactDuplicate.objects.exists()
