import random

import pytest
from django.urls import reverse

from leads.choices import LeadStatus
from leads.models import Lead
from leads.services.prediction import predictions_refresh
from tests.factories.leads import LeadFactory

pytestmark = pytest.mark.django_db


def _outcomes(owner, count):
    rng = random.Random(3)
    rows = []
    for n in range(count):
        confirmed = rng.random() < 0.5
        converted = rng.random() < (0.8 if confirmed else 0.15)
        rows.append(
            Lead(
                last_name=f"Past{n}",
                email=f"past{n}@x.example",
                owner=owner,
                budget_confirmed=confirmed,
                status=LeadStatus.CONVERTED if converted else LeadStatus.DISQUALIFIED,
            )
        )
    Lead.objects.bulk_create(rows)


def test_needs_enough_outcomes(rep):
    _outcomes(rep, 150)
    lead = LeadFactory(owner=rep)
    assert predictions_refresh() == 0
    lead.refresh_from_db()
    assert lead.conversion_probability is None


def test_fits_and_explains_open_leads(rep_client, rep):
    _outcomes(rep, 260)
    hot = LeadFactory(owner=rep, budget_confirmed=True)
    cold = LeadFactory(owner=rep, budget_confirmed=False)
    assert predictions_refresh() == 2
    hot.refresh_from_db()
    cold.refresh_from_db()
    assert hot.conversion_probability > cold.conversion_probability
    assert len(hot.conversion_factors) == 3
    assert hot.conversion_factors[0]["label"] == "Budget confirmed"
    body = rep_client.get(reverse("leads:lead_detail", args=[hot.pk])).content.decode()
    assert "Conversion probability" in body and "Budget confirmed" in body
