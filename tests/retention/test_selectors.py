"""Retention's record selectors: a record out of reach and a malformed pk are both a 404."""

import pytest
from django.http import Http404

from retention import selectors
from retention.services import advocacy, nps
from tests.factories.crm import ContactFactory
from tests.factories.retention import SubscriptionFactory

pytestmark = pytest.mark.django_db

GETS = [
    selectors.subscription_get,
    selectors.renewal_get,
    selectors.health_score_get,
    selectors.risk_episode_get,
    selectors.churn_event_get,
    selectors.recommendation_get,
    selectors.nps_run_get,
    selectors.nps_survey_get,
    selectors.advocate_get,
    selectors.referral_get,
    selectors.testimonial_request_get,
]


@pytest.mark.parametrize("get", GETS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("pk", ["x", "", None, 0, -1, 2**63])
def test_a_malformed_pk_is_a_404(get, pk, admin):
    with pytest.raises(Http404):
        get(user=admin, pk=pk)


def test_subscriptions_are_their_owner_sides(rep, rep2, manager, account):
    subscription = SubscriptionFactory(account=account, owner=rep)
    assert selectors.subscription_get(user=rep, pk=subscription.pk, for_change=True)
    assert selectors.subscription_get(user=manager, pk=str(subscription.pk))
    with pytest.raises(Http404):
        selectors.subscription_get(user=rep2, pk=subscription.pk)


def test_testimonial_requests_are_seen_by_all_and_changed_by_the_owner_side(rep, rep2, account):
    contact = ContactFactory(account=account, owner=rep, email="fan@acme.example")
    advocate = nps.advocate_candidate(contact=contact)
    item = advocacy.testimonial_request(advocate=advocate, kind="testimonial", user=rep)
    assert selectors.testimonial_request_get(user=rep2, pk=item.pk).advocate == advocate
    assert selectors.testimonial_request_get(user=rep, pk=item.pk, for_change=True)
    with pytest.raises(Http404):
        selectors.testimonial_request_get(user=rep2, pk=item.pk, for_change=True)


def test_nps_runs_are_for_managers(rep, manager):
    run = nps.nps_run_create(name="Q1", user=manager)
    assert list(selectors.nps_run_list(user=manager)) == [run]
    assert not selectors.nps_run_list(user=rep).exists()
