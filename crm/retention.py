"""Retention rules: personal data the CRM stops keeping after a set time (README, "Retention").

Each rule belongs to the app whose records it acts on and is registered there, in its
``apps.py``, into ``crm.registry.retention_rules``; ``crm`` runs them without importing the app.
A rule is *off* unless its setting (a number of months) is above zero. Each rule:

- selects its records in batches with ``select_for_update(skip_locked=True)`` and changes each
  batch in a transaction of its own, so two runs at once (beat's and ``run_retention_rules``)
  split the records between them and never act on one twice;
- marks what it did (the rows are gone, or carry a stamp), so a run after it finds nothing;
- with ``dry_run``, only counts what a run would do now.

Every real run of a rule that is on writes one audit line (its action code, registered by the
app beside the rule) with the rule's counts, zero included, so the trail shows that the rule ran.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

#: Records one transaction of a rule acts on: small enough to keep locks short.
RETENTION_BATCH = 500


@dataclass(frozen=True)
class RetentionRule:
    """A rule: ``setting`` names the months setting; ``action`` the audit code of its runs.

    ``count(before=)`` returns what a run would do now (``{"leads": 12, ...}``), ``apply(before=,
    batch=)`` does it and returns the same counts; either may be a dotted path. ``before``
    is the cut-off: records whose time (last activity, closing) is before it are due."""

    name: str
    label: str
    setting: str
    action: str
    count: Callable | str
    apply: Callable | str

    def months(self) -> int:
        value = getattr(settings, self.setting, 0)
        return int(value or 0)

    def call(self, attr: str, **kwargs) -> dict:
        func = getattr(self, attr)
        if isinstance(func, str):
            func = import_string(func)
        return func(**kwargs)


class RetentionRuleRegistry:
    def __init__(self):
        self._rules: dict[str, RetentionRule] = {}

    def register(self, name: str, *, label: str, setting: str, action: str, count, apply):
        self._rules[name] = RetentionRule(name, label, setting, action, count, apply)

    def rules(self) -> list[RetentionRule]:
        return list(self._rules.values())

    def get(self, name: str) -> RetentionRule | None:
        return self._rules.get(name)


@dataclass(frozen=True)
class RuleOutcome:
    """What one rule did (or, in a dry run, would do) in one run."""

    rule: RetentionRule
    months: int
    before: datetime | None
    counts: dict

    @property
    def is_on(self) -> bool:
        return self.months > 0


def cutoff(months: int, now: datetime | None = None) -> datetime:
    """``months`` calendar months before ``now``."""
    return (now or timezone.now()) - relativedelta(months=months)


def retention_rules_run(
    *, dry_run: bool = False, now=None, batch: int = RETENTION_BATCH, names=None
) -> list[RuleOutcome]:
    """Run every registered rule that is on (or only those named), in registration order; a
    dry run counts without changing anything or writing audit lines. One rule's failure does
    not stop the others; it is raised once they ran (so the task retries: the batches it
    finished stay done, and a rerun picks up where it stopped)."""
    from crm import registry
    from crm.services.audit import audit_record

    outcomes, errors = [], []
    for rule in registry.retention_rules.rules():
        if names and rule.name not in names:
            continue
        months = rule.months()
        if months <= 0:
            outcomes.append(RuleOutcome(rule, 0, None, {}))
            continue
        before = cutoff(months, now)
        if dry_run:
            outcomes.append(RuleOutcome(rule, months, before, rule.call("count", before=before)))
            continue
        try:
            counts = rule.call("apply", before=before, batch=batch)
        except Exception as error:
            logger.exception("Retention rule %s failed; the next run goes on", rule.name)
            errors.append(error)
            continue
        audit_record(
            action=rule.action,
            detail={**counts, "months": months, "before": before.date().isoformat()},
        )
        outcomes.append(RuleOutcome(rule, months, before, counts))
    if errors:
        raise errors[0]
    return outcomes
