"""Ready-made rules a manager starts from (README, "Automations"): the built-in automations
that fit rules, and the common ones. Each is a rule in the export format
(``crm.automation.portable``); one whose kind of record or actions are not installed is not
offered."""

from __future__ import annotations

from dataclasses import dataclass

from crm.automation.registry import automation


@dataclass(frozen=True)
class Starter:
    key: str
    title: str
    description: str
    rule: dict

    def usable(self) -> bool:
        if automation.entity(self.rule["entity"]) is None:
            return False
        return all(automation.action(a["kind"]) for a in self.rule["actions"])


def _and(*children):
    return {"op": "and", "children": list(children)}


def _cond(criterion, operator, value):
    return {"criterion": criterion, "operator": operator, "value": value}


STARTERS = (
    Starter(
        "save-playbook",
        "Save the customer when health drops below 40",
        "The churn-risk playbook (tasks for the owner, email to the managers) as a rule you can "
        "tune: another threshold, conditions, more steps.",
        {
            "name": "Health drops below 40: save playbook",
            "entity": "account",
            "trigger": "field",
            "trigger_params": {"field": "health_score", "operator": "lt", "value": "40"},
            "conditions": _and(),
            "actions": [{"kind": "save_playbook"}],
            "daily_cap": 1,
        },
    ),
    Starter(
        "quiet-lead",
        "Follow up a lead nobody touched for 7 days",
        "A task for the lead's owner when its timeline has been quiet for a week.",
        {
            "name": "Quiet lead: follow up",
            "entity": "lead",
            "trigger": "idle",
            "trigger_params": {"days": 7},
            "conditions": _and(_cond("status", "in", ["new", "working", "nurturing"])),
            "actions": [
                {
                    "kind": "create_task",
                    "title": "Follow up: no contact for a week",
                    "due_in_days": 1,
                    "assignee": "owner",
                }
            ],
            "daily_cap": 1,
        },
    ),
    Starter(
        "big-deal-negotiation",
        "Legal review when a deal over 50,000 reaches Negotiation",
        "Tells you and gives the deal's owner a legal review task.",
        {
            "name": "Big deal in Negotiation: legal review",
            "entity": "deal",
            "trigger": "stage",
            "trigger_params": {"value": "New business · Negotiation"},
            "conditions": _and(_cond("amount", "gte", 50000)),
            "actions": [
                {"kind": "notify", "to": ["run_as"], "message": "A big deal reached Negotiation"},
                {
                    "kind": "create_task",
                    "title": "Legal review",
                    "due_in_days": 2,
                    "assignee": "owner",
                },
            ],
            "daily_cap": 1,
        },
    ),
    Starter(
        "urgent-enterprise-ticket",
        "Tell the account owner about an urgent ticket of an enterprise customer",
        "An in-app notification to the owner of the ticket's account.",
        {
            "name": "Urgent enterprise ticket: tell the account owner",
            "entity": "ticket",
            "trigger": "created",
            "trigger_params": {},
            "conditions": _and(
                _cond("priority", "in", ["urgent"]), _cond("account_size", "in", ["1000+"])
            ),
            "actions": [
                {"kind": "notify", "to": ["account_owner"], "message": "Urgent ticket opened"}
            ],
            "daily_cap": 3,
        },
    ),
    Starter(
        "close-date-near",
        "Check a deal a week before its expected close",
        "A task for the deal's owner seven days before the expected close date.",
        {
            "name": "A week before close: check the deal",
            "entity": "deal",
            "trigger": "date",
            "trigger_params": {"field": "expected_close_date", "days": 7, "when": "before"},
            "conditions": _and(),
            "actions": [
                {
                    "kind": "create_task",
                    "title": "Close in a week: confirm the next step",
                    "due_in_days": 1,
                    "assignee": "owner",
                }
            ],
            "daily_cap": 1,
        },
    ),
)


def starters() -> list[Starter]:
    return [s for s in STARTERS if s.usable()]


def starter(key: str) -> Starter | None:
    return next((s for s in starters() if s.key == key), None)
