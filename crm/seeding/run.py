"""The demo users, and a seed run: every registered step in order, in one transaction."""

from __future__ import annotations

import datetime as dt
import math
import os
import random
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager, nullcontext

from django.db import connection, models
from django.db.models.expressions import RawSQL

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
            sizes = _table_sizes()
            step.run(step_ctx)
            # Statistics of the rows just written (ANALYZE sees this transaction's rows): the
            # next steps' set-based queries (campaign outcomes, rollups) are planned on what is
            # there, not on empty tables, which chose nested loops that ran for minutes. Only
            # the tables the step wrote: sampling every big table after every step cost more
            # than some steps.
            _analyze_tables(only=_tables_written(since_sizes=sizes))
        step_ctx.progress(f"done in {_since(started)}")
    if not connection.in_atomic_block:
        # Fresh statistics and visibility maps, so the first page views get good plans.
        started = time.monotonic()
        _vacuum_tables()
        ctx.progress(f"vacuum and analyze in {_since(started)}")
    return ctx


def _table_sizes() -> dict[str, int]:
    """The size in bytes of each of this database's own tables (what a step wrote grew)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT format('%I.%I', schemaname, tablename), "
            "pg_relation_size(format('%I.%I', schemaname, tablename)) FROM pg_tables "
            "WHERE schemaname = ANY(current_schemas(false))"
        )
        return dict(cursor.fetchall())


def _tables_written(*, since_sizes: dict[str, int]) -> set[str]:
    """The tables that grew since ``since_sizes`` was read, and those this transaction wrote:
    rows written into a table's free space (left by rows deleted earlier) do not grow it."""
    grown = {t for t, size in _table_sizes().items() if since_sizes.get(t) != size}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT format('%I.%I', schemaname, relname) FROM pg_stat_xact_user_tables "
            "WHERE n_tup_ins + n_tup_upd + n_tup_del > 0 "
            "AND schemaname = ANY(current_schemas(false))"
        )
        return grown | {name for (name,) in cursor.fetchall()}


def _analyze_tables(*, only: set[str] | None = None) -> None:
    """``ANALYZE`` this database's own tables (or ``only`` those). A bare ``ANALYZE`` also takes
    the catalogs shared by every database of the server, and waits for any other database's
    transaction that analyzed them to end."""
    tables = ", ".join(sorted(_table_sizes() if only is None else only))
    if tables:
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {tables}")


#: Connections that vacuum the tables side by side at the end of a run: one table's
#: ``VACUUM`` runs in one server process, and most of the time is in a few big tables.
VACUUM_CONNECTIONS = min(2, os.cpu_count() or 1)


def _vacuum_tables() -> None:
    """``VACUUM (ANALYZE)`` this database's own tables, largest first, on
    ``VACUUM_CONNECTIONS`` connections of their own (outside any transaction: a vacuum cannot
    run in one)."""
    from concurrent.futures import ThreadPoolExecutor

    sizes = _table_sizes()

    def vacuum(table: str) -> None:
        # A thread has connections of its own (Django's are per thread); closed when done.
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"VACUUM (ANALYZE) {table}")
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=VACUUM_CONNECTIONS) as pool:
        # list(): a failed vacuum raises here.
        list(pool.map(vacuum, sorted(sizes, key=lambda t: (-sizes[t], t))))


#: Rows read, computed and copied per round of ``seed_match_keys_and_quality``.
SCORE_BATCH = 5000
#: A table with at least this many rows is computed by ``SCORE_WORKERS`` processes of their
#: own, each reading ``SCORE_SHARE`` rows at a time through its own connection: the Python work
#: is most of the step at ``--scale 100`` and more, and one process uses one core.
PARALLEL_SCORE_ROWS = 100_000
SCORE_WORKERS = min(4, os.cpu_count() or 1)
SCORE_SHARE = 20_000
#: ``ctx.shared`` key: the transaction that wrote each model's rows with their keys and scores.
SCORED_IN = "scored_in"
#: The columns ``seed_match_keys_and_quality`` writes, none of them in the field history.
SCORE_COLUMNS = ("match_keys", "match_name", "quality", "quality_age_band")


def seed_match_keys_and_quality(ctx: SeedContext) -> None:
    """The steps write people and companies with COPY, around the services: their
    duplicate-matching keys (``crm.matching.match_fields``) and data-quality scores
    (``crm.quality.quality_of`` at the anchor) are checked here, after every step that writes
    them or their activity. A step that wrote its rows with their keys and scores
    (``scored_rows``) leaves only the rows later steps changed to compute; a table written
    without them is computed whole. The stale rows' four columns are written by one ``UPDATE``
    per table joined to a temporary table filled by COPY, with the table's indexes deferred
    when many rows are: each index is then built once instead of taking a million random
    inserts (GIN indexes of names and keys most of all). The rows are read as values
    (no querysets of instances), and the seed's phone numbers, valid by construction, are taken
    as valid by their pattern instead of parsed (parsing was a third of the computing). A big
    table is computed in worker processes, one per core (``PARALLEL_SCORE_ROWS``), the next
    table's rows while this process writes a table and rebuilds its indexes. None of the
    columns is in the field history, so the tables' update-history triggers are off for the
    ``UPDATE`` (``crm.history.untracked_writes``)."""
    from django.apps import apps

    from crm import history
    from crm.quality import QUALITY_MODELS

    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE seed_scores (id bigint, match_keys varchar(100)[], "
            "match_name varchar(200), quality smallint, quality_age_band smallint) "
            "ON COMMIT DROP"
        )
    pool = None

    def computing(label):
        """Start computing the rows of ``label``: (model, when started, the (rows read, stale
        rows) of each share or batch as it comes)."""
        nonlocal pool
        model = apps.get_model(label)
        started = time.monotonic()
        low, high, rows = model.objects.aggregate(
            low=models.Min("pk"), high=models.Max("pk"), rows=models.Count("pk")
        ).values()
        written_in = ctx.shared.get(SCORED_IN, {}).get(label)
        if rows < PARALLEL_SCORE_ROWS or SCORE_WORKERS < 2:
            return model, started, _stale_in_batches(model, ctx.now, written_in)
        pool = pool or _score_pool()
        futures = [
            pool.submit(_stale_in_share, label, lo, lo + SCORE_SHARE, ctx.now, written_in)
            for lo in range((low or 1) - 1, high or 0, SCORE_SHARE)
        ]
        return model, started, (future.result() for future in futures)

    try:
        following = computing(QUALITY_MODELS[0])
        for position in range(len(QUALITY_MODELS)):
            model, started, computed = following
            seen, changed = 0, 0
            with connection.cursor() as cursor:
                cursor.execute("TRUNCATE seed_scores")
                for read, stale in computed:
                    if stale:
                        with cursor.cursor.copy("COPY seed_scores FROM STDIN") as copy:
                            for row in stale:
                                copy.write_row(row)
                    seen, changed = seen + read, changed + len(stale)
                ctx.progress(
                    f"{model._meta.verbose_name_plural}: {seen:,} read, {changed:,} to write, "
                    f"computed in {_since(started)}"
                )
                # The worker processes compute the next table (which this step does not
                # write before its turn) while this one is written and its indexes rebuilt.
                if position + 1 < len(QUALITY_MODELS):
                    following = computing(QUALITY_MODELS[position + 1])
                table = qn(model._meta.db_table)
                with (
                    ctx.indexes_deferred(model, when=changed >= 50_000, foreign_keys=False),
                    history.untracked_writes(model, set(SCORE_COLUMNS)),
                ):
                    started = time.monotonic()
                    cursor.execute(
                        f"UPDATE {table} AS t SET "
                        + ", ".join(f"{column} = s.{column}" for column in SCORE_COLUMNS)
                        + f" FROM seed_scores AS s WHERE t.{qn(model._meta.pk.column)} = s.id"
                    )
                    ctx.progress(f"{model._meta.verbose_name_plural}: written in {_since(started)}")
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE seed_scores")


def _score_fields(model) -> list[str]:
    """The attribute names the keys and score of ``model`` read, in the model's field order (as
    ``Model.from_db`` takes them), the primary key first."""
    from crm.services.quality import _scored_fields

    read = set(_scored_fields(model)) | {"match_keys", "match_name"}
    read |= {"first_name", "last_name", "email", "phone", "company_name"}
    read |= {"website", "country", "name", "domain"}
    return [
        f.attname
        for f in model._meta.concrete_fields
        if f.primary_key or f.name in read or f.attname in read
    ]


def _changed_since_scored(queryset, written_in: int | None):
    """``queryset`` without the rows that are still as the transaction ``written_in`` wrote
    them with their keys and scores (``scored_rows``; None: every row). A row written or
    changed by any later transaction has another ``xmin`` (the id of the transaction that
    wrote that version of it)."""
    if written_in is None:
        return queryset
    return queryset.alias(_xmin=_xmin(queryset.model)).exclude(_xmin=written_in)


def _xmin(model) -> RawSQL:
    """The id of the transaction that wrote a row's version of ``model`` (its ``xmin``), as an
    integer."""
    return RawSQL(f"{connection.ops.quote_name(model._meta.db_table)}.xmin::text::bigint", ())


def _stale_in_batches(model, now, written_in: int | None = None):
    """(rows read, stale rows) for each batch of ``model``'s rows (those changed since
    ``written_in``), computed here."""
    from crm.normalize import phones_known_valid
    from crm.seeding.words import phone_number_pattern

    seed_phones = phone_number_pattern()
    fields = _score_fields(model)
    rows = _changed_since_scored(model.objects.values_list(*fields).order_by("pk"), written_in)
    last = 0
    while True:
        batch = list(rows.filter(pk__gt=last)[:SCORE_BATCH])
        if not batch:
            return
        with phones_known_valid(seed_phones):
            yield len(batch), _stale_scores(model, fields, batch, now)
        last = batch[-1][0]


def _score_pool():
    """``SCORE_WORKERS`` fresh processes (spawned, not forked: a forked child would share this
    process's database connection) set up to read the database this process uses."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from crm.spawned import django_start

    return ProcessPoolExecutor(
        max_workers=SCORE_WORKERS,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=django_start,
        initargs=(dict(connection.settings_dict),),
    )


def _stale_in_share(
    label: str, low: int, high: int, now, written_in: int | None = None
) -> tuple[int, list[tuple]]:
    """In a worker process: (rows read, stale rows) of the rows of ``label`` whose keys are in
    ``low`` (excluded) .. ``high`` (included), those changed since ``written_in``."""
    from django.apps import apps

    from crm.normalize import phones_known_valid
    from crm.seeding.words import phone_number_pattern

    model = apps.get_model(label)
    fields = _score_fields(model)
    rows = model.objects.values_list(*fields).filter(pk__gt=low, pk__lte=high).order_by("pk")
    batch = list(_changed_since_scored(rows, written_in))
    with phones_known_valid(phone_number_pattern()):
        return len(batch), _stale_scores(model, fields, batch, now)


def _scores_of(record, now) -> tuple:
    """A record's ``SCORE_COLUMNS``: its matching keys (``match_fields``) and its score and
    freshness band (``quality_of`` at ``now``)."""
    from crm.matching import match_fields
    from crm.quality import quality_of

    keys = match_fields(record)
    quality = quality_of(record, now=now)
    return keys["match_keys"], keys["match_name"], quality.score, quality.age_band


def row_scorer(model, fields: list[str], now) -> Callable[[tuple], tuple]:
    """A function giving the ``SCORE_COLUMNS`` of a row of ``model`` about to be written (its
    values in ``fields`` order), computed as ``seed_match_keys_and_quality`` computes them. Every
    field the keys and score read must be among ``fields`` (``ValueError`` otherwise), and the
    row is not read from the database: it can be computed while a COPY streams. For the seed's
    phone numbers, call it inside ``phones_known_valid`` (as ``scored_rows`` does)."""
    read = _score_fields(model)
    missing = {f for f in read if f not in SCORE_COLUMNS} - set(fields)
    if missing:
        raise ValueError(f"{model.__name__} rows lack {sorted(missing)}, read by keys and score")
    if set(SCORE_COLUMNS) & set(fields):
        raise ValueError(f"{model.__name__} rows already have {SCORE_COLUMNS}")
    # The stored columns are what is computed; not read.
    positions = [None if f in SCORE_COLUMNS else fields.index(f) for f in read]

    def scores(row: tuple) -> tuple:
        values = [None if i is None else row[i] for i in positions]
        return _scores_of(model.from_db("default", read, values), now)

    return scores


#: What ``scored_rows`` writes in the ``SCORE_COLUMNS`` of a row the step scores itself later in
#: the same transaction (``later``): no keys, no name, no score, as a row never scored.
UNSCORED = ([], "", None, None)


@contextmanager
def scored_rows(
    ctx: SeedContext,
    model,
    fields: list[str],
    rows: Iterable[tuple],
    *,
    later: Callable[[tuple], bool] | None = None,
):
    """For the block: ``fields`` and ``rows`` with each row's ``SCORE_COLUMNS`` (``row_scorer``,
    at the anchor) added, for the step to write them (``insert_rows``) in the block. People and
    companies are written complete, and the keys step computes only the rows that a later
    transaction wrote or changed, instead of rewriting every row and rebuilding every index of
    the tables a second time. It knows them by their ``xmin``, the transaction that wrote each
    row's version: when the block ends, the ``xmin`` of the first row written is noted in
    ``ctx.shared[SCORED_IN]``. The rows must have their primary key (``id``) first.

    A row for which ``later(row)`` is true is written ``UNSCORED``: the step changes it before
    the transaction ends and must write its keys and score then (the leads step's converted
    leads, which take their contact's name once linked). The keys step would not see it stale."""
    from crm.normalize import phones_known_valid
    from crm.seeding.words import phone_number_pattern

    if fields[0] != model._meta.pk.attname:
        raise ValueError(f"{model.__name__} rows need their primary key first")
    scores = row_scorer(model, fields, ctx.now)
    first = []

    def scored():
        with phones_known_valid(phone_number_pattern()):
            for row in rows:
                if not first:
                    first.append(row[0])
                if later is not None and later(row):
                    yield (*row, *UNSCORED)
                else:
                    yield (*row, *scores(row))

    yield [*fields, *SCORE_COLUMNS], scored()
    if first:
        ctx.shared.setdefault(SCORED_IN, {})[model._meta.label] = (
            model.objects.filter(pk=first[0])
            .annotate(_xmin=_xmin(model))
            .values_list("_xmin", flat=True)
            .get()
        )


def _stale_scores(model, fields: list[str], batch: list[tuple], now) -> list[tuple]:
    """The rows of ``batch`` (values of ``fields``, the primary key first) whose stored keys or
    score differ from what ``match_fields`` and ``quality_of`` give: (pk, keys, name, score,
    band)."""
    stale = []
    for values in batch:
        record = model.from_db("default", fields, values)
        computed = _scores_of(record, now)
        stored = (record.match_keys, record.match_name, record.quality, record.quality_age_band)
        if computed != stored:
            stale.append((record.pk, *computed))
    return stale
