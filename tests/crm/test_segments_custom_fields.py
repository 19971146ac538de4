"""Custom fields as segment criteria: one per active field (``cf_<key>``, "Custom fields"),
computed when used; an archived field's criterion is gone and a segment using it reports the
condition as a problem, never an error page."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from crm.segments.definition import definition_clean
from crm.segments.registry import segment_criteria
from crm.segments.selectors import segment_count, segment_members
from crm.services import custom_fields as services
from tests.crm.test_segments_pages import builder_post
from tests.factories.crm import AccountFactory, ContactFactory
from tests.factories.segments import SegmentFactory, condition, group

pytestmark = pytest.mark.django_db


def test_each_kind_becomes_a_criterion_that_counts(rep, admin, tier):
    # Given fields of several kinds and accounts holding values
    for label, kind in [
        ("Seats", "number"),
        ("Partner", "boolean"),
        ("Since", "date"),
        ("Motto", "text"),
        ("Budget", "money"),
    ]:
        services.custom_field_create(user=admin, entity="account", label=label, kind=kind)
    AccountFactory(
        owner=rep,
        custom={
            "industry_tier": "gold",
            "seats": 10,
            "partner": True,
            "motto": "Think big",
            "budget": {"amount": 500, "currency": "EUR"},
        },
    )
    AccountFactory(owner=rep, custom={"industry_tier": "silver", "seats": 2, "partner": False})
    AccountFactory(owner=rep)

    def count(*conditions):
        return segment_count(group("and", *conditions), user=rep, target="account")

    # Then each criterion compares the JSON value
    grouped = dict(segment_criteria.grouped("account"))
    assert {c.key for c in grouped["custom fields"]} >= {"cf_industry_tier", "cf_seats"}
    assert count(condition("cf_industry_tier", "in", ["gold"])) == 1
    assert count(condition("cf_industry_tier", "in", ["gold", "silver"])) == 2
    assert count(condition("cf_industry_tier", "not_in", ["gold"])) == 2
    assert count(condition("cf_seats", "gte", 5)) == 1
    assert count(condition("cf_seats", "eq", 2)) == 1
    assert count(condition("cf_partner", "is", True)) == 1
    assert count(condition("cf_partner", "is", False)) == 2
    assert count(condition("cf_motto", "contains", "big")) == 1
    assert count(condition("cf_budget", "gte", 100)) == 1
    # a choice that is not one is refused with the criterion's label
    with pytest.raises(ValidationError, match="Industry tier"):
        definition_clean("account", group("and", condition("cf_industry_tier", "in", ["x"])))


def test_contact_fields_are_criteria_of_contact_segments(rep, admin):
    services.custom_field_create(user=admin, entity="contact", label="Shoe size", kind="number")
    ContactFactory(owner=rep, custom={"shoe_size": 44})
    ContactFactory(owner=rep)
    assert (
        segment_count(
            group("and", condition("cf_shoe_size", "gte", 40)), user=rep, target="contact"
        )
        == 1
    )
    assert segment_criteria.criterion("account", "cf_shoe_size") is None


def test_archived_field_makes_the_stored_segment_report_a_problem(
    manager_client, manager, admin, tier
):
    # Given a saved segment over the tier
    AccountFactory(owner=manager, custom={"industry_tier": "gold"})
    segment = SegmentFactory(
        owner=manager,
        target="account",
        definition=group("and", condition("cf_industry_tier", "in", ["gold"])),
    )
    assert segment_members(segment, manager).count() == 1

    # When the field is archived
    services.custom_field_archive(field=tier, user=admin)

    # Then the criterion is gone, the segment is empty and its pages say why
    assert segment_criteria.criterion("account", "cf_industry_tier") is None
    assert segment_members(segment, manager).count() == 0
    with pytest.raises(ValidationError, match="is not a criterion"):
        definition_clean("account", segment.definition)
    assert manager_client.get(reverse("segment_edit", args=[segment.pk])).status_code == 200
    data = builder_post(target="account", conditions=[("cf_industry_tier", "in", "gold")])
    response = manager_client.post(reverse("segment_count"), data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "is not a criterion" in response.content.decode()
    export = manager_client.get(reverse("segment_export", args=[segment.pk]))
    assert export.status_code == 302


def test_builder_offers_the_field_and_counts(manager_client, manager, tier):
    for _ in range(3):
        AccountFactory(owner=manager, custom={"industry_tier": "gold"})
    page = manager_client.get(reverse("segment_create"), {"target": "account"})
    assert "cf_industry_tier" in page.content.decode()
    data = builder_post(target="account", conditions=[("cf_industry_tier", "in", "gold")])
    response = manager_client.post(reverse("segment_count"), data, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "3" in response.content.decode()


@pytest.mark.parametrize("conditions", [2, 20])
def test_custom_conditions_keep_the_query_count_fixed(
    conditions, manager_client, manager, tier, django_assert_max_num_queries
):
    from crm.segments.selectors import segment_queryset

    definition = group("and", *[condition("cf_industry_tier", "in", ["gold"])] * conditions)
    segment = SegmentFactory(owner=manager, target="account", definition=definition)
    with django_assert_max_num_queries(11):
        response = manager_client.get(segment.get_absolute_url())
    assert response.status_code == 200
    with django_assert_max_num_queries(4):  # the fields when checked and compiled, the COUNT
        segment_queryset(segment, user=manager).count()
    data = builder_post(
        target="account", conditions=[("cf_industry_tier", "in", "gold")] * conditions
    )
    with django_assert_max_num_queries(10):
        count = manager_client.post(reverse("segment_count"), data)
    assert count.status_code == 200 and count.context["count"] == 0
