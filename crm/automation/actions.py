"""The core's actions: update a field, assign (a user, or round-robin in a team), create a
task, add a note, notify in-app. Each acts through the record's own service, so validation,
the timeline, history, webhooks and consent rules are those of a person's change; registered
from ``crm/apps.py`` (later stages add their own from theirs)."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.utils import timezone

from crm.automation.registry import automation

MAX_TEXT = 1000


# --- who: "owner", "run_as", a registered recipient, or "user:<id>" -------------------------


def recipient_choices(entity) -> list[tuple[str, str]]:
    """Whom a task or notification can go to, for the builder."""
    from crm.models.users import users_with_role

    people = users_with_role().order_by("first_name", "last_name", "username")
    return [
        ("owner", f"The {entity.label}'s owner"),
        *((r.key, r.label) for r in entity.recipients.values()),
        ("run_as", "The user the rule runs as"),
        *((f"user:{u.pk}", str(u)) for u in people),
    ]


def _clean_recipient(value, entity) -> str:
    value = str(value or "")
    if value in ("owner", "run_as") or value in entity.recipients:
        return value
    if value.startswith("user:"):
        _active_user(value[5:])
        return value
    raise ValidationError("Choose whom it goes to.")


def _active_user(pk):
    from crm.models import User

    try:
        return User.objects.get(pk=int(pk), is_active=True)
    except (TypeError, ValueError, User.DoesNotExist):
        raise ValidationError("That user does not exist or is no longer active.") from None


def _recipient(spec: str, *, record, entity, rule):
    if spec == "owner":
        return getattr(record, entity.owner_field, None)
    if spec == "run_as":
        return rule.run_as
    if spec.startswith("user:"):
        return _active_user(spec[5:])
    found = entity.recipients.get(spec)
    return found.find(record) if found else None


def _text(params, key, label, *, required=True) -> str:
    text = str(params.get(key) or "").strip()
    if required and not text:
        raise ValidationError(f"Enter the {label}.")
    if len(text) > MAX_TEXT:
        raise ValidationError(f"The {label} takes at most {MAX_TEXT} characters.")
    return text


# --- update a field ------------------------------------------------------------------------------


def _history_entry(entity):
    from crm.registry import history

    return history.entry_for(entity.model._meta.label_lower)


def settable_fields(entity) -> list[tuple[str, str]]:
    """The fields a rule can set: those the record's edit form offers (its history restore)."""
    entry = _history_entry(entity)
    if entry is None or entry.restore is None:
        return []
    fields = []
    for field in entity.model._meta.concrete_fields:
        if field.name in entry.restorable and field.formfield() is not None:
            fields.append((field.name, str(field.verbose_name).capitalize()))
    return sorted(fields, key=lambda pair: pair[1])


def _field_value(entity, name, raw):
    """``raw`` (as stored in the rule) as the value the service takes, or ValidationError."""
    model_field = entity.model._meta.get_field(name)
    form_field = model_field.formfield()
    try:
        return form_field.clean("" if raw is None else raw)
    except ValidationError as error:
        label = str(model_field.verbose_name).capitalize()
        raise ValidationError(f"{label}: {' '.join(error.messages)}") from None


def update_field_clean(params, entity) -> dict:
    name = str(params.get("field") or "")
    if name not in dict(settable_fields(entity)):
        raise ValidationError(f"Choose a field a rule can set on a {entity.label}.")
    raw = params.get("value")
    raw = "" if raw is None else str(raw).strip()
    _field_value(entity, name, raw)
    return {"kind": "update_field", "field": name, "value": raw}


def update_field_run(*, record, params, user, **kwargs) -> str:
    from crm.automation.registry import automation as registry

    entity = _entity_of(record, registry)
    value = _field_value(entity, params["field"], params["value"])
    _history_entry(entity).restore(obj=record, user=user, field=params["field"], value=value)
    label = str(entity.model._meta.get_field(params["field"]).verbose_name)
    return f"Set {label} to “{value if value not in (None, '') else '(empty)'}”."


def _entity_of(record, registry):
    for entity in registry.entities():
        if entity.model is type(record):
            return entity
    raise ValidationError("This kind of record is no longer watched by rules.")


# --- assign ------------------------------------------------------------------------------------


def _check_assignable(entity):
    entry = _history_entry(entity)
    if entry is None or entry.restore is None or entity.owner_field not in entry.restorable:
        raise ValidationError(f"A {entity.label} cannot be assigned by a rule.")


def assign_clean(params, entity) -> dict:
    _check_assignable(entity)
    user = _active_user(params.get("user"))
    return {"kind": "assign", "user": user.pk}


def _assign(record, *, owner, user, entity) -> str:
    _history_entry(entity).restore(obj=record, user=user, field=entity.owner_field, value=owner)
    return f"Assigned to {owner}."


def assign_run(*, record, params, user, **kwargs) -> str:
    entity = _entity_of(record, automation)
    return _assign(record, owner=_active_user(params["user"]), user=user, entity=entity)


def round_robin_clean(params, entity) -> dict:
    from crm.models import Team

    _check_assignable(entity)
    try:
        team = Team.objects.get(pk=int(params.get("team")))
    except (TypeError, ValueError, Team.DoesNotExist):
        raise ValidationError("Choose a team.") from None
    if not team.members.filter(is_active=True).exists():
        raise ValidationError(f"The team {team} has no active members.")
    return {"kind": "round_robin", "team": team.pk}


def round_robin_run(*, record, params, rule, user, **kwargs) -> str:
    """The team's active members in turn (by id); the turn is kept on the rule, locked, so two
    runs at once give two different people."""
    from crm.models import Rule, Team

    entity = _entity_of(record, automation)
    team = Team.objects.filter(pk=params["team"]).first()
    if team is None:
        raise ValidationError("The team no longer exists.")
    members = list(team.members.filter(is_active=True).order_by("id"))
    if not members:
        raise ValidationError(f"The team {team} has no active members.")
    locked = Rule.objects.select_for_update().get(pk=rule.pk)
    owner = members[locked.round_robin_next % len(members)]
    Rule.objects.filter(pk=rule.pk).update(round_robin_next=locked.round_robin_next + 1)
    return _assign(record, owner=owner, user=user, entity=entity) + f" (team {team}, in turn)"


# --- create a task, add a note, notify -----------------------------------------------------------


def create_task_clean(params, entity) -> dict:
    title = _text(params, "title", "task's title")[:200]
    try:
        days = int(params.get("due_in_days") or 0)
    except (TypeError, ValueError):
        raise ValidationError("The task's due date is a whole number of days.") from None
    if not 0 <= days <= 365:
        raise ValidationError("A task is due within 0 to 365 days.")
    return {
        "kind": "create_task",
        "title": title,
        "due_in_days": days,
        "assignee": _clean_recipient(params.get("assignee"), entity),
    }


def create_task_run(*, record, params, rule, user, **kwargs) -> str:
    from crm.services.timeline import task_create

    entity = _entity_of(record, automation)
    assignee = _recipient(params["assignee"], record=record, entity=entity, rule=rule)
    if assignee is None:
        raise ValidationError("Nobody to give the task to: the record has no such person.")
    task = task_create(
        title=params["title"],
        due_at=timezone.now() + dt.timedelta(days=params["due_in_days"]),
        assignee=assignee,
        created_by=user,
        subject=record,
        notes=f"Created by the rule “{rule.name}”.",
    )
    return f"Created the task “{task.title}” for {assignee}."


def add_note_clean(params, entity) -> dict:
    return {"kind": "add_note", "text": _text(params, "text", "note")}


def add_note_run(*, record, params, rule, user, **kwargs) -> str:
    from crm.choices import ActivityKind
    from crm.services.timeline import activity_log

    text = params["text"]
    activity_log(subject=record, kind=ActivityKind.NOTE, summary=text, body=text, actor=user)
    return "Added a note to the timeline."


def notify_clean(params, entity) -> dict:
    to = params.get("to") or []
    if not isinstance(to, list):
        to = [to]
    cleaned = list(dict.fromkeys(_clean_recipient(spec, entity) for spec in to if spec))
    if not cleaned:
        raise ValidationError("Choose whom to notify.")
    return {"kind": "notify", "to": cleaned, "message": _text(params, "message", "message")}


def notify_run(*, record, params, rule, run, index, **kwargs) -> str:
    from crm.services.notifications import notify_many

    entity = _entity_of(record, automation)
    people = [
        person
        for spec in params["to"]
        if (person := _recipient(spec, record=record, entity=entity, rule=rule)) is not None
    ]
    if not people:
        raise ValidationError("Nobody to notify: the record has no such person.")
    notify_many(
        recipients=people,
        kind="automation",
        verb=f"{params['message']} ({record})",
        dedupe_key=f"rule-run:{run.pk}:{index}",
        target=record,
    )
    names = ", ".join(sorted({str(p) for p in people}))
    return f"Notified {names}."


# --- wait, then go on; send an email from a template ---------------------------------------------


def wait_clean(params, entity) -> dict:
    try:
        days = int(params.get("days") or 0)
        hours = int(params.get("hours") or 0)
    except (TypeError, ValueError):
        raise ValidationError("Wait a whole number of days and hours.") from None
    if days < 0 or hours < 0 or not 0 < days * 24 + hours <= 365 * 24:
        raise ValidationError("Wait from an hour to 365 days.")
    return {"kind": "wait", "days": days, "hours": hours}


def wait_run(*, params, **kwargs) -> str:
    days, hours = params.get("days") or 0, params.get("hours") or 0
    parts = [f"{days} day{'s' if days != 1 else ''}"] if days else []
    parts += [f"{hours} hour{'s' if hours != 1 else ''}"] if hours else []
    return f"Waiting {' and '.join(parts)}."


def template_choices() -> list[tuple[int, str]]:
    from crm.models import EmailTemplate

    return list(EmailTemplate.objects.active().order_by("name").values_list("pk", "name"))


def send_email_clean(params, entity) -> dict:
    from crm import registry
    from crm.models import EmailTemplate

    if registry.compose_targets.get(entity.key) is None:
        raise ValidationError(f"Email cannot be written from a {entity.label}.")
    try:
        template = EmailTemplate.objects.active().get(pk=int(params.get("template")))
    except (TypeError, ValueError, EmailTemplate.DoesNotExist):
        raise ValidationError("Choose an email template.") from None
    return {"kind": "send_email", "template": template.pk}


def send_email_run(*, record, params, user, **kwargs) -> str:
    """Write the template to the record's first person with an address, as the rule's user
    (as if they wrote it from the record's page): merge fields, tracking within consent, the
    timeline entry; refused when the person said no to email."""
    from crm import registry
    from crm.models import EmailTemplate
    from crm.services.compose import email_compose

    entity = _entity_of(record, automation)
    template = EmailTemplate.objects.active().visible_to(user).filter(pk=params["template"]).first()
    if template is None:
        raise ValidationError(f"The template is archived, or {user} may not use it.")
    target = registry.compose_targets.get(entity.key)
    recipients = list(target.recipients(record)) if target else []
    if not recipients:
        raise ValidationError("Nobody to write to: the record has no one with an email address.")
    composed = email_compose(
        user=user,
        kind=entity.key,
        record=record,
        to_email=recipients[0].email,
        subject=template.subject,
        body=template.body,
        template=template,
    )
    return f"Queued the email “{composed.subject}” to {composed.to_email}."


# --- call a webhook ------------------------------------------------------------------------------

RULE_FIRED = "automation.rule_fired"


def rule_fired_data(run) -> dict:
    """The webhook event's ``data``: the record (``id``, ``type``, ``url``), which rule fired
    on it, and what fired it."""
    from crm.webhooks import record_url

    entity = automation.entity(run.entity)
    record = entity.model(pk=run.record_pk) if entity is not None else None
    return {
        "id": run.record_pk,
        "type": run.entity,
        "url": record_url(record) if record is not None else "",
        "rule": {"id": run.rule_id, "name": run.rule.name},
        "run_id": run.pk,
        "event": run.event,
    }


def call_webhook_clean(params, entity) -> dict:
    return {"kind": "call_webhook"}


def call_webhook_run(*, run, **kwargs) -> str:
    """An ``automation.rule_fired`` event to every active endpoint subscribed to it: signed and
    delivered durably like every webhook."""
    from crm import webhooks

    sent = webhooks.emit(RULE_FIRED, run)
    if not sent:
        return f"No webhook endpoint is subscribed to {RULE_FIRED}: nothing to send."
    return f"Sent {RULE_FIRED} to {sent} webhook endpoint{'s' if sent != 1 else ''}."


def register() -> None:
    automation.register_action(
        "update_field",
        "Update a field",
        clean=update_field_clean,
        run=update_field_run,
        for_change=True,
    )
    automation.register_action(
        "assign", "Assign to a user", clean=assign_clean, run=assign_run, for_change=True
    )
    automation.register_action(
        "round_robin",
        "Assign round-robin in a team",
        clean=round_robin_clean,
        run=round_robin_run,
        for_change=True,
    )
    automation.register_action(
        "create_task", "Create a task", clean=create_task_clean, run=create_task_run
    )
    automation.register_action("add_note", "Add a note", clean=add_note_clean, run=add_note_run)
    automation.register_action("notify", "Notify in-app", clean=notify_clean, run=notify_run)
    automation.register_action(
        "send_email", "Send an email from a template", clean=send_email_clean, run=send_email_run
    )
    automation.register_action("wait", "Wait, then go on", clean=wait_clean, run=wait_run)
    automation.register_action(
        "call_webhook", "Call the webhooks", clean=call_webhook_clean, run=call_webhook_run
    )
