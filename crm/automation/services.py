"""Writing rules: checking a rule, creating and changing it, switching it on and off."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from crm.automation.engine import NUMBER_OPERATORS
from crm.automation.registry import automation
from crm.models import Rule
from crm.models.automation import RuleTrigger

MAX_ACTIONS = 10
RULE_FIELDS = ("name", "entity", "trigger", "trigger_params", "conditions", "actions")


def may_build_rules(user) -> bool:
    return bool(
        getattr(user, "is_authenticated", False) and (user.is_admin_role or user.is_manager)
    )


def _clean_trigger(entity, trigger: str, params) -> dict:
    params = params if isinstance(params, dict) else {}
    if trigger == RuleTrigger.CREATED:
        return {}
    if trigger == RuleTrigger.STAGE:
        if not entity.stage_field:
            raise ValidationError({"trigger": f"A {entity.label} has no stages."})
        value = str(params.get("value") or "")
        if value not in dict(entity.stage_value_choices()):
            raise ValidationError({"trigger": "Choose the stage."})
        return {"value": value}
    if trigger == RuleTrigger.DATE:
        date_field = entity.date_fields.get(str(params.get("field") or ""))
        if date_field is None:
            raise ValidationError({"trigger": "Choose the date the rule counts from."})
        when = str(params.get("when") or "after")
        if when not in ("before", "after"):
            raise ValidationError({"trigger": "Choose before or after."})
        return {"field": date_field.name, "days": _days(params, minimum=0), "when": when}
    if trigger == RuleTrigger.IDLE:
        if not entity.has_timeline:
            raise ValidationError({"trigger": f"A {entity.label} has no timeline."})
        return {"days": _days(params, minimum=1)}
    if trigger != RuleTrigger.FIELD:
        raise ValidationError({"trigger": "Choose a trigger."})
    field = entity.fields.get(str(params.get("field") or ""))
    if field is None:
        raise ValidationError({"trigger": "Choose the field the rule watches."})
    operator = str(params.get("operator") or "is")
    value = params.get("value")
    value = "" if value is None else str(value).strip()
    if field.kind == "choice":
        if operator != "is":
            raise ValidationError({"trigger": f"“{field.label}” can only be compared with “is”."})
        if value not in dict(field.value_choices()):
            raise ValidationError({"trigger": f"Choose a value of “{field.label}”."})
        return {"field": field.name, "operator": "is", "value": value}
    if operator not in NUMBER_OPERATORS:
        raise ValidationError({"trigger": "Choose how the field is compared."})
    from decimal import Decimal, InvalidOperation

    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValidationError({"trigger": f"Enter a number for “{field.label}”."}) from None
    if not number.is_finite() or abs(number) > Decimal("1e12"):
        raise ValidationError({"trigger": f"Enter a sensible number for “{field.label}”."})
    return {"field": field.name, "operator": operator, "value": str(number)}


def _days(params, *, minimum: int) -> int:
    try:
        days = int(str(params.get("days", "")).strip())
    except ValueError:
        days = -1
    if not minimum <= days <= 365:
        raise ValidationError({"trigger": f"Enter a whole number of days from {minimum} to 365."})
    return days


def _clean_actions(entity, actions) -> list[dict]:
    if not isinstance(actions, list) or not actions:
        raise ValidationError({"actions": "Add at least one action."})
    if len(actions) > MAX_ACTIONS:
        raise ValidationError({"actions": f"A rule has at most {MAX_ACTIONS} actions."})
    cleaned, errors = [], []
    for number, params in enumerate(actions, start=1):
        params = params if isinstance(params, dict) else {}
        action = automation.action(str(params.get("kind") or ""))
        if action is None or not action.fits(entity.key):
            errors.append(f"Action {number}: choose what it does.")
            continue
        try:
            cleaned.append(action.clean(params, entity))
        except ValidationError as error:
            errors.extend(f"Action {number} ({action.label.lower()}): {m}" for m in error.messages)
    if errors:
        raise ValidationError({"actions": errors})
    return cleaned


def rule_clean(*, data: dict, user) -> dict:
    """The rule's fields checked, or ``ValidationError`` naming each problem by field."""
    from crm.segments.definition import definition_clean, definition_unusable

    errors: dict[str, list[str]] = {}
    name = str(data.get("name") or "").strip()
    if not name:
        errors.setdefault("name", []).append("Give the rule a name.")
    entity = automation.entity(str(data.get("entity") or ""))
    if entity is None:
        errors.setdefault("entity", []).append("Choose the kind of record the rule watches.")
        raise ValidationError(errors)
    cleaned = {"name": name[:120], "entity": entity.key}
    trigger = str(data.get("trigger") or "")
    for key, check in (
        ("trigger_params", lambda: _clean_trigger(entity, trigger, data.get("trigger_params"))),
        ("actions", lambda: _clean_actions(entity, data.get("actions"))),
    ):
        try:
            cleaned[key] = check()
        except ValidationError as error:
            for field, messages in error.message_dict.items():
                errors.setdefault(field, []).extend(messages)
    cleaned["trigger"] = trigger
    try:
        cache: dict = {}
        conditions = definition_clean(entity.key, data.get("conditions"), cache)
        unusable = definition_unusable(entity.key, conditions, user, cache)
        if unusable:
            raise ValidationError(
                [f"“{label}” is not among the criteria your role may use." for label in unusable]
            )
        cleaned["conditions"] = conditions
    except ValidationError as error:
        errors.setdefault("conditions", []).extend(error.messages)
    try:
        cap = int(data.get("daily_cap") or 3)
    except (TypeError, ValueError):
        cap = 0
    if not 1 <= cap <= 100:
        errors.setdefault("daily_cap", []).append("Allow 1 to 100 runs per record and day.")
    cleaned["daily_cap"] = cap
    run_as = data.get("run_as") or user
    if not may_build_rules(user) or not _may_run_as(user, run_as):
        errors.setdefault("run_as", []).append("Choose yourself or someone of your teams.")
    cleaned["run_as"] = run_as
    if errors:
        raise ValidationError(errors)
    return cleaned


def _may_run_as(user, run_as) -> bool:
    if run_as is None or not run_as.is_active:
        return False
    return user.is_admin_role or run_as.pk in user.managed_user_ids


@transaction.atomic
def rule_create(*, user, data: dict) -> Rule:
    """A new rule, switched off: the builder offers a dry run before switching it on."""
    if not may_build_rules(user):
        raise PermissionDenied
    cleaned = rule_clean(data=data, user=user)
    return Rule.objects.create(**cleaned, created_by=user, active=False)


@transaction.atomic
def rule_update(*, rule: Rule, user, data: dict) -> Rule:
    cleaned = rule_clean(data=data, user=user)
    rule = Rule.objects.select_for_update().get(pk=rule.pk)
    for field, value in cleaned.items():
        setattr(rule, field, value)
    rule.save(update_fields=[*cleaned, "updated_at"])
    if rule.active:
        _evaluate_on_commit(rule)
    return rule


@transaction.atomic
def rule_set_active(*, rule: Rule, user, active: bool) -> Rule:
    """Switch a rule on (it then fires on every record already in its trigger state, as the
    dry run counted) or off (its queued runs still finish)."""
    rule = Rule.objects.select_for_update().get(pk=rule.pk)
    if rule.active == active:
        return rule
    rule.active = active
    fields = ["active", "updated_at"]
    if active:
        rule.activated_at = timezone.now()
        fields.append("activated_at")
        _evaluate_on_commit(rule)
    rule.save(update_fields=fields)
    return rule


def _evaluate_on_commit(rule: Rule) -> None:
    from crm.tasks import rules_evaluate
    from crm.work import enqueue_quietly

    rule_id = rule.pk
    transaction.on_commit(lambda: enqueue_quietly(rules_evaluate, None, None, rule_id))


@transaction.atomic
def rule_delete(*, rule: Rule, user) -> None:
    """Delete the rule with its matches and run log; a run a worker holds stops at its next
    step (its lease is gone with it). What done steps changed stays, with the rule named as
    the source in field history."""
    Rule.objects.filter(pk=rule.pk).delete()
