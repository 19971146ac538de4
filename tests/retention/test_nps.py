import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.faults import SimulatedKill
from crm.models import OutboundEmail, Task
from crm.registry import work
from retention.models import Advocate, NpsRun, NpsSurvey
from retention.services import nps
from support import surveys
from tests.factories.crm import ContactFactory
from tests.factories.retention import NpsRunFactory, SubscriptionFactory
from tests.factories.segments import SegmentFactory, condition
from tests.factories.segments import group as segment_group
from tests.visibility import assert_hidden

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(account):
    SubscriptionFactory(account=account)
    return ContactFactory(
        account=account, owner=account.owner, email_consent=True, first_name="Jana"
    )


def test_a_run_goes_to_consenting_contacts_of_paying_accounts_once_per_90_days(customer, account):
    ContactFactory(account=account, email_consent=False)  # no consent
    ContactFactory(email_consent=True)  # an account without a subscription

    first = nps.nps_run_create(name="Q1")
    assert nps.nps_run_send(run_id=first.pk) == 1
    assert nps.nps_run_send(run_id=first.pk) == 0  # rerun: nobody twice
    second = nps.nps_run_create(name="Q1 again")
    assert nps.nps_run_send(run_id=second.pk) == 0  # throttled

    survey = NpsSurvey.objects.get()
    assert survey.contact == customer
    email = OutboundEmail.objects.get()
    assert email.to_email == customer.email
    assert "/surveys/" in email.body_text

    NpsSurvey.objects.update(sent_at=timezone.now() - dt.timedelta(days=91))
    assert nps.nps_run_send(run_id=second.pk) == 0  # a sent run is done
    assert nps.nps_run_send(run_id=nps.nps_run_create(name="Q2").pk) == 1


def survey_link(customer):
    run = nps.nps_run_create(name="Run")
    nps.nps_run_send(run_id=run.pk)
    survey = NpsSurvey.objects.get(contact=customer)
    return survey, reverse("support:survey", args=[surveys.make_token(kind="nps", key=survey.key)])


def test_the_public_page_takes_one_answer(client, customer):
    survey, url = survey_link(customer)
    assert client.get(url).status_code == 200
    assert client.post(url, {"score": "11"}).status_code == 400  # bad input re-renders
    response = client.post(url, {"score": "8", "comment": "Good"})
    assert "Thank you" in response.content.decode()
    client.post(url, {"score": "0"})  # single use: the second answer changes nothing
    survey.refresh_from_db()
    assert (survey.score, survey.comment) == (8, "Good")


def test_a_forged_or_unknown_link_is_refused(client):
    assert client.get("/surveys/not-a-token/").status_code == 400
    token = surveys.make_token(kind="nps", key="nope")
    assert client.get(reverse("support:survey", args=[token])).status_code == 400


def test_a_detractor_makes_a_task_and_a_promoter_an_advocate(customer, account):
    survey, _ = survey_link(customer)
    nps.nps_answer(survey=survey, score=3, comment="Slow support")
    task = Task.objects.get(assignee=account.owner)
    assert "NPS 3" in task.title
    assert not Advocate.objects.exists()

    other = ContactFactory(account=account, owner=account.owner, email_consent=True)
    survey, _ = survey_link(other)
    nps.nps_answer(survey=survey, score=10)
    advocate = Advocate.objects.get()
    assert advocate.contact == other and len(advocate.code) >= 8


def test_nps_report_by_period_account_and_segment(rep_client, account, customer):
    for score in (10, 9, 8, 2):
        contact = ContactFactory(account=account, owner=account.owner, email_consent=True)
        survey, _ = survey_link(contact)
        nps.nps_answer(survey=survey, score=score)
    for group in ("month", "account", "industry", "size", "bogus"):
        response = rep_client.get(reverse("retention:nps"), {"group": group})
        assert response.status_code == 200
        (row,) = response.context["rows"]
        assert (row["answers"], row["nps"]) == (4, 25)


def test_only_managers_start_runs(client, rep, manager):
    client.force_login(rep)
    assert client.post(reverse("retention:nps"), {"name": "x"}).status_code == 404
    client.force_login(manager)
    assert client.post(reverse("retention:nps"), {"name": "x"}).status_code == 302


def vp_segment(owner, **kwargs):
    return SegmentFactory(
        owner=owner, definition=segment_group("and", condition("title", "contains", "VP")), **kwargs
    )


def test_a_run_to_a_segment_asks_its_consenting_members_once_per_90_days(manager, account):
    asked = ContactFactory(account=account, title="VP Sales", email_consent=True)
    ContactFactory(account=account, title="VP Finance", email_consent=False)  # no consent
    ContactFactory(account=None, title="VP Ops", email_consent=True)  # no account to credit
    ContactFactory(account=account, title="Engineer", email_consent=True)  # not in it
    segment = vp_segment(manager)  # the account pays nothing: the segment decides alone

    run = nps.nps_run_create(name="VPs", user=manager, segment=segment)
    assert nps.nps_run_send(run_id=run.pk) == 1
    assert nps.nps_run_send(run_id=run.pk) == 0
    assert list(NpsSurvey.objects.values_list("contact_id", flat=True)) == [asked.pk]
    assert OutboundEmail.objects.get().related == asked
    again = nps.nps_run_create(name="VPs again", user=manager, segment=segment)
    assert nps.nps_run_send(run_id=again.pk) == 0  # the 90-day throttle holds
    run.refresh_from_db()
    assert run.sent_count == 1


def test_a_run_needs_a_contact_segment_the_user_may_use(manager, rep2, rep):
    from crm.segments.choices import SegmentTarget
    from tests.factories.crm import UserFactory

    other_manager = UserFactory(roles=["Manager"])
    with pytest.raises(ValueError):
        nps.nps_run_create(name="x", user=manager, segment=vp_segment(other_manager))
    with pytest.raises(ValueError):
        nps.nps_run_create(
            name="x", user=manager, segment=vp_segment(manager, target=SegmentTarget.LEAD)
        )
    assert nps.nps_run_create(name="x", user=manager, segment=vp_segment(rep2)).segment_id


def test_the_page_starts_a_run_to_a_segment(
    client, manager, account, django_capture_on_commit_callbacks, monkeypatch
):
    from retention import tasks

    sent = []
    monkeypatch.setattr(tasks.nps_run_send, "delay", lambda run_id: sent.append(run_id))
    segment = vp_segment(manager)
    client.force_login(manager)
    page = client.get(reverse("retention:nps"))
    assert segment.name in page.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("retention:nps"), {"name": "VPs", "segment": segment.pk})

    assert response.status_code == 302
    run = NpsRun.objects.get()
    assert (run.name, run.segment, run.created_by, sent) == ("VPs", segment, manager, [run.pk])
    assert "VPs" in client.get(reverse("retention:nps")).content.decode()


def test_bad_or_hidden_segments_on_the_page(client, manager):
    from tests.factories.crm import UserFactory

    client.force_login(manager)
    leads = vp_segment(manager, target="lead")
    response = client.post(reverse("retention:nps"), {"name": "x", "segment": leads.pk})
    assert response.status_code == 400 and response.context["form"].errors["segment"]
    response = client.post(reverse("retention:nps"), {"name": "x", "segment": "x"})
    assert response.status_code == 400
    hidden = vp_segment(UserFactory(roles=["Manager"]))
    assert_hidden(client, post=[(reverse("retention:nps"), {"segment": hidden.pk})])
    assert not NpsRun.objects.exists()


def test_a_run_without_a_name_is_named_after_its_day(
    client, manager, django_capture_on_commit_callbacks, monkeypatch
):
    from retention import tasks

    sent = []
    monkeypatch.setattr(tasks.nps_run_send, "delay", lambda run_id: sent.append(run_id))
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("retention:nps"), {"name": " "})
    assert response.status_code == 302
    run = NpsRun.objects.get()
    assert (run.name, sent) == (f"NPS {timezone.localdate()}", [run.pk])


def _asked_contacts(account, count):
    SubscriptionFactory(account=account)
    return [ContactFactory(account=account, email_consent=True) for _ in range(count)]


def test_a_run_is_queued_then_sent_with_its_progress(manager, account):
    _asked_contacts(account, 3)
    run = nps.nps_run_create(name="Q3", user=manager)
    assert run.status == "queued"

    assert nps.nps_run_send(run_id=run.pk, batch_size=2) == 3

    run.refresh_from_db()
    assert (run.status, run.total, run.sent_count) == ("done", 3, 3)
    assert run.started_at and run.finished_at and (run.lease_owner, run.lease_until) == ("", None)


def test_a_second_worker_finds_the_run_held_and_sends_nothing(manager, account):
    _asked_contacts(account, 5)
    run = nps.nps_run_create(name="Q3", user=manager)
    with pytest.raises(SimulatedKill):
        nps.nps_run_send(run_id=run.pk, batch_size=2, owner="first", crash_after_batches=1)

    assert nps.nps_run_send(run_id=run.pk, batch_size=2, owner="second") == 0
    run.refresh_from_db()
    assert (run.status, run.sent_count, run.lease_owner) == ("sending", 2, "first")
    assert OutboundEmail.objects.count() == 2


def test_a_killed_run_is_taken_up_by_the_sweep_and_asks_each_contact_once(
    manager, account, monkeypatch
):
    from retention import tasks

    woken = []
    monkeypatch.setattr(tasks.nps_run_send, "delay", lambda run_id: woken.append(run_id))
    contacts = _asked_contacts(account, 5)
    run = nps.nps_run_create(name="Q3", user=manager)
    for owner, progress in (("first", "2 of 5"), ("second", "4 of 5")):
        with pytest.raises(SimulatedKill):
            nps.nps_run_send(run_id=run.pk, batch_size=2, owner=owner, crash_after_batches=1)
        assert nps.nps_run_sweep() == 0  # its lease still holds
        NpsRun.objects.filter(pk=run.pk).update(
            lease_until=timezone.now() - dt.timedelta(seconds=1)
        )
        [problem] = nps.nps_run_problems(10)
        assert "worker stopped" in problem.state and progress in problem.title
        assert nps.nps_run_sweep() == 1 and woken[-1] == run.pk

    assert nps.nps_run_send(run_id=run.pk, batch_size=2, owner="third") == 1
    run.refresh_from_db()
    assert (run.status, run.total, run.sent_count) == ("done", 5, 5)
    assert sorted(NpsSurvey.objects.values_list("contact_id", flat=True)) == sorted(
        c.pk for c in contacts
    )
    assert OutboundEmail.objects.count() == 5
    assert nps.nps_run_sweep() == 0 and nps.nps_run_problems(10) == []


def test_a_started_run_whose_message_was_lost_is_found_by_the_sweep(manager, account, monkeypatch):
    from retention import tasks

    woken = []
    monkeypatch.setattr(tasks.nps_run_send, "delay", lambda run_id: woken.append(run_id))
    _asked_contacts(account, 2)
    run = nps.nps_run_create(name="Lost", user=manager)  # its message never reached a worker
    assert nps.nps_run_sweep() == 0  # a fresh run's message may be on its way
    NpsRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - dt.timedelta(minutes=1))
    NpsRunFactory(name="Old and sent")

    assert work.get("nps_runs").call("sweep") == 1 and woken == [run.pk]
    assert nps.nps_run_send(run_id=run.pk) == 2


def test_an_unexpected_error_fails_the_run_and_a_retry_sends_the_rest_once(
    manager, account, monkeypatch, django_capture_on_commit_callbacks
):
    from retention import tasks

    monkeypatch.setattr(tasks.nps_run_send, "delay", lambda run_id: None)
    _asked_contacts(account, 3)
    run = nps.nps_run_create(name="Q3", user=manager)
    real = nps.survey_url
    calls = []

    def broken(survey):
        calls.append(1)
        if len(calls) > 2:
            raise ValueError("no site")
        return real(survey)

    monkeypatch.setattr(nps, "survey_url", broken)
    with pytest.raises(ValueError):
        nps.nps_run_send(run_id=run.pk, batch_size=2)
    run.refresh_from_db()
    assert run.status == "failed" and "unexpected error" in run.message and run.sent_count == 2
    assert nps.nps_run_sweep() == 0
    assert "unexpected error" in _nps_page_for(manager)

    monkeypatch.setattr(nps, "survey_url", real)
    with django_capture_on_commit_callbacks(execute=True):
        assert work.get("nps_runs").call("retry", run.pk)
    assert nps.nps_run_send(run_id=run.pk, batch_size=2) == 1
    assert NpsSurvey.objects.count() == OutboundEmail.objects.count() == 3


def _nps_page_for(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.get(reverse("retention:nps")).content.decode()
