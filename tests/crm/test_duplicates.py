"""Duplicate checks on every way in: leads (form, API, web form), contacts and accounts, and
the "not a duplicate" answer."""

import pytest

from crm.services.customers import DuplicateRecordError, account_create, contact_create
from crm.services.duplicates import duplicate_dismiss
from leads.models import Lead
from leads.services import dedupe
from leads.services.leads import DuplicateLeadError, lead_create
from tests.factories.crm import AccountFactory, ContactFactory
from tests.factories.leads import LeadFactory

pytestmark = pytest.mark.django_db


def test_a_lead_sharing_only_a_switchboard_number_is_neither_refused_nor_flagged(rep):
    LeadFactory(first_name="Anna", last_name="Berg", email="anna@corp.example", phone="+4940123456")
    lead = lead_create(
        user=rep,
        first_name="Lars",
        last_name="Holm",
        email="lars@corp.example",
        phone="040 123456",
        country="DE",
    )
    assert not lead.possible_duplicate


def test_a_lead_with_the_same_phone_and_name_is_the_same_person(rep):
    LeadFactory(first_name="William", last_name="Gates", email="", phone="+14155550100")
    with pytest.raises(DuplicateLeadError, match="same phone, same name"):
        lead_create(user=rep, first_name="Bill", last_name="Gates", phone="(415) 555-0100")


def test_a_likely_duplicate_is_created_and_flagged_with_what_it_resembles(rep):
    known = LeadFactory(
        first_name="Ada", last_name="Lovelace", email="ada@home.example", phone="+4930123456"
    )
    lead = lead_create(
        user=rep,
        first_name="Ada",
        last_name="Lovelace",
        email="ada@work.example",
        phone="+49 30 123456",
    )
    assert lead.possible_duplicate and lead.duplicate_of == known


def test_a_plus_tagged_address_is_the_same_contact(rep):
    ContactFactory(first_name="Jane", last_name="Doe", email="jane@acme.example")
    with pytest.raises(DuplicateRecordError, match="already the contact Jane Doe"):
        contact_create(user=rep, first_name="Jane", last_name="Doe", email="Jane+news@acme.example")
    colleague = contact_create(
        user=rep, first_name="John", last_name="Roe", email="john@acme.example"
    )
    assert colleague.pk
    assert "e:john@acme.example" in colleague.match_keys


def test_an_account_with_the_same_domain_and_name_without_legal_form_is_refused(rep):
    AccountFactory(name="Acme", domain="acme.example")
    with pytest.raises(DuplicateRecordError, match="same domain, same name"):
        account_create(user=rep, name="ACME, Inc.", domain="https://www.acme.example/")
    assert account_create(user=rep, name="Acme", domain="acme-tools.example").pk


def test_an_answered_pair_is_never_proposed_again(rep):
    first = LeadFactory(first_name="Priya", last_name="Patel", email="", company_name="Initech")
    second = LeadFactory(first_name="Priya", last_name="Patel", email="", company_name="Initech")
    assert dedupe.best_match(lead=second).lead == first
    duplicate_dismiss(kind="lead", first_pk=second.pk, second_pk=first.pk, user=rep)
    assert not dedupe.best_match(lead=second)
    assert not dedupe.best_match(lead=first)


def test_similar_names_are_found_through_the_trigram_index(rep):
    saved = LeadFactory(
        first_name="Fiona", last_name="Gallagher", email="", phone="", company_name=""
    )
    probe = Lead(first_name="Fiona", last_name="Kallagher")  # another Soundex: no shared key
    found = dedupe.best_match(lead=probe)
    assert found.lead == saved and found.outcome == "likely"


def test_match_keys_refresh_rewrites_only_the_stale_keys():
    from crm.matching import match_fields
    from crm.models import Contact
    from crm.services.duplicates import match_keys_refresh

    fresh = ContactFactory(first_name="Ana", last_name="Lopez", email="ana@example.com")
    stale = ContactFactory(first_name="Bo", last_name="Berg", email="bo@example.com")
    Contact.objects.filter(pk=stale.pk).update(match_keys=[], match_name="")

    [(model, seen, changed)] = list(match_keys_refresh(models=("crm.Contact",), batch=1))

    assert (model, seen, changed) == (Contact, 2, 1)
    for contact in (fresh, stale):
        contact.refresh_from_db()
        expected = match_fields(contact)
        assert (contact.match_keys, contact.match_name) == (
            expected["match_keys"],
            expected["match_name"],
        )
        assert contact.match_keys
