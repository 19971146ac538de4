import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from leads.models import Enrollment
from retention.models import ChurnEvent, ChurnModelRun, ChurnPrediction, MrrMovement
from retention.services import churn_model, risk
from tests.factories.crm import AccountFactory, ContactFactory
from tests.factories.retention import ChurnEventFactory, HealthScoreFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db


def test_recording_churn_churns_the_subscriptions_in_the_ledger(rep_client, account):
    SubscriptionFactory(account=account, mrr=Decimal("300"))
    SubscriptionFactory(account=account, mrr=Decimal("200"))
    url = reverse("retention:churn_record", args=[account.pk])
    assert rep_client.post(url, {"date": "", "reason": "nonsense"}).status_code == 400

    rep_client.post(url, {"date": str(timezone.localdate()), "reason": "price", "note": "Too dear"})

    event = ChurnEvent.objects.get()
    assert (event.lost_mrr, event.reason) == (Decimal("500.00"), "price")
    assert sorted(MrrMovement.objects.values_list("amount", flat=True)) == [
        Decimal("-300.00"),
        Decimal("-200.00"),
    ]
    account.refresh_from_db()
    assert account.lifecycle_stage == "churned"
    assert rep_client.get(reverse("retention:churn_list")).context["object_list"][0] == event


def test_win_back_enrols_consenting_contacts_once(rep_client, rep, account):
    from tests.factories.leads import SequenceFactory

    SequenceFactory(name="Win-back")
    ContactFactory(account=account, owner=rep, marketing_consent=True)
    ContactFactory(account=account, owner=rep, marketing_consent=False)
    event = risk.churn_record(account=account, reason="price")
    url = reverse("retention:churn_winback", args=[event.pk])

    rep_client.post(url)
    rep_client.post(url)

    assert Enrollment.objects.count() == 1
    event.refresh_from_db()
    assert event.winback_started_at is not None


def test_the_model_says_when_there_is_not_enough_history(account):
    SubscriptionFactory(account=account)
    run = churn_model.churn_model_run()
    assert not run.trained
    assert run.message.startswith("Not enough history: 0 churned and 1 retained")
    assert not ChurnPrediction.objects.exists()


def test_the_model_scores_paying_accounts_with_top_factors(settings):
    settings.CHURN_MODEL_MIN_PER_CLASS = 5
    today = timezone.localdate()
    for i in range(12):
        churned = i < 6
        account = AccountFactory()
        SubscriptionFactory(
            account=account,
            status="churned" if churned else "active",
            start_date=today - dt.timedelta(days=100 + 40 * i),
        )
        engagement = 10 + i if churned else 80 + i
        HealthScoreFactory(
            account=account,
            score=engagement,
            colour="green",
            computed_on=today,
            components={"engagement": {"value": engagement, "weight": 20}},
        )
        if churned:
            ChurnEventFactory(
                account=account, date=today, reason="price", lost_mrr=1, currency="EUR"
            )
    run = churn_model.churn_model_run()
    assert run.trained and run.scored == 6
    assert ChurnModelRun.objects.count() == 1
    prediction = ChurnPrediction.objects.order_by("-probability").first()
    assert 0 <= prediction.probability <= 1
    assert all(isinstance(f[0], str) for f in prediction.factors)
