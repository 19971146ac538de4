"""The desk's pages: lists and queues (fixed query counts), the ticket page and its actions,
visibility by role, the public form, CSAT, canned replies and the account panel."""

import datetime as dt
import re

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from crm.models import Contact, OutboundEmail
from support import surveys
from support.choices import MessageKind, Priority, TicketStatus
from support.models import CsatSurvey, Ticket, TicketMessage
from support.services import tickets as svc
from tests.factories.crm import AccountFactory, ContactFactory
from tests.factories.support import CannedReplyFactory, TicketFactory
from tests.visibility import assert_hidden

pytestmark = pytest.mark.django_db
PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 64


def make_tickets(n, **kwargs):
    for _ in range(n):
        svc.ticket_create(subject="Help", contact=ContactFactory(), **kwargs)


LIST_URLS = ["ticket_list", "my_queue", "unassigned", "breaching", "pending"]


@pytest.mark.parametrize("url_name", LIST_URLS)
def test_lists_have_a_fixed_query_count(
    agent_client, agent, policies, queue, url_name, django_assert_max_num_queries
):
    # session, user (with roles, the bell and the catalog's number); the page's rows; the count
    # (with PostgreSQL's estimate and the look-ahead row that decides whether to trust it); and
    # the catalog, once for every row, when the process does not keep it (crm.catalog): the
    # queues (the filter's and the rows'), the agents (the bulk form's and the rows'), the
    # policies with their calendars, the calendars' hours and holidays, the saved views menu.
    make_tickets(3, assignee=agent)
    with django_assert_max_num_queries(12):
        assert agent_client.get(reverse(f"support:{url_name}")).status_code == 200
    make_tickets(57, assignee=agent, priority=Priority.URGENT)
    Ticket.objects.update(sla_due_at=timezone.now() - dt.timedelta(hours=1))
    with django_assert_max_num_queries(12):
        response = agent_client.get(reverse(f"support:{url_name}"))
    assert response.status_code == 200
    with django_assert_max_num_queries(11):
        assert agent_client.get(reverse(f"support:{url_name}"), HTTP_HX_REQUEST="true")
    with django_assert_max_num_queries(6):  # the catalog kept
        assert agent_client.get(reverse(f"support:{url_name}")).status_code == 200


def test_the_table_refreshes_itself_every_minute_with_the_same_filters(
    agent_client, agent, policies, queue
):
    make_tickets(2, assignee=agent)
    page = agent_client.get(reverse("support:my_queue"), {"priority": "normal", "sort": "-due"})
    html = page.content.decode()
    assert 'hx-trigger="every 60s' in html
    assert 'hx-get="/tickets/mine/?priority=normal&amp;sort=-due"' in html
    # The refresh gets the table alone, with its own refresh for the next minute.
    partial = agent_client.get(
        reverse("support:my_queue"), {"priority": "normal", "page": "1"}, HTTP_HX_REQUEST="true"
    )
    body = partial.content.decode()
    assert "<form" not in body and 'hx-trigger="every 60s' in body
    assert 'hx-get="/tickets/mine/?priority=normal&amp;page=1"' in body
    assert "data-remaining-seconds=" in body and "data-due=" in body


def test_filter_bar_searches_assignees_and_takes_a_typed_tag(
    agent_client, agent, agent2, policies, queue
):
    mine = svc.ticket_create(subject="Mine", contact=ContactFactory(), assignee=agent)
    svc.ticket_set_tags(ticket=mine, names=["refund"], user=agent)
    svc.ticket_create(subject="Theirs", contact=ContactFactory(), assignee=agent2)
    response = agent_client.get(reverse("support:ticket_list"), {"assignee": agent.pk})
    assert [t.subject for t in response.context["object_list"]] == ["Mine"]
    html = response.content.decode()
    # Only the chosen agent is rendered; the rest are searched as one types.
    assert 'data-autocomplete-url="/people/autocomplete/"' in html
    assert str(agent2) not in html.split('name="assignee"')[1].split("</select>")[0]
    response = agent_client.get(reverse("support:ticket_list"), {"tag": "Refund"})
    assert [t.subject for t in response.context["object_list"]] == ["Mine"]


def test_my_queue_sorted_by_sla_due_with_countdowns(agent_client, agent, agent2, policies, queue):
    now = timezone.now()
    later = svc.ticket_create(subject="Later", contact=ContactFactory(), assignee=agent)
    sooner = svc.ticket_create(
        subject="Sooner", contact=ContactFactory(), assignee=agent, priority=Priority.URGENT
    )
    Ticket.objects.filter(pk=later.pk).update(sla_due_at=now + dt.timedelta(days=3))
    Ticket.objects.filter(pk=sooner.pk).update(sla_due_at=now + dt.timedelta(days=1))
    svc.ticket_create(subject="Someone else's", contact=ContactFactory(), assignee=agent2)
    response = agent_client.get(reverse("support:my_queue"))
    rows = list(response.context["object_list"])
    assert [t.subject for t in rows] == ["Sooner", "Later"]
    assert all(t.countdown is not None for t in rows)
    assert "left" in response.content.decode()


def test_filters_and_reference_search(agent_client, policies, queue):
    make_tickets(2)
    target = svc.ticket_create(
        subject="Refund please", contact=ContactFactory(), priority=Priority.HIGH
    )
    response = agent_client.get(reverse("support:ticket_list"), {"q": target.reference})
    assert [t.pk for t in response.context["object_list"]] == [target.pk]
    response = agent_client.get(reverse("support:ticket_list"), {"priority": "high"})
    assert [t.pk for t in response.context["object_list"]] == [target.pk]
    response = agent_client.get(
        reverse("support:ticket_list"), {"status": "bogus", "created_min": "x"}
    )
    assert response.status_code == 200


def test_ticket_page_query_count_and_thread(
    agent_client, agent, policies, queue, django_assert_max_num_queries
):
    ticket = svc.ticket_create(
        subject="Thread", description="First words", contact=ContactFactory()
    )
    svc.ticket_reply(ticket=ticket, user=agent, body="Public answer")
    svc.ticket_note(
        ticket=ticket, user=agent, body="Secret note", files=[SimpleUploadedFile("a.png", PNG)]
    )
    CannedReplyFactory()
    with django_assert_max_num_queries(30):
        response = agent_client.get(ticket.get_absolute_url())
    html = response.content.decode()
    assert html.index("First words") < html.index("Public answer") < html.index("Secret note")
    assert "Internal note" in html and "a.png" in html


def test_agent_replies_notes_reassigns_and_solves_in_the_browser(
    agent_client, agent, agent2, policies, queue
):
    contact = ContactFactory(email="cust@example.com")
    ticket = svc.ticket_create(subject="Broken", contact=contact, assignee=agent)
    png = SimpleUploadedFile("shot.png", PNG, content_type="image/png")
    response = agent_client.post(
        reverse("support:ticket_reply", args=[ticket.pk]),
        {"body": "Fixed it", "status": "pending", "files": [png]},
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.PENDING and ticket.first_responded_at
    assert OutboundEmail.objects.filter(
        to_email="cust@example.com", subject__contains=ticket.reference
    ).exists()
    assert ticket.attachments.get().filename == "shot.png"
    agent_client.post(reverse("support:ticket_note", args=[ticket.pk]), {"body": "FYI"})
    assert TicketMessage.objects.filter(ticket=ticket, kind=MessageKind.NOTE).count() == 1
    agent_client.post(reverse("support:ticket_assign", args=[ticket.pk]), {"assignee": agent2.pk})
    agent_client.post(reverse("support:ticket_priority", args=[ticket.pk]), {"priority": "high"})
    agent_client.post(reverse("support:ticket_status", args=[ticket.pk]), {"status": "solved"})
    ticket.refresh_from_db()
    assert (ticket.assignee, ticket.priority, ticket.status) == (agent2, "high", "solved")
    assert CsatSurvey.objects.filter(ticket=ticket).exists()


def test_bad_input_re_renders_with_errors(agent_client, policies, queue):
    ticket = svc.ticket_create(subject="x", contact=ContactFactory())
    fake = SimpleUploadedFile("x.pdf", b"MZ\x90\x00\x03 not a pdf")
    response = agent_client.post(
        reverse("support:ticket_reply", args=[ticket.pk]), {"body": "", "files": [fake]}
    )
    assert response.status_code == 200
    errors = response.context["reply_form"].errors
    assert "body" in errors and "files" in errors
    response = agent_client.post(
        reverse("support:ticket_status", args=[ticket.pk]), {"status": "bogus"}
    )
    assert response.status_code == 302
    response = agent_client.post(
        reverse("support:ticket_merge", args=[ticket.pk]), {"target": "T-999999"}
    )
    assert response.status_code == 200 and "target" in response.context["merge_form"].errors
    response = agent_client.post(
        reverse("support:ticket_create"), {"subject": "", "channel": "zzz"}
    )
    assert response.status_code == 200 and {"subject", "channel"} <= set(
        response.context["form"].errors
    )


def test_create_ticket_page(agent_client, agent, policies, queue):
    contact = ContactFactory()
    response = agent_client.post(
        reverse("support:ticket_create"),
        {
            "subject": "Phone call",
            "description": "Customer called",
            "contact": contact.pk,
            "channel": "phone",
            "priority": "normal",
            "queue": queue.pk,
            "tag_names": "vip, Phone Support",
        },
    )
    ticket = Ticket.objects.get()
    assert response.status_code == 302
    assert ticket.account == contact.account and ticket.channel == "phone"
    assert sorted(ticket.tags.values_list("name", flat=True)) == ["phone-support", "vip"]


def test_bulk_actions(agent_client, agent2, policies, queue):
    make_tickets(3)
    ids = list(Ticket.objects.values_list("pk", flat=True))
    agent_client.post(
        reverse("support:ticket_bulk"), {"tickets": ids, "action": "assign", "assignee": agent2.pk}
    )
    assert set(Ticket.objects.values_list("assignee", flat=True)) == {agent2.pk}
    agent_client.post(
        reverse("support:ticket_bulk"), {"tickets": ids, "action": "priority", "priority": "urgent"}
    )
    assert set(Ticket.objects.values_list("priority", flat=True)) == {"urgent"}
    response = agent_client.post(
        reverse("support:ticket_bulk"), {"tickets": ids, "action": "status"}
    )
    assert response.status_code == 302
    assert set(Ticket.objects.values_list("status", flat=True)) == {"new"}


def test_a_bulk_edit_leaves_alone_tickets_changed_since_the_list_was_read(
    agent_client, agent2, policies, queue
):
    make_tickets(2)
    page = agent_client.get(reverse("support:ticket_list")).content.decode()
    seen_at = re.search(r'name="seen_at" value="([^"]+)"', page).group(1)
    changed, unchanged = Ticket.objects.order_by("pk")
    Ticket.objects.filter(pk=changed.pk).update(
        priority=Priority.URGENT, updated_at=timezone.now() + dt.timedelta(seconds=1)
    )

    response = agent_client.post(
        reverse("support:ticket_bulk"),
        {
            "tickets": [changed.pk, unchanged.pk],
            "action": "priority",
            "priority": "low",
            "seen_at": seen_at,
        },
        follow=True,
    )

    assert Ticket.objects.get(pk=changed.pk).priority == Priority.URGENT
    assert Ticket.objects.get(pk=unchanged.pk).priority == Priority.LOW
    assert "1 ticket changed by someone else since you loaded the list" in (
        response.content.decode()
    )


def test_rep_reads_tickets_of_own_accounts_only_and_cannot_change(
    rep_client, rep, rep2, policies, queue
):
    mine = svc.ticket_create(
        subject="Mine", contact=ContactFactory(owner=rep, account=AccountFactory(owner=rep))
    )
    theirs = svc.ticket_create(
        subject="Theirs", contact=ContactFactory(owner=rep2, account=AccountFactory(owner=rep2))
    )
    assert rep_client.get(mine.get_absolute_url()).status_code == 200
    assert "Send reply" not in rep_client.get(mine.get_absolute_url()).content.decode()
    listed = [t.pk for t in rep_client.get(reverse("support:ticket_list")).context["object_list"]]
    assert listed == [mine.pk]
    assert_hidden(
        rep_client,
        get=[
            theirs.get_absolute_url(),
            reverse("support:canned_preview", args=[mine.pk]),
            reverse("support:ticket_create"),
        ],
        post=[
            (reverse("support:ticket_reply", args=[mine.pk]), {"body": "x"}),
            (reverse("support:ticket_note", args=[mine.pk]), {"body": "x"}),
            (reverse("support:ticket_status", args=[mine.pk]), {"status": "solved"}),
            (reverse("support:ticket_assign", args=[mine.pk]), {"assignee": ""}),
            (reverse("support:ticket_priority", args=[mine.pk]), {"priority": "low"}),
            (reverse("support:ticket_merge", args=[mine.pk]), {"target": theirs.reference}),
            (reverse("support:ticket_reply", args=[theirs.pk]), {"body": "x"}),
            (reverse("support:ticket_bulk"), {"tickets": [mine.pk], "action": "unassign"}),
        ],
    )
    assert not TicketMessage.objects.exists()


def test_manager_sees_team_tickets_not_others(manager_client, rep, policies, queue):
    ours = svc.ticket_create(
        subject="Ours", contact=ContactFactory(account=AccountFactory(owner=rep))
    )
    other = svc.ticket_create(subject="Other", contact=ContactFactory())
    Ticket.objects.update(queue=None, assignee=None)
    assert manager_client.get(ours.get_absolute_url()).status_code == 200
    assert_hidden(
        manager_client,
        get=[other.get_absolute_url()],
        post=[(reverse("support:ticket_note", args=[other.pk]), {"body": "x"})],
    )


def test_attachment_download_respects_visibility(agent_client, agent, rep2, policies, queue):
    ticket = svc.ticket_create(subject="x", contact=ContactFactory())
    svc.ticket_note(
        ticket=ticket, user=agent, body="file", files=[SimpleUploadedFile("a.txt", b"hello")]
    )
    attachment = ticket.attachments.get()
    response = agent_client.get(attachment.get_absolute_url())
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"hello"
    agent_client.force_login(ticket.account.owner)
    assert agent_client.get(attachment.get_absolute_url()).status_code == 200
    agent_client.force_login(rep2)
    assert agent_client.get(attachment.get_absolute_url()).status_code == 404


def test_canned_reply_renders_merge_fields_in_a_sandbox(agent_client, agent, policies, queue):
    contact = ContactFactory(first_name="Zoë<script>")
    ticket = svc.ticket_create(subject="x", contact=contact)
    canned = CannedReplyFactory(
        body="Hi {{ contact.first_name }}, re {{ ticket.reference }} — {{ agent.name }}"
    )
    response = agent_client.get(
        reverse("support:canned_preview", args=[ticket.pk]), {"canned": canned.pk}
    )
    html = response.content.decode()
    assert ticket.reference in html and "<script>" not in html
    evil = CannedReplyFactory(body="{% debug %}{{ ticket.delete }}")
    response = agent_client.get(
        reverse("support:canned_preview", args=[ticket.pk]), {"canned": evil.pk}
    )
    assert Ticket.objects.filter(pk=ticket.pk).exists()


def test_account_panel_and_search(agent_client, policies, queue):
    account = AccountFactory()
    ticket = svc.ticket_create(subject="Zebra outage", contact=ContactFactory(account=account))
    html = agent_client.get(account.get_absolute_url()).content.decode()
    assert ticket.reference in html and "breaching SLA" in html
    html = agent_client.get(reverse("search"), {"q": "zebra"}).content.decode()
    assert ticket.reference in html


@override_settings(SUPPORT_PUBLIC_FORM_RATE=2)
def test_public_form_opens_ticket_finds_contact_and_is_rate_limited(client, policies, queue):
    cache.clear()
    existing = ContactFactory(email="known@example.com")
    data = {
        "name": "Known Person",
        "email": " Known@Example.com ",
        "subject": "Help",
        "description": "Please",
    }
    response = client.post(
        reverse("support:public_new"), {**data, "files": [SimpleUploadedFile("a.png", PNG)]}
    )
    assert response.status_code == 302
    ticket = Ticket.objects.get()
    assert ticket.contact == existing and ticket.channel == "web_form"
    assert ticket.attachments.count() == 1
    assert ticket.reference in client.get(response["Location"]).content.decode()
    bad = client.post(reverse("support:public_new"), {"email": "nope"})
    assert bad.status_code == 400 and "email" in bad.context["form"].errors
    bot = client.post(reverse("support:public_new"), {**data, "website": "spam.example"})
    assert bot.status_code == 429  # third post from this address within the hour
    assert Ticket.objects.count() == 1


def test_public_form_honeypot_creates_nothing(client, policies, queue):
    cache.clear()
    data = {
        "name": "Bot",
        "email": "bot@example.com",
        "subject": "Buy",
        "description": "x",
        "website": "x",
    }
    assert client.post(reverse("support:public_new"), data).status_code == 302
    assert not Ticket.objects.exists() and not Contact.objects.exists()


def test_csat_page_single_use_and_rating_on_ticket(client, agent_client, agent, policies, queue):
    ticket = svc.ticket_create(subject="x", contact=ContactFactory(email="c@example.com"))
    svc.ticket_change_status(ticket=ticket, status=TicketStatus.SOLVED, user=agent)
    survey = CsatSurvey.objects.get()
    token = surveys.make_token(kind="csat", key=survey.token)
    # The signature carries the second it was made: compare the signed payload.
    payload = token.split(":")[0]
    assert payload in OutboundEmail.objects.get(idempotency_key=f"csat:{ticket.pk}").body_text
    url = reverse("support:survey", args=[token])
    assert client.get(url).status_code == 200
    assert client.post(url, {"rating": "9"}).status_code == 400
    assert client.post(url, {"rating": "4", "comment": "Quick!"}).status_code == 200
    assert client.post(url, {"rating": "1"}).status_code == 200
    survey.refresh_from_db()
    assert (survey.rating, survey.comment) == (4, "Quick!")
    assert "4/5" in agent_client.get(ticket.get_absolute_url()).content.decode()
    assert client.get(reverse("support:survey", args=[token + "x"])).status_code == 400
    wrong_kind = surveys.make_token(kind="nps", key=survey.token)
    assert client.get(reverse("support:survey", args=[wrong_kind])).status_code == 400


def test_survey_registry_dispatches_other_kinds(client):
    from django.http import HttpResponse

    surveys.register("test-kind", lambda request, key: HttpResponse(f"got {key}"))
    try:
        token = surveys.make_token(kind="test-kind", key="abc")
        assert client.get(reverse("support:survey", args=[token])).content == b"got abc"
    finally:
        surveys.handlers.pop("test-kind")


def test_anonymous_is_sent_to_login(client, policies, queue):
    ticket = TicketFactory()
    assert client.get(ticket.get_absolute_url()).status_code == 302
    assert client.get(reverse("support:ticket_list")).status_code == 302


@pytest.mark.parametrize(
    ("now", "shown", "seconds"),
    [
        # Friday 16:30: 30 min left on Friday, then (weekend, Monday holiday) 60 on Tuesday.
        ((2026, 12, 18, 16, 30), "1h 30m left", 5400),
        # Saturday noon: the clock stands until Tuesday 09:00.
        ((2026, 12, 19, 12), "1h 00m left", 3600),
        # Monday (the holiday) afternoon: still an hour.
        ((2026, 12, 21, 15), "1h 00m left", 3600),
        # Tuesday 11:15: due at 10:00, overdue by 75 business minutes.
        ((2026, 12, 22, 11, 15), "overdue 1h 15m", -4500),
    ],
)
def test_my_queue_countdown_matches_a_hand_computation_across_weekend_and_holiday(
    agent_client, agent, policies, queue, monkeypatch, now, shown, seconds
):
    from types import SimpleNamespace
    from zoneinfo import ZoneInfo

    from support import selectors

    berlin = ZoneInfo("Europe/Berlin")
    # Friday 18 Dec 16:00, normal priority: first response due in 2 business hours.
    ticket = svc.ticket_create(
        subject="Cannot log in",
        contact=ContactFactory(),
        assignee=agent,
        now=dt.datetime(2026, 12, 18, 16, tzinfo=berlin),
    )
    assert ticket.sla_due_at == dt.datetime(2026, 12, 22, 10, tzinfo=berlin)
    monkeypatch.setattr(
        selectors, "timezone", SimpleNamespace(now=lambda: dt.datetime(*now, tzinfo=berlin))
    )
    html = agent_client.get(reverse("support:my_queue")).content.decode()
    assert shown in html
    assert f'data-remaining-seconds="{seconds}"' in html
    assert ('class="table-danger"' in html) == (seconds < 0)


def test_rows_escape_what_customers_typed_and_show_paused_and_breached(
    agent_client, agent, policies, queue
):
    ticket = svc.ticket_create(
        subject="<script>alert(1)</script>", contact=ContactFactory(), assignee=agent
    )
    svc.ticket_change_status(ticket=ticket, status=TicketStatus.PENDING, user=agent)
    Ticket.objects.filter(pk=ticket.pk).update(first_response_breached=True)
    html = agent_client.get(reverse("support:ticket_list")).content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    row = html.split(f'name="tickets" value="{ticket.pk}"')[1].split("</tr>")[0]
    assert "paused" in row and "breached" in row


def test_a_reply_form_sent_twice_emails_the_customer_once(agent_client, agent, policies, queue):
    contact = ContactFactory(email="twice@example.com")
    ticket = svc.ticket_create(subject="Double click", contact=contact, assignee=agent)
    page = agent_client.get(ticket.get_absolute_url()).content.decode()
    key = re.search(r'name="submission" value="([0-9a-f]+)"', page).group(1)
    url = reverse("support:ticket_reply", args=[ticket.pk])

    first = agent_client.post(url, {"body": "On it", "submission": key})
    second = agent_client.post(url, {"body": "On it", "submission": key})

    assert (first.status_code, second.status_code) == (302, 302)
    assert TicketMessage.objects.filter(ticket=ticket, kind=MessageKind.REPLY).count() == 1
    assert OutboundEmail.objects.filter(to_email="twice@example.com").count() == 1
    # A new form (a new key) is a new reply.
    agent_client.post(url, {"body": "Done now", "submission": "another-form"})
    assert TicketMessage.objects.filter(ticket=ticket, kind=MessageKind.REPLY).count() == 2
