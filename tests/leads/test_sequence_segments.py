"""Enrolling a segment of leads in a sequence: one set-based insert of the leads the user may
see, skipping those already enrolled, without consent, unsubscribed or closed."""

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Activity
from crm.segments.choices import SegmentTarget
from leads.choices import EnrollmentState, LeadStatus
from leads.models import Enrollment
from leads.services import sequences
from tests.factories.leads import LeadFactory, SequenceFactory, SequenceStepFactory
from tests.factories.segments import SegmentFactory, condition, group
from tests.visibility import assert_hidden

pytestmark = pytest.mark.django_db


@pytest.fixture
def sequence(db):
    sequence = SequenceFactory(name="Welcome")
    SequenceStepFactory(sequence=sequence, position=1, delay_days=2)
    return sequence


def vp_segment(owner, **kwargs):
    return SegmentFactory(
        owner=owner,
        target=SegmentTarget.LEAD,
        definition=group("and", condition("title", "contains", "VP")),
        **kwargs,
    )


def vp(owner, **kwargs):
    kwargs.setdefault("marketing_consent", True)
    return LeadFactory(owner=owner, title="VP Sales", **kwargs)


def test_a_segment_joins_once_with_each_skip_counted(rep, rep2, sequence):
    joining = [vp(rep), vp(rep, status=LeadStatus.WORKING)]
    already = vp(rep)
    sequences.lead_enrol(lead=already, sequence=sequence)
    vp(rep, marketing_consent=False)
    vp(rep, unsubscribed_at=timezone.now())
    vp(rep, email="")
    vp(rep, status=LeadStatus.QUALIFIED)
    vp(rep, status=LeadStatus.CONVERTED)
    vp(rep2)  # not the rep's: not enrolled by them, not counted
    LeadFactory(owner=rep, title="Engineer", marketing_consent=True)  # outside the segment
    segment = vp_segment(rep)

    result = sequences.segment_enrol(segment=segment, sequence=sequence, user=rep)

    assert (result.members, result.enrolled, result.already) == (8, 2, 1)
    assert (result.no_consent, result.closed, result.skipped) == (3, 2, 6)
    joined = Enrollment.objects.filter(sequence=sequence).exclude(lead=already)
    assert {e.lead_id for e in joined} == {lead.pk for lead in joining}
    for enrollment in joined:
        assert enrollment.state == EnrollmentState.ACTIVE
        assert enrollment.next_position == 1 and enrollment.enrolled_by == rep
        assert enrollment.next_step_at > timezone.now() + timezone.timedelta(days=1)
    assert Activity.objects.filter(summary__contains="2 leads of the segment").exists()

    again = sequences.segment_enrol(segment=segment, sequence=sequence, user=rep)
    assert (again.enrolled, again.already) == (0, 3)
    assert Enrollment.objects.filter(sequence=sequence).count() == 3


def test_enrolled_leads_get_the_first_step(rep, sequence):
    lead = vp(rep)
    sequences.segment_enrol(segment=vp_segment(rep), sequence=sequence, user=rep)
    later = timezone.now() + timezone.timedelta(days=3)
    assert sequences.sequences_run_due(now=later) == {"email": 1}
    assert Enrollment.objects.get(lead=lead).steps_done == 1


def test_a_contact_segment_cannot_be_enrolled(rep, sequence):
    with pytest.raises(ValueError):
        sequences.segment_enrol(segment=SegmentFactory(owner=rep), sequence=sequence, user=rep)


def test_the_sequence_page_enrols_a_segment_and_says_what_happened(
    rep_client, rep, sequence, django_assert_max_num_queries
):
    vp(rep)
    vp(rep, marketing_consent=False)
    segment = vp_segment(rep)
    page = rep_client.get(sequence.get_absolute_url())
    assert segment.name in page.content.decode()

    url = reverse("leads:sequence_enrol_segment", args=[sequence.pk])
    with django_assert_max_num_queries(12):  # whatever the segment's size
        response = rep_client.post(url, {"segment": segment.pk})

    assert response.status_code == 302
    text = rep_client.get(response.url).content.decode()
    assert "1 of 2 leads in “" in text and "1 without consent or unsubscribed" in text
    assert f"1 lead of the segment “{segment.name}” enrolled by" in text  # the history
    assert Enrollment.objects.filter(sequence=sequence).count() == 1


def test_bad_input_re_renders_the_page_with_the_error(rep_client, rep, sequence):
    url = reverse("leads:sequence_enrol_segment", args=[sequence.pk])
    contacts = SegmentFactory(owner=rep)  # visible, but holds contacts
    for data in ({}, {"segment": "x"}, {"segment": contacts.pk}):
        response = rep_client.post(url, data)
        assert response.status_code == 200
        assert response.context["segment_form"].errors
    assert not Enrollment.objects.exists()


def test_another_reps_private_segment_and_hidden_sequences_answer_404(
    rep_client, agent_client, rep, rep2, sequence
):
    private = vp_segment(rep2)
    vp(rep2)
    url = reverse("leads:sequence_enrol_segment", args=[sequence.pk])
    assert_hidden(rep_client, post=[(url, {"segment": private.pk})])
    paused = SequenceFactory(is_active=False)
    mine = vp_segment(rep)
    assert_hidden(
        rep_client,
        post=[(reverse("leads:sequence_enrol_segment", args=[paused.pk]), {"segment": mine.pk})],
    )
    assert_hidden(agent_client, post=[(url, {"segment": mine.pk})])
    assert not Enrollment.objects.exists()


def test_a_shared_segment_enrols_only_the_leads_the_user_sees(rep, rep2, manager, sequence):
    mine, theirs = vp(rep), vp(rep2)
    shared = vp_segment(manager, shared=True)
    result = sequences.segment_enrol(segment=shared, sequence=sequence, user=rep)
    assert result.enrolled == 1
    assert list(Enrollment.objects.values_list("lead_id", flat=True)) == [mine.pk]
    result = sequences.segment_enrol(segment=shared, sequence=sequence, user=manager)
    assert (result.enrolled, result.already) == (1, 1)
    assert Enrollment.objects.filter(lead=theirs).exists()
