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


# The tests that lean on the database server or the broker themselves: hand-written SQL
# (rollups, attribution, the seed, segments, matching, the automation engine), triggers (field
# history), locks and leases (beat, trash, SLAs). They are marked ``server``; CI runs them, with
# the ``worker`` tests, on PostgreSQL 15 and Redis as well as on the embedded server (the whole
# suite runs there), so the oldest server family in CI and the production broker see them.
SERVER_TESTS = (
    "tests/analytics/",
    "tests/retention/",
    "tests/api/",
    "tests/test_demo_story.py",
    "tests/crm/test_automation.py",
    "tests/crm/test_beat.py",
    "tests/crm/test_database_down.py",
    "tests/crm/test_db_arrays.py",
    "tests/crm/test_duplicates.py",
    "tests/crm/test_history_sources.py",
    "tests/crm/test_history_tracking.py",
    "tests/crm/test_matching.py",
    "tests/crm/test_operations.py",
    "tests/crm/test_quality.py",
    "tests/crm/test_replica_router.py",
    "tests/crm/test_seed_commits.py",
    "tests/crm/test_seed_demo.py",
    "tests/crm/test_segments.py",
    "tests/crm/test_segments_stages.py",
    "tests/crm/test_trash.py",
    "tests/leads/test_email_campaign_outcomes.py",
    "tests/leads/test_seed.py",
    "tests/sales/test_forecast_and_closing.py",
    "tests/sales/test_seed.py",
    "tests/support/test_queue_order_and_paused_clock.py",
    "tests/support/test_seed.py",
    "tests/support/test_sla.py",
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.startswith(SERVER_TESTS):
            item.add_marker(pytest.mark.server)


def pytest_unconfigure(config):
    if getattr(config, "embedded_server_started", False):
        config.embedded_server.stop()


@pytest.fixture(autouse=True)
def _home_figures_forgotten(settings):
    """The home page keeps each user's figures in the process's memory for a minute
    (``crm.views.home.HOME_FIGURES_SECONDS``), and a list its sampled quality summary; a test
    starts without any (user ids repeat). Nor does it share them through the default cache
    (``HOME_FIGURES_SHARED``, on with Redis), which outlives a test: a test of that says so."""
    from django.core.cache import caches

    settings.HOME_FIGURES_SHARED = False
    caches["home"].clear()
    caches["local"].clear()


@pytest.fixture(autouse=True)
def _catalog_forgotten():
    """Each web process keeps what it read of the catalog under the catalog's number
    (``crm.catalog``); a test's rolled-back changes bring the number back, so a test starts
    with nothing kept."""
    from crm import catalog

    catalog.forget()
    catalog.request_begins()
    yield
    catalog.forget()


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
