"""Saved dynamic segments of contacts, accounts and leads.

- ``registry``: the criteria per target, which every app fills from its ``apps.py``;
- ``definition``: the AND/OR tree, checked against the registry and compiled to one ``Q``;
- ``selectors``: ``segment_queryset``, ``segment_members``, ``segment_choices_for``;
- ``forms``: the builder's form and ``SegmentChoiceField`` for other apps' forms;
- ``services``: create, update, delete, and the daily size snapshots.

Kept free of imports so ``crm.models`` can use ``crm.segments.choices``.
"""
