"""The segment choice every dashboard's filter bar offers: only usable segments, of the kinds
the dashboard accepts; anything else is a field error that shows nothing of the segment."""

import pytest
from django.urls import reverse

from analytics.views import DASHBOARDS
from crm.choices import Role
from tests.analytics.helpers import rows_of_every_figure, segment_of
from tests.factories.crm import UserFactory

SEGMENTED = [(name, view) for name, view in DASHBOARDS if view.segment_targets]


def test_every_figure_reading_rollups_has_a_live_path_or_says_the_segment_does_not_apply():
    for _, view in SEGMENTED:
        for figure in view.figures:
            assert figure.live or not figure.rollups or not figure.segmentable, figure.key


@pytest.mark.parametrize(("name", "view"), SEGMENTED)
def test_another_reps_private_segment_is_a_field_error(name, view, rep_client, rep, rep2):
    private = segment_of(
        rep2, view.segment_targets[0], ("owner", "in", [str(rep2.pk)]), shared=False
    )
    private.name = "Secret list of rep2"
    private.save(update_fields=["name"])
    response = rep_client.get(reverse(name), {"segment": private.pk})
    assert response.status_code == 200
    assert "segment" in response.context["form"].errors
    assert response.context["scope"].segment is None
    assert "Secret list of rep2" not in response.content.decode()
    # The figures are the rep's usual ones, not the segment's.
    assert rows_of_every_figure(response) == rows_of_every_figure(rep_client.get(reverse(name)))


@pytest.mark.parametrize(("name", "view"), SEGMENTED)
@pytest.mark.parametrize("value", ["999999", "not a number", "-1"])
def test_unknown_segment_is_a_field_error(name, view, manager_client, value):
    response = manager_client.get(reverse(name), {"segment": value})
    assert response.status_code == 200
    assert response.context["form"].errors["segment"] == ["Choose one of the segments offered."]
    export = manager_client.get(reverse(name), {"segment": value, "export": view.figures[0].key})
    assert export.status_code == 200


@pytest.mark.parametrize(("name", "view"), SEGMENTED)
def test_segment_whose_conditions_no_longer_check_out_is_a_field_error(
    name, view, manager_client, manager
):
    broken = segment_of(manager, view.segment_targets[0], ("no_such_criterion", "is", "x"))
    response = manager_client.get(reverse(name), {"segment": broken.pk})
    assert response.status_code == 200
    assert "no longer check out" in response.context["form"].errors["segment"][0]


def test_account_dashboards_do_not_offer_lead_segments(manager_client, manager):
    leads = segment_of(manager, "lead", ("status", "in", ["new"]))
    accounts = segment_of(manager, "account", ("country", "in", ["DE"]))
    response = manager_client.get(reverse("analytics:clv"), {"segment": leads.pk})
    form = response.context["form"]
    assert "segment" in form.errors
    offered = [value for value, _ in form.fields["segment"].choices if value]
    assert [int(str(v)) for v in offered] == [accounts.pk]


def test_segments_offered_are_those_the_user_may_use(rep_client, rep, rep2):
    own = segment_of(rep, "account", ("country", "in", ["DE"]), shared=False)
    shared = segment_of(rep2, "contact", ("title", "contains", "VP"))
    segment_of(rep2, "account", ("country", "in", ["FR"]), shared=False)
    UserFactory(username="other", roles=[Role.SALES_REP])
    form = rep_client.get(reverse("analytics:clv")).context["form"]
    offered = sorted(int(str(v)) for v, _ in form.fields["segment"].choices if v)
    assert offered == sorted([own.pk, shared.pk])
