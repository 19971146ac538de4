"""Undoing a lead merge puts both records and every link back exactly as before it."""

from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from crm.history import Source
from crm.models import Activity, AuditEvent, Contact, Task
from leads.choices import EnrollmentState, LeadAuditAction, LeadStatus
from leads.models import Enrollment, Lead, LeadMerge
from leads.services.leads import lead_update
from leads.services.merge import lead_merge, lead_merge_into_contact
from leads.services.merge_undo import lead_merge_undo
from tests.factories.crm import AccountFactory, ActivityFactory, ContactFactory, TaskFactory
from tests.factories.leads import EnrollmentFactory, LeadFactory, SequenceFactory
from tests.visibility import assert_hidden

pytestmark = pytest.mark.django_db


def _fields(obj) -> dict:
    """Every stored field of the record but its last-changed timestamp."""
    obj = type(obj)._base_manager.get(pk=obj.pk)
    return {
        f.attname: getattr(obj, f.attname)
        for f in obj._meta.concrete_fields
        if f.name != "updated_at"
    }


def _links(obj) -> dict:
    """The ids of every row linked to the record (enrolments with their progress)."""
    links = {
        "activities": set(Activity.objects.for_object(obj).values_list("pk", flat=True)),
        "tasks": set(Task.objects.for_object(obj).values_list("pk", flat=True)),
    }
    if isinstance(obj, Lead):
        links["enrollments"] = {
            e.pk: (e.state, e.stop_reason, e.next_position, e.next_step_at, e.steps_done)
            for e in Enrollment.objects.filter(lead=obj)
        }
        links["duplicates"] = set(
            Lead.objects.filter(duplicate_of=obj).values_list("pk", flat=True)
        )
    return links


def _history(lead, n=2):
    for _ in range(n):
        ActivityFactory(subject=lead)
    TaskFactory(
        assignee=lead.owner,
        content_type=ContentType.objects.get_for_model(Lead),
        object_id=lead.pk,
    )


def _undo_entries(obj) -> set[int]:
    return set(
        Activity.objects.for_object(obj)
        .filter(summary__contains="undone")
        .values_list("pk", flat=True)
    )


def _merged_pair(rep):
    keep = LeadFactory(
        owner=rep, last_name="Meyer", first_name="Anna", phone="", title="", marketing_consent=False
    )
    merge = LeadFactory(
        owner=rep,
        last_name="Meyer",
        first_name="Anna",
        phone="+4930123456",
        title="CTO",
        possible_duplicate=True,
        duplicate_of=keep,
        marketing_consent=True,
        marketing_consent_at=timezone.now() - timedelta(days=3),
        status=LeadStatus.WORKING,
    )
    pointing = LeadFactory(owner=rep, duplicate_of=merge, possible_duplicate=True)
    _history(keep, 2)
    _history(merge, 3)
    only_theirs, shared, only_ours, shared_ahead = SequenceFactory.create_batch(4)
    EnrollmentFactory(lead=merge, sequence=only_theirs, steps_done=1, next_position=2)
    EnrollmentFactory(lead=keep, sequence=only_ours)
    EnrollmentFactory(lead=keep, sequence=shared, steps_done=1, next_position=2)
    EnrollmentFactory(lead=merge, sequence=shared, steps_done=3, next_position=4)
    EnrollmentFactory(lead=keep, sequence=shared_ahead, steps_done=4, next_position=5)
    EnrollmentFactory(lead=merge, sequence=shared_ahead, steps_done=1, next_position=2)
    return keep, merge, pointing


def test_undo_puts_both_leads_and_every_link_back_exactly(rep):
    keep, merge, pointing = _merged_pair(rep)
    before = {lead.pk: (_fields(lead), _links(lead)) for lead in (keep, merge, pointing)}

    lead_merge(keep=keep, merge=merge, user=rep, field_choices={"email": "merge"})
    record = LeadMerge.objects.get(kept=keep, merged=merge)
    assert {"phone", "title", "email", "marketing_consent"} <= set(record.kept_after)
    assert Enrollment.objects.filter(lead=merge).count() == 2  # the shared ones stay, stopped

    lead_merge_undo(record=record, user=rep)

    for lead in (keep, merge, pointing):
        fields, links = before[lead.pk]
        assert _fields(lead) == fields
        after = _links(lead)
        after["activities"] -= _undo_entries(lead)
        assert after == links
    assert len(_undo_entries(keep)) == len(_undo_entries(merge)) == 1
    record.refresh_from_db()
    assert record.undone_at is not None and record.undone_by == rep


def test_undo_is_recorded_in_history_audit_and_timelines(rep):
    keep, merge, _ = _merged_pair(rep)
    lead_merge(keep=keep, merge=merge, user=rep)
    record = LeadMerge.objects.get()

    lead_merge_undo(record=record, user=rep)

    event = merge.history_events.order_by("-pgh_id").first()
    assert event.pgh_context.metadata["source"] == Source.RESTORE
    assert event.pgh_context.metadata["user"] == rep.pk
    assert "status" in event.pgh_changes
    line = AuditEvent.objects.get(action=LeadAuditAction.MERGE_UNDONE)
    assert line.actor == rep
    assert line.detail["merge"] == record.pk
    assert Activity.objects.for_object(keep).filter(summary__startswith="Merge undone")
    assert Activity.objects.for_object(merge).filter(summary__startswith="Merge into")


def test_undo_twice_is_refused(rep):
    keep, merge, _ = _merged_pair(rep)
    lead_merge(keep=keep, merge=merge, user=rep)
    record = LeadMerge.objects.get()
    lead_merge_undo(record=record, user=rep)
    with pytest.raises(ValidationError, match="already undone"):
        lead_merge_undo(record=record, user=rep)
    assert AuditEvent.objects.filter(action=LeadAuditAction.MERGE_UNDONE).count() == 1


def test_undo_is_refused_when_the_kept_lead_changed_since_in_a_field_the_merge_set(rep):
    keep, merge, _ = _merged_pair(rep)
    lead_merge(keep=keep, merge=merge, user=rep)
    keep.refresh_from_db()
    lead_update(lead=keep, user=rep, phone="+4940999999")

    with pytest.raises(ValidationError, match="phone") as refused:
        lead_merge_undo(record=LeadMerge.objects.get(), user=rep)

    assert "changed since" in str(refused.value)
    keep.refresh_from_db()
    merge.refresh_from_db()
    assert keep.phone == "+4940999999"
    assert merge.status == LeadStatus.DISQUALIFIED
    assert LeadMerge.objects.get().undone_at is None


def test_merges_in_a_chain_are_undone_latest_first(rep):
    keep, merge, pointing = _merged_pair(rep)
    final = LeadFactory(owner=rep, phone="", title="")
    before = {lead.pk: (_fields(lead), _links(lead)) for lead in (keep, merge, pointing, final)}
    lead_merge(keep=keep, merge=merge, user=rep)
    lead_merge(keep=final, merge=keep, user=rep)
    first, second = LeadMerge.objects.order_by("merged_at")

    with pytest.raises(ValidationError, match="no longer there"):
        lead_merge_undo(record=first, user=rep)
    lead_merge_undo(record=second, user=rep)
    lead_merge_undo(record=first, user=rep)

    for lead in (keep, merge, pointing, final):
        fields, links = before[lead.pk]
        assert _fields(lead) == fields
        after = _links(lead)
        after["activities"] -= _undo_entries(lead)
        assert after == links


def test_an_enrolment_that_moved_on_since_keeps_its_progress(rep):
    keep, merge, _ = _merged_pair(rep)
    lead_merge(keep=keep, merge=merge, user=rep)
    moved = Enrollment.objects.get(lead=keep, sequence__enrollments__lead=keep, steps_done=1)
    Enrollment.objects.filter(pk=moved.pk).update(steps_done=2, next_position=3)

    lead_merge_undo(record=LeadMerge.objects.get(), user=rep)

    moved.refresh_from_db()
    assert moved.lead_id == merge.pk
    assert (moved.steps_done, moved.next_position) == (2, 3)
    assert Activity.objects.for_object(keep).filter(body__contains="kept their progress")


def test_a_rep_who_may_not_change_one_of_the_leads_cannot_undo(rep, rep2, manager):
    keep, merge, _ = _merged_pair(rep)
    lead_merge(keep=keep, merge=merge, user=rep)
    record = LeadMerge.objects.get()
    Lead.objects.filter(pk=merge.pk).update(owner=rep2)
    with pytest.raises(Lead.DoesNotExist):
        lead_merge_undo(record=record, user=rep)
    lead_merge_undo(record=record, user=manager)  # the team's manager may change both


def test_undo_of_a_merge_into_a_contact(rep, rep_client):
    client = rep_client
    account = AccountFactory(owner=rep)
    contact = ContactFactory(owner=rep, account=account, marketing_consent=False)
    lead = LeadFactory(
        owner=rep,
        status=LeadStatus.WORKING,
        possible_duplicate=True,
        marketing_consent=True,
        marketing_consent_at=timezone.now(),
    )
    _history(lead, 2)
    ActivityFactory(subject=contact)
    EnrollmentFactory(lead=lead, steps_done=1, next_position=2)
    before = {type(obj): (_fields(obj), _links(obj)) for obj in (lead, contact)}

    lead_merge_into_contact(lead=lead, contact=contact, user=rep)
    record = LeadMerge.objects.get(contact=contact)
    url = reverse("leads:lead_merge_undo", args=[record.pk])
    for page in (lead, contact):
        assert url in client.get(page.get_absolute_url()).content.decode()
    lead_merge_undo(record=record, user=rep)
    assert url not in client.get(contact.get_absolute_url()).content.decode()

    for obj in (lead, contact):
        fields, links = before[type(obj)]
        assert _fields(obj) == fields
        after = _links(obj)
        after["activities"] -= _undo_entries(obj)
        assert after == links
    assert Enrollment.objects.get(lead=lead).state == EnrollmentState.ACTIVE
    assert Contact.objects.get(pk=contact.pk).marketing_consent is False


def test_undo_pages(rep_client, rep):
    keep, merge, _ = _merged_pair(rep)
    lead_merge(keep=keep, merge=merge, user=rep)
    record = LeadMerge.objects.get()
    url = reverse("leads:lead_merge_undo", args=[record.pk])
    for lead in (keep, merge):
        assert url in rep_client.get(lead.get_absolute_url()).content.decode()

    response = rep_client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Job title" in page and "CTO" in page
    assert "Disqualified" in page and "Working" in page  # the merged lead's status, by label
    response = rep_client.post(url, follow=True)
    assert response.redirect_chain[-1][0] == keep.get_absolute_url()
    assert "Merge undone" in response.content.decode()
    assert url not in response.content.decode()  # no longer offered

    response = rep_client.post(url)
    assert response.status_code == 200
    assert "already undone" in response.content.decode()


def test_undo_page_says_why_it_is_refused(rep_client, rep):
    keep, merge, _ = _merged_pair(rep)
    lead_merge(keep=keep, merge=merge, user=rep)
    Lead.objects.filter(pk=merge.pk).update(status=LeadStatus.WORKING)
    url = reverse("leads:lead_merge_undo", args=[LeadMerge.objects.get().pk])
    response = rep_client.get(url)
    assert 'id="undo-problem"' in response.content.decode()
    response = rep_client.post(url)
    assert response.status_code == 200
    assert "status" in response.context["error"]


def test_undo_page_hides_merges_of_leads_the_user_may_not_change(rep_client, rep, rep2):
    keep, merge, _ = _merged_pair(rep2)
    lead_merge(keep=keep, merge=merge, user=rep2)
    url = reverse("leads:lead_merge_undo", args=[LeadMerge.objects.get().pk])
    assert_hidden(rep_client, get=[url], post=[(url, {})])
    assert LeadMerge.objects.get().undone_at is None


@pytest.mark.parametrize("merges", [1, 4])
def test_lead_page_with_merges_keeps_its_query_count(
    merges, rep_client, rep, django_assert_max_num_queries
):
    keep = LeadFactory(owner=rep)
    for _ in range(merges):
        lead_merge(keep=keep, merge=LeadFactory(owner=rep), user=rep)
    with django_assert_max_num_queries(17):
        response = rep_client.get(keep.get_absolute_url())
    assert len(response.context["recent_merges"]) == merges


def test_contact_page_offers_only_the_merges_the_user_may_undo(rep, rep2, rep_client):
    # The page's probe asks only whether the contact has merges not undone; the panel reads
    # those the user may undo.
    contact = ContactFactory(owner=rep)
    lead = LeadFactory(owner=rep, status=LeadStatus.WORKING)
    lead_merge_into_contact(lead=lead, contact=contact, user=rep)
    url = reverse("leads:lead_merge_undo", args=[LeadMerge.objects.get(contact=contact).pk])
    assert url in rep_client.get(contact.get_absolute_url()).content.decode()

    Lead.objects.filter(pk=lead.pk).update(owner=rep2)  # the merged lead is someone else's now
    response = rep_client.get(contact.get_absolute_url())
    assert response.status_code == 200
    assert url not in response.content.decode()
