"""The review queue of possible duplicates: each lead beside the one it resembles, with the
reasons, and the answer "not a duplicate" that is never asked again for that pair."""

import pytest
from django.urls import reverse

from crm.models import DuplicateDismissal
from leads.models import Lead
from leads.services import dedupe
from leads.services.leads import lead_create
from tests.factories.leads import LeadFactory

pytestmark = pytest.mark.django_db


def _likely_pair(rep, n=0):
    known = LeadFactory(
        owner=rep,
        first_name="Ada",
        last_name=f"Lovelace{n}",
        email=f"ada{n}@home.example",
        phone=f"+49301234{n:03d}",
    )
    flagged = lead_create(
        user=rep,
        first_name="Ada",
        last_name=f"Lovelace{n}",
        email=f"ada{n}@work.example",
        phone=f"+49 30 1234{n:03d}",
        owner=rep,
    )
    assert flagged.possible_duplicate and flagged.duplicate_of == known
    return known, flagged


@pytest.mark.parametrize("pairs", [2, 20])
def test_the_queue_shows_each_pair_with_its_reasons_in_fixed_queries(
    pairs, rep_client, rep, django_assert_max_num_queries
):
    for n in range(pairs):
        _likely_pair(rep, n)
    with django_assert_max_num_queries(12):
        response = rep_client.get(reverse("leads:duplicate_list"))
    page = response.content.decode()
    assert response.status_code == 200 and len(response.context["object_list"]) == pairs
    assert "different emails, same phone, same name" in page
    assert page.count("Not a duplicate") == pairs


def test_not_a_duplicate_is_remembered_for_the_pair(rep_client, rep):
    known, flagged = _likely_pair(rep)
    page = rep_client.get(flagged.get_absolute_url()).content.decode()
    assert 'id="not-duplicate"' in page and "same phone" in page

    response = rep_client.post(
        reverse("leads:lead_not_duplicate", args=[flagged.pk]),
        {"next": reverse("leads:duplicate_list")},
    )
    assert response.status_code == 302 and response["Location"] == reverse("leads:duplicate_list")
    flagged.refresh_from_db()
    assert not flagged.possible_duplicate and flagged.duplicate_of is None
    assert DuplicateDismissal.objects.filter(kind="lead").count() == 1
    # never proposed again, from either side
    assert not dedupe.best_match(lead=flagged)
    assert not dedupe.best_match(lead=known)
    assert not rep_client.get(reverse("leads:duplicate_list")).context["object_list"]


def test_another_likely_match_keeps_the_flag(rep):
    known, flagged = _likely_pair(rep)
    other = LeadFactory(first_name="Ada", last_name="Lovelace0", email="", phone="+49301234000")
    lead = dedupe.lead_not_duplicate(lead=flagged, user=rep)
    assert lead.possible_duplicate and lead.duplicate_of == other
    assert Lead.objects.get(pk=known.pk).possible_duplicate is False
