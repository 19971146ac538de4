"""``seed_demo`` commits step by step: the demo users can sign in while a later step runs, and
the rollups' step, last, commits as it goes."""

import io

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection, transaction

from crm.choices import Role
from crm.models import Account
from crm.registry import SeedRegistry
from crm.seeding import run as seed_module
from crm.seeding import seed_run
from tests.factories.crm import AccountFactory


@pytest.fixture(autouse=True)
def _roles():
    """The role groups (a data migration makes them; a transactional test before may have
    emptied the tables)."""
    for role in Role.values:
        Group.objects.get_or_create(name=role)


def _other_session():
    """A second connection to the test database, as a person signing in would have."""
    return psycopg.connect(**connection.get_connection_params(), autocommit=True)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_users_can_sign_in_while_a_step_runs(monkeypatch):
    seen = {}
    users = connection.ops.quote_name(get_user_model()._meta.db_table)

    def busy_step(ctx):
        AccountFactory(name="Written by the step", owner=ctx.users["rep"])
        with _other_session() as other:
            other.execute("SET lock_timeout = '3s'")  # a held lock fails the test, not hangs
            found = other.execute(f"SELECT 1 FROM {users} WHERE username = 'rep'").fetchone()
            other.execute(f"UPDATE {users} SET last_login = now() WHERE username = 'rep'")
            step_rows = other.execute("SELECT count(*) FROM crm_account").fetchone()[0]
        seen.update(user_committed=found is not None, step_rows_seen=step_rows)

    def last_step(ctx):
        seen["last_in_transaction"] = connection.in_atomic_block

    steps = SeedRegistry()
    steps.register("busy", busy_step, order=1)
    steps.register("last", last_step, order=1000, atomic=False)
    monkeypatch.setattr(seed_module, "seed_steps", steps)

    seed_run(scale=0.01, password="demo", stdout=io.StringIO())

    # The user was committed before the step began and signing in (writing last_login) did
    # not wait for the step; the step's own rows were not visible until it ended.
    assert seen == {"user_committed": True, "step_rows_seen": 0, "last_in_transaction": False}
    assert Account.objects.filter(name="Written by the step").exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_failed_step_keeps_the_steps_before_it(monkeypatch):
    def first(ctx):
        AccountFactory(name="First step", owner=ctx.users["rep"])

    def broken(ctx):
        AccountFactory(name="Broken step", owner=ctx.users["rep"])
        raise RuntimeError("the step failed")

    steps = SeedRegistry()
    steps.register("first", first, order=1)
    steps.register("broken", broken, order=2)
    monkeypatch.setattr(seed_module, "seed_steps", steps)

    with pytest.raises(RuntimeError):
        seed_run(scale=0.01, password="demo", stdout=io.StringIO())

    assert list(Account.objects.values_list("name", flat=True)) == ["First step"]
    assert get_user_model().objects.filter(username="rep").exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_keys_and_scores_computed_in_worker_processes_are_the_services(monkeypatch):
    """At scale the keys step computes in processes of their own; what they write is what
    ``match_fields`` and ``quality_of`` give, for every row of every share."""
    import datetime as dt

    from crm.matching import match_fields
    from crm.models import Contact
    from crm.quality import quality_of
    from crm.seeding.context import SeedContext
    from leads.models import Lead
    from tests.factories.crm import ContactFactory, UserFactory
    from tests.factories.leads import LeadFactory

    owner = UserFactory()
    records = [
        *(AccountFactory(owner=owner, domain=f"firm{i}.example.com") for i in range(5)),
        *(ContactFactory(owner=owner, phone="+49 30 1234567" if i % 2 else "") for i in range(7)),
        *(LeadFactory(owner=owner, company_name=f"Firm {i}") for i in range(6)),
    ]
    for model in (Account, Contact, Lead):
        model.objects.update(match_keys=[], match_name="", quality=None, quality_age_band=None)
    monkeypatch.setattr(seed_module, "PARALLEL_SCORE_ROWS", 1)
    monkeypatch.setattr(seed_module, "SCORE_WORKERS", 2)
    monkeypatch.setattr(seed_module, "SCORE_SHARE", 3)
    now = dt.datetime(2026, 1, 5, 12, tzinfo=dt.UTC)
    ctx = SeedContext(scale=1, users={}, now=now, stdout=io.StringIO())
    with transaction.atomic():
        seed_module.seed_match_keys_and_quality(ctx)

    for model in (Account, Contact, Lead):
        rows = model.objects.count()
        name = model._meta.verbose_name_plural
        assert f"{name}: {rows} read, {rows} to write" in ctx.stdout.getvalue()
    for record in records:
        stored = type(record).objects.get(pk=record.pk)
        quality = quality_of(stored, now=now)
        assert (stored.quality, stored.quality_age_band) == (quality.score, quality.age_band)
        keys = match_fields(stored)
        assert (stored.match_keys, stored.match_name) == (keys["match_keys"], keys["match_name"])
        assert stored.match_keys or stored.match_name
        # Keys and scores are not in the field history: the step leaves no update events.
        assert not stored.history_events.filter(pgh_label="update").exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_run_ends_with_every_table_vacuumed_and_analyzed(monkeypatch):
    """The closing ``VACUUM (ANALYZE)`` runs table by table on connections of its own, side by
    side; every table of the database is done when the run returns."""
    steps = SeedRegistry()
    steps.register("one", lambda ctx: AccountFactory(owner=ctx.users["rep"]), order=1)
    monkeypatch.setattr(seed_module, "seed_steps", steps)
    monkeypatch.setattr(seed_module, "VACUUM_CONNECTIONS", 2)

    seed_run(scale=0.01, password="demo", stdout=io.StringIO())

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_stat_user_tables WHERE schemaname = ANY(current_schemas(false)) "
            "AND (last_vacuum IS NULL OR last_analyze IS NULL)"
        )
        assert cursor.fetchall() == []
