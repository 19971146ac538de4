import io

import pytest
from django.core.management import call_command

from crm.models import Account
from retention.models import (
    Advocate,
    ChurnEvent,
    HealthScore,
    MrrMovement,
    NpsSurvey,
    Subscription,
    UsageDaily,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def only_core_and_retention_steps(monkeypatch):
    """This app's step on the core's data, independent of the other stages' steps."""
    from crm.seeding import seed_steps

    steps = [s for s in seed_steps.steps() if s.name in ("crm", "retention")]
    monkeypatch.setattr(seed_steps, "steps", lambda: steps)


def test_demo_data_covers_every_retention_page(only_core_and_retention_steps):
    out = io.StringIO()
    call_command(
        "seed_demo", "--scale", "0.3", "--force", "--anchor-date", "2026-03-14", stdout=out
    )

    assert Subscription.objects.filter(status="active").exists()
    assert MrrMovement.objects.filter(kind="new").exists()
    assert ChurnEvent.objects.exists()
    assert UsageDaily.objects.exists()
    assert NpsSurvey.objects.filter(score__isnull=False).exists()
    assert Advocate.objects.exists()
    # The nightly jobs ran once
    assert HealthScore.objects.count() == Account.objects.count()
    # Every paying subscription's ledger adds up to its MRR
    for subscription in Subscription.objects.filter(status="active")[:50]:
        total = sum(subscription.movements.values_list("amount", flat=True))
        assert total == subscription.mrr
