"""Fields admins add to records without code (``/settings/custom-fields/``).

A definition is a ``crm.CustomField`` row (entity, key, label, kind, choices, required,
default, help text, order, roles that see it); values live in the record's ``custom`` JSONB
column under the field's key, GIN-indexed (``jsonb_path_ops``), so equality and containment
filters use the index and adding a field is never a migration.

Every surface goes through this package, never through the JSON directly:

- ``registry.custom_field_entities``: the kinds of record that carry custom fields; each app
  registers its own from ``apps.py`` (accounts and contacts here, leads, deals, tickets and
  subscriptions by their stages).
- ``definitions.fields_for(entity, user=…)``: the active definitions ``user`` may see, in order.
- ``values``: one definition's form field, stored form, display text, CSV text and parsing of
  text (imports, API) — the same validation everywhere.
- ``forms.CustomFieldsFormMixin``: adds ``cf_<key>`` fields to a record's form;
  ``form.custom_values()`` is what the service merges (``services.custom_fields_merge``).
- ``query``: a definition's filter ``Q`` and its sort expression, for lists, saved views and
  segments.

Surfaces built on it, generic over the registered kinds: import/export columns
(``crm.tabular.kinds.RecordKind.custom_columns``, ``crm.tabular.columns.custom_field``), the
API's ``custom`` object, ``cf_<key>`` filters and schema (``crm.api.custom_fields``), webhook
payloads (``crm.webhooks.payloads.custom_data``), erasure (``crm.personal_data.custom_erased``),
field history (``crm.history_display``: a line per changed field) and segment criteria
(``crm.segments.custom_fields``).

Stored JSON per kind: text and long text a string; number a JSON number; money
``{"amount": number, "currency": "EUR"}``; date ``"YYYY-MM-DD"``; yes/no a boolean; choice the
choice's value; multiple choice a list of values; user and link the primary key.
"""
