import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from crm.choices import ActivityKind, Role
from crm.models import Account, Activity, Contact, OutboundEmail, Task
from crm.services.timeline import activity_log, task_create
from leads.choices import EnrollmentState, LeadSource, LeadStatus, ScoringCriterion
from leads.models import Lead
from leads.services import assignment
from leads.services.leads import (
    DuplicateLeadError,
    lead_convert,
    lead_create,
    lead_disqualify,
    lead_qualify,
    lead_set_status,
)
from leads.services.scoring import leads_rescore, score_compute
from leads.signals import lead_converted
from tests.factories.crm import AccountFactory, ContactFactory, TeamFactory, UserFactory
from tests.factories.leads import (
    AssignmentRuleFactory,
    EnrollmentFactory,
    LeadFactory,
    ScoringRuleFactory,
    SequenceStepFactory,
)

pytestmark = pytest.mark.django_db


def test_exact_duplicates_by_email_or_phone_against_leads_and_contacts(rep):
    LeadFactory(first_name="Ada", last_name="A", email="a@x.example", phone="+49301234567")
    ContactFactory(email="c@x.example")
    with pytest.raises(DuplicateLeadError):
        lead_create(user=rep, last_name="A", email=" A@X.example")
    with pytest.raises(DuplicateLeadError, match="same phone, same name"):
        lead_create(user=rep, first_name="Ada", last_name="A", phone="030 1234567", country="DE")
    # the same number with another name: a colleague behind one switchboard, not a duplicate
    colleague = lead_create(user=rep, last_name="B", phone="030 1234567", country="DE")
    assert not colleague.possible_duplicate
    with pytest.raises(DuplicateLeadError, match="contact"):
        lead_create(user=rep, last_name="C", email="c@x.example")
    flagged = lead_create(user=rep, last_name="A", email="a@x.example", on_duplicate="flag")
    assert flagged.possible_duplicate and flagged.duplicate_of is not None


def test_similar_name_at_same_company_is_flagged(rep):
    first = lead_create(user=rep, first_name="Jana", last_name="Meyer", email="jana@acme.example")
    second = lead_create(user=rep, first_name="J.", last_name="meyer", email="j.meyer@acme.example")
    other = lead_create(user=rep, first_name="Paul", last_name="Meyer", email="p@acme.example")
    assert second.possible_duplicate and second.duplicate_of == first
    assert not other.possible_duplicate


def test_score_from_field_and_behaviour_rules_with_decay():
    now = timezone.now()
    rules = [
        ScoringRuleFactory(
            name="VP", criterion=ScoringCriterion.TITLE_CONTAINS, value="vp", points=20
        ),
        ScoringRuleFactory(
            name="Software", criterion=ScoringCriterion.INDUSTRY_IS, value="software", points=10
        ),
        ScoringRuleFactory(
            name="Big", criterion=ScoringCriterion.EMPLOYEES_OVER, value="500", points=15
        ),
        ScoringRuleFactory(name="Budget", criterion=ScoringCriterion.BUDGET_CONFIRMED, points=20),
        ScoringRuleFactory(
            name="Replied", criterion=ScoringCriterion.EMAIL_REPLIED, points=30, decay_days=10
        ),
        ScoringRuleFactory(
            name="Met", criterion=ScoringCriterion.MEETING_HELD, points=40, decay_days=0
        ),
        ScoringRuleFactory(name="Form", criterion=ScoringCriterion.WEB_FORM_USED, points=5),
    ]
    lead = Lead(
        last_name="X",
        title="VP Engineering",
        industry="software",
        employees=1000,
        budget_confirmed=True,
        replied_at=now - timedelta(days=5),
        source=LeadSource.WEB_FORM,
        created_at=now - timedelta(days=30),
    )
    score, grade, breakdown = score_compute(lead=lead, rules=rules, now=now)
    points = {item["rule"]: item["points"] for item in breakdown}
    assert points == {"VP": 20, "Software": 10, "Big": 15, "Budget": 20, "Replied": 15, "Form": 5}
    assert score == 85 and grade == "A"
    # Much later and silent: the reply has faded away; a meeting caps the score at 100
    score, grade, breakdown = score_compute(
        lead=lead, rules=rules, meeting_at=now - timedelta(days=20), now=now + timedelta(days=30)
    )
    assert score == 100
    lead.title, lead.budget_confirmed, lead.replied_at, lead.industry = "", False, None, ""
    assert score_compute(lead=lead, rules=rules, now=now)[:2] == (20, "D")


def test_nightly_rescore_applies_decay_and_is_idempotent(rep):
    ScoringRuleFactory(
        name="Replied", criterion=ScoringCriterion.EMAIL_REPLIED, points=40, decay_days=10
    )
    lead = LeadFactory(owner=rep, replied_at=timezone.now(), score=40, grade="C")
    Lead.objects.filter(pk=lead.pk).update(replied_at=timezone.now() - timedelta(days=5))
    assert leads_rescore() == 1
    lead.refresh_from_db()
    assert lead.score == 20
    assert leads_rescore() == 0


def test_assignment_rule_routes_to_team_and_round_robins(manager):
    reps = [UserFactory(username=f"r{i}", roles=[Role.SALES_REP]) for i in range(3)]
    team = TeamFactory(members=reps)
    AssignmentRuleFactory(team=team, countries="DE, AT", source="", priority=10)
    AssignmentRuleFactory(
        team=TeamFactory(), countries="", source="", priority=20
    )  # catch-all, no reps
    owners = [
        lead_create(user=manager, last_name=f"L{i}", email=f"l{i}@x{i}.example", country="DE").owner
        for i in range(6)
    ]
    assert owners == reps + reps
    elsewhere = lead_create(user=manager, last_name="Fr", email="f@f.example", country="FR")
    assert elsewhere.owner is None
    assert OutboundEmail.objects.filter(to_email=reps[0].email).count() == 2


def test_assignment_by_size_and_source():
    big, small = TeamFactory(), TeamFactory()
    AssignmentRuleFactory(team=big, min_employees=1000, priority=1)
    AssignmentRuleFactory(team=small, source=LeadSource.WEB_FORM, max_employees=999, priority=2)
    rules = assignment.active_rules()
    assert assignment.team_for(lead=Lead(employees=5000), rules=rules) == big
    assert assignment.team_for(lead=Lead(employees=50, source="web_form"), rules=rules) == small
    assert assignment.team_for(lead=Lead(employees=50, source="import"), rules=rules) is None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_round_robin_is_fair_under_concurrency(role_groups):
    reps = [UserFactory(username=f"c{i}", roles=[Role.SALES_REP]) for i in range(4)]
    team = TeamFactory(members=reps)
    picked, errors = [], []

    def grab():
        try:
            picked.extend(assignment.reps_in_turn(team=team))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=grab) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert sorted(picked.count(rep.pk) for rep in reps) == [5, 5, 5, 5]


def test_status_transitions_are_checked_and_recorded(rep):
    lead = LeadFactory(owner=rep)
    with pytest.raises(ValidationError):
        lead_disqualify(lead=lead, user=rep, reason="")
    lead = lead_disqualify(lead=lead, user=rep, reason="no_budget", note="Next year")
    assert lead.status == LeadStatus.DISQUALIFIED and lead.disqualify_reason == "no_budget"
    with pytest.raises(ValidationError):
        lead_qualify(lead=lead, user=rep)
    lead = lead_set_status(lead=lead, status=LeadStatus.WORKING, user=rep)
    assert lead.disqualify_reason == ""
    summaries = list(Activity.objects.for_object(lead).values_list("summary", flat=True))
    assert any("Disqualified (No budget)" in s for s in summaries)


def test_qualifying_stops_nurturing(rep):
    step = SequenceStepFactory()
    enrollment = EnrollmentFactory(lead=LeadFactory(owner=rep), sequence=step.sequence)
    lead_qualify(lead=enrollment.lead, user=rep)
    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.STOPPED and enrollment.stop_reason == "qualified"


def test_convert_finds_account_by_domain_and_contact_by_email_and_moves_everything(rep):
    account = AccountFactory(domain="acme.example", name="Acme Inc")
    contact = ContactFactory(email="ann@acme.example", account=None, marketing_consent=False)
    lead = LeadFactory(
        owner=rep,
        email="ann@acme.example",
        website="acme.example",
        company_name="ACME",
        marketing_consent=True,
        marketing_consent_at=timezone.now(),
    )
    activity_log(subject=lead, kind=ActivityKind.CALL, summary="Discovery call", actor=rep)
    task = task_create(title="Send deck", due_at=timezone.now(), assignee=rep, subject=lead)
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)
        kwargs["created"].append(kwargs["account"])  # a stand-in for sales' opportunity

    lead_converted.connect(receiver)
    try:
        conversion = lead_convert(
            lead=lead, user=rep, create_opportunity=True, opportunity_amount=Decimal("5000")
        )
        again = lead_convert(lead=lead, user=rep, create_opportunity=True)
    finally:
        lead_converted.disconnect(receiver)
    assert conversion.account == account and conversion.contact == contact
    assert again.account == account and again.created == []
    assert len(received) == 1
    kwargs = received[0]
    assert kwargs["lead"].pk == lead.pk and kwargs["create_opportunity"] is True
    assert kwargs["opportunity_amount"] == Decimal("5000") and kwargs["user"] == rep
    contact.refresh_from_db()
    assert contact.marketing_consent and contact.account == account
    assert Activity.objects.for_object(contact).filter(summary="Discovery call").exists()
    task.refresh_from_db()
    assert task.subject == contact
    lead.refresh_from_db()
    assert lead.status == LeadStatus.CONVERTED and lead.converted_contact == contact


def test_convert_creates_account_by_name_then_new(rep):
    account = AccountFactory(name="Beta Ltd", domain="")
    lead = LeadFactory(owner=rep, email="x@gmail.com", website="", company_name="beta ltd")
    assert lead_convert(lead=lead, user=rep).account == account
    lone = LeadFactory(owner=rep, email="y@new.example", website="", company_name="Newco")
    conversion = lead_convert(lead=lone, user=rep)
    assert conversion.account.name == "Newco" and conversion.account.domain == "new.example"
    assert Contact.objects.filter(email="y@new.example", account=conversion.account).exists()
    assert Account.objects.count() == 2


def test_disqualified_lead_cannot_be_converted(rep):
    lead = lead_disqualify(lead=LeadFactory(owner=rep), user=rep, reason="spam")
    with pytest.raises(ValidationError):
        lead_convert(lead=lead, user=rep)
    assert not Task.objects.exists()
