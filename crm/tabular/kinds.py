"""A record kind (accounts, contacts, leads…) as files see it, and the registry of kinds."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import models

from crm.tabular.columns import Column


@dataclass(frozen=True)
class RecordKind:
    """What import and export need to know about one kind of record.

    - ``columns``: the file's columns, ``id`` first;
    - ``keys``: the columns a row may match an existing record by, in order of preference
      (the first one the file has and the row fills decides); ``id`` always;
    - ``selector(user=, for_change=)``: the rows the user may see, or change (the entity's
      ``<entity>_list``);
    - ``create(user=, data=)`` and ``update(record=, user=, data=)``: the services the forms
      call (``data`` holds only the columns the file has, by their service keyword);
      ``create`` None: rows never make new records of this kind;
    - ``may_import(user)``: who may import this kind at all;
    - ``list_url``: the list page (the export buttons live there);
    - ``check(record_or_None, data, ctx)``: rules of the kind that a parsed row must pass before
      any write (for example the dedupe of leads), raising ``CellError``.
    """

    name: str
    label: str
    model: type[models.Model]
    columns: tuple[Column, ...]
    keys: tuple[str, ...]
    selector: Callable[..., models.QuerySet]
    update: Callable[..., Any]
    may_import: Callable[[Any], bool]
    list_url: str
    create: Callable[..., Any] | None = None
    check: Callable[..., None] | None = None
    notes: str = ""

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    def columns_for(self, user) -> list[Column]:
        """The columns this user may see (exports) and fill (imports): the built-in ones, then
        one per active custom field of the kind that the user may see (one query)."""
        return [c for c in self.columns if c.shown_to(user)] + self.custom_columns(user)

    def custom_columns(self, user) -> list[Column]:
        """A column per active custom field ``user`` may see, named by the field's key
        (``cf_<key>`` when a built-in column already has that name); none when the kind's
        records carry no custom fields."""
        from crm.custom_fields.definitions import fields_for
        from crm.custom_fields.registry import custom_field_entities
        from crm.tabular.columns import custom_field

        entity = custom_field_entities.for_model(self.model)
        if entity is None:
            return []
        taken = {c.name for c in self.columns}
        return [
            custom_field(f, name=f"cf_{f.key}" if f.key in taken else f.key)
            for f in fields_for(entity.key, user=user)
        ]

    def columns_by_name(self, user) -> dict[str, Column]:
        return {c.name: c for c in self.columns_for(user)}

    def related_for(self, user) -> list[str]:
        return sorted({path for c in self.columns if c.shown_to(user) for path in c.related})

    @property
    def verbose_name(self) -> str:
        return str(self.model._meta.verbose_name)


@dataclass
class TabularRegistry:
    """The record kinds each app registers from its ``apps.py``."""

    _kinds: dict[str, RecordKind] = field(default_factory=dict)

    def register(self, kind: RecordKind) -> None:
        self._kinds[kind.name] = kind

    def get(self, name: str) -> RecordKind | None:
        return self._kinds.get(name)

    def kinds(self) -> list[RecordKind]:
        return list(self._kinds.values())

    def for_user(self, user) -> list[RecordKind]:
        """The kinds ``user`` may import."""
        return [k for k in self._kinds.values() if k.may_import(user)]
