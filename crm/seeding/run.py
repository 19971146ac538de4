"""The demo users, and a seed run: every registered step in order, in one transaction."""

from __future__ import annotations

import datetime as dt
import math
import random
import sys
import time
from contextlib import nullcontext

from django.db import connection

from crm.registry import seed_steps
from crm.seeding.context import DEFAULT_SEED, SeedContext, _is_numbered, _since
from crm.seeding.words import COUNTRIES, person_name

# --------------------------------------------------------------------------------------------
# Demo users and the run.
# --------------------------------------------------------------------------------------------

DEMO_USERS = (
    # username, first name, last name, roles
    ("admin", "Alex", "Morgan", ("Admin",)),
    ("manager", "Maria", "Keller", ("Manager",)),
    ("rep", "Ryan", "Cooper", ("Sales rep",)),
    ("rep2", "Sofia", "Rossi", ("Sales rep",)),
    ("agent", "Ava", "Johnson", ("Support agent",)),
)


def extra_staff(scale: float) -> tuple[int, int]:
    """Extra sales reps and support agents at larger scales (18 and 6 at scale 1000)."""
    reps = min(18, int(math.sqrt(scale))) if scale >= 4 else 0
    return reps, reps // 3


def demo_users_create(*, scale: float, password: str, seed: str = DEFAULT_SEED) -> dict:
    """The demo users (created or reset to their demo state) and the teams "Sales" and "Support",
    both managed by ``manager``. Returns the users by username, reps and agents in order."""
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import Group

    from crm.choices import Role
    from crm.models import Team, User

    rng = random.Random(f"{seed}:users")
    extra_reps, extra_agents = extra_staff(scale)
    wanted = list(DEMO_USERS)
    country = COUNTRIES[0]
    for i in range(extra_reps):
        wanted.append((f"rep{i + 3}", *person_name(rng, country), (Role.SALES_REP,)))
    for i in range(extra_agents):
        wanted.append((f"agent{i + 2}", *person_name(rng, country), (Role.SUPPORT_AGENT,)))
    groups = {g.name: g for g in Group.objects.filter(name__in=Role.values)}
    # One hash for all: hashing is deliberately slow, and they share the password anyway.
    password_hash = make_password(password)
    users = {}
    for username, first, last, roles in wanted:
        user, _ = User.objects.update_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@demo.example.com",
                "password": password_hash,
                "is_active": True,
                "is_staff": username == "admin",
                "is_superuser": username == "admin",
            },
        )
        user.groups.set([groups[role] for role in roles])
        users[username] = user
    sales, _ = Team.objects.get_or_create(name="Sales")
    sales.members.add(*(u for name, u in users.items() if _is_numbered(name, "rep")))
    sales.managers.add(users["manager"])
    support, _ = Team.objects.get_or_create(name="Support")
    support.members.add(*(u for name, u in users.items() if _is_numbered(name, "agent")))
    support.managers.add(users["manager"])
    return users


def demo_data_exists() -> bool:
    from crm.models import Account, User

    return User.objects.filter(username="rep").exists() and Account.objects.exists()


def anchor_datetime(day: dt.date | None = None) -> dt.datetime:
    """The moment the demo's dates are relative to: midnight UTC at the start of ``day``, or
    by default the current minute, so what runs by the clock (SLA timers, due tasks) stands
    as the demo means it when it is loaded, not as it would have at midnight."""
    if day is None:
        return dt.datetime.now(dt.UTC).replace(second=0, microsecond=0)
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=dt.UTC)


def seed_run(
    *,
    scale: float,
    password: str,
    stdout=None,
    anchor: dt.date | None = None,
    seed: str = DEFAULT_SEED,
) -> SeedContext:
    """Create the demo users and run every registered step, each in its own transaction that
    commits when the step ends: the users can sign in while the later steps run, and no lock is
    held on them for the whole seed. A step registered with ``atomic=False`` (the rollup
    rebuild, which commits month by month) manages its own transactions."""
    from django.db import transaction

    stdout = stdout or sys.stdout
    with transaction.atomic():
        users = demo_users_create(scale=scale, password=password, seed=seed)
    ctx = SeedContext(
        scale=scale, users=users, now=anchor_datetime(anchor), stdout=stdout, seed=seed
    )
    for step in seed_steps.steps():
        started = time.monotonic()
        step_ctx = ctx.for_step(step.name)
        with transaction.atomic() if step.atomic else nullcontext():
            step.run(step_ctx)
            # Statistics of the rows just written (ANALYZE sees this transaction's rows): the
            # next steps' set-based queries (campaign outcomes, rollups) are planned on what is
            # there, not on empty tables, which chose nested loops that ran for minutes.
            _analyze_tables()
        step_ctx.progress(f"done in {_since(started)}")
    if not connection.in_atomic_block:
        # Fresh statistics and visibility maps, so the first page views get good plans.
        started = time.monotonic()
        _analyze_tables(vacuum=True)
        ctx.progress(f"vacuum and analyze in {_since(started)}")
    return ctx


def _analyze_tables(*, vacuum: bool = False) -> None:
    """``ANALYZE`` (or ``VACUUM (ANALYZE)``) this database's own tables. A bare ``ANALYZE``
    also takes the catalogs shared by every database of the server, and waits for any other
    database's transaction that analyzed them to end."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT string_agg(format('%I.%I', schemaname, tablename), ', ') FROM pg_tables "
            "WHERE schemaname = ANY(current_schemas(false))"
        )
        (tables,) = cursor.fetchone()
        if tables:
            cursor.execute(f"{'VACUUM (ANALYZE)' if vacuum else 'ANALYZE'} {tables}")


def seed_match_keys(ctx: SeedContext) -> None:
    """The steps write rows with COPY, around the services: their duplicate-matching keys are
    computed here, once, after every step that writes people and companies."""
    from crm.services.duplicates import match_keys_refresh

    for model, seen, _ in match_keys_refresh():
        ctx.progress(f"matching keys of {seen:,} {model._meta.verbose_name_plural}")


def seed_quality_scores(ctx: SeedContext) -> None:
    """The data-quality scores of the seeded records, so the demo lists show real ones."""
    from crm.services.quality import quality_refresh_all

    for model, seen, _ in quality_refresh_all(now=ctx.now):
        ctx.progress(f"quality scores of {seen:,} {model._meta.verbose_name_plural}")
