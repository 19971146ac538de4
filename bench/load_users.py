"""The people a load test signs in as (``bin/load-test``), on a database holding the demo data.

``python bench/load_users.py --reps 20 --agents 10 --managers 3`` makes (or keeps) the users
``load-rep-01``…, ``load-agent-01``… and ``load-manager-01``… with the password ``demo``:
invited through the People service as an admin would invite them (roles and teams, an audit
line and an invitation email each), then given that password. Reps join the "Sales" team and
agents the "Support" team; the managers manage both, like the demo's ``manager``.

Each rep then owns a working day's records: open leads and open deals handed over by an admin
through the leads' and deals' reassignment services (timeline lines and notifications as a
manager's reassignment leaves them), taken from the demo's records in id order, never from the
demo logins (``rep``, ``rep2``, …) so their pages stay as the demo made them. Agents share the
whole support desk by the role rules and need nothing of their own.

Running it again changes nothing for users that exist already, and tops up a rep who has fewer
records than asked.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "load-"


@dataclass(frozen=True)
class LoadUsers:
    """Usernames made for a load run, by role."""

    reps: list[str]
    agents: list[str]
    managers: list[str]


def _names(kind: str, count: int) -> list[str]:
    return [f"{PREFIX}{kind}-{i:02d}" for i in range(1, count + 1)]


def load_users_create(
    *,
    reps: int = 20,
    agents: int = 10,
    managers: int = 3,
    password: str = "demo",
    leads_per_rep: int = 60,
    deals_per_rep: int = 20,
    stdout=None,
) -> LoadUsers:
    from django.db import transaction

    from crm.choices import Role
    from crm.models import Team, User
    from crm.services.people import team_create, team_update, user_invite

    stdout = stdout or sys.stdout
    admin = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
    if admin is None:
        raise SystemExit("No active admin to invite the load users: run seed_demo first.")
    teams = {}
    for name in ("Sales", "Support"):
        team = Team.objects.filter(name=name).first()
        teams[name] = team or team_create(actor=admin, name=name)
    wanted = (
        [(name, Role.SALES_REP, teams["Sales"]) for name in _names("rep", reps)]
        + [(name, Role.SUPPORT_AGENT, teams["Support"]) for name in _names("agent", agents)]
        + [(name, Role.MANAGER, None) for name in _names("manager", managers)]
    )
    made = 0
    for username, role, team in wanted:
        if User.objects.filter(username=username).exists():
            continue
        kind, number = username.removeprefix(PREFIX).split("-")
        user_invite(
            actor=admin,
            username=username,
            email=f"{username}@load.example.com",
            first_name=kind.capitalize(),
            last_name=f"Load {number}",
            roles=[role],
            teams=[team] if team else [],
        )
        made += 1
    users = {u.username: u for u in User.objects.filter(username__in=[w[0] for w in wanted])}
    for user in users.values():
        if not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
    manager_users = [users[name] for name in _names("manager", managers)]
    for team in teams.values():
        team_update(
            actor=admin,
            team=team,
            name=team.name,
            members=list(team.members.all()),
            managers=[*team.managers.all(), *manager_users],
        )
    stdout.write(f"load users: {made} invited, {len(users) - made} kept\n")
    rep_users = [users[name] for name in _names("rep", reps)]
    with transaction.atomic():
        leads, deals = _records_hand_over(
            admin=admin, reps=rep_users, leads_per_rep=leads_per_rep, deals_per_rep=deals_per_rep
        )
    stdout.write(f"load users: {leads} leads and {deals} deals handed to the reps\n")
    return LoadUsers(
        reps=_names("rep", reps),
        agents=_names("agent", agents),
        managers=_names("manager", managers),
    )


def _records_hand_over(*, admin, reps, leads_per_rep: int, deals_per_rep: int) -> tuple[int, int]:
    """Open leads and deals for each rep short of them, from the demo's records that no demo
    login and no load rep owns, in id order."""
    from crm.models import User
    from crm.seeding.run import DEMO_USERS
    from leads.models import Lead
    from leads.services.leads import leads_bulk_reassign
    from sales.models import Opportunity
    from sales.services.opportunities import opportunity_update

    demo_logins = User.objects.filter(username__in=[row[0] for row in DEMO_USERS])
    excluded = [*demo_logins.values_list("pk", flat=True), *(r.pk for r in reps)]
    lead_pool = Lead.objects.open().exclude(owner_id__in=excluded).order_by("pk")
    deal_pool = Opportunity.objects.open().exclude(owner_id__in=excluded).order_by("pk")
    moved_leads = moved_deals = 0
    for rep in reps:
        short = leads_per_rep - Lead.objects.open().filter(owner=rep).count()
        if short > 0:
            ids = list(lead_pool.values_list("pk", flat=True)[:short])
            moved_leads += leads_bulk_reassign(
                leads=Lead.objects.filter(pk__in=ids), owner=rep, user=admin
            )
        short = deals_per_rep - Opportunity.objects.open().filter(owner=rep).count()
        if short > 0:
            for deal in deal_pool[:short]:
                opportunity_update(opportunity=deal, user=admin, owner=rep)
                moved_deals += 1
    return moved_leads, moved_deals


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--managers", type=int, default=3)
    parser.add_argument("--password", default="demo")
    parser.add_argument("--leads-per-rep", type=int, default=60)
    parser.add_argument("--deals-per-rep", type=int, default=20)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.base")
    import django

    django.setup()
    load_users_create(
        reps=args.reps,
        agents=args.agents,
        managers=args.managers,
        password=args.password,
        leads_per_rep=args.leads_per_rep,
        deals_per_rep=args.deals_per_rep,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
