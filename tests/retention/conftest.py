import pytest

from tests.factories.crm import AccountFactory


@pytest.fixture
def account(db, rep):
    return AccountFactory(owner=rep, name="Acme GmbH")


@pytest.fixture
def other_account(db, rep2):
    return AccountFactory(owner=rep2, name="Globex AG")


@pytest.fixture(autouse=True)
def retention_tasks_run_inline(request, monkeypatch):
    """Tasks a retention task enqueues run in-process, except in tests with a real worker."""
    if request.node.get_closest_marker("worker"):
        return
    from retention import tasks

    for name in ("risk_playbook", "renewals_open", "renewal_reminders", "health_recompute"):
        task = getattr(tasks, name)
        monkeypatch.setattr(task, "delay", lambda *args, _task=task: _task.run(*args))


@pytest.fixture
def only_retention_panels(monkeypatch):
    """Account pages with only this app's panels, so these tests do not depend on other stages'
    panels."""
    from crm import registry
    from crm.models import Account

    panels = [
        p for p in registry.detail_panels.for_model(Account) if p.template.startswith("retention/")
    ]
    monkeypatch.setitem(registry.detail_panels._panels, Account, panels)
