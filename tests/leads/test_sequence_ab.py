"""A/B variants on sequence email steps: a reproducible split per step and lead, per-variant
results with a two-proportion z-test, tracking of opens, clicks and replies, and a winner that
becomes the only variant after N hours, once."""

import math
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from scipy.stats import norm

from crm.choices import OutboxStatus
from crm.models import Activity, OutboundEmail
from leads.choices import LeadStatus, StepAction
from leads.forms import SequenceStepVariantFormSet
from leads.models import SequenceEmail, SequenceStep, SequenceStepVariant
from leads.selectors import sequence_ab_tests, step_variant_results
from leads.services import sequence_ab, sequences
from leads.services.leads import lead_mark_replied
from leads.tasks import sequence_winners_pick
from tests.factories.crm import OutboundEmailFactory
from tests.factories.leads import (
    LeadFactory,
    SequenceEmailFactory,
    SequenceFactory,
    SequenceStepFactory,
    SequenceStepVariantFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def step(db):
    step = SequenceStepFactory(sequence=SequenceFactory(name="Welcome"), position=1)
    SequenceStepVariantFactory(step=step, label="A", subject="A: hi {{ first_name }}")
    SequenceStepVariantFactory(step=step, label="B", subject="B: hi {{ first_name }}")
    return step


def lead(rep, **kwargs):
    return LeadFactory(owner=rep, marketing_consent=True, first_name="Ann", **kwargs)


def test_leads_split_reproducibly_and_evenly_over_the_variants(rep, step):
    leads = [lead(rep) for _ in range(120)]
    for each in leads:
        sequences.lead_enrol(lead=each, sequence=step.sequence)

    assert sequences.sequences_run_due() == {"email": 120}

    variants = list(step.variants.order_by("label"))
    sent = SequenceEmail.objects.select_related("enrollment", "variant", "outbound_email")
    for email in sent:
        expected = sequences.step_variant_for(step, email.enrollment.lead_id, variants)
        assert email.variant == expected  # the same answer on every computation
        assert email.outbound_email.subject == f"{email.variant.label}: hi Ann"
    labels = [e.variant.label for e in sent]
    assert 35 < labels.count("A") < 85
    assert sequences.step_bucket(step.pk, leads[0].pk) == sequences.step_bucket(
        step.pk, leads[0].pk
    )


def test_a_step_without_variants_sends_its_own_email_and_is_tracked(rep):
    plain = SequenceStepFactory(
        sequence=SequenceFactory(), position=1, body="See https://x.example/"
    )
    sequences.lead_enrol(lead=lead(rep), sequence=plain.sequence)
    sequences.sequences_run_due()
    email = SequenceEmail.objects.get()
    assert email.variant is None and email.outbound_email.subject == "Hello Ann"
    assert "/e/sc/" in email.outbound_email.body_text and "https://x.example/" not in (
        email.outbound_email.body_text
    )
    assert "/e/so/" in email.outbound_email.body_html


def test_opens_clicks_and_replies_are_recorded_once(client, rep, step):
    ann = lead(rep)
    sequences.lead_enrol(lead=ann, sequence=step.sequence)
    sequences.sequences_run_due()
    email = SequenceEmail.objects.get()
    target = "https://example.com/offer?a=1&b=2"
    click = reverse(
        "leads:sequence_email_click", args=[sequences.sequence_click_token(email.pk, target)]
    )
    pixel = reverse("leads:sequence_email_open", args=[sequences.sequence_open_token(email.pk)])
    # The signature carries the second it was made: compare the signed payload.
    assert click.split("/e/sc/")[1].split(":")[0] + ":" in email.outbound_email.body_text

    for _ in range(2):
        response = client.get(click)
        assert response.status_code == 302 and response["Location"] == target
        assert client.get(pixel)["Content-Type"] == "image/gif"
    email.refresh_from_db()
    first_click = email.clicked_at
    assert email.opened_at == first_click  # the click proved the open first
    lead_mark_replied(lead=ann, user=rep)
    email.refresh_from_db()
    assert email.replied_at and email.clicked_at == first_click


def test_tampered_tracking_links_are_refused(client, rep, step):
    sequences.lead_enrol(lead=lead(rep), sequence=step.sequence)
    sequences.sequences_run_due()
    email = SequenceEmail.objects.get()
    token = sequences.sequence_click_token(email.pk, "https://example.com/")
    as_open = sequences.sequence_open_token(email.pk)
    assert (
        client.get(reverse("leads:sequence_email_click", args=[token[:-2] + "xx"])).status_code
        == 400
    )
    assert client.get(reverse("leads:sequence_email_click", args=[as_open])).status_code == 400
    assert client.get(reverse("leads:sequence_email_open", args=["nonsense"])).status_code == 404
    email.refresh_from_db()
    assert email.clicked_at is None and email.opened_at is None


def _results(step, a_clicks, b_clicks, delivered=20):
    """``delivered`` emails per variant, the first ``*_clicks`` of them clicked."""
    now = timezone.now()
    for variant, clicks in zip(step.variants.order_by("label"), (a_clicks, b_clicks), strict=True):
        for index in range(delivered):
            clicked = now if index < clicks else None
            SequenceEmailFactory(
                step=step,
                variant=variant,
                outbound_email=OutboundEmailFactory(status=OutboxStatus.SENT),
                sent_at=now - timedelta(hours=5),
                opened_at=clicked,
                clicked_at=clicked,
            )


def test_results_per_variant_with_a_hand_computed_z_test(step):
    _results(step, a_clicks=12, b_clicks=3)
    SequenceEmailFactory(step=step, variant=step.variants.get(label="B"))  # queued, not delivered

    (test,) = sequence_ab_tests(sequence=step.sequence)

    assert [
        (r["label"], r["recipients"], r["delivered"], r["clicked"]) for r in test["results"]
    ] == [
        ("A", 20, 20, 12),
        ("B", 21, 20, 3),
    ]
    assert test["results"][0]["clicked_rate"] == pytest.approx(0.6)
    # 12/20 against 3/20: pooled p = 15/40 = 0.375, se = sqrt(0.375 * 0.625 * (2/20)).
    se = math.sqrt(0.375 * 0.625 * 0.1)
    z = (0.6 - 0.15) / se
    significance = test["significance"]
    assert (significance.best, significance.runner_up) == ("A", "B")
    assert significance.z == pytest.approx(z) == pytest.approx(2.9394, abs=1e-3)
    assert significance.p_value == pytest.approx(2 * norm.sf(z)) == pytest.approx(0.00329, abs=1e-4)
    assert significance.significant


def test_converted_leads_count_for_their_variant(step):
    _results(step, a_clicks=1, b_clicks=1, delivered=2)
    email = SequenceEmail.objects.filter(variant__label="B").first()
    email.enrollment.lead.status = LeadStatus.CONVERTED
    email.enrollment.lead.save(update_fields=["status"])
    results = step_variant_results([step.pk])[step.pk]
    assert [(r["label"], r["converted"]) for r in results] == [("A", 0), ("B", 1)]


def test_the_winner_becomes_the_only_variant_after_n_hours_once(rep, step):
    step.winner_after_hours = 6
    step.save(update_fields=["winner_after_hours"])
    _results(step, a_clicks=2, b_clicks=9)

    assert sequence_ab.sequence_steps_pick_winners() == 0  # five hours in: too early
    later = timezone.now() + timedelta(hours=2)
    assert sequence_winners_pick.run() == 0  # the task sees the same clock: still too early
    assert sequence_ab.sequence_steps_pick_winners(now=later) == 1
    assert sequence_ab.sequence_steps_pick_winners(now=later) == 0
    step.refresh_from_db()
    assert step.winner_variant.label == "B" and step.winner_picked_at == later
    assert Activity.objects.filter(summary__contains="variant B won").count() == 1

    for _ in range(10):
        sequences.lead_enrol(lead=lead(rep), sequence=step.sequence)
    sequences.sequences_run_due()
    fresh = SequenceEmail.objects.filter(outbound_email__idempotency_key__startswith="seq:")
    assert len(fresh) == 10 and {e.variant.label for e in fresh} == {"B"}
    assert {e.outbound_email.subject for e in fresh} == {"B: hi Ann"}


def test_no_winner_without_a_deadline_or_before_anything_was_sent(step):
    assert sequence_ab.sequence_step_pick_winner(step_id=step.pk) is False
    step.winner_after_hours = 1
    step.save(update_fields=["winner_after_hours"])
    assert sequence_ab.sequence_step_pick_winner(step_id=step.pk) is False
    assert sequence_ab.sequence_step_pick_winner(step_id=0) is False


def test_the_sequence_page_shows_each_variant_and_the_test(
    rep_client, step, django_assert_max_num_queries
):
    _results(step, a_clicks=12, b_clicks=3)
    SequenceStepVariantFactory(
        step=SequenceStepFactory(sequence=step.sequence, position=2), label="A"
    )
    with django_assert_max_num_queries(16):
        response = rep_client.get(step.sequence.get_absolute_url())
    text = response.content.decode()
    assert "A/B test of step 1" in text and "significant at 5%" in text
    assert "A/B test of step 2" in text and "No email of this step sent yet" in text
    assert "12 <span" in text and "(60%)" in text


def _formset(step, variants, action=StepAction.EMAIL):
    data = {
        "variants-TOTAL_FORMS": str(len(variants)),
        "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "0",
        "variants-MAX_NUM_FORMS": "4",
    }
    for index, (label, subject) in enumerate(variants):
        data.update(
            {
                f"variants-{index}-label": label,
                f"variants-{index}-subject": subject,
                f"variants-{index}-body": "Hi",
            }
        )
    step.action = action
    from django.forms import inlineformset_factory

    from leads.forms import SequenceStepVariantAdminForm

    FormSet = inlineformset_factory(
        SequenceStep,
        SequenceStepVariant,
        form=SequenceStepVariantAdminForm,
        formset=SequenceStepVariantFormSet,
        extra=0,
        max_num=4,
    )
    return FormSet(data, instance=step, prefix="variants")


def test_variants_come_two_to_four_on_an_email_step_with_checked_templates():
    step = SequenceStepFactory()
    assert _formset(step, [("A", "One"), ("B", "Two")]).is_valid()
    assert _formset(step, []).is_valid()
    assert not _formset(step, [("A", "One")]).is_valid()
    assert not _formset(step, [("A", "One"), ("B", "Two")], action=StepAction.TASK).is_valid()
    bad = _formset(step, [("A", "{% include 'base.html' %}"), ("B", "Two")])
    assert not bad.is_valid() and "subject" in bad.forms[0].errors


def test_agents_cannot_reach_sequence_pages(agent_client, step):
    assert agent_client.get(step.sequence.get_absolute_url()).status_code == 404


def test_an_email_is_queued_once_per_enrolment_and_step(rep, step):
    sequences.lead_enrol(lead=lead(rep), sequence=step.sequence)
    sequences.sequences_run_due()
    sequences.sequences_run_due()
    assert SequenceEmail.objects.count() == 1
    assert OutboundEmail.objects.filter(idempotency_key__startswith="seq:").count() == 1
