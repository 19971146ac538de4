import datetime as dt

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import timezone

from crm.models import Account, Activity, OutboundEmail, Task
from retention.choices import HealthColour
from retention.models import (
    HealthComponent,
    HealthScore,
    HealthScoreHistory,
    RiskEpisode,
)
from retention.services import health, risk
from retention.tasks import health_recompute
from tests.factories.crm import AccountFactory, ActivityFactory
from tests.factories.retention import (
    HealthScoreHistoryFactory,
    SubscriptionFactory,
    UsageDailyFactory,
)

pytestmark = pytest.mark.django_db


def today():
    return timezone.localdate()


def usage(account, days_ago, events):
    UsageDailyFactory(
        account=account,
        day=today() - dt.timedelta(days=days_ago),
        kind="login",
        total=events,
        events=events,
    )


def test_components_and_weights_make_the_score(account, other_account):
    # account: recent contact, growing usage, renewal far away → green
    ActivityFactory(subject=account, occurred_at=timezone.now())
    usage(account, 5, 20)
    usage(account, 40, 10)
    SubscriptionFactory(account=account, renewal_date=today() + dt.timedelta(days=200))
    # other_account: silent for 90 days, usage stopped → red
    ActivityFactory(subject=other_account, occurred_at=timezone.now() - dt.timedelta(days=90))
    usage(other_account, 40, 10)

    result = health.health_recompute()

    assert result["accounts"] == 2
    good = HealthScore.objects.get(account=account)
    bad = HealthScore.objects.get(account=other_account)
    assert good.components["engagement"]["value"] == 100
    assert good.components["usage_trend"]["value"] == 100
    assert good.components["renewal_proximity"]["value"] == 100
    assert good.components["sentiment"]["value"] is None  # not applicable: weight is renormalised
    assert (good.score, good.colour) == (100, HealthColour.GREEN)
    assert (
        bad.components["usage_trend"]["value"] == 0 and bad.components["engagement"]["value"] == 0
    )
    assert bad.colour == HealthColour.RED


def test_admin_weights_change_the_score(account):
    usage(account, 5, 10)
    usage(account, 40, 10)  # level usage: 60
    HealthComponent.objects.exclude(key="usage_trend").update(is_active=False)
    health.health_recompute()
    assert HealthScore.objects.get(account=account).score == 60


def test_support_load_counts_open_tickets_and_recent_breaches(account):
    from support.models import Ticket

    now = timezone.now()
    Ticket.objects.create(subject="Open", account=account, status="open", created_at=now)
    Ticket.objects.create(
        subject="Breached",
        account=account,
        status="solved",
        created_at=now,
        resolution_breached=True,
    )
    Ticket.objects.create(
        subject="Old breach",
        account=account,
        status="closed",
        created_at=now - dt.timedelta(days=200),
        first_response_breached=True,
    )
    assert health.support_component(today()) == {account.pk: 70}


def test_contact_activity_counts_as_engagement(account):
    from tests.factories.crm import ContactFactory

    contact = ContactFactory(account=account, owner=account.owner)
    ActivityFactory(subject=contact, occurred_at=timezone.now() - dt.timedelta(days=6))
    assert health.engagement_component(today()) == {account.pk: 90}


def test_recompute_is_idempotent_per_day_and_keeps_history(account):
    health.health_recompute(today=today() - dt.timedelta(days=30))
    health.health_recompute()
    health.health_recompute()
    assert HealthScoreHistory.objects.filter(account=account).count() == 2
    assert HealthScore.objects.get(account=account).trend == 0


def test_recompute_runs_a_fixed_number_of_queries(django_assert_max_num_queries):
    AccountFactory.create_batch(30)
    with django_assert_max_num_queries(25):
        health.health_recompute()
    assert HealthScore.objects.count() == Account.objects.count()


def test_turning_red_opens_one_episode_and_the_playbook_acts_once(account, manager, rep):
    # Given an account nobody has talked to lately whose product usage stopped: red
    usage(account, 40, 10)
    health_recompute()

    episode = RiskEpisode.objects.get(account=account)
    assert episode.reason == "red" and episode.playbook_run_at is not None
    tasks = Task.objects.filter(assignee=rep)
    assert tasks.count() == len(risk.playbook_steps())
    assert OutboundEmail.objects.filter(to_email=manager.email).count() == 1

    # A second night, or a retried playbook, acts zero times
    health_recompute()
    assert risk.risk_playbook_run(episode_id=episode.pk) is False
    assert RiskEpisode.objects.count() == 1
    assert Task.objects.filter(assignee=rep).count() == len(risk.playbook_steps())
    assert OutboundEmail.objects.filter(to_email=manager.email).count() == 1

    # Recovering closes the episode; turning red again is a new episode
    ActivityFactory(subject=account, occurred_at=timezone.now())
    health_recompute()
    episode.refresh_from_db()
    assert episode.closed_at is not None and episode.closed_score == 57
    Activity.objects.filter(
        content_type=ContentType.objects.get_for_model(Account), object_id=account.pk
    ).delete()
    health_recompute()
    assert RiskEpisode.objects.filter(account=account).count() == 2
    assert Task.objects.filter(assignee=rep).count() == 2 * len(risk.playbook_steps())


def test_a_falling_score_is_at_risk(account):
    HealthScoreHistoryFactory(
        account=account, day=today() - dt.timedelta(days=30), score=95, colour="green"
    )
    ActivityFactory(subject=account, occurred_at=timezone.now() - dt.timedelta(days=40))
    health.health_recompute()
    score = HealthScore.objects.get(account=account)
    assert score.colour == HealthColour.YELLOW and score.trend < -15
    assert RiskEpisode.objects.get(account=account).reason == "falling"


def test_the_trend_reads_the_week_before_a_month_ago_when_a_night_was_missed(account):
    # Recorded 33 and 40 days ago (the nights since were missed): 33 days is the one compared.
    for days, score in ((33, 90), (40, 20)):
        HealthScoreHistoryFactory(
            account=account, day=today() - dt.timedelta(days=days), score=score, colour="green"
        )
    health.health_recompute()
    score = HealthScore.objects.get(account=account)
    assert score.trend == score.score - 90
    HealthScoreHistory.objects.filter(day=today() - dt.timedelta(days=33)).delete()
    health.health_recompute()  # 40 days is too old to compare with
    assert HealthScore.objects.get(account=account).trend is None


def test_past_scores_are_recorded_from_what_was_known_then_without_touching_the_current(account):
    ActivityFactory(subject=account, occurred_at=timezone.now() - dt.timedelta(days=2))
    day = today() - dt.timedelta(days=30)
    assert health.health_history_record(day=day) == Account.objects.count()
    past = HealthScoreHistory.objects.get(account=account, day=day)
    # A month ago the call two days ago had not happened yet: no engagement then.
    health.health_recompute()
    now = HealthScore.objects.get(account=account)
    assert now.components["engagement"]["value"] > 90
    assert past.score < now.score and now.trend == now.score - past.score
    assert not RiskEpisode.objects.filter(account=account, reason="falling").exists()


def test_account_page_shows_health_and_its_components(agent_client, account, only_retention_panels):
    health.health_recompute()
    page = agent_client.get(account.get_absolute_url()).content.decode()
    assert "Engagement" in page and "Usage trend" in page


def test_account_page_reads_its_health_panel_with_the_record(rep_client, rep, account):
    """The health panel's row comes in the account page's record query, and the panel shows
    what ``account_health`` reads on its own: score, colour, trend, components, the at-risk
    episode and the churn prediction."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from retention.models import ChurnPrediction
    from retention.selectors import account_health, account_health_from_probe

    health.health_recompute()
    RiskEpisode.objects.create(
        account=account, reason="falling", opened_at=timezone.now(), opened_score=30
    )
    ChurnPrediction.objects.create(
        account=account, probability=0.37, factors=[["Usage", 0.5]], computed_at=timezone.now()
    )
    with CaptureQueriesContext(connection) as captured:
        response = rep_client.get(account.get_absolute_url())
    assert not [q for q in captured if q["sql"].startswith('SELECT "retention_healthscore"')]
    (record,) = [q["sql"] for q in captured if q["sql"].startswith('SELECT "crm_account"')]
    assert 'FROM "retention_healthscore"' in record
    (panel,) = [c for p, c in response.context["panels"] if p.title == "Health"]
    alone = account_health(user=rep, account=account)
    assert panel["components"] == alone["components"]
    for name in ("score", "colour", "trend", "computed_on", "at_risk"):
        assert getattr(panel["score"], name) == getattr(alone["score"], name)
    assert panel["score"].at_risk is True
    assert panel["prediction"].probability == alone["prediction"].probability == 0.37
    assert panel["prediction"].factors == [["Usage", 0.5]]
    page = response.content.decode()
    assert "Churn probability 37%" in page and "at-risk list" in page
    value = {"score": 80, "colour": "green", "components": {}, "trend": None}
    value |= {"computed_on": "2026-12-01", "at_risk": False}
    value |= {"churn_probability": None, "churn_factors": None}
    quiet = account_health_from_probe(account=account, value=value)
    assert quiet["prediction"] is None and quiet["score"].computed_on == dt.date(2026, 12, 1)


def test_at_risk_list(rep_client, rep, account, other_account, django_assert_max_num_queries):
    usage(account, 40, 10)
    usage(other_account, 40, 10)
    health.health_recompute()
    with django_assert_max_num_queries(10):
        response = rep_client.get(reverse("retention:at_risk"))
    names = [e.account.name for e in response.context["object_list"]]
    assert names == ["Acme GmbH"]  # the other account is rep2's
    response = rep_client.get(reverse("retention:at_risk"), {"q": "acme", "colour": "red"})
    assert len(response.context["object_list"]) == 1


def test_a_playbook_whose_message_was_lost_is_run_by_the_sweep_once(
    account, manager, rep, monkeypatch
):
    from crm.registry import work
    from retention import tasks

    woken = []
    monkeypatch.setattr(tasks.risk_playbooks_due, "delay", lambda: woken.append(1))
    # Given an episode opened by a recompute whose playbook message was lost
    now = timezone.now()
    episode = RiskEpisode.objects.create(
        account=account, reason="red", opened_at=now, opened_score=20
    )
    assert risk.risk_playbook_sweep() == 0  # just opened: its own message may be on the way
    assert risk.risk_playbook_problems(10) == []

    # When the sweep runs a few minutes later
    later = now + dt.timedelta(minutes=2)
    assert risk.risk_playbook_sweep(now=later) == 1 and woken == [1]
    assert tasks.risk_playbooks_due.run() == 1

    # Then the playbook acted once, and neither the sweep nor a second run acts again
    episode.refresh_from_db()
    assert episode.playbook_run_at is not None
    assert Task.objects.filter(assignee=rep).count() == len(risk.playbook_steps())
    assert OutboundEmail.objects.filter(to_email=manager.email).count() == 1
    assert work.get("risk_playbooks").call("sweep") == 0
    assert risk.risk_playbooks_run_due() == 0


def test_operators_see_a_playbook_an_hour_late_and_can_retry_it(account, monkeypatch):
    from retention import tasks

    woken = []
    monkeypatch.setattr(tasks.risk_playbook, "delay", lambda pk: woken.append(pk))
    episode = RiskEpisode.objects.create(
        account=account,
        reason="red",
        opened_at=timezone.now() - dt.timedelta(hours=2),
        opened_score=20,
    )
    [problem] = risk.risk_playbook_problems(10)
    assert problem.pk == episode.pk and account.name in problem.title

    from django.db import transaction

    with transaction.atomic():
        assert risk.risk_playbook_retry(episode.pk)
    RiskEpisode.objects.filter(pk=episode.pk).update(playbook_run_at=timezone.now())
    assert not risk.risk_playbook_retry(episode.pk)
