import pytest
from django.urls import reverse

from crm.models import ConsentChannel, ConsentEvent, OutboundEmail
from leads.models import DEFAULT_CONSENT_WORDING, Lead
from retention.models import Referral
from retention.services import advocacy, nps
from tests.factories.crm import ContactFactory

pytestmark = pytest.mark.django_db

FORM = {
    "first_name": "Lena",
    "last_name": "Berg",
    "email": "lena@newco.example",
    "company_name": "NewCo",
}


@pytest.fixture
def advocate(account):
    contact = ContactFactory(account=account, owner=account.owner, email="fan@acme.example")
    return nps.advocate_candidate(contact=contact)


def test_a_referral_link_makes_an_attributed_lead(client, advocate):
    url = f"/r/{advocate.code}/"
    assert reverse("retention:referral", args=[advocate.code]) == url
    page = client.get(url)
    assert page.status_code == 200 and advocate.contact.full_name in page.content.decode()
    # Bad input re-renders with errors
    assert client.post(url, {"last_name": ""}).status_code == 400

    response = client.post(url, FORM)

    assert response.status_code == 200
    lead = Lead.objects.get(email="lena@newco.example")
    assert lead.source == "referral"
    assert Referral.objects.get().lead == lead
    advocate.refresh_from_db()
    assert advocate.status == "active"
    # The same person again is not a second lead or referral
    client.post(url, FORM)
    assert Lead.objects.filter(email="lena@newco.example").count() == 1
    assert Referral.objects.count() == 1


def test_a_bot_filling_the_honeypot_makes_nothing(client, advocate):
    client.post(f"/r/{advocate.code}/", {**FORM, "website_url": "http://spam"})
    assert not Lead.objects.exists()


def test_an_unknown_code_is_404(client):
    assert client.get("/r/nope/").status_code == 404


def test_converting_the_referred_lead_earns_the_reward_once(client, advocate, rep):
    from leads.services.leads import lead_convert

    client.post(f"/r/{advocate.code}/", FORM)
    lead = Lead.objects.get()
    lead_convert(lead=lead, user=rep)
    referral = Referral.objects.get()
    assert referral.reward_status == "earned" and referral.converted_at is not None
    assert advocacy.referral_reward_paid(referral=referral, user=rep)
    assert not advocacy.referral_reward_paid(referral=referral, user=rep)


def test_leaderboard_testimonials_and_references(rep_client, client, rep, advocate):
    client.post(f"/r/{advocate.code}/", FORM)
    url = reverse("retention:advocate_detail", args=[advocate.pk])
    rep_client.post(url, {"action": "request", "kind": "case_study"})
    email = OutboundEmail.objects.get(to_email="fan@acme.example")
    assert "case study" in email.body_text
    request = advocate.testimonial_requests.get()
    # Approving without permission to publish is refused
    rep_client.post(
        url, {"action": "record", "request": request.pk, "quote": "Great", "status": "approved"}
    )
    request.refresh_from_db()
    assert request.status == "requested"
    rep_client.post(
        url,
        {
            "action": "record",
            "request": request.pk,
            "quote": "Great",
            "status": "approved",
            "permission_to_publish": "on",
        },
    )
    rep_client.post(url, {"action": "reference", "is_reference": "1"})
    request.refresh_from_db()
    assert (request.status, request.quote, request.permission_to_publish) == (
        "approved",
        "Great",
        True,
    )

    page = rep_client.get(reverse("retention:advocacy"))
    assert [a.pk for a in page.context["leaderboard"]] == [advocate.pk]
    assert page.context["leaderboard"][0].referred == 1
    assert [a.pk for a in page.context["references"]] == [advocate.pk]


def test_only_the_owner_side_changes_an_advocate(client, rep2, advocate):
    client.force_login(rep2)
    url = reverse("retention:advocate_detail", args=[advocate.pk])
    assert client.get(url).status_code == 200  # accounts and contacts are shared reading
    assert client.post(url, {"action": "reference", "is_reference": "1"}).status_code == 404


def test_an_advocate_page_changes_only_its_own_requests_and_referrals(
    rep_client, rep, account, advocate
):
    other = nps.advocate_candidate(
        contact=ContactFactory(account=account, owner=rep, email="other@acme.example")
    )
    theirs = advocacy.testimonial_request(advocate=other, kind="testimonial", user=rep)
    url = reverse("retention:advocate_detail", args=[advocate.pk])
    record = {"action": "record", "status": "received", "quote": "Great"}
    for pk in (theirs.pk, "x", "", 2**70):
        assert rep_client.post(url, {**record, "request": pk}).status_code == 404
    assert rep_client.post(url, {"action": "paid", "referral": "x"}).status_code == 404
    theirs.refresh_from_db()
    assert (theirs.status, theirs.quote) == ("requested", "")


def test_consent_on_a_referral_link_keeps_its_proof(client, advocate):
    client.post(f"/r/{advocate.code}/", {**FORM, "consent": "on"}, REMOTE_ADDR="198.51.100.77")

    lead = Lead.objects.get(email="lena@newco.example")
    proof = ConsentEvent.objects.for_object(lead).get(consent="marketing_consent")
    assert proof.channel == ConsentChannel.REFERRAL and proof.ip_address == "198.51.100.77"
    assert proof.channel_name == f"Referral link {advocate.code}"
    assert proof.wording == DEFAULT_CONSENT_WORDING
