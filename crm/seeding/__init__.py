"""Demo data, built in steps that each app registers (``seed_demo`` runs them in order).

A step is ``func(ctx)``; ``ctx`` (a ``SeedContext``) carries what every step needs:

- ``rng``: a ``random.Random`` seeded from the run's seed and the step's name, so a step's output
  depends only on the arguments, never on which other steps ran before it;
- ``scale``: the volume multiplier (``ctx.count(base)`` scales a scale-1 count);
- ``users``: the demo users by username (``admin``, ``manager``, ``rep``, ``rep2``, ``agent``
  and the extra ``repN`` / ``agentN`` of larger scales), with ``ctx.reps`` and ``ctx.agents`` as
  lists;
- ``now``: the anchor every date is relative to: midnight UTC at the start of the anchor day
  (today unless ``--anchor-date`` is given). Row content (names, emails, phones, who owns what,
  offsets from the anchor) is the same for the same arguments; absolute dates move with the day
  the data is seeded, so "due today" and "overdue" stay true for a fresh demo;
- ``bulk_create(model, objs)`` for model instances and ``insert_rows(model, fields, rows)`` for
  plain tuples (PostgreSQL ``COPY``, the way to write millions of rows; ``order_by`` stores them
  in a field's order, as rows written over time lie, and ``staged`` fills in what the step
  learns from them before they are stored), ``indexes_deferred`` around big loads,
  ``crm.seeding.run.scored_rows`` to write people and companies with their matching keys and
  scores, ``reserve_ids`` to know the primary keys of rows before writing them, and ``shared``
  to hand data to later steps;
- ``stdout``: where progress goes (``ctx.progress(message)``).

Every app registers its step from its ``apps.py`` by dotted path (``crm.registry.seed_steps``), so
no seed code is imported until ``seed_demo`` runs::

    from crm.registry import seed_steps
    seed_steps.register("sales", "sales.seed.seed", order=20)

The package: ``context`` (``SeedContext``), ``words`` (the shared generators), ``run`` (demo users
and the run), ``core`` (the core step, order 0: accounts, contacts, timeline, tasks). The word
lists and generators (``person_name``, ``company_name``, ``phone_number``…) are shared so every
stage's demo data looks alike.
"""

from crm.registry import (  # noqa: F401
    SeedStep,
    seed_steps,
)
from crm.seeding.context import (  # noqa: F401
    BATCH_SIZE,
    DEFAULT_SEED,
    SeedContext,
    _copy_adapter,
    _is_numbered,
    _since,
)
from crm.seeding.core import (  # noqa: F401
    ACCOUNT_EXPONENT,
    TWO_YEARS,
    CoreData,
    _core_load,
    seed_core,
)
from crm.seeding.run import (  # noqa: F401
    DEMO_USERS,
    anchor_datetime,
    demo_data_exists,
    demo_users_create,
    extra_staff,
    seed_run,
)
from crm.seeding.words import (  # noqa: F401
    COUNTRIES,
    COUNTRY_WEIGHTS,
    FIRST_NAMES,
    FUNCTIONS,
    INDUSTRY_VALUES,
    INDUSTRY_WORDS,
    LAST_NAMES,
    LIFECYCLE,
    NAME_STEMS,
    PERSONAL_DOMAINS,
    SENIORITY,
    SIZE_BANDS,
    TITLE_FORMS,
    TOPICS,
    Country,
    UniqueNames,
    _words,
    ascii_slug,
    company_name,
    days_ago,
    email_local_part,
    job_title,
    person_name,
    phone_number,
    pick_country,
    pick_weighted,
    working_hours,
)
