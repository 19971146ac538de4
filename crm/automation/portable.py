"""Rules as JSON, to copy them between installations (README, "Automations").

What names a person, a team or a deal stage is written by name, not by this installation's ids:
``"user:@anna"``, ``{"team": "Inbound"}``, a stage as "Pipeline · Stage"; an import finds them by
those names in the other installation. Conditions are kept as the segment builder stores them
(criteria that name people or stages by id are checked on import like any definition)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from crm.automation.registry import automation
from crm.automation.services import rule_create
from crm.models import Rule, Team, User
from crm.models.automation import RuleTrigger

FORMAT = "crm-automation-rules"
VERSION = 1
MAX_RULES = 200


def _user_name(pk) -> str:
    user = User.objects.filter(pk=pk).first()
    return f"@{user.username}" if user else f"#{pk}"


def _user_pk(name) -> int:
    name = str(name or "")
    if name.startswith("@"):
        user = User.objects.filter(username=name[1:], is_active=True).first()
        if user is None:
            raise ValidationError(f"There is no active user “{name[1:]}” here.")
        return user.pk
    raise ValidationError(f"“{name[:50]}” does not name a user (write “@username”).")


def _recipient_out(spec):
    spec = str(spec or "")
    return f"user:{_user_name(spec[5:])}" if spec.startswith("user:") else spec


def _recipient_in(spec):
    spec = str(spec or "")
    return f"user:{_user_pk(spec[5:])}" if spec.startswith("user:") else spec


def _stage_choices(entity) -> dict[str, str]:
    return dict(entity.stage_value_choices()) if entity and entity.stage_field else {}


def rule_export(rule: Rule) -> dict:
    entity = automation.entity(rule.entity)
    params = dict(rule.trigger_params or {})
    if rule.trigger == RuleTrigger.STAGE:
        params["value"] = _stage_choices(entity).get(str(params.get("value")), params.get("value"))
    actions = []
    for action in rule.actions:
        action = dict(action)
        if "to" in action:
            action["to"] = [_recipient_out(spec) for spec in action["to"]]
        if "assignee" in action:
            action["assignee"] = _recipient_out(action["assignee"])
        if action.get("kind") == "assign":
            action["user"] = _user_name(action.get("user"))
        if action.get("kind") == "round_robin":
            team = Team.objects.filter(pk=action.get("team")).first()
            action["team"] = team.name if team else action.get("team")
        actions.append(action)
    return {
        "name": rule.name,
        "entity": rule.entity,
        "trigger": rule.trigger,
        "trigger_params": params,
        "conditions": rule.conditions,
        "actions": actions,
        "daily_cap": rule.daily_cap,
    }


def rules_export(rules) -> dict:
    return {"format": FORMAT, "version": VERSION, "rules": [rule_export(r) for r in rules]}


def _rule_in(data: dict) -> dict:
    data = dict(data)
    entity = automation.entity(str(data.get("entity") or ""))
    params = dict(data.get("trigger_params") or {})
    if data.get("trigger") == RuleTrigger.STAGE and entity is not None:
        by_label = {label: value for value, label in _stage_choices(entity).items()}
        value = str(params.get("value") or "")
        params["value"] = by_label.get(value, value)
    data["trigger_params"] = params
    actions = []
    for action in data.get("actions") or []:
        if not isinstance(action, dict):
            actions.append(action)
            continue
        action = dict(action)
        if isinstance(action.get("to"), list):
            action["to"] = [_recipient_in(spec) for spec in action["to"]]
        if "assignee" in action:
            action["assignee"] = _recipient_in(action["assignee"])
        if action.get("kind") == "assign":
            action["user"] = _user_pk(action.get("user"))
        if action.get("kind") == "round_robin":
            team = Team.objects.filter(name=str(action.get("team") or "")).first()
            if team is None:
                raise ValidationError(f"There is no team “{str(action.get('team'))[:50]}” here.")
            action["team"] = team.pk
        actions.append(action)
    data["actions"] = actions
    return data


@transaction.atomic
def rules_import(*, user, document) -> list[Rule]:
    """Create the rules of an exported document, switched off and run as ``user``; all or
    none: ``ValidationError`` lists every rule's problems."""
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise ValidationError("This is not a file of exported automation rules.")
    items = document.get("rules")
    if not isinstance(items, list) or not items:
        raise ValidationError("The file holds no rules.")
    if len(items) > MAX_RULES:
        raise ValidationError(f"A file may hold at most {MAX_RULES} rules.")
    made, problems = [], []
    for number, item in enumerate(items, start=1):
        name = str(item.get("name", "")) if isinstance(item, dict) else ""
        where = f"Rule {number}" + (f" (“{name[:60]}”)" if name else "")
        try:
            with transaction.atomic():
                data = _rule_in(item if isinstance(item, dict) else {})
                data["run_as"] = user
                made.append(rule_create(user=user, data=data))
        except ValidationError as error:
            messages = (
                [m for ms in error.message_dict.values() for m in ms]
                if hasattr(error, "error_dict")
                else error.messages
            )
            problems.extend(f"{where}: {m}" for m in messages)
    if problems:
        raise ValidationError(problems)
    return made


def rule_from_starter(*, user, starter) -> Rule:
    """A new rule (switched off, run as ``user``) made from a ready-made one."""
    return rules_import(user=user, document={"format": FORMAT, "rules": [starter.rule]})[0]
