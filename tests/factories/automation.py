"""Rules and the in-process stand-in for the worker's automation passes."""

from crm.automation import engine
from crm.automation.services import rule_create, rule_set_active
from tests.factories.segments import group


def make_rule(user, *, active=True, **data):
    """A rule made through its service by ``user`` (switched on unless ``active=False``)."""
    data.setdefault("name", "A rule")
    data.setdefault("conditions", group("and"))
    rule = rule_create(user=user, data=data)
    if active:
        rule = rule_set_active(rule=rule, user=user, active=True)
    return rule


def settle(rounds: int = 20) -> None:
    """What the worker does after commits: evaluate every active rule, work every due run;
    again until nothing is left (a run's own changes may fire other rules)."""
    for _ in range(rounds):
        engine.rules_evaluate()
        if not engine.rule_runs_due():
            return


def amount_rule(user, *, name="Big", active=False, actions=None):
    """A deal rule that fires when the amount reaches 50,000 and adds a note (switched off
    unless ``active``)."""
    return make_rule(
        user,
        active=active,
        name=name,
        entity="deal",
        trigger="field",
        trigger_params={"field": "amount", "operator": "gte", "value": "50000"},
        actions=actions or [{"kind": "add_note", "text": "Big"}],
    )
