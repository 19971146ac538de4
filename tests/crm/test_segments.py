"""The segment engine: criteria, AND/OR compilation to one query, validation, snapshots."""

import datetime as dt

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from crm.models import Contact, SegmentSizeSnapshot
from crm.segments.definition import definition_clean
from crm.segments.selectors import (
    segment_choices_for,
    segment_count,
    segment_members,
    segment_queryset,
)
from crm.segments.services import segment_snapshots_take
from crm.tasks import segment_snapshots_take as snapshot_task
from tests.factories.crm import AccountFactory, ActivityFactory, ContactFactory
from tests.factories.segments import SegmentFactory, condition, group

pytestmark = [pytest.mark.django_db, pytest.mark.pgbouncer]

VP_GERMANY_QUIET = group(
    "and",
    condition("title", "contains", "VP"),
    condition("account_country", "in", ["DE"]),
    condition("last_activity", "not_within", 30),
)


def days_ago(days):
    return timezone.now() - dt.timedelta(days=days)


@pytest.fixture
def vp_dataset(rep):
    """Contacts that do and do not fall in "VPs in Germany with no activity in 30 days"."""
    de, fr = AccountFactory(country="DE", owner=rep), AccountFactory(country="FR", owner=rep)
    wanted = [
        ContactFactory(title="VP Sales", account=de, owner=rep),
        ContactFactory(title="Senior vp of Marketing", account=de, owner=rep),
        ContactFactory(title="VP Engineering", account=de, owner=rep),
    ]
    ActivityFactory(subject=wanted[2], occurred_at=days_ago(45))  # old activity only
    recent = ContactFactory(title="VP Finance", account=de, owner=rep)
    ActivityFactory(subject=recent, occurred_at=days_ago(3))
    ContactFactory(title="VP Sales", account=fr, owner=rep)  # wrong country
    ContactFactory(title="Head of Sales", account=de, owner=rep)  # not a VP
    ContactFactory(title="VP Sales", account=None, owner=rep)  # no account, no country
    # An activity on an *account* with the contact's id must not count for the contact.
    other = ContactFactory(title="VP Ops", account=de, owner=rep)
    wanted.append(other)
    ActivityFactory(subject=de, object_id=other.pk, occurred_at=days_ago(1))
    return {c.pk for c in wanted}


RAW_VP_SQL = """
    SELECT COUNT(*) FROM crm_contact c
    JOIN crm_account a ON a.id = c.account_id
    WHERE UPPER(c.title) LIKE '%%VP%%' AND a.country = 'DE'
      AND NOT EXISTS (
        SELECT 1 FROM crm_activity x
        WHERE x.content_type_id = %s AND x.object_id = c.id AND x.occurred_at >= %s)
"""


def test_vp_germany_quiet_matches_hand_written_sql(vp_dataset, manager):
    # When the segment is counted
    with CaptureQueriesContext(connection) as queries:
        count = segment_count(VP_GERMANY_QUIET, user=manager, target="contact")
    # Then it is one query, and it agrees with hand-written SQL and with the expected rows
    assert len([q for q in queries if "crm_contact" in q["sql"]]) == 1
    with connection.cursor() as cursor:
        cursor.execute(RAW_VP_SQL, [ContentType.objects.get_for_model(Contact).pk, days_ago(30)])
        (raw,) = cursor.fetchone()
    members = segment_queryset(VP_GERMANY_QUIET, user=manager, target="contact")
    assert count == raw == len(vp_dataset) == 4
    assert set(members.values_list("pk", flat=True)) == vp_dataset


def test_and_or_nesting(rep):
    software_de = AccountFactory(country="DE", industry="software", owner=rep)
    retail_de = AccountFactory(country="DE", industry="retail", owner=rep)
    software_at = AccountFactory(country="AT", industry="software", owner=rep)
    a = ContactFactory(account=software_de, title="Engineer", owner=rep)
    b = ContactFactory(account=retail_de, title="CTO", owner=rep)
    ContactFactory(account=retail_de, title="Clerk", owner=rep)
    c = ContactFactory(account=software_at, title="CTO", marketing_consent=True, owner=rep)
    ContactFactory(account=software_at, title="Clerk", owner=rep)
    # DE and (software or CTO)
    de_and = group(
        "and",
        condition("account_country", "in", ["DE"]),
        group(
            "or",
            condition("account_industry", "in", ["software"]),
            condition("title", "contains", "cto"),
        ),
    )
    assert set(segment_queryset(de_and, user=rep, target="contact")) == {a, b}
    # (DE and CTO) or (AT and consent) — an OR of ANDs, two levels deep
    either = group(
        "or",
        group(
            "and",
            condition("account_country", "in", ["DE"]),
            condition("title", "contains", "CTO"),
        ),
        group(
            "and",
            condition("account_country", "not_in", ["DE"]),
            group("and", condition("marketing_consent", "is", True)),
        ),
    )
    assert set(segment_queryset(either, user=rep, target="contact")) == {b, c}
    # An empty definition is everything the user may see
    assert segment_count(group("and"), user=rep, target="contact") == 5


def test_account_criteria_contacts_count_stage_and_activity(rep, rep2):
    big = AccountFactory(owner=rep, lifecycle_stage="customer", size_band="1000+")
    small = AccountFactory(owner=rep2, lifecycle_stage="prospect", size_band="1-10")
    ContactFactory.create_batch(3, account=big, owner=rep)
    ContactFactory(account=small, owner=rep2)
    ActivityFactory(subject=small, occurred_at=days_ago(2))

    def members(*conditions):
        return set(segment_queryset(group("and", *conditions), user=rep, target="account"))

    empty = AccountFactory(owner=rep, lifecycle_stage="churned", size_band="11-50")
    ContactFactory(account=None, owner=rep)  # a NULL account must not empty "NOT IN"
    assert members(condition("contacts", "gte", 3)) == {big}
    assert members(condition("contacts", "gte", 0)) == {big, small, empty}
    assert members(condition("contacts", "lte", 1)) == {small, empty}
    assert members(condition("contacts", "eq", 0)) == {empty}
    assert members(condition("contacts", "eq", 3)) == {big}
    assert members(condition("contacts", "gte", "2.5")) == {big}
    assert members(condition("lifecycle_stage", "in", ["customer"])) == {big}
    assert members(condition("size_band", "not_in", ["1000+", "11-50"])) == {small}
    assert members(condition("owner", "in", [str(rep2.pk)])) == {small}
    assert members(condition("last_activity", "within", 7)) == {small}
    assert members(condition("last_activity", "not_within", 7)) == {big, empty}


@pytest.mark.parametrize(
    "definition, message",
    [
        (group("and", condition("shoe_size", "is", "42")), "not a criterion"),
        (group("and", condition("title", "is", "VP")), "not an operator"),
        (group("and", condition("title", "contains", "")), "Enter some text"),
        (group("and", condition("account_country", "in", ["XX"])), "not a choice"),
        (group("and", condition("last_activity", "within", "soon")), "Enter a number"),
        (group("and", condition("last_activity", "within", 0)), "whole number of days"),
        (group("and", condition("marketing_consent", "is", "maybe")), "yes or no"),
        (group("xor", condition("title", "contains", "VP")), "not AND or OR"),
        ({"op": "and", "children": "nope"}, "not a group"),
        ("DROP TABLE", "not a group"),
        (group("and", *[condition("title", "contains", "x")] * 51), "at most 50"),
        (group("and", group("and", group("and", group("and", group("and"))))), "deep"),
    ],
)
def test_invalid_definitions_give_clear_errors(definition, message, rep):
    with pytest.raises(ValidationError) as exc:
        definition_clean("contact", definition)
    assert any(message in m for m in exc.value.messages), exc.value.messages


def test_errors_say_where_and_all_are_listed():
    definition = group(
        "and",
        condition("title", "contains", "VP"),
        group("or", condition("nope", "is", 1), condition("created", "within", -3)),
    )
    with pytest.raises(ValidationError) as exc:
        definition_clean("contact", definition)
    assert exc.value.messages == [
        "Group 2, condition 1: “nope” is not a criterion of this kind of segment.",
        "Group 2, condition 2: “Created” takes a whole number of days from 1 to 3650.",
    ]


def test_unknown_target_is_an_error():
    with pytest.raises(ValidationError):
        definition_clean("spaceship", group("and"))


def test_segment_members_of_a_broken_segment_is_empty(rep):
    ContactFactory(owner=rep, title="VP")
    segment = SegmentFactory(owner=rep, definition=group("and", condition("gone", "is", "x")))
    assert list(segment_members(segment, rep)) == []


def test_segment_choices_for_own_and_shared_only(rep, rep2):
    mine = SegmentFactory(owner=rep, name="Mine")
    shared = SegmentFactory(owner=rep2, name="Shared", shared=True)
    SegmentFactory(owner=rep2, name="Private")
    SegmentFactory(owner=rep, name="Accounts", target="account")
    assert segment_choices_for(rep, "contact") == [(mine.pk, "Mine"), (shared.pk, "Shared")]


def test_snapshot_task_is_idempotent_per_day(rep):
    segment = SegmentFactory(owner=rep, definition=group("and"))
    ContactFactory.create_batch(2, owner=rep)
    assert snapshot_task() == 1
    ContactFactory(owner=rep)
    assert snapshot_task() == 1  # same day again: overwritten, not added
    snapshot = SegmentSizeSnapshot.objects.get(segment=segment)
    assert snapshot.size == 3
    segment_snapshots_take(date=timezone.localdate() + dt.timedelta(days=1))
    assert segment.size_snapshots.count() == 2


def test_snapshot_skips_broken_and_ownerless_segments(rep):
    SegmentFactory(owner=rep, definition=group("and", condition("gone", "is", "x")))
    SegmentFactory(owner=None)
    assert segment_snapshots_take() == 0
    assert not SegmentSizeSnapshot.objects.exists()


def test_seed_step_makes_demo_segments_with_todays_size(manager, rep):
    import io

    from crm.seeding import SeedContext, anchor_datetime, seed_steps
    from crm.segments.seed import seed

    ContactFactory(title="VP Sales", account=AccountFactory(country="DE", owner=rep), owner=rep)
    assert "segments" in {step.name for step in seed_steps.steps()}
    ctx = SeedContext(
        scale=1, users={"manager": manager, "rep": rep}, now=anchor_datetime(), stdout=io.StringIO()
    )
    seed(ctx.for_step("segments"))
    segment = manager.segments.get(name="VPs in Germany with no activity in 30 days")
    assert segment.shared
    assert segment.size_snapshots.get().size == 1
    assert rep.segments.get().definition["children"][-1] == condition("owner", "in", [str(rep.pk)])


def test_standard_criteria_work_for_a_later_apps_model(rep, rep2):
    from crm.segments.criteria import standard_criteria
    from crm.segments.registry import segment_criteria
    from leads.models import Lead
    from tests.factories.leads import LeadFactory

    segment_criteria.register_target("test-leads", Lead, label="Leads")
    try:
        for criterion in standard_criteria(Lead):
            segment_criteria.register("test-leads", criterion)
        quiet, busy = LeadFactory(owner=rep), LeadFactory(owner=rep)
        LeadFactory(owner=rep2)
        ActivityFactory(subject=busy, occurred_at=days_ago(1))
        definition = group(
            "and",
            condition("owner", "in", [str(rep.pk), str(rep2.pk)]),
            condition("created", "within", 1),
            condition("last_activity", "not_within", 14),
        )
        # a rep sees only their own leads, whatever the definition asks
        assert list(segment_queryset(definition, user=rep, target="test-leads")) == [quiet]
    finally:
        segment_criteria.unregister_target("test-leads")


def test_beat_runs_the_snapshot_task_daily():
    from django.conf import settings

    from crm.celery import app

    entry = settings.CELERY_BEAT_SCHEDULE["segment-snapshots"]
    assert entry["task"] == "crm.tasks.segment_snapshots_take"
    assert entry["task"] in app.tasks
    assert entry["schedule"] == 24 * 60 * 60
