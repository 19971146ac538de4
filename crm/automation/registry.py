"""What rules can watch and do, filled by each app from its ``apps.py``.

- ``automation.register_entity(key, model, ...)``: a kind of record rules watch ("deal"); its
  conditions are the segment criteria of the segment target of the same key.
- ``automation.register_field(entity, name, ...)``: a field a "changes to or past a value"
  trigger can watch (a later stage may add one to an earlier stage's record: retention adds the
  health score to accounts).
- ``automation.register_action(kind, ...)``: something a rule does, with its parameters'
  check and its effect.
- ``automation.register_watch(model, entity, pk_path)``: a model whose saves may change an
  entity's trigger state (a health score's save re-checks its account).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class TriggerField:
    """A field a trigger can compare: ``path`` is the ORM path from the record (``amount``,
    ``health__score``); ``kind`` is "number" (thresholds) or "choice" (a value)."""

    name: str
    label: str
    path: str
    kind: str = "number"
    choices: Callable[[], list[tuple[str, str]]] | None = None

    def value_choices(self) -> list[tuple[str, str]]:
        return [(str(v), str(label)) for v, label in (self.choices() if self.choices else [])]


@dataclass(frozen=True)
class Recipient:
    """Someone a notification or task can go to, found from the record ("the owner", "the
    account's owner")."""

    key: str
    label: str
    find: Callable


@dataclass
class Entity:
    """A kind of record rules watch. ``owner_field``: who "assign" changes; ``stage_field``:
    the field "stage entered" watches, with ``stage_choices``."""

    key: str
    model: type
    label: str
    owner_field: str = "owner"
    stage_field: str = ""
    stage_choices: Callable[[], list[tuple[object, str]]] | None = None
    created_field: str = "created_at"
    fields: dict[str, TriggerField] = field(default_factory=dict)
    date_fields: dict[str, TriggerField] = field(default_factory=dict)
    has_timeline: bool = True
    recipients: dict[str, Recipient] = field(default_factory=dict)

    def stage_value_choices(self) -> list[tuple[str, str]]:
        choices = self.stage_choices() if self.stage_choices else []
        return [(str(v), str(label)) for v, label in choices]


@dataclass(frozen=True)
class Action:
    """Something a rule does. ``clean(params, entity)`` returns the checked parameters or
    raises ``ValidationError``; ``run(record=, params=, rule=, run=, user=, index=)`` does it
    (inside the step's transaction) and returns what it did, for the run log; ``entities``
    limits it to some kinds of record (empty: every kind)."""

    kind: str
    label: str
    clean: Callable
    run: Callable
    entities: frozenset[str] = frozenset()
    for_change: bool = False  # acts on the record itself: needs the right to change it
    #: ``(parameter, label, choices())`` of an action whose one parameter is picked from a list
    #: (the builder shows the select; e.g. the sequence to enrol in).
    select: tuple[str, str, Callable] | None = None

    def fits(self, entity: str) -> bool:
        return not self.entities or entity in self.entities


class AutomationRegistry:
    def __init__(self):
        self._entities: dict[str, Entity] = {}
        self._actions: dict[str, Action] = {}
        self._watches: list[tuple[type, str, str]] = []

    def register_entity(self, key, model, *, label, **options) -> Entity:
        entity = self._entities.get(key)
        if entity is None:
            entity = self._entities[key] = Entity(key, model, label)
        entity.model, entity.label = model, label
        for name, value in options.items():
            setattr(entity, name, value)
        self._watch(model, key, "pk")
        entity.date_fields.setdefault(
            "created",
            TriggerField("created", "Created", f"{entity.created_field}__date", kind="date"),
        )
        return entity

    def register_field(self, entity: str, name: str, label: str, *, path=None, **options):
        self._entities[entity].fields[name] = TriggerField(name, label, path or name, **options)

    def register_date_field(self, entity: str, name: str, label: str, *, path=None):
        """A date a "N days before or after" trigger counts from (``path``: the ORM path of
        a date, e.g. ``expected_close_date`` or ``created_at__date``)."""
        self._entities[entity].date_fields[name] = TriggerField(
            name, label, path or name, kind="date"
        )

    def register_recipient(self, entity: str, key: str, label: str, find: Callable):
        self._entities[entity].recipients[key] = Recipient(key, label, find)

    def register_watch(self, model, entity: str, pk_path: str):
        """Saves of ``model`` re-check the ``entity`` record at ``pk_path`` of the saved row."""
        self._watch(model, entity, pk_path)

    def _watch(self, model, entity, pk_path):
        from django.db.models.signals import post_save

        from crm.automation.engine import record_saved

        if (model, entity, pk_path) in self._watches:
            return
        self._watches.append((model, entity, pk_path))
        post_save.connect(
            record_saved, sender=model, weak=False, dispatch_uid=f"automation:{model.__name__}"
        )

    def watches_of(self, model) -> list[tuple[str, str]]:
        return [(entity, path) for m, entity, path in self._watches if m is model]

    def register_action(
        self, kind, label, *, clean, run, entities=(), for_change=False, select=None
    ):
        self._actions[kind] = Action(
            kind, label, clean, run, frozenset(entities), for_change, select
        )

    def entity(self, key: str) -> Entity | None:
        return self._entities.get(key)

    def entities(self) -> list[Entity]:
        return list(self._entities.values())

    def action(self, kind: str) -> Action | None:
        return self._actions.get(kind)

    def actions_for(self, entity: str) -> list[Action]:
        return [a for a in self._actions.values() if a.fits(entity)]


automation = AutomationRegistry()
