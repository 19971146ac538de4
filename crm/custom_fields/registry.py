"""The kinds of record that carry custom fields: ``custom_field_entities.register("ticket",
Ticket, label="Tickets")`` from an app's ``ready()``. The model needs a ``custom`` JSONField
(``crm.custom_fields.models.custom_column()`` and ``custom_index()``)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models


@dataclass(frozen=True)
class CustomEntity:
    key: str
    model: type[models.Model]
    label: str  # plural, "Accounts"
    singular: str  # "account"
    autocomplete: str = ""  # url name searching records of this kind, for link fields


class CustomEntityRegistry:
    def __init__(self):
        self._entities: dict[str, CustomEntity] = {}

    def register(self, key, model, *, label, singular, autocomplete=""):
        self._entities[key] = CustomEntity(key, model, label, singular, autocomplete)

    def get(self, key: str) -> CustomEntity | None:
        return self._entities.get(key)

    def for_model(self, model) -> CustomEntity | None:
        model = getattr(model, "_meta", None) and model._meta.concrete_model
        for entity in self._entities.values():
            if entity.model is model:
                return entity
        return None

    def all(self) -> list[CustomEntity]:
        return list(self._entities.values())

    def choices(self) -> list[tuple[str, str]]:
        return [(e.key, e.label) for e in self._entities.values()]

    def linkable(self) -> list[CustomEntity]:
        """Kinds a link field may point at: those with an autocomplete search."""
        return [e for e in self._entities.values() if e.autocomplete]


custom_field_entities = CustomEntityRegistry()
