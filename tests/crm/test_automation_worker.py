"""Each kind of trigger, through real saves and a real Celery worker process: the commit wakes
the worker, which evaluates the rules and works their runs (tests/worker.py)."""

from decimal import Decimal

import pytest
from django.db import transaction

from crm.choices import SizeBand
from crm.models import Notification, RuleRun, Task
from crm.models.automation import RuleRunState
from sales.services import opportunity_move_stage, opportunity_update
from support.choices import Priority
from support.services.tickets import ticket_create
from tests.factories.automation import make_rule
from tests.factories.crm import AccountFactory
from tests.factories.sales import OpportunityFactory, stage_named
from tests.factories.segments import condition, group
from tests.worker import (
    publishing_to,
    succeeded_runs,
    wait_until,
    worker_broker,
    worker_env,
    worker_started,
)

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


EVALUATE = "crm.tasks.rules_evaluate"


def _done(rule, count):
    return lambda: RuleRun.objects.filter(rule=rule, state=RuleRunState.DONE).count() >= count


def test_every_trigger_fires_through_a_real_worker_once(tmp_path, manager, rep):
    var_dir = tmp_path / "var"
    log_path = tmp_path / "worker.log"
    negotiation = stage_named("Negotiation")
    enterprise = AccountFactory(owner=rep, size_band=SizeBand.ENTERPRISE)
    deal = OpportunityFactory(owner=rep, account=enterprise, amount=Decimal("80000"))
    with (
        publishing_to(**worker_broker(var_dir)),
        worker_started(worker_env(var_dir=var_dir), log_path) as worker,
    ):

        def wait(condition, what):
            wait_until(condition, what=what, log_path=log_path, worker=worker)

        # Stage entered
        stage_rule = make_rule(
            manager,
            name="Negotiation",
            entity="deal",
            trigger="stage",
            trigger_params={"value": str(negotiation.pk)},
            conditions=group("and", condition("amount", "gte", 50000)),
            actions=[{"kind": "create_task", "title": "Legal review", "assignee": "owner"}],
        )
        with transaction.atomic():
            opportunity_move_stage(opportunity=deal, stage=negotiation, user=rep)
        wait(_done(stage_rule, 1), "the stage rule's run")

        # Field past a threshold, by a rule that sets that same field
        field_rule = make_rule(
            manager,
            name="Round up",
            entity="deal",
            trigger="field",
            trigger_params={"field": "amount", "operator": "gte", "value": "100000"},
            actions=[{"kind": "update_field", "field": "amount", "value": "120000"}],
        )
        with transaction.atomic():
            opportunity_update(opportunity=deal, user=rep, amount=Decimal("110000"))
        wait(_done(field_rule, 1), "the field rule's run")

        # Record created
        created_rule = make_rule(
            manager,
            name="Urgent enterprise ticket",
            entity="ticket",
            trigger="created",
            conditions=group("and", condition("priority", "in", ["urgent"])),
            actions=[{"kind": "notify", "to": ["account_owner"], "message": "Urgent ticket"}],
        )
        with transaction.atomic():
            ticket_create(subject="Down", account=enterprise, priority=Priority.URGENT)
        wait(_done(created_rule, 1), "the created rule's run")

        # A later save the rules look at again fires nothing new
        evaluated = succeeded_runs(log_path, EVALUATE)
        with transaction.atomic():
            opportunity_update(opportunity=deal, user=rep, name="Renamed")
        wait(lambda: succeeded_runs(log_path, EVALUATE) > evaluated, "the last evaluation")

    deal.refresh_from_db()
    assert deal.amount == Decimal("120000")
    assert RuleRun.objects.filter(rule=field_rule).count() == 1
    assert RuleRun.objects.filter(rule=stage_rule).count() == 1
    assert RuleRun.objects.filter(rule=created_rule).count() == 1
    assert Task.objects.filter(title="Legal review", assignee=rep).count() == 1
    assert Notification.objects.filter(recipient=rep, kind="automation").count() == 1


def test_time_triggers_fire_through_the_periodic_evaluation_on_a_real_worker(
    tmp_path, manager, rep
):
    # Given a deal closing in a week, a lead nobody touched for 20 days and a fresh lead
    import datetime as dt

    from django.utils import timezone

    from crm.tasks import rules_evaluate_all
    from tests.factories.leads import LeadFactory

    var_dir = tmp_path / "var"
    log_path = tmp_path / "worker.log"
    today = timezone.localdate()
    closing = OpportunityFactory(owner=rep, expected_close_date=today + dt.timedelta(days=7))
    OpportunityFactory(owner=rep, expected_close_date=today + dt.timedelta(days=9))
    quiet, fresh = LeadFactory(owner=rep), LeadFactory(owner=rep)
    type(quiet).objects.filter(pk=quiet.pk).update(
        created_at=timezone.now() - dt.timedelta(days=20)
    )
    week_before = make_rule(
        manager,
        name="A week before close",
        entity="deal",
        trigger="date",
        trigger_params={"field": "expected_close_date", "days": "7", "when": "before"},
        actions=[{"kind": "create_task", "title": "Check the close", "assignee": "owner"}],
    )
    idle = make_rule(
        manager,
        name="Quiet for two weeks",
        entity="lead",
        trigger="idle",
        trigger_params={"days": "14"},
        actions=[{"kind": "create_task", "title": "Wake it up", "assignee": "owner"}],
    )
    with (
        publishing_to(**worker_broker(var_dir)),
        worker_started(worker_env(var_dir=var_dir), log_path) as worker,
    ):
        # When the periodic evaluation runs on the worker, twice the same day
        for _ in range(2):
            evaluated = succeeded_runs(log_path, "crm.tasks.rules_evaluate_all")
            rules_evaluate_all.delay()
            wait_until(
                lambda evaluated=evaluated: (
                    succeeded_runs(log_path, "crm.tasks.rules_evaluate_all") > evaluated
                ),
                what="the periodic evaluation",
                log_path=log_path,
                worker=worker,
            )
            wait_until(
                lambda: _done(week_before, 1)() and _done(idle, 1)(),
                what="the time rules' runs",
                log_path=log_path,
                worker=worker,
            )

    # Then each rule fired once, on the one record whose time it was
    assert list(RuleRun.objects.filter(rule=week_before).values_list("record_pk", flat=True)) == [
        closing.pk
    ]
    assert list(RuleRun.objects.filter(rule=idle).values_list("record_pk", flat=True)) == [quiet.pk]
    assert Task.objects.filter(title="Check the close", object_id=closing.pk).count() == 1
    assert Task.objects.filter(title="Wake it up", object_id=quiet.pk).count() == 1
    assert not Task.objects.filter(object_id=fresh.pk, title="Wake it up").exists()
