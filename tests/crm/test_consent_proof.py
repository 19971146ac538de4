"""Proof of consent (README, "Personal data"): every answer given or withdrawn keeps through
what, when, the IP address on public pages and the wording shown with its version; it moves
with the person on conversion, shows on their pages, is exported, and survives erasure."""

import io
import json
import zipfile

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm.models import ConsentChannel, ConsentEvent
from crm.services.consents import wording_version
from crm.services.personal_data import person_erase
from leads.campaigns.services.sending import contact_unsubscribe_token
from leads.choices import DedupePolicy
from leads.models import DEFAULT_CONSENT_WORDING, Lead
from leads.services import imports
from leads.services.leads import lead_convert
from leads.services.merge import lead_merge
from leads.services.sequences import unsubscribe_token
from tests.crm.privacy_seed import EMAIL, seed_person
from tests.factories.crm import ConsentEventFactory, ContactFactory
from tests.factories.leads import CampaignFactory, LeadFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def _submit(client, campaign, email="visitor@corp.example", **extra):
    return client.post(
        reverse("leads:web_form", args=[campaign.slug]),
        {"last_name": "Visitor", "email": email, "consent": "on"},
        REMOTE_ADDR="198.51.100.23",
        **extra,
    )


def test_a_web_form_consent_keeps_the_form_the_ip_and_the_wording(client):
    campaign = CampaignFactory(name="Spring webinar")
    page = client.get(reverse("leads:web_form", args=[campaign.slug]))
    assert DEFAULT_CONSENT_WORDING in page.content.decode()

    assert _submit(client, campaign).status_code == 302

    lead = Lead.objects.get()
    proof = ConsentEvent.objects.for_object(lead).get(consent="marketing_consent")
    assert proof.given and proof.at == lead.marketing_consent_at
    assert proof.channel == ConsentChannel.WEB_FORM and proof.channel_name == "Spring webinar"
    assert proof.ip_address == "198.51.100.23"
    assert proof.wording == DEFAULT_CONSENT_WORDING
    assert proof.wording_version == wording_version(DEFAULT_CONSENT_WORDING)
    assert len(proof.wording_version) == 12


def test_changing_the_forms_consent_text_gives_a_new_version(client):
    campaign = CampaignFactory()
    _submit(client, campaign, email="first@corp.example")
    campaign.consent_text = "Yes, send me the monthly newsletter."
    campaign.save(update_fields=["consent_text"])
    page = client.get(reverse("leads:web_form", args=[campaign.slug]))
    assert "Yes, send me the monthly newsletter." in page.content.decode()
    _submit(client, campaign, email="second@corp.example")

    first, second = (
        ConsentEvent.objects.for_object(Lead.objects.get(email=f"{who}@corp.example")).get(
            consent="marketing_consent"
        )
        for who in ("first", "second")
    )
    assert second.wording == "Yes, send me the monthly newsletter."
    assert first.wording_version != second.wording_version
    # The same text is the same version, whatever its spacing.
    assert wording_version("Yes,  send me\nthe monthly newsletter.") == second.wording_version


def test_the_web_form_ip_follows_the_sign_in_lockouts_proxy_setting(client, settings):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    _submit(client, CampaignFactory(), HTTP_X_FORWARDED_FOR="192.0.2.44")
    assert ConsentEvent.objects.get(consent="marketing_consent").ip_address == "192.0.2.44"


def test_an_unsubscribe_leaves_a_withdrawal(client):
    lead = LeadFactory(marketing_consent=True)
    response = client.get(
        reverse("leads:unsubscribe", args=[unsubscribe_token(lead)]), REMOTE_ADDR="198.51.100.9"
    )
    assert response.status_code == 200
    proof = ConsentEvent.objects.for_object(lead).get()
    assert (proof.consent, proof.given) == ("marketing_consent", False)
    assert proof.channel == ConsentChannel.UNSUBSCRIBE and proof.ip_address == "198.51.100.9"
    # A second click changes nothing, and leaves no second row.
    client.get(reverse("leads:unsubscribe", args=[unsubscribe_token(lead)]))
    assert ConsentEvent.objects.for_object(lead).count() == 1


def test_a_contacts_unsubscribe_leaves_a_withdrawal_on_the_contact_and_its_lead(client):
    contact = ContactFactory(marketing_consent=True, email="both@corp.example")
    lead = LeadFactory(email="both@corp.example", marketing_consent=True)
    client.get(
        reverse("leads:contact_unsubscribe", args=[contact_unsubscribe_token(contact.pk)]),
        REMOTE_ADDR="198.51.100.10",
    )
    for record in (contact, lead):
        proof = ConsentEvent.objects.for_object(record).get()
        assert not proof.given and proof.channel == ConsentChannel.UNSUBSCRIBE
        assert proof.ip_address == "198.51.100.10"


def test_a_users_edit_is_recorded_as_such(rep_client, rep):
    contact = ContactFactory(owner=rep)
    data = {
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "email": contact.email,
        "phone": "",
        "title": "",
        "owner": rep.pk,
        "email_consent": "on",
        "_version": contact.updated_at.isoformat(),
    }
    response = rep_client.post(reverse("contact_edit", args=[contact.pk]), data)
    assert response.status_code == 302
    proof = ConsentEvent.objects.for_object(contact).get()
    assert (proof.consent, proof.given, proof.channel) == ("email_consent", True, "user")
    assert proof.ip_address is None and proof.wording_version == ""


def test_conversion_carries_the_proof_to_the_contact(client, rep):
    _submit(client, CampaignFactory(name="Autumn fair"))
    lead = Lead.objects.get()
    lead.owner = rep
    lead.save(update_fields=["owner"])

    contact = lead_convert(lead=lead, user=rep).contact

    proof = ConsentEvent.objects.for_object(contact).get(consent="marketing_consent")
    assert proof.channel_name == "Autumn fair" and proof.ip_address == "198.51.100.23"
    assert proof.wording_version == wording_version(DEFAULT_CONSENT_WORDING)
    assert ConsentEvent.objects.for_object(lead).count() == 2  # the lead keeps its own


def test_consent_without_earlier_proof_is_recorded_as_carried_by_the_conversion(rep):
    lead = LeadFactory(owner=rep, marketing_consent=True)
    contact = lead_convert(lead=lead, user=rep).contact
    proof = ConsentEvent.objects.for_object(contact).get()
    assert proof.channel == ConsentChannel.CONVERSION and proof.channel_name == f"Lead #{lead.pk}"


def test_the_pages_show_the_proof_capped(rep_client, rep, django_assert_max_num_queries):
    contact = ContactFactory(owner=rep)
    ConsentEventFactory.create_batch(
        12, subject=contact, wording="Tick to hear from us", ip_address="198.51.100.1"
    )
    ConsentEventFactory(subject=contact, channel_name="<b>Form</b>")
    with django_assert_max_num_queries(40):
        page = rep_client.get(contact.get_absolute_url())
    html = page.content.decode()
    assert page.status_code == 200 and 'id="consent-proof"' in html
    assert html.count("198.51.100.1") == 9  # the newest ten rows, one of them without an IP
    assert wording_version("Tick to hear from us") in html and "Tick to hear from us" in html
    assert "&lt;b&gt;Form&lt;/b&gt;" in html and "<b>Form</b>" not in html
    assert "Older answers" in html

    lead = LeadFactory(owner=rep)
    ConsentEventFactory(subject=lead, given=False, channel=ConsentChannel.UNSUBSCRIBE)
    html = rep_client.get(lead.get_absolute_url()).content.decode()
    assert 'id="consent-proof"' in html and "Marketing withdrawn" in html


def test_export_holds_the_proof_and_erasure_keeps_it(admin, agent, admin_client_):
    seeded = seed_person(admin=admin, agent=agent)
    contact_proof = ConsentEvent.objects.for_object(seeded.contact)
    assert contact_proof.filter(ip_address="203.0.113.7", channel_name="Spring webinar").exists()

    export = admin_client_.get(
        reverse("person_data_export", args=["crm.contact", seeded.contact.pk])
    )
    archive = zipfile.ZipFile(io.BytesIO(b"".join(export.streaming_content)))
    rows = json.loads(archive.read("person.json"))["data"]["consent_proof"]["rows"]
    assert "203.0.113.7" in {row["ip_address"] for row in rows}
    assert "consent_proof.csv" in archive.namelist()
    before = {
        (r.object_id, r.consent, r.given, r.at, r.channel, r.ip_address, r.wording_version)
        for r in ConsentEvent.objects.all()
    }

    person_erase(record=seeded.contact, user=admin, reason="Asked to be forgotten")

    after = {
        (r.object_id, r.consent, r.given, r.at, r.channel, r.ip_address, r.wording_version)
        for r in ConsentEvent.objects.all()
    }
    assert after == before
    kept = " ".join(f"{r.channel_name} {r.wording}" for r in ConsentEvent.objects.all()).lower()
    assert EMAIL not in kept


def test_a_merge_that_brings_consent_says_so_on_the_kept_lead(rep):
    keep = LeadFactory(owner=rep)
    merge = LeadFactory(owner=rep, marketing_consent=True)
    lead_merge(keep=keep, merge=merge, user=rep)
    proof = ConsentEvent.objects.for_object(keep).get()
    assert proof.given and proof.channel == ConsentChannel.MERGE
    assert proof.channel_name == f"Lead #{merge.pk} merged"


def test_an_import_with_consent_leaves_proof_for_new_and_updated_leads(admin):
    known = LeadFactory(email="known@corp.example")
    text = (
        "Last name,E-mail,Opt-in\n"
        "Yes,yes@corp.example,yes\n"
        "No,no@corp.example,no\n"
        "Known,known@corp.example,yes\n"
    )
    upload = SimpleUploadedFile("people.csv", text.encode(), content_type="text/csv")
    job = imports.import_job_create(user=admin, upload=upload, policy=DedupePolicy.UPDATE)
    imports.import_run(job_id=job.pk)

    granted = {
        event.object_id: event
        for event in ConsentEvent.objects.filter(channel=ConsentChannel.IMPORT)
    }
    assert set(granted) == {Lead.objects.get(email="yes@corp.example").pk, known.pk}
    assert all(e.given and e.consent == "marketing_consent" for e in granted.values())
    assert granted[known.pk].channel_name == f"Lead import #{job.pk} (people.csv)"
