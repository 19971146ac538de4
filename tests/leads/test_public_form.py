import pytest
from django.core.cache import cache
from django.urls import reverse

from crm.models import Activity
from leads.choices import LeadSource
from leads.models import Lead
from tests.factories.leads import CampaignFactory, LeadFactory, SequenceFactory, SequenceStepFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def _post(client, campaign, **data):
    payload = {"last_name": "Visitor", "email": "visitor@corp.example", **data}
    return client.post(reverse("leads:web_form", args=[campaign.slug]), payload)


def test_form_is_public_and_embeddable(client):
    campaign = CampaignFactory(name="Spring webinar")
    response = client.get(reverse("leads:web_form", args=[campaign.slug]))
    assert response.status_code == 200
    assert "Spring webinar" in response.content.decode()
    assert "X-Frame-Options" not in response.headers


def test_submission_becomes_a_scored_lead_with_consent_and_thanks(client):
    sequence = SequenceFactory()
    SequenceStepFactory(sequence=sequence, position=1, delay_days=2)
    campaign = CampaignFactory(sequence=sequence)
    response = _post(client, campaign, first_name="Vic", consent="on", company_name="Corp")
    assert response.status_code == 302
    assert response["Location"] == reverse("leads:web_form_thanks", args=[campaign.slug])
    lead = Lead.objects.get()
    assert lead.source == LeadSource.WEB_FORM and lead.campaign == campaign
    assert lead.marketing_consent and lead.marketing_consent_at is not None
    assert lead.enrollments.get().sequence == sequence
    assert client.get(response["Location"]).status_code == 200


def test_without_consent_no_sequence(client):
    sequence = SequenceFactory()
    SequenceStepFactory(sequence=sequence, position=1)
    campaign = CampaignFactory(sequence=sequence)
    _post(client, campaign)
    lead = Lead.objects.get()
    assert not lead.marketing_consent and not lead.enrollments.exists()


def test_bad_input_answers_400_with_reasons(client):
    campaign = CampaignFactory()
    response = _post(client, campaign, last_name="", email="nope", phone="12")
    assert response.status_code == 400
    assert {"last_name", "email", "phone"} <= set(response.context["form"].errors)
    assert not Lead.objects.exists()


def test_honeypot_stores_nothing_but_looks_fine(client):
    campaign = CampaignFactory()
    response = _post(client, campaign, website_url="http://spam.example")
    assert response.status_code == 302
    assert not Lead.objects.exists()


def test_rate_limit_per_ip_answers_429(client, settings):
    settings.LEAD_FORM_RATE_LIMIT = 2
    campaign = CampaignFactory()
    assert _post(client, campaign, email="a@x.example").status_code == 302
    assert _post(client, campaign, email="b@x.example").status_code == 302
    response = _post(client, campaign, email="c@x.example")
    assert response.status_code == 429
    assert "wait a minute" in response.content.decode()
    other_ip = client.post(
        reverse("leads:web_form", args=[campaign.slug]),
        {"last_name": "D", "email": "d@x.example"},
        REMOTE_ADDR="10.9.9.9",
    )
    assert other_ip.status_code == 302
    assert Lead.objects.count() == 3


def test_known_person_submitting_again_makes_no_second_lead(client, rep):
    lead = LeadFactory(owner=rep, email="visitor@corp.example")
    campaign = CampaignFactory()
    _post(client, campaign, message="Call me", consent="on")
    assert Lead.objects.count() == 1
    assert Activity.objects.for_object(lead).filter(summary__contains="again").exists()
    lead.refresh_from_db()
    assert lead.marketing_consent


def test_inactive_or_unknown_campaign_404(client):
    campaign = CampaignFactory(is_active=False)
    assert client.get(reverse("leads:web_form", args=[campaign.slug])).status_code == 404
    assert client.get(reverse("leads:web_form", args=["nothing-here"])).status_code == 404
