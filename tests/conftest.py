import pytest

from crm.choices import Role
from crm.localdb import EmbeddedDatabaseError, server_for
from tests.factories import TeamFactory, UserFactory
from tests.mailserver import mailserver  # noqa: F401  (the local IMAP server fixture)


def pytest_sessionstart(session):
    """With no DATABASE_URL the suite runs on the checkout's embedded PostgreSQL: the test run
    (its controller, under xdist) starts it before any test database is made, and stops it at
    the end if it was not already running (a `make run` in another terminal keeps its server)."""
    if hasattr(session.config, "workerinput"):
        return
    from django.conf import settings

    db = settings.DATABASES["default"]
    if db["ENGINE"] != "crm.localdb":
        return
    server = server_for(db)
    try:
        session.config.embedded_server_started = server.ensure_running()
    except EmbeddedDatabaseError as error:
        pytest.exit(f"error: {error}", returncode=2)
    session.config.embedded_server = server


def pytest_unconfigure(config):
    if getattr(config, "embedded_server_started", False):
        config.embedded_server.stop()


@pytest.fixture(autouse=True)
def _home_figures_forgotten():
    """The home page keeps each user's figures in the process's memory for a minute
    (``crm.views.home.HOME_FIGURES_SECONDS``); a test starts without any (user ids repeat)."""
    from django.core.cache import caches

    caches["home"].clear()


@pytest.fixture
def rep(db):
    return UserFactory(username="rep", roles=[Role.SALES_REP])


@pytest.fixture
def rep2(db):
    return UserFactory(username="rep2", roles=[Role.SALES_REP])


@pytest.fixture
def agent(db):
    return UserFactory(username="agent", roles=[Role.SUPPORT_AGENT])


@pytest.fixture
def manager(db, rep, rep2):
    """Manages a team holding ``rep`` and ``rep2``."""
    user = UserFactory(username="manager", roles=[Role.MANAGER])
    TeamFactory(name="Sales", members=[rep, rep2], managers=[user])
    return user


@pytest.fixture
def admin(db):
    return UserFactory(username="admin", roles=[Role.ADMIN], is_staff=True, is_superuser=True)


@pytest.fixture
def tier(admin):
    """An admin's account choice field "Industry tier": Gold, Silver, Bronze."""
    from crm.services import custom_fields

    return custom_fields.custom_field_create(
        user=admin,
        entity="account",
        label="Industry tier",
        kind="choice",
        choices=custom_fields.choices_from_text("gold | Gold\nsilver | Silver\nbronze | Bronze"),
    )


def _client_for(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def rep_client(client, rep):
    return _client_for(client, rep)


@pytest.fixture
def manager_client(client, manager):
    return _client_for(client, manager)


@pytest.fixture
def agent_client(client, agent):
    return _client_for(client, agent)


@pytest.fixture
def admin_client_(client, admin):
    return _client_for(client, admin)
