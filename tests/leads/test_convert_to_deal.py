import pytest
from django.urls import reverse

from leads.choices import LeadStatus
from tests.factories.leads import LeadFactory

pytestmark = pytest.mark.django_db


def test_convert_with_a_deal_lands_on_the_deal(rep_client, rep):
    """With the sales stage installed, its receiver opens the deal inside the conversion."""
    lead = LeadFactory(owner=rep, company_name="Dealco", website="dealco.example")
    response = rep_client.post(
        reverse("leads:lead_convert", args=[lead.pk]),
        {
            "create_opportunity": "on",
            "opportunity_name": "Dealco rollout",
            "opportunity_amount": "12000",
        },
    )
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONVERTED
    assert response.status_code == 302
    assert response["Location"] != lead.converted_contact.get_absolute_url()
    page = rep_client.get(response["Location"])
    assert page.status_code == 200 and "Dealco rollout" in page.content.decode()
