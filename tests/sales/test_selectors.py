import pytest
from django.http import Http404
from django.urls import reverse

from sales import selectors, services
from sales.models import OnboardingPlan, Pipeline
from tests.factories.crm import AccountFactory
from tests.factories.sales import OpportunityFactory


@pytest.mark.parametrize("pk", ["x", "", None, 0, -1, 2**63])
def test_a_malformed_or_out_of_range_pk_is_a_404(rep, deal, pk):
    for get in (selectors.opportunity_get, selectors.line_item_get, selectors.quote_get):
        with pytest.raises(Http404):
            get(user=rep, pk=pk)


def test_changing_reaches_only_changeable_rows(rep, other_rep, deal, product):
    foreign = OpportunityFactory(owner=other_rep)
    assert selectors.opportunity_get(user=rep, pk=deal.pk, for_change=True) == deal
    with pytest.raises(Http404):
        selectors.opportunity_get(user=rep, pk=foreign.pk, for_change=True)
    item = services.line_item_add(opportunity=deal, user=rep, product=product)
    assert selectors.line_item_get(user=rep, pk=item.pk, for_change=True) == item
    with pytest.raises(Http404):
        selectors.line_item_get(user=other_rep, pk=item.pk, for_change=True)


def test_an_inactive_pipelines_board_is_a_404(rep_client, deal):
    pipeline = deal.pipeline
    assert rep_client.get(reverse("sales:board", args=[pipeline.pk])).status_code == 200
    Pipeline.objects.filter(pk=pipeline.pk).update(is_active=False)
    assert rep_client.get(reverse("sales:board", args=[pipeline.pk])).status_code == 404


def test_another_plans_item_is_a_404(rep_client, rep, other_rep, deal, win):
    win(deal, rep)
    foreign = OpportunityFactory(owner=other_rep, account=AccountFactory(owner=other_rep))
    win(foreign, other_rep)
    mine = OnboardingPlan.objects.get(opportunity=deal)
    theirs = OnboardingPlan.objects.get(opportunity=foreign)
    their_task = theirs.tasks.first()
    for plan_pk in (mine.pk, theirs.pk):
        url = reverse("sales:onboarding_item_done", args=[plan_pk, their_task.pk])
        assert rep_client.post(url).status_code == 404
    their_task.refresh_from_db()
    assert their_task.done_at is None
