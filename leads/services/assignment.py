"""Routing new leads: assignment rules pick a team, then the team's reps take turns. A team
with no active rep gives its leads to its manager (the first active one) instead; a team with
neither leaves them unassigned, in its managers' "Unassigned leads" queue.

The turn is kept in one ``AssignmentCursor`` row per team, locked (``select_for_update``) while
the next rep is chosen, so concurrent captures queue up and every rep gets leads in order.
"""

from django.db import IntegrityError, transaction

from crm.choices import Role
from crm.models import Team, User
from leads.models import AssignmentCursor, AssignmentRule


def active_rules() -> list[AssignmentRule]:
    return list(AssignmentRule.objects.filter(is_active=True).select_related("team"))


def team_for(*, lead, rules) -> Team | None:
    """The team of the first rule (by priority) that the lead matches, or None."""
    country = str(lead.country or "").upper()
    for rule in rules:
        codes = rule.country_codes
        if codes and country not in codes:
            continue
        if rule.source and rule.source != lead.source:
            continue
        if rule.min_employees is not None and (
            lead.employees is None or lead.employees < rule.min_employees
        ):
            continue
        if rule.max_employees is not None and (
            lead.employees is None or lead.employees > rule.max_employees
        ):
            continue
        return rule.team
    return None


def _cursor_locked(team: Team) -> AssignmentCursor:
    try:
        with transaction.atomic():
            AssignmentCursor.objects.get_or_create(team=team)
    except IntegrityError:
        pass  # a concurrent capture made it first
    return AssignmentCursor.objects.select_for_update().get(team=team)


@transaction.atomic
def reps_in_turn(*, team: Team, count: int = 1) -> list[int]:
    """The ids of the next ``count`` reps of ``team`` in round-robin order (empty: no reps)."""
    rep_ids = list(
        User.objects.filter(teams=team, is_active=True, groups__name=Role.SALES_REP)
        .order_by("id")
        .values_list("id", flat=True)
        .distinct()
    )
    if not rep_ids or count < 1:
        return []
    cursor = _cursor_locked(team)
    later = [i for i, rep_id in enumerate(rep_ids) if rep_id > (cursor.last_user_id or 0)]
    start = later[0] if later else 0
    picked = [rep_ids[(start + n) % len(rep_ids)] for n in range(count)]
    cursor.last_user_id = picked[-1]
    cursor.save(update_fields=["last_user"])
    return picked


def fallback_owner_id(*, team: Team) -> int | None:
    """Who takes a team's leads while it has no active rep: its first active manager."""
    return team.managers.filter(is_active=True).order_by("id").values_list("id", flat=True).first()


def owners_in_turn(*, team: Team, count: int = 1) -> list[int]:
    """The owners of the next ``count`` leads routed to ``team``: its reps in turn, else its
    fallback owner for each; empty when the team has neither."""
    picked = reps_in_turn(team=team, count=count)
    if picked or count < 1:
        return picked
    fallback = fallback_owner_id(team=team)
    return [fallback] * count if fallback is not None else []
