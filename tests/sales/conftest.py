from decimal import Decimal

import pytest

from crm.choices import Role
from tests.factories.crm import AccountFactory, ContactFactory, TeamFactory, UserFactory
from tests.factories.sales import OpportunityFactory, ProductFactory


@pytest.fixture
def support_team(db, agent):
    """The "Support" team onboarding gives support items to."""
    return TeamFactory(name="Support", members=[agent])


@pytest.fixture
def deal(db, rep):
    """An open deal of ``rep``'s with a primary contact who accepts service email."""
    account = AccountFactory(owner=rep, name="Acme GmbH")
    contact = ContactFactory(
        account=account, owner=rep, email="jana@acme.example", email_consent=True
    )
    return OpportunityFactory(owner=rep, account=account, primary_contact=contact)


@pytest.fixture
def product(db):
    return ProductFactory(name="Platform licence", sku="PLAT", price=Decimal("200.00"))


@pytest.fixture
def monthly_product(db):
    return ProductFactory(
        name="Support plan", sku="SUP-M", price=Decimal("50.00"), billing="monthly"
    )


@pytest.fixture
def other_rep(db):
    return UserFactory(username="other", roles=[Role.SALES_REP])


@pytest.fixture(autouse=True)
def onboarding_runs_inline(request, monkeypatch):
    """Enqueued onboarding runs in-process (after commit, like a worker would), except in tests
    that start a real worker."""
    if request.node.get_closest_marker("worker"):
        return
    from sales import tasks

    monkeypatch.setattr(
        tasks.onboarding_start, "delay", lambda *args: tasks.onboarding_start.run(*args)
    )


@pytest.fixture
def win(django_capture_on_commit_callbacks):
    """Win a deal and run what its commit enqueues (the onboarding), as in production."""
    from sales import services

    def _win(deal, user):
        with django_capture_on_commit_callbacks(execute=True):
            return services.opportunity_close_won(opportunity=deal, user=user)

    return _win
