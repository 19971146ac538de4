"""Automation rules: triggers, conditions, actions, loop protection, the dry run and durable runs
(README, "Automations"). The worker is called in-process here; tests/crm/test_automation_worker.py
drives the same through a real Celery worker."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from crm.automation import engine
from crm.automation.services import rule_create, rule_set_active, rule_update
from crm.choices import Role, SizeBand
from crm.history_display import HistoryRow, _row_for, event_model_of
from crm.models import Notification, RuleRun, RuleRunStep, Task
from crm.models.automation import RuleRunState
from retention.models import RiskEpisode
from sales.models import Opportunity
from sales.services import opportunity_move_stage, opportunity_update
from support.choices import Priority
from support.services.tickets import ticket_create
from tests.factories.automation import make_rule, settle
from tests.factories.crm import AccountFactory, TeamFactory, UserFactory
from tests.factories.leads import LeadFactory
from tests.factories.retention import HealthScoreFactory
from tests.factories.sales import OpportunityFactory, stage_named
from tests.factories.segments import condition, group

pytestmark = pytest.mark.django_db


@pytest.fixture
def director(db):
    return UserFactory(username="director", roles=[Role.MANAGER])


def big_deal_rule(manager, director, **overrides):
    negotiation = stage_named("Negotiation")
    data = {
        "name": "Big deal in negotiation",
        "entity": "deal",
        "trigger": "stage",
        "trigger_params": {"value": str(negotiation.pk)},
        "conditions": group("and", condition("amount", "gte", 50000)),
        "actions": [
            {"kind": "notify", "to": [f"user:{director.pk}"], "message": "Big deal in negotiation"},
            {"kind": "create_task", "title": "Legal review", "due_in_days": 2, "assignee": "owner"},
        ],
        **overrides,
    }
    return make_rule(manager, **data)


def test_a_deal_over_50k_entering_negotiation_notifies_and_creates_a_task(manager, director, rep):
    rule = big_deal_rule(manager, director)
    big = OpportunityFactory(owner=rep, amount=Decimal("80000"))
    small = OpportunityFactory(owner=rep, amount=Decimal("1000"))

    # When both reach Negotiation through the service
    for deal in (big, small):
        opportunity_move_stage(opportunity=deal, stage=stage_named("Negotiation"), user=rep)
    settle()

    # Then the big one fired once, each action did its part
    run = RuleRun.objects.get(rule=rule)
    assert (run.record_pk, run.state) == (big.pk, RuleRunState.DONE)
    assert run.event.startswith("Stage entered: ")
    note = Notification.objects.get(recipient=director, kind="automation")
    assert note.verb.startswith("Big deal in negotiation")
    task = Task.objects.get(title="Legal review")
    assert task.assignee == rep and task.object_id == big.pk
    assert list(run.steps.values_list("index", "state")) == [(0, "done"), (1, "done")]
    # And nothing fires again while it stays there
    opportunity_update(opportunity=big, user=rep, name="Renamed")
    settle()
    assert RuleRun.objects.filter(rule=rule).count() == 1


def test_an_urgent_ticket_of_an_enterprise_customer_notifies_the_account_owner(manager, rep):
    rule = make_rule(
        manager,
        name="Urgent enterprise ticket",
        entity="ticket",
        trigger="created",
        conditions=group(
            "and",
            condition("priority", "in", ["urgent"]),
            condition("account_size", "in", [SizeBand.ENTERPRISE]),
        ),
        actions=[{"kind": "notify", "to": ["account_owner"], "message": "Urgent ticket"}],
    )
    enterprise = AccountFactory(owner=rep, size_band=SizeBand.ENTERPRISE)
    small = AccountFactory(owner=rep, size_band=SizeBand.SMALL)
    urgent = ticket_create(subject="Down", account=enterprise, priority=Priority.URGENT)
    ticket_create(subject="Slow", account=enterprise, priority=Priority.NORMAL)
    ticket_create(subject="Down too", account=small, priority=Priority.URGENT)
    settle()

    assert list(RuleRun.objects.filter(rule=rule).values_list("record_pk", "state")) == [
        (urgent.pk, "done")
    ]
    assert Notification.objects.filter(recipient=rep, kind="automation").count() == 1


def test_a_ticket_created_before_the_rule_was_on_does_not_fire(manager, rep):
    account = AccountFactory(owner=rep)
    ticket_create(subject="Old", account=account, priority=Priority.URGENT)
    make_rule(
        manager,
        entity="ticket",
        trigger="created",
        actions=[{"kind": "add_note", "text": "Seen by a rule"}],
    )
    settle()
    assert not RuleRun.objects.exists()


def test_health_dropping_below_40_starts_the_save_playbook(manager, rep):
    account = AccountFactory(owner=rep)
    health = HealthScoreFactory(account=account, score=70)
    rule = make_rule(
        manager,
        name="Save the customer",
        entity="account",
        trigger="field",
        trigger_params={"field": "health_score", "operator": "lt", "value": "40"},
        actions=[{"kind": "save_playbook"}],
    )
    settle()
    assert not RuleRun.objects.exists()

    health.score = 35
    health.save()
    settle()

    run = RuleRun.objects.get(rule=rule)
    assert run.state == RuleRunState.DONE, run.error
    episode = RiskEpisode.objects.get(account=account)
    assert episode.playbook_run_at is not None
    assert Task.objects.filter(assignee=rep, object_id=account.pk).count() >= 1


def test_the_dry_run_counts_the_records_the_rule_then_fires_on(manager, director, rep, rep2):
    for amount in (60000, 50000, 90000, 49999, 100):
        OpportunityFactory(owner=rep, amount=Decimal(amount))
    OpportunityFactory(owner=rep2, amount=Decimal(70000))
    rule = make_rule(
        manager,
        active=False,
        entity="deal",
        trigger="field",
        trigger_params={"field": "amount", "operator": "gte", "value": "50000"},
        actions=[{"kind": "add_note", "text": "Big one"}],
    )

    dry = engine.rule_dry_run(rule=rule)
    rule_set_active(rule=rule, user=manager, active=True)
    settle()

    assert dry.count == 4
    assert RuleRun.objects.filter(rule=rule, state=RuleRunState.DONE).count() == dry.count


def test_a_rule_updating_the_field_it_triggers_on_runs_once_per_change(manager, rep):
    deal = OpportunityFactory(owner=rep, amount=Decimal("1000"))
    rule = make_rule(
        manager,
        entity="deal",
        trigger="field",
        trigger_params={"field": "amount", "operator": "gte", "value": "50000"},
        actions=[{"kind": "update_field", "field": "amount", "value": "55000"}],
    )
    opportunity_update(opportunity=deal, user=rep, amount=Decimal("60000"))
    settle()
    deal.refresh_from_db()
    assert deal.amount == Decimal("55000")
    assert RuleRun.objects.filter(rule=rule).count() == 1

    # A person's change within the state fires nothing; leaving and coming back fires again
    opportunity_update(opportunity=deal, user=rep, amount=Decimal("70000"))
    settle()
    assert RuleRun.objects.filter(rule=rule).count() == 1
    opportunity_update(opportunity=deal, user=rep, amount=Decimal("100"))
    settle()
    opportunity_update(opportunity=deal, user=rep, amount=Decimal("90000"))
    settle()
    assert RuleRun.objects.filter(rule=rule, state=RuleRunState.DONE).count() == 2


def test_two_rules_undoing_each_other_stop_at_the_daily_cap(manager, rep):
    deal = OpportunityFactory(owner=rep, amount=Decimal("1000"))
    up = make_rule(
        manager,
        name="Up",
        entity="deal",
        trigger="field",
        trigger_params={"field": "amount", "operator": "lte", "value": "1000"},
        actions=[{"kind": "update_field", "field": "amount", "value": "60000"}],
        daily_cap=2,
    )
    down = make_rule(
        manager,
        name="Down",
        entity="deal",
        trigger="field",
        trigger_params={"field": "amount", "operator": "gte", "value": "50000"},
        actions=[{"kind": "update_field", "field": "amount", "value": "1000"}],
        daily_cap=2,
    )
    settle(rounds=30)

    for rule in (up, down):
        runs = RuleRun.objects.filter(rule=rule)
        assert runs.filter(state=RuleRunState.DONE).count() == 2
        assert runs.filter(state=RuleRunState.SKIPPED).count() <= 1
    assert RuleRun.objects.filter(state=RuleRunState.SKIPPED).count() == 1
    skipped = RuleRun.objects.get(state=RuleRunState.SKIPPED)
    assert "daily cap" in skipped.error
    assert deal.pk == skipped.record_pk


def test_field_history_names_the_rule_as_the_source(manager, rep):
    deal = OpportunityFactory(owner=rep, amount=Decimal("60000"))
    make_rule(
        manager,
        name="Cap big deals",
        entity="deal",
        trigger="field",
        trigger_params={"field": "amount", "operator": "gte", "value": "50000"},
        actions=[{"kind": "update_field", "field": "probability", "value": "90"}],
    )
    settle()
    event_model = event_model_of(Opportunity)
    event = event_model.objects.filter(pgh_obj=deal, pgh_label="update").latest("pgh_id")
    assert "probability" in event.pgh_changes
    row: HistoryRow = _row_for(event_model, event)
    assert row.source_label == "rule Cap big deals"
    assert row.user_id == manager.pk


def test_a_step_on_a_record_the_rule_user_may_not_change_fails_clearly(manager, rep, rep2):
    lead = LeadFactory(owner=rep)
    rule = make_rule(
        manager,
        entity="lead",
        trigger="field",
        trigger_params={"field": "status", "operator": "is", "value": "new"},
        actions=[
            {"kind": "assign", "user": rep2.pk},
            {"kind": "add_note", "text": "Handed over"},
        ],
        run_as=rep,
    )
    settle()
    lead.refresh_from_db()
    run = RuleRun.objects.get(rule=rule)
    assert lead.owner == rep2  # the first step, done as rep
    # rep no longer sees the lead: the note step fails with a reason, the run with it
    assert run.state == RuleRunState.FAILED
    step = run.steps.get(index=1)
    assert step.state == "failed"
    assert "may not see this lead" in step.error


def test_the_rule_fires_only_on_what_its_user_sees(manager, rep, rep2):
    OpportunityFactory(owner=rep, amount=Decimal("60000"))
    theirs = OpportunityFactory(owner=rep2, amount=Decimal("60000"))
    rule = make_rule(
        manager,
        entity="deal",
        trigger="field",
        trigger_params={"field": "amount", "operator": "gte", "value": "50000"},
        actions=[{"kind": "add_note", "text": "Big"}],
        run_as=rep2,
    )
    settle()
    assert list(RuleRun.objects.filter(rule=rule).values_list("record_pk", flat=True)) == [
        theirs.pk
    ]


def test_round_robin_assigns_the_team_in_turn(manager, rep, rep2):
    team = TeamFactory(name="Inbound", members=[rep, rep2])
    make_rule(
        manager,
        entity="lead",
        trigger="created",
        actions=[{"kind": "round_robin", "team": team.pk}],
    )
    leads = [LeadFactory(owner=manager) for _ in range(3)]
    settle()
    for lead in leads:
        lead.refresh_from_db()
    assert [lead.owner_id for lead in leads] == [rep.pk, rep2.pk, rep.pk]


def test_a_run_resumes_after_the_last_step_done(manager, director, rep):
    rule = big_deal_rule(manager, director)
    deal = OpportunityFactory(owner=rep, amount=Decimal("80000"), stage=stage_named("Negotiation"))
    engine.rules_evaluate()
    run = RuleRun.objects.get(rule=rule)
    # Given a worker that did step 1 and died holding the lease (now lapsed)
    RuleRunStep.objects.create(run=run, index=0, kind="notify", state="done", result="Notified.")
    RuleRun.objects.filter(pk=run.pk).update(
        state=RuleRunState.RUNNING,
        lease_owner="dead-worker",
        lease_until=timezone.now() - dt.timedelta(seconds=1),
        attempts=1,
    )
    # When the sweep's worker goes on
    assert engine.rule_runs_due() == 1
    run.refresh_from_db()
    assert run.state == RuleRunState.DONE and run.attempts == 2
    assert not Notification.objects.filter(kind="automation").exists()  # step 1 not repeated
    assert Task.objects.filter(title="Legal review", object_id=deal.pk).count() == 1


def test_a_live_lease_keeps_a_second_worker_off(manager, director, rep):
    rule = big_deal_rule(manager, director)
    OpportunityFactory(owner=rep, amount=Decimal("80000"), stage=stage_named("Negotiation"))
    engine.rules_evaluate()
    run = RuleRun.objects.get(rule=rule)
    RuleRun.objects.filter(pk=run.pk).update(
        lease_owner="other", lease_until=timezone.now() + dt.timedelta(minutes=5)
    )
    assert engine.run_execute(run_id=run.pk) is False
    assert not run.steps.exists()


def test_a_rule_that_does_not_check_out_says_why(manager):
    with pytest.raises(ValidationError) as raised:
        rule_create(
            user=manager,
            data={
                "name": "",
                "entity": "deal",
                "trigger": "field",
                "trigger_params": {"field": "amount", "operator": "gte", "value": "lots"},
                "conditions": group("and", condition("nope", "is", 1)),
                "actions": [{"kind": "create_task", "title": ""}],
            },
        )
    errors = raised.value.message_dict
    assert errors["name"] == ["Give the rule a name."]
    assert "Enter a number" in errors["trigger"][0]
    assert errors["actions"][0].startswith("Action 1 (create a task): Enter the task")
    assert errors["conditions"]


def test_only_managers_and_admins_build_rules(rep):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        rule_create(user=rep, data={})


def test_a_paused_rule_fires_on_nothing_and_resumes(manager, rep):
    rule = make_rule(
        manager,
        entity="deal",
        trigger="field",
        trigger_params={"field": "amount", "operator": "gte", "value": "50000"},
        actions=[{"kind": "add_note", "text": "Big"}],
    )
    rule = rule_set_active(rule=rule, user=manager, active=False)
    OpportunityFactory(owner=rep, amount=Decimal("60000"))
    settle()
    assert not RuleRun.objects.exists()
    rule_set_active(rule=rule, user=manager, active=True)
    settle()
    assert RuleRun.objects.filter(state=RuleRunState.DONE).count() == 1


def test_editing_a_rule_checks_it_again(manager, director):
    rule = big_deal_rule(manager, director, active=False)
    with pytest.raises(ValidationError):
        rule_update(
            rule=rule,
            user=manager,
            data={"name": "x", "entity": "deal", "trigger": "stage", "actions": []},
        )


def test_n_days_before_a_date_fires_once_on_that_day(manager, rep):
    today = timezone.localdate()
    due = OpportunityFactory(owner=rep, expected_close_date=today + dt.timedelta(days=7))
    OpportunityFactory(owner=rep, expected_close_date=today + dt.timedelta(days=8))
    OpportunityFactory(owner=rep, expected_close_date=None)
    rule = make_rule(
        manager,
        active=False,
        name="A week before close",
        entity="deal",
        trigger="date",
        trigger_params={"field": "expected_close_date", "days": "7", "when": "before"},
        actions=[{"kind": "create_task", "title": "Check the close", "assignee": "owner"}],
    )
    assert engine.trigger_label(rule) == "7 days before expected close date"
    dry = engine.rule_dry_run(rule=rule)
    rule_set_active(rule=rule, user=manager, active=True)

    settle()
    settle()  # the sweep looks again later the same day: nothing new

    runs = RuleRun.objects.filter(rule=rule)
    assert list(runs.values_list("record_pk", "event_key")) == [
        (due.pk, f"day:{today.isoformat()}")
    ]
    assert dry.count == 1 == runs.filter(state=RuleRunState.DONE).count()
    assert Task.objects.filter(title="Check the close", object_id=due.pk).count() == 1


def test_n_days_after_creation_counts_from_the_created_date(manager, rep):
    rule = make_rule(
        manager,
        entity="lead",
        trigger="date",
        trigger_params={"field": "created", "days": "3", "when": "after"},
        actions=[{"kind": "add_note", "text": "Three days in"}],
    )
    old = LeadFactory(owner=rep)
    LeadFactory(owner=rep)
    type(old).objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=3))
    settle()
    assert list(RuleRun.objects.filter(rule=rule).values_list("record_pk", flat=True)) == [old.pk]


def test_nothing_happening_for_n_days_fires_once_per_quiet_stretch(manager, rep):
    from crm.choices import ActivityKind
    from crm.services.timeline import activity_log

    quiet = LeadFactory(owner=rep)
    busy = LeadFactory(owner=rep)
    new = LeadFactory(owner=rep)
    long_ago = timezone.now() - dt.timedelta(days=20)
    type(quiet).objects.filter(pk__in=[quiet.pk, busy.pk]).update(created_at=long_ago)
    activity_log(subject=busy, kind=ActivityKind.CALL, summary="Called", actor=rep)
    rule = make_rule(
        manager,
        entity="lead",
        trigger="idle",
        trigger_params={"days": "14"},
        actions=[{"kind": "create_task", "title": "Wake it up", "assignee": "owner"}],
    )
    settle()
    settle()
    assert list(RuleRun.objects.filter(rule=rule).values_list("record_pk", flat=True)) == [quiet.pk]
    assert new.pk not in RuleRun.objects.values_list("record_pk", flat=True)
    # Activity ends the quiet stretch; a new one (backdated here) fires again
    activity = activity_log(subject=quiet, kind=ActivityKind.CALL, summary="Called", actor=rep)
    settle()
    type(activity).objects.filter(pk=activity.pk).update(occurred_at=long_ago)
    settle()
    assert RuleRun.objects.filter(rule=rule, record_pk=quiet.pk).count() == 2


def test_leads_imported_set_based_are_looked_at_after_each_chunk(
    manager, rep, django_capture_on_commit_callbacks
):
    from unittest import mock

    from django.core.files.uploadedfile import SimpleUploadedFile

    from leads.services import imports

    rule = make_rule(
        manager,
        entity="lead",
        trigger="created",
        conditions=group("and", condition("title", "contains", "VP")),
        actions=[{"kind": "add_note", "text": "A VP came in"}],
    )
    text = (
        "First name,Last name,E-mail,Title,Company\n"
        "Ada,Lovelace,ada@engine.example,VP Engineering,Engines\n"
        "Alan,Turing,alan@bletchley.example,Analyst,Bletchley\n"
    )
    upload = SimpleUploadedFile("people.csv", text.encode(), content_type="text/csv")
    job = imports.import_job_create(user=manager, upload=upload, owner=rep)
    with (
        mock.patch("crm.tasks.rules_evaluate.delay") as evaluate,
        django_capture_on_commit_callbacks(execute=True),
    ):
        imports.import_run(job_id=job.pk)
    # The chunk's commit asked for a look at its two new leads
    ((entity, pks),) = [call.args for call in evaluate.call_args_list]
    assert entity == "lead" and len(pks) == 2
    engine.rules_evaluate(entity=entity, pks=pks)
    engine.rule_runs_due()
    run = RuleRun.objects.get(rule=rule)
    assert run.state == RuleRunState.DONE
    assert LeadFactory._meta.model.objects.get(pk=run.record_pk).title == "VP Engineering"


def test_the_sweep_wakes_lost_runs_and_starts_the_periodic_evaluation(manager, rep):
    from unittest import mock

    rule = make_rule(
        manager,
        entity="deal",
        trigger="field",
        trigger_params={"field": "amount", "operator": "gte", "value": "50000"},
        actions=[{"kind": "add_note", "text": "Big"}],
    )
    OpportunityFactory(owner=rep, amount=Decimal("60000"))
    engine.rules_evaluate()
    RuleRun.objects.filter(rule=rule).update(created_at=timezone.now() - dt.timedelta(minutes=1))
    with (
        mock.patch("crm.tasks.rule_runs_due.delay") as runs_due,
        mock.patch("crm.tasks.rules_evaluate_all.delay") as evaluate_all,
    ):
        assert engine.rule_runs_sweep() == 2
        assert engine.rule_runs_sweep() == 1  # the evaluation is periodic, the lost run is not
    assert runs_due.call_count == 2 and evaluate_all.call_count == 1


def test_a_wait_step_pauses_the_run_in_the_database_then_it_goes_on(manager, rep):
    from unittest import mock

    rule = make_rule(
        manager,
        entity="deal",
        trigger="field",
        trigger_params={"field": "amount", "operator": "gte", "value": "50000"},
        actions=[
            {"kind": "add_note", "text": "Big deal"},
            {"kind": "wait", "days": "2", "hours": "0"},
            {"kind": "create_task", "title": "Two days later", "assignee": "owner"},
        ],
    )
    deal = OpportunityFactory(owner=rep, amount=Decimal("60000"))
    settle()
    run = RuleRun.objects.get(rule=rule)
    assert run.state == RuleRunState.QUEUED and run.not_before > timezone.now()
    assert list(run.steps.values_list("index", flat=True)) == [0, 1]
    assert "Waiting 2 days." in run.steps.get(index=1).result
    assert not Task.objects.filter(title="Two days later").exists()
    with mock.patch("crm.tasks.rule_runs_due.delay") as runs_due:
        engine.rule_runs_sweep()
    assert not runs_due.called  # still waiting
    # When the wait is over
    RuleRun.objects.filter(pk=run.pk).update(not_before=timezone.now() - dt.timedelta(seconds=1))
    with mock.patch("crm.tasks.rule_runs_due.delay") as runs_due:
        engine.rule_runs_sweep()
    assert runs_due.called
    engine.rule_runs_due()
    run.refresh_from_db()
    assert run.state == RuleRunState.DONE
    assert Task.objects.filter(title="Two days later", object_id=deal.pk).count() == 1
    from crm.models import Activity

    assert Activity.objects.filter(object_id=deal.pk, summary="Big deal").count() == 1


def test_an_email_from_a_template_goes_out_within_consent(manager, rep):
    from crm.choices import TemplateSharing
    from crm.models import OutboundEmail
    from tests.factories.compose import EmailTemplateFactory

    template = EmailTemplateFactory(
        owner=manager,
        sharing=TemplateSharing.ALL,
        subject="Welcome, {{ lead.first_name }}",
        body="Hello {{ lead.first_name }}",
    )
    rule = make_rule(
        manager,
        entity="lead",
        trigger="created",
        actions=[{"kind": "send_email", "template": template.pk}],
    )
    willing = LeadFactory(owner=rep, first_name="Ada", email="ada@engine.example")
    unwilling = LeadFactory(owner=rep, email="no@thanks.example", unsubscribed_at=timezone.now())
    settle()
    sent = OutboundEmail.objects.get(to_email="ada@engine.example")
    assert sent.subject == "Welcome, Ada"
    done = RuleRun.objects.get(rule=rule, record_pk=willing.pk)
    assert done.state == RuleRunState.DONE
    refused = RuleRun.objects.get(rule=rule, record_pk=unwilling.pk)
    assert refused.state == RuleRunState.FAILED
    assert "said no to email" in refused.steps.get().error
    assert not OutboundEmail.objects.filter(to_email="no@thanks.example").exists()


def test_a_new_lead_is_enrolled_in_a_sequence_once(manager, rep):
    from leads.models import Enrollment
    from tests.factories.leads import SequenceFactory

    sequence = SequenceFactory(name="Welcome")
    rule = make_rule(
        manager,
        entity="lead",
        trigger="created",
        actions=[{"kind": "enrol_sequence", "sequence": sequence.pk}],
    )
    lead = LeadFactory(owner=rep)
    settle()
    assert Enrollment.objects.filter(lead=lead, sequence=sequence).count() == 1
    assert "Welcome" in RuleRun.objects.get(rule=rule).steps.get().result


def test_calling_the_webhooks_writes_a_signed_delivery_per_subscribed_endpoint(manager, rep):
    from crm.models import WebhookDelivery
    from tests.factories.crm import WebhookEndpointFactory

    endpoint = WebhookEndpointFactory(event_types=["automation.rule_fired"])
    WebhookEndpointFactory(event_types=["account.created"])
    rule = make_rule(
        manager,
        name="Tell the ERP",
        entity="deal",
        trigger="field",
        trigger_params={"field": "amount", "operator": "gte", "value": "50000"},
        actions=[{"kind": "call_webhook"}],
    )
    deal = OpportunityFactory(owner=rep, amount=Decimal("60000"))
    settle()
    delivery = WebhookDelivery.objects.get()
    assert delivery.endpoint == endpoint and delivery.event_type == "automation.rule_fired"
    data = delivery.payload["data"]
    assert data["rule"]["name"] == "Tell the ERP"
    assert (data["id"], data["type"]) == (deal.pk, "deal")
    assert data["url"].endswith(deal.get_absolute_url())
    assert "1 webhook endpoint" in RuleRun.objects.get(rule=rule).steps.get().result


def test_the_run_log_keeps_a_year_of_finished_runs_and_never_refires(settings, manager, rep):
    from crm.automation.retention import RULE
    from crm.models import AuditEvent, RuleMatch
    from crm.retention import retention_rules_run

    assert settings.RETENTION_AUTOMATION_RUNS_MONTHS == 12
    rule = make_rule(
        manager,
        entity="lead",
        trigger="created",
        actions=[{"kind": "add_note", "text": "Seen by a rule"}],
    )
    leads = [LeadFactory(owner=rep) for _ in range(3)]
    settle()
    old, recent, waiting = RuleRun.objects.filter(rule=rule).order_by("id")
    assert RuleRunStep.objects.filter(run=old).exists()
    long_ago = timezone.now() - dt.timedelta(days=400)
    RuleRun.objects.filter(pk=old.pk).update(finished_at=long_ago, created_at=long_ago)
    RuleRun.objects.filter(pk=waiting.pk).update(
        state=RuleRunState.QUEUED, finished_at=None, created_at=long_ago
    )

    [dry] = retention_rules_run(names=[RULE], dry_run=True)
    assert dry.counts == {"runs": 1}
    [outcome] = retention_rules_run(names=[RULE])
    assert outcome.counts == {"runs": 1}
    assert set(RuleRun.objects.values_list("pk", flat=True)) == {recent.pk, waiting.pk}
    assert not RuleRunStep.objects.filter(run_id=old.pk).exists()
    assert AuditEvent.objects.filter(action="retention.automation_runs_deleted").count() == 1
    # The match stays: evaluating again does not fire the rule on that lead a second time.
    assert RuleMatch.objects.filter(rule=rule).count() == len(leads)
    settle()
    assert RuleRun.objects.filter(rule=rule).count() == 2
