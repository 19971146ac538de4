from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from crm.models import Activity, Task
from leads.choices import DisqualifyReason, EnrollmentState, EnrollmentStopReason, LeadStatus
from leads.models import Enrollment, Lead
from leads.services.merge import lead_merge, lead_merge_into_contact
from tests.factories.crm import AccountFactory, ActivityFactory, ContactFactory, TaskFactory
from tests.factories.leads import EnrollmentFactory, LeadFactory, SequenceFactory
from tests.visibility import assert_hidden

pytestmark = pytest.mark.django_db


def _history(lead, n=2):
    for _ in range(n):
        ActivityFactory(subject=lead)
    TaskFactory(
        assignee=lead.owner,
        content_type=ContentType.objects.get_for_model(Lead),
        object_id=lead.pk,
    )


def _pair(rep, **merge_fields):
    keep = LeadFactory(owner=rep, last_name="Meyer", first_name="Anna", phone="", title="")
    merge = LeadFactory(
        owner=rep,
        last_name="Meyer",
        first_name="Anna",
        possible_duplicate=True,
        duplicate_of=keep,
        **merge_fields,
    )
    return keep, merge


def test_merge_keeps_every_activity_task_and_enrollment_of_both(rep):
    keep, merge = _pair(rep, phone="+4930123456", title="CTO")
    _history(keep, 2)
    _history(merge, 3)
    only_theirs, shared, only_ours = SequenceFactory.create_batch(3)
    EnrollmentFactory(lead=merge, sequence=only_theirs)
    EnrollmentFactory(lead=keep, sequence=only_ours)
    ours = EnrollmentFactory(lead=keep, sequence=shared, steps_done=1, next_position=2)
    theirs = EnrollmentFactory(lead=merge, sequence=shared, steps_done=3, next_position=4)

    kept = lead_merge(keep=keep, merge=merge, user=rep)

    assert Activity.objects.for_object(merge).filter(summary__startswith="Call").count() == 0
    assert Activity.objects.for_object(kept).filter(summary__startswith="Call").count() == 5
    assert Task.objects.for_object(kept).count() == 2
    assert Task.objects.for_object(merge).count() == 0
    assert set(Enrollment.objects.filter(lead=kept).values_list("sequence", flat=True)) == {
        only_theirs.pk,
        shared.pk,
        only_ours.pk,
    }
    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert (ours.steps_done, ours.next_position, ours.state) == (3, 4, EnrollmentState.ACTIVE)
    assert theirs.lead_id == merge.pk
    assert theirs.state == EnrollmentState.STOPPED
    # Empty fields were filled from the merged lead.
    assert (kept.phone, kept.title) == ("+4930123456", "CTO")
    assert not kept.possible_duplicate
    assert Activity.objects.for_object(kept).filter(summary="Merged Anna Meyer into this lead")
    merge.refresh_from_db()
    assert merge.status == LeadStatus.DISQUALIFIED
    assert merge.disqualify_reason == DisqualifyReason.DUPLICATE
    assert merge.duplicate_of_id == kept.pk
    assert not merge.possible_duplicate


def test_field_choices_and_consent(rep):
    earlier = timezone.now() - timedelta(days=30)
    keep, merge = _pair(rep, email="new@anna.example", marketing_consent=True)
    Lead.objects.filter(pk=merge.pk).update(marketing_consent_at=earlier)
    Lead.objects.filter(pk=keep.pk).update(email="old@anna.example", company_name="Old GmbH")
    keep.refresh_from_db()
    merge.refresh_from_db()

    kept = lead_merge(
        keep=keep, merge=merge, user=rep, field_choices={"email": "merge", "company_name": "keep"}
    )

    assert kept.email == "new@anna.example"
    assert kept.company_name == "Old GmbH"
    assert kept.marketing_consent and kept.marketing_consent_at == earlier


def test_bad_field_choices_are_refused(rep):
    keep, merge = _pair(rep)
    with pytest.raises(ValidationError):
        lead_merge(keep=keep, merge=merge, user=rep, field_choices={"score": "merge"})
    with pytest.raises(ValidationError):
        lead_merge(keep=keep, merge=merge, user=rep, field_choices={"email": "both"})


def test_merge_is_refused_for_same_converted_and_already_merged(rep):
    keep, merge = _pair(rep)
    with pytest.raises(ValidationError, match="itself"):
        lead_merge(keep=keep, merge=keep, user=rep)
    converted = LeadFactory(owner=rep, status=LeadStatus.CONVERTED)
    with pytest.raises(ValidationError, match="converted"):
        lead_merge(keep=keep, merge=converted, user=rep)
    lead_merge(keep=keep, merge=merge, user=rep)
    count = Activity.objects.count()
    with pytest.raises(ValidationError, match="already merged"):
        lead_merge(keep=keep, merge=merge, user=rep)
    assert Activity.objects.count() == count


def test_merge_refused_for_a_lead_the_user_cannot_change(rep, rep2):
    keep = LeadFactory(owner=rep)
    theirs = LeadFactory(owner=rep2)
    with pytest.raises(Lead.DoesNotExist):
        lead_merge(keep=keep, merge=theirs, user=rep)
    theirs.refresh_from_db()
    assert theirs.status == LeadStatus.NEW


def test_possible_duplicate_stays_while_another_candidate_remains(rep):
    keep, merge = _pair(rep)
    Lead.objects.filter(pk=keep.pk).update(possible_duplicate=True)
    LeadFactory(owner=rep, email=keep.email)
    kept = lead_merge(keep=keep, merge=merge, user=rep)
    assert kept.possible_duplicate


def test_merge_into_contact_keeps_everything(rep):
    account = AccountFactory(owner=rep)
    contact = ContactFactory(owner=rep, account=account, marketing_consent=False)
    lead = LeadFactory(owner=rep, marketing_consent=True, marketing_consent_at=timezone.now())
    _history(lead, 2)
    enrollment = EnrollmentFactory(lead=lead)

    converted = lead_merge_into_contact(lead=lead, contact=contact, user=rep)

    assert converted.status == LeadStatus.CONVERTED
    assert converted.converted_contact == contact
    assert converted.converted_account == account
    assert converted.converted_at is not None
    assert Activity.objects.for_object(contact).filter(summary__startswith="Call").count() == 2
    assert Task.objects.for_object(contact).count() == 1
    assert Activity.objects.for_object(contact).filter(summary__startswith="Merged lead")
    assert Activity.objects.for_object(lead).filter(summary__contains="Converted")
    contact.refresh_from_db()
    assert contact.marketing_consent
    enrollment.refresh_from_db()
    assert enrollment.stop_reason == EnrollmentStopReason.CONVERTED
    with pytest.raises(ValidationError):
        lead_merge_into_contact(lead=lead, contact=contact, user=rep)


def test_merge_page_shows_differing_fields_and_merges_with_choices(rep_client, rep):
    keep, merge = _pair(rep, phone="+4930123456")
    _history(merge, 1)
    url = reverse("leads:lead_merge", args=[keep.pk]) + f"?with={merge.pk}"
    response = rep_client.get(url)
    assert response.status_code == 200
    names = [row["name"] for row in response.context["rows"]]
    assert "email" in names and "phone" in names
    assert {row["name"]: row["choice"] for row in response.context["rows"]}["phone"] == "merge"
    data = dict.fromkeys(names, "keep") | {"email": "merge"}
    response = rep_client.post(url, data)
    assert response.status_code == 302
    assert response["Location"] == keep.get_absolute_url()
    keep.refresh_from_db()
    assert keep.email == merge.email
    assert keep.phone == ""
    assert Activity.objects.for_object(keep).filter(summary__startswith="Call").count() == 1


def test_merge_page_bad_input_rerenders(rep_client, rep):
    keep, merge = _pair(rep)
    url = reverse("leads:lead_merge", args=[keep.pk])
    response = rep_client.post(f"{url}?with={merge.pk}", {"email": "nonsense"})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert rep_client.get(url + "?with=abc").status_code == 200
    response = rep_client.post(f"{url}?with={keep.pk}", {})
    assert response.status_code == 200
    assert "itself" in response.content.decode()
    merge.refresh_from_db()
    assert merge.status == LeadStatus.NEW


def test_merge_links_on_duplicate_list_and_detail(rep_client, rep):
    keep, merge = _pair(rep)
    url = reverse("leads:lead_merge", args=[keep.pk]) + f"?with={merge.pk}"
    assert url in rep_client.get(reverse("leads:duplicate_list")).content.decode()
    assert url in rep_client.get(merge.get_absolute_url()).content.decode()
    assert "merge-link" not in rep_client.get(keep.get_absolute_url()).content.decode()


def test_merge_pages_hide_leads_of_others(rep_client, rep, rep2):
    mine = LeadFactory(owner=rep)
    theirs = LeadFactory(owner=rep2)
    contact = ContactFactory(owner=rep2)
    merge_theirs = reverse("leads:lead_merge", args=[theirs.pk]) + f"?with={mine.pk}"
    merge_into_theirs = reverse("leads:lead_merge", args=[mine.pk]) + f"?with={theirs.pk}"
    into_contact = reverse("leads:lead_merge_into_contact", args=[theirs.pk])
    assert_hidden(
        rep_client,
        get=[merge_theirs, merge_into_theirs, into_contact],
        post=[
            (merge_theirs, {}),
            (merge_into_theirs, {}),
            (into_contact, {"contact": contact.pk}),
        ],
    )
    theirs.refresh_from_db()
    assert theirs.status == LeadStatus.NEW


def test_merge_into_contact_page(rep_client, rep):
    lead = LeadFactory(owner=rep, email="anna@meyer.example")
    _history(lead, 1)
    contact = ContactFactory(owner=rep, email="anna@meyer.example")
    ContactFactory(owner=rep, email="other@else.example", last_name="Zzz")
    url = reverse("leads:lead_merge_into_contact", args=[lead.pk])
    response = rep_client.get(url)
    assert list(response.context["contacts"]) == [contact]
    response = rep_client.post(url, {"contact": "999999"})
    assert response.status_code == 200
    assert response.context["form"].errors
    response = rep_client.post(url, {"contact": contact.pk})
    assert response.status_code == 302
    assert response["Location"] == contact.get_absolute_url()
    lead.refresh_from_db()
    assert lead.converted_contact == contact
    assert Activity.objects.for_object(contact).filter(summary__startswith="Call").count() == 1


@pytest.mark.parametrize("rows", [3, 60])
def test_merge_page_keeps_its_query_count(rows, rep_client, rep, django_assert_max_num_queries):
    keep, merge = _pair(rep, phone="+4930123456")
    _history(keep, rows)
    _history(merge, rows)
    for sequence in SequenceFactory.create_batch(3):
        EnrollmentFactory(lead=merge, sequence=sequence)
    url = reverse("leads:lead_merge", args=[keep.pk]) + f"?with={merge.pk}"
    with django_assert_max_num_queries(9):  # 8, and the bell's unread count
        response = rep_client.get(url)
    assert response.status_code == 200


def test_kept_enrollment_stays_when_it_is_further_along(rep):
    keep, merge = _pair(rep)
    sequence = SequenceFactory()
    ours = EnrollmentFactory(lead=keep, sequence=sequence, steps_done=4, next_position=5)
    theirs = EnrollmentFactory(lead=merge, sequence=sequence, steps_done=1, next_position=2)
    lead_merge(keep=keep, merge=merge, user=rep)
    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert (ours.lead_id, ours.steps_done, ours.state) == (keep.pk, 4, EnrollmentState.ACTIVE)
    assert (theirs.lead_id, theirs.state) == (merge.pk, EnrollmentState.STOPPED)


def test_a_later_unsubscribe_on_either_lead_wins_over_consent(rep):
    now = timezone.now()
    keep, merge = _pair(rep)
    Lead.objects.filter(pk=keep.pk).update(
        marketing_consent=True, marketing_consent_at=now - timedelta(days=10)
    )
    Lead.objects.filter(pk=merge.pk).update(unsubscribed_at=now - timedelta(days=1))
    keep.refresh_from_db()
    merge.refresh_from_db()
    kept = lead_merge(keep=keep, merge=merge, user=rep)
    assert kept.unsubscribed_at == now - timedelta(days=1)
    assert not kept.marketing_consent


def test_a_merged_lead_is_found_by_the_values_it_took(rep):
    from crm.matching import match_fields
    from leads.services import dedupe

    keep = LeadFactory(owner=rep, last_name="Meyer", first_name="Anna", email="", phone="")
    merge = LeadFactory(
        owner=rep, last_name="Meyer", first_name="Anna", email="anna@meyer.example", phone=""
    )
    keep = lead_merge(keep=keep, merge=merge, user=rep, field_choices={"email": "merge"})
    assert keep.email == "anna@meyer.example"
    assert keep.match_keys == match_fields(keep)["match_keys"]
    probe = Lead(first_name="Anna", last_name="Meyer", email="ANNA+crm@meyer.example")
    assert dedupe.best_match(lead=probe).lead == keep
