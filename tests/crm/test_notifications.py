"""The bell: each event notifies a person once, a user reads only their own notifications, the
top bar counts the unread in one query, and the email digest goes out once per due time."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.choices import ActivityKind, Role
from crm.models import Notification, NotificationSettings, OutboundEmail
from crm.services import notifications as svc
from crm.services.reminders import task_reminders_run
from crm.services.timeline import activity_log, task_create, task_update
from crm.tasks import notification_digests_send as digests_task
from tests.factories.crm import ContactFactory, TaskFactory, UserFactory
from tests.factories.leads import LeadFactory

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _notify(recipient, key="event:1", kind="assigned", **kwargs):
    return svc.notify(
        recipient=recipient, kind=kind, verb=f"Something {key}", dedupe_key=key, **kwargs
    )


# The service -------------------------------------------------------------------------------


def test_the_same_event_notifies_a_person_once(rep):
    assert _notify(rep, "lead-owner:1:7") is True
    assert _notify(rep, "lead-owner:1:7") is False
    assert Notification.objects.filter(recipient=rep).count() == 1


def test_nobody_is_notified_of_what_they_did_themselves(rep):
    assert _notify(rep, actor=rep) is False
    assert not Notification.objects.exists()


def test_an_unregistered_kind_is_refused(rep):
    with pytest.raises(ValueError):
        _notify(rep, kind="gossip")


def test_mark_all_read_marks_only_the_users_own(rep, rep2):
    _notify(rep, "a")
    _notify(rep, "b")
    _notify(rep2, "c")
    assert svc.notification_mark_all_read(user=rep) == 2
    assert Notification.objects.filter(recipient=rep2, read_at__isnull=True).count() == 1


# Pages -------------------------------------------------------------------------------------


def test_the_top_bar_shows_the_unread_count_in_one_query(rep_client, rep):
    for n in range(3):
        _notify(rep, f"e{n}")
    with CaptureQueriesContext(connection) as queries:
        html = rep_client.get(reverse("home")).content.decode()
    assert 'id="notification-bell"' in html
    assert 'id="notification-count"' in html and ">3<" in html
    bell_queries = [q for q in queries.captured_queries if "crm_notification" in q["sql"]]
    assert len(bell_queries) == 1


def test_the_count_is_capped(rep_client, rep):
    svc.notifications_insert(
        [
            svc.notification_row(recipient=rep, kind="assigned", verb="x", dedupe_key=f"k{n}")
            for n in range(120)
        ]
    )
    assert ">99+<" in rep_client.get(reverse("home")).content.decode()


def test_the_menu_shows_the_latest_ten_and_marks_all_read(
    rep_client, rep, django_assert_max_num_queries
):
    for n in range(12):
        _notify(rep, f"e{n}")
    with django_assert_max_num_queries(8):
        html = rep_client.get(reverse("notification_menu"), **HTMX).content.decode()
    assert html.count('class="dropdown-item') == 10
    assert "Something e11" in html and "Something e1<" not in html
    assert "Mark all read" in html

    html = rep_client.post(reverse("notification_read_all"), **HTMX).content.decode()

    assert not Notification.objects.filter(read_at__isnull=True).exists()
    assert 'hx-swap-oob="true"' in html and "d-none" in html  # the badge goes away


def test_mark_all_read_needs_a_csrf_token(client, rep):
    from django.test import Client

    _notify(rep)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(rep)
    assert strict.post(reverse("notification_read_all")).status_code == 403
    assert Notification.objects.filter(read_at__isnull=True).count() == 1


def test_the_page_lists_the_users_notifications_in_fixed_queries(
    rep_client, rep, rep2, django_assert_max_num_queries
):
    def page():
        return rep_client.get(reverse("notification_list"))

    for n in range(3):
        _notify(rep, f"mine{n}", actor=rep2)
    _notify(rep2, "theirs")
    with django_assert_max_num_queries(16) as few:
        page()
    for n in range(3, 60):
        _notify(rep, f"mine{n}", actor=rep2)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = page()
    html = response.content.decode()
    assert "Something mine59" in html and "Something theirs" not in html
    assert response.context["paginator"].per_page < 60  # paginated
    assert rep_client.get(reverse("notification_list"), {"state": "unread"}).status_code == 200


def test_bad_filters_do_not_break_the_page(rep_client):
    response = rep_client.get(reverse("notification_list"), {"state": "bogus", "page": "x"})
    assert response.status_code == 200


def test_opening_a_notification_marks_it_read_and_follows_it(rep_client, rep):
    contact = ContactFactory(owner=rep)
    _notify(rep, target=contact)
    notification = Notification.objects.get()
    response = rep_client.get(reverse("notification_open", args=[notification.pk]))
    assert response.status_code == 302 and response["Location"] == contact.get_absolute_url()
    notification.refresh_from_db()
    assert notification.read_at is not None


def test_a_notification_never_leads_off_the_site(rep_client, rep):
    _notify(rep, url="//evil.example/")
    notification = Notification.objects.get()
    response = rep_client.get(reverse("notification_open", args=[notification.pk]))
    assert response["Location"] == reverse("notification_list")


def test_another_users_notification_answers_404(rep_client, rep2):
    _notify(rep2)
    notification = Notification.objects.get()
    assert rep_client.get(reverse("notification_open", args=[notification.pk])).status_code == 404
    assert rep_client.post(reverse("notification_read", args=[notification.pk])).status_code == 404
    assert rep_client.get(reverse("notification_open", args=[10**30])).status_code == 404
    notification.refresh_from_db()
    assert notification.read_at is None


# Events of the core ------------------------------------------------------------------------


def test_a_task_given_to_someone_else_notifies_them(rep, rep2):
    contact = ContactFactory(owner=rep)
    task = task_create(
        title="Call back", due_at=timezone.now(), assignee=rep2, created_by=rep, subject=contact
    )
    task_create(title="Mine", due_at=timezone.now(), assignee=rep, created_by=rep)
    mine = Notification.objects.get(kind="assigned")
    assert mine.recipient == rep2 and mine.actor == rep and mine.target == contact
    assert "Call back" in mine.verb

    task_update(task=task, title="Call back", due_at=task.due_at, assignee=rep, user=rep2)
    assert Notification.objects.filter(recipient=rep, kind="assigned").count() == 1
    task_update(task=task, title="Call back", due_at=task.due_at, assignee=rep, user=rep2)
    assert Notification.objects.filter(recipient=rep, kind="assigned").count() == 1  # unchanged


def test_a_mention_notifies_who_may_see_the_record(rep, rep2):
    ann = UserFactory(username="ann", first_name="Ann", last_name="Lee", roles=[Role.SALES_REP])
    contact = ContactFactory(owner=rep)
    activity_log(
        subject=contact,
        kind=ActivityKind.NOTE,
        summary="Pricing",
        body="@rep2 and @Ann Lee, please look. Mail me, rep@example.com, not @nobody.",
        actor=rep,
    )
    mentioned = Notification.objects.filter(kind="mentioned")
    assert set(mentioned.values_list("recipient__username", flat=True)) == {"rep2", "ann"}
    assert mentioned.first().url == contact.get_absolute_url()
    assert ann  # named by first and last name


def test_a_mention_on_a_record_they_cannot_see_notifies_nobody(rep, rep2):
    lead = LeadFactory(owner=rep)  # reps see only their own leads
    activity_log(subject=lead, kind=ActivityKind.NOTE, summary="@rep2 have a look", actor=rep)
    assert not Notification.objects.exists()


def test_system_events_and_self_mentions_notify_nobody(rep, rep2):
    contact = ContactFactory(owner=rep)
    activity_log(subject=contact, kind=ActivityKind.SYSTEM, summary="@rep2 imported")
    activity_log(subject=contact, kind=ActivityKind.NOTE, summary="note to @rep self", actor=rep)
    assert not Notification.objects.exists()


def test_a_task_falling_due_notifies_its_assignee_once(rep):
    now = timezone.now()
    TaskFactory(title="Send quote", due_at=now + timedelta(minutes=30), assignee=rep)
    task_reminders_run(now=now)
    task_reminders_run(now=now + timedelta(minutes=5))
    due = Notification.objects.get(kind="task_due")
    assert due.recipient == rep and "Send quote" in due.verb


# Settings and the digest ---------------------------------------------------------------------


def test_the_settings_page_saves_the_digest_choice(rep_client, rep):
    page = rep_client.get(reverse("user_settings")).content.decode()
    assert 'id="notifications"' in page and "Email digest" in page
    response = rep_client.post(
        reverse("notification_settings_update"),
        {"digest": "daily", "email_kinds": ["assigned", "mentioned"]},
    )
    assert response.status_code == 302
    row = NotificationSettings.objects.get(user=rep)
    assert row.digest == "daily" and row.email_kinds == ["assigned", "mentioned"]
    assert row.next_digest_at > timezone.now()
    assert timezone.localtime(row.next_digest_at).hour == svc.DAILY_DIGEST_HOUR


def test_bad_settings_re_render_with_errors(rep_client, rep):
    response = rep_client.post(
        reverse("notification_settings_update"), {"digest": "weekly", "email_kinds": ["gossip"]}
    )
    assert response.status_code == 400
    assert (
        "is-invalid" in response.content.decode() or "invalid-feedback" in response.content.decode()
    )
    assert not NotificationSettings.objects.exists()


def _digest_due(user, *, kinds=("assigned", "mentioned", "task_due"), since=None):
    past = timezone.now() - timedelta(minutes=1)
    svc.notification_settings_save(user=user, digest="hourly", email_kinds=list(kinds))
    NotificationSettings.objects.filter(user=user).update(
        next_digest_at=past, last_digest_at=since or past - timedelta(hours=1)
    )


def test_a_due_digest_emails_the_unread_since_the_last_one_once(rep):
    _digest_due(rep, kinds=["assigned"])
    _notify(rep, "new-1")
    _notify(rep, "new-2")
    _notify(rep, "read-one")
    Notification.objects.filter(dedupe_key="read-one").update(read_at=timezone.now())
    _notify(rep, "a-mention", kind="mentioned")  # not a kind they want by email
    Notification.objects.filter(dedupe_key="new-2").update(
        created_at=timezone.now() - timedelta(hours=3)  # before the last digest: sent then
    )

    first = svc.notification_digests_send()
    second = digests_task()  # the task beat runs, straight after

    assert first == {"sent": 1, "empty": 0}
    assert second == {"sent": 0, "empty": 0}
    email = OutboundEmail.objects.get()
    assert email.to_email == rep.email and email.subject.startswith("1 new notification")
    assert "Something new-1" in email.body_text
    assert "new-2" not in email.body_text and "read-one" not in email.body_text
    assert "a-mention" not in email.body_text
    row = NotificationSettings.objects.get(user=rep)
    assert row.next_digest_at > timezone.now() and row.last_digest_at is not None


def test_nothing_new_sends_no_email_but_moves_on(rep):
    _digest_due(rep)
    assert svc.notification_digests_send() == {"sent": 0, "empty": 1}
    assert not OutboundEmail.objects.exists()
    assert NotificationSettings.objects.get(user=rep).next_digest_at > timezone.now()


def test_a_digest_that_is_off_or_not_yet_due_sends_nothing(rep, rep2):
    _notify(rep, "x")
    _notify(rep2, "y")
    svc.notification_settings_save(user=rep, digest="daily", email_kinds=["assigned"])
    svc.notification_settings_save(user=rep2, digest="off", email_kinds=["assigned"])
    assert svc.notification_digests_send() == {"sent": 0, "empty": 0}
    assert not OutboundEmail.objects.exists()


def test_next_digest_times():
    now = timezone.make_aware(timezone.datetime(2026, 12, 5, 9, 30))
    assert svc.next_digest_at("hourly", now=now) == now.replace(hour=10, minute=0)
    daily = timezone.localtime(svc.next_digest_at("daily", now=now))
    assert (daily.day, daily.hour, daily.minute) == (6, svc.DAILY_DIGEST_HOUR, 0)
    assert svc.next_digest_at("off", now=now) is None


def test_a_late_digest_is_woken_by_the_sweep_and_shown_to_operators(rep, monkeypatch):
    from crm.tasks import notification_digests_send as task
    from crm.work import work_sweep

    woken = []
    monkeypatch.setattr(task, "delay", lambda: woken.append(1))
    _digest_due(rep)
    assert work_sweep()["notification_digests"] == 0  # due a minute ago: beat's run is on its way
    late = timezone.now() - svc.DIGEST_GRACE * 3
    NotificationSettings.objects.filter(user=rep).update(next_digest_at=late)

    assert work_sweep()["notification_digests"] == 1 and woken == [1]
    row = NotificationSettings.objects.get(user=rep)
    problems = svc.notification_digests_problems(10)
    assert [p.pk for p in problems] == [row.pk]
    assert svc.notification_digests_retry(row.pk) is True
    assert svc.notification_digests_problems(10) == []


def test_erasing_a_person_takes_their_name_out_of_notifications(admin_client_, rep, rep2):
    from crm.models import Contact

    contact = Contact.objects.create(first_name="Orla", last_name="Vantreece", email="o@x.example")
    other = ContactFactory(owner=rep)
    _notify(rep, "about-her", target=contact)
    svc.notify(
        recipient=rep2,
        kind="mentioned",
        verb="rep mentioned you: call Orla Vantreece back",
        dedupe_key="names-her",
        target=other,
    )
    response = admin_client_.post(
        reverse("person_erase", args=["crm.contact", contact.pk]),
        {"confirm": "Orla Vantreece", "reason": "Asked by email"},
    )
    assert response.status_code == 302
    assert not Notification.objects.filter(recipient=rep).exists()
    assert "Vantreece" not in Notification.objects.get(recipient=rep2).verb
