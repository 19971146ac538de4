"""``seed_demo`` commits step by step: the demo users can sign in while a later step runs, and
the rollups' step, last, commits as it goes."""

import io

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection

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
