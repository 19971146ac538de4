from datetime import timedelta

import pytest
from django.template import Context, TemplateSyntaxError
from django.urls import reverse
from django.utils import timezone

from crm.models import OutboundEmail, Task
from leads.choices import EnrollmentState, LeadStatus, StepAction
from leads.models import Enrollment
from leads.services import sequences
from leads.services.leads import lead_mark_replied, lead_set_status
from tests.factories.leads import LeadFactory, SequenceFactory, SequenceStepFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_step(db):
    sequence = SequenceFactory(name="Welcome")
    SequenceStepFactory(sequence=sequence, position=1, delay_days=0)
    SequenceStepFactory(
        sequence=sequence,
        position=2,
        delay_days=3,
        action=StepAction.TASK,
        task_title="Call {{ first_name }}",
        body="",
    )
    return sequence


def _lead(rep, **kwargs):
    return LeadFactory(
        owner=rep, marketing_consent=True, first_name="Ann", company_name="Acme", **kwargs
    )


def test_due_steps_send_once_then_task_later_then_complete(rep, two_step):
    lead = _lead(rep)
    enrollment = sequences.lead_enrol(lead=lead, sequence=two_step, user=rep)
    assert sequences.sequences_run_due() == {"email": 1}
    assert sequences.sequences_run_due() == {}
    email = OutboundEmail.objects.get()
    assert email.idempotency_key == f"seq:{enrollment.pk}:{two_step.steps.get(position=1).pk}"
    assert email.subject == "Hello Ann" and "Acme" in email.body_text
    assert "/unsubscribe/" in email.body_text and "Unsubscribe" in email.body_html
    enrollment.refresh_from_db()
    assert enrollment.next_position == 2 and enrollment.next_step_at > timezone.now() + timedelta(
        days=2
    )
    later = timezone.now() + timedelta(days=4)
    assert sequences.sequences_run_due(now=later) == {"task": 1}
    task = Task.objects.get()
    assert task.title == "Call Ann" and task.assignee == rep and task.subject == lead
    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.COMPLETED
    assert sequences.sequences_run_due(now=later + timedelta(days=30)) == {}


def test_running_a_claimed_step_again_does_nothing(rep, two_step):
    enrollment = sequences.lead_enrol(lead=_lead(rep), sequence=two_step)
    now = timezone.now()
    assert sequences.enrollment_run_step(enrollment_id=enrollment.pk, now=now) == "email"
    assert sequences.enrollment_run_step(enrollment_id=enrollment.pk, now=now) == "not due"
    assert OutboundEmail.objects.count() == 1


def test_no_email_without_consent_or_after_unsubscribe(rep, two_step, client):
    no_consent = LeadFactory(owner=rep, marketing_consent=False)
    unsubscribed = _lead(rep)
    e1 = sequences.lead_enrol(lead=no_consent, sequence=two_step)
    e2 = sequences.lead_enrol(lead=unsubscribed, sequence=two_step)
    token = sequences.unsubscribe_token(unsubscribed)
    response = client.get(reverse("leads:unsubscribe", args=[token]))
    assert response.status_code == 200 and "unsubscribed" in response.content.decode()
    sequences.sequences_run_due()
    assert not OutboundEmail.objects.exists()
    e1.refresh_from_db()
    e2.refresh_from_db()
    assert (e1.state, e1.stop_reason) == (EnrollmentState.STOPPED, "no_consent")
    assert (e2.state, e2.stop_reason) == (EnrollmentState.STOPPED, "unsubscribed")
    unsubscribed.refresh_from_db()
    assert unsubscribed.unsubscribed_at and not unsubscribed.marketing_consent


def test_unsubscribe_honoured_before_the_next_send(rep, two_step):
    sequence = SequenceFactory()
    SequenceStepFactory(sequence=sequence, position=1)
    SequenceStepFactory(sequence=sequence, position=2, delay_days=1)
    lead = _lead(rep)
    sequences.lead_enrol(lead=lead, sequence=sequence)
    sequences.sequences_run_due()
    sequences.lead_unsubscribe(lead=lead)
    sequences.sequences_run_due(now=timezone.now() + timedelta(days=2))
    assert OutboundEmail.objects.count() == 1


def test_bad_or_tampered_token_is_400(client, rep):
    lead = _lead(rep)
    token = sequences.unsubscribe_token(lead)
    assert client.get(reverse("leads:unsubscribe", args=[token[:-2] + "xx"])).status_code == 400
    lead.refresh_from_db()
    assert lead.unsubscribed_at is None
    assert client.post(reverse("leads:unsubscribe", args=[token])).status_code == 200


@pytest.mark.parametrize(
    "stop, reason",
    [
        (lambda lead, rep: lead_mark_replied(lead=lead, user=rep), "replied"),
        (
            lambda lead, rep: lead_set_status(lead=lead, status=LeadStatus.QUALIFIED, user=rep),
            "qualified",
        ),
        (
            lambda lead, rep: lead_set_status(
                lead=lead, status=LeadStatus.DISQUALIFIED, user=rep, reason="spam"
            ),
            "disqualified",
        ),
    ],
)
def test_reply_and_status_changes_stop_the_enrolment(rep, two_step, stop, reason):
    lead = _lead(rep)
    enrollment = sequences.lead_enrol(lead=lead, sequence=two_step)
    stop(lead, rep)
    enrollment.refresh_from_db()
    assert (enrollment.state, enrollment.stop_reason) == (EnrollmentState.STOPPED, reason)
    assert sequences.sequences_run_due() == {}
    assert not OutboundEmail.objects.exists()


def test_templates_are_sandboxed_and_escaped(rep):
    lead = _lead(rep, title="<script>alert(1)</script>")
    values = sequences.merge_context(lead)
    html = sequences.template_render("{{ title }}", values, autoescape=True)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert (
        sequences.template_render("{{ owner.password }}{{ lead.email }}", values, autoescape=False)
        == ""
    )
    for source in ("{% load static %}", "{% include 'base.html' %}", "{% debug %}", "{% if %}"):
        with pytest.raises(TemplateSyntaxError):
            sequences.template_check(source)


def test_auto_enrol_by_rule_on_capture(rep):
    from leads.services.leads import lead_create

    sequence = SequenceFactory(auto_enrol=True, rule_source="web_form")
    SequenceStepFactory(sequence=sequence, position=1)
    web = lead_create(user=rep, last_name="W", email="w@w.example", source="web_form")
    manual = lead_create(user=rep, last_name="M", email="m@m.example", source="manual")
    assert web.enrollments.count() == 1 and manual.enrollments.count() == 0


def test_sequence_pages_show_counts(rep_client, rep, two_step, django_assert_max_num_queries):
    leads = [_lead(rep) for _ in range(4)]
    for lead in leads:
        sequences.lead_enrol(lead=lead, sequence=two_step)
    lead_mark_replied(lead=leads[0], user=rep)
    sequences.lead_unsubscribe(lead=leads[1])
    counts = sequences.sequence_counts(two_step)
    assert counts == {
        "enrolled": 4,
        "active": 2,
        "completed": 0,
        "replied": 1,
        "unsubscribed": 1,
        "converted": 0,
    }
    with django_assert_max_num_queries(10):
        response = rep_client.get(reverse("leads:sequence_list"))
    assert response.status_code == 200 and response.context["rows"][0][1]["replied"] == 1
    response = rep_client.get(two_step.get_absolute_url())
    assert response.status_code == 200 and "Unsubscribed" in response.content.decode()


def test_agents_cannot_see_sequences(agent_client, two_step):
    assert agent_client.get(reverse("leads:sequence_list")).status_code == 404
    assert agent_client.get(two_step.get_absolute_url()).status_code == 404


def test_enrolling_twice_keeps_one_enrolment(rep, two_step):
    lead = _lead(rep)
    first = sequences.lead_enrol(lead=lead, sequence=two_step)
    assert sequences.lead_enrol(lead=lead, sequence=two_step) == first
    assert Enrollment.objects.count() == 1


@pytest.mark.parametrize(
    "source",
    [
        "Hello {{ first_name }}, {{title}} at {{ company }}!",
        "{{ missing }} and {{ first_name }}}} {{",
        "{{ first_name|upper }} {{ 1 }} {{ None }} {{ True }}",
        "{% if company %}{{ company }}{% else %}you{% endif %} {# note #}",
        "No merge fields at all: https://example.com/?a=1&b=2",
    ],
)
def test_a_compiled_template_renders_like_the_engine(rep, source):
    values = sequences.merge_context(
        LeadFactory(owner=rep, first_name="Ann", title="<b>VP</b> & \"Co\" 'x'")
    )
    compiled = sequences.template_compile(source)
    for autoescape in (True, False):
        assert sequences.template_render_compiled(
            compiled, values, autoescape=autoescape
        ) == sequences._SANDBOX.from_string(source).render(Context(values, autoescape=autoescape))
