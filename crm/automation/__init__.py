"""Automations a manager builds (README, "Automations"): rules with a trigger, conditions and
ordered actions (``crm.models.automation``), what they can watch and do (``registry``, filled
by each app), when they fire and how their runs are worked (``engine``), the core's actions
(``actions``) and writing rules (``services``)."""
