import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Account, Activity, Contact, Task
from tests.factories import (
    AccountFactory,
    ActivityFactory,
    ContactFactory,
    TaskFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def test_account_create_with_bad_input_shows_errors_and_saves_nothing(rep_client):
    response = rep_client.post(
        reverse("account_create"),
        {"name": "", "domain": "not a domain", "lifecycle_stage": "bogus", "country": "XX"},
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert {"name", "domain", "lifecycle_stage", "country"} <= set(errors)
    assert Account.objects.count() == 0


def test_account_create_normalises_domain_and_defaults_owner(rep_client, rep):
    response = rep_client.post(
        reverse("account_create"),
        {"name": "Acme", "domain": "https://WWW.Acme.com/about", "lifecycle_stage": "prospect"},
    )
    account = Account.objects.get()
    assert response.status_code == 302
    assert response["Location"] == account.get_absolute_url()
    assert account.domain == "acme.com"
    assert account.owner == rep
    assert Activity.objects.for_object(account).filter(summary="Account created").exists()


def test_contact_bad_phone_and_email_re_render_with_errors(rep_client):
    response = rep_client.post(
        reverse("contact_create"),
        {"last_name": "Doe", "email": "not-an-email", "phone": "12"},
    )
    assert response.status_code == 200
    assert {"email", "phone"} <= set(response.context["form"].errors)
    assert Contact.objects.count() == 0


def test_contact_email_lowercased_phone_e164_and_consent_stamped(rep_client, rep):
    account = AccountFactory(owner=rep, country="DE")
    response = rep_client.post(
        reverse("contact_create"),
        {
            "first_name": "Jana",
            "last_name": "Meyer",
            "email": " Jana.Meyer@Example.COM ",
            "phone": "030 1234567",
            "account": account.pk,
            "marketing_consent": "on",
        },
    )
    assert response.status_code == 302
    contact = Contact.objects.get()
    assert contact.email == "jana.meyer@example.com"
    assert contact.phone == "+49301234567"
    assert contact.marketing_consent and contact.marketing_consent_at is not None
    assert not contact.email_consent and contact.email_consent_at is None


def test_contact_edit_records_what_changed(rep_client, rep):
    contact = ContactFactory(owner=rep, title="Engineer")
    response = rep_client.post(
        reverse("contact_edit", args=[contact.pk]),
        {
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "title": "CTO",
            "email": contact.email,
            "owner": rep.pk,
            "account": contact.account_id,
        },
    )
    assert response.status_code == 302
    contact.refresh_from_db()
    assert contact.title == "CTO"
    assert Activity.objects.for_object(contact).filter(summary__icontains="job title").exists()


def test_delete_needs_confirmation(rep_client, rep):
    account = AccountFactory(owner=rep)
    assert rep_client.get(reverse("account_delete", args=[account.pk])).status_code == 200
    assert Account.objects.filter(pk=account.pk).exists()
    response = rep_client.post(reverse("account_delete", args=[account.pk]))
    assert response.status_code == 302
    assert not Account.objects.filter(pk=account.pk).exists()


@pytest.mark.parametrize("rows", [3, 60])
def test_list_pages_keep_their_query_count(rows, rep_client, rep, django_assert_max_num_queries):
    # Given rows owned by several people
    owners = [rep, UserFactory(username="o1"), UserFactory(username="o2")]
    accounts = AccountFactory.create_batch(rows, owner=factory_cycle(owners))
    for account in accounts:
        ContactFactory(account=account, owner=account.owner)
        TaskFactory(assignee=rep, created_by=rep, content_type=None)
    # Then every list page answers within a fixed number of queries whatever the row count
    for url in ("account_list", "contact_list", "task_list"):
        # session, user (with roles and the bell's unread count), then the page's own
        with django_assert_max_num_queries(9):
            response = rep_client.get(reverse(url))
        assert response.status_code == 200
        assert len(response.context["object_list"]) == min(rows, 50)


def factory_cycle(items):
    import factory

    return factory.Iterator(items)


def test_list_filters_sort_and_paginate(rep_client, rep):
    AccountFactory.create_batch(55, owner=rep, industry="retail", country="FR")
    AccountFactory(owner=rep, name="Zeta Software", industry="software", country="DE")
    response = rep_client.get(reverse("account_list"), {"industry": "software"})
    assert [a.name for a in response.context["object_list"]] == ["Zeta Software"]
    response = rep_client.get(reverse("account_list"), {"country": "FR", "sort": "name"})
    names = [a.name for a in response.context["object_list"]]
    assert names == sorted(names) and len(names) == 50
    assert response.context["page_obj"].has_next()
    page2 = rep_client.get(reverse("account_list"), {"country": "FR", "sort": "name", "page": 2})
    assert len(page2.context["object_list"]) == 5
    assert not page2.context["page_obj"].has_next()


def test_list_survives_bad_filter_input(rep_client, rep):
    AccountFactory(owner=rep)
    response = rep_client.get(
        reverse("account_list"),
        {"created_min": "yesterday", "owner": "abc", "page": "-3", "sort": "password", "q": "'\";"},
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("url_name", "labels"),
    [
        ("account_list", ["Search", "Owner", "Lifecycle stage", "Industry", "Country"]),
        ("task_list", ["Search", "State", "Assignee", "Due between"]),
    ],
)
def test_list_filter_bar_labels_each_filter_once(rep_client, url_name, labels):
    body = rep_client.get(reverse(url_name)).content.decode()
    filter_bar = body.split('<form class="row g-2', 1)[1].split("</form>", 1)[0]
    shown = [label.strip() for label in re.findall(r"<label[^>]*>(.*?)</label>", filter_bar, re.S)]
    assert shown[: len(labels)] == labels
    assert len(shown) == len(set(shown))
    assert "[invalid name]" not in body


def test_htmx_list_request_returns_only_the_table(rep_client, rep):
    AccountFactory(owner=rep, name="Only Table")
    response = rep_client.get(reverse("account_list"), HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "Only Table" in body and '<nav class="navbar' not in body


def test_free_text_filter(rep_client, rep):
    ContactFactory(owner=rep, first_name="Ada", last_name="Lovelace", email="ada@engine.org")
    ContactFactory(owner=rep, first_name="Alan", last_name="Turing", email="alan@bletchley.uk")
    for query in ("lovel", "ada lovelace", "engine", "ada@engine.org"):
        response = rep_client.get(reverse("contact_list"), {"q": query})
        assert [c.last_name for c in response.context["object_list"]] == ["Lovelace"], query


def test_detail_pages_have_a_fixed_query_count(rep_client, rep, django_assert_max_num_queries):
    account = AccountFactory(owner=rep)
    for _ in range(30):
        contact = ContactFactory(account=account, owner=rep)
        ActivityFactory(subject=account)
        TaskFactory(assignee=rep, content_type=None)
    # The timeline reads the content types of the related kinds once a process (Django caches
    # them): measure a page as every request after the first one sees it.
    rep_client.get(account.get_absolute_url())
    rep_client.get(contact.get_absolute_url())
    # The session, the user, their roles, the bell's unread count and the custom fields; the
    # record; one query that tells which panels have anything (with the count of the record's
    # pairs in the duplicates review queue); then each panel that has rows: the account's
    # timeline, health and contacts; nothing on the contact.
    with django_assert_max_num_queries(9):
        assert rep_client.get(account.get_absolute_url()).status_code == 200
    with django_assert_max_num_queries(7):
        assert rep_client.get(contact.get_absolute_url()).status_code == 200


def _contact_with_everything(rep):
    """A contact whose every panel, its timeline, tasks and meetings have rows."""
    from crm.models import ContactMerge
    from leads.models import LeadMerge
    from tests.factories.crm import ConsentEventFactory, MeetingFactory
    from tests.factories.leads import LeadFactory
    from tests.factories.sales import OpportunityFactory
    from tests.factories.support import TicketFactory

    contact = ContactFactory(owner=rep, account=AccountFactory(owner=rep))
    ActivityFactory(subject=contact, summary="Called about pricing")
    TaskFactory(assignee=rep, subject=contact, title="Send the proposal")
    MeetingFactory(about=contact, organizer=rep, title="Quarterly review")
    OpportunityFactory(owner=rep, account=contact.account, primary_contact=contact, name="Big deal")
    TicketFactory(contact=contact, subject="Printer on fire")
    ConsentEventFactory(subject=contact)
    ContactMerge.objects.create(
        kept=contact,
        merged_pk=contact.pk + 1000,
        merged_name="Old copy",
        merged_by=rep,
        merged_at=timezone.now(),
        kept_before={"owner": rep.pk},
        merged_before={"owner": rep.pk},
    )
    lead = LeadFactory(owner=rep)
    LeadMerge.objects.create(
        merged=lead,
        contact=contact,
        merged_by=rep,
        merged_at=timezone.now(),
        kept_before={"owner": rep.pk},
        merged_before={"owner": rep.pk},
    )
    return contact


def test_a_record_page_with_every_panel_filled_keeps_its_query_count(
    rep_client, rep, django_assert_max_num_queries
):
    contact = _contact_with_everything(rep)
    rep_client.get(contact.get_absolute_url())
    with django_assert_max_num_queries(16):
        body = rep_client.get(contact.get_absolute_url()).content.decode()
    for shown in (
        "Called about pricing",
        "Send the proposal",
        "Quarterly review",
        "Big deal",
        "Printer on fire",
        "Marketing given",
        "Merged records",
        "Leads merged into this contact",
    ):
        assert shown in body, shown


def test_an_empty_record_page_shows_its_empty_panels_without_reading_them(
    rep_client, rep, django_assert_max_num_queries
):
    contact = ContactFactory(owner=rep)
    rep_client.get(contact.get_absolute_url())
    with django_assert_max_num_queries(7):
        body = rep_client.get(contact.get_absolute_url()).content.decode()
    for shown in (
        "Nothing on the timeline yet.",
        "No open tasks.",
        "No upcoming meetings.",
        "No deals yet.",
        "No consent recorded.",
    ):
        assert shown in body, shown
    assert "Merged records" not in body and "Leads merged into this contact" not in body


def test_the_inline_forms_render_the_same_blank_and_keep_their_errors(rep_client, rep):
    contact = ContactFactory(owner=rep)
    first = rep_client.get(contact.get_absolute_url()).content.decode()
    second = rep_client.get(contact.get_absolute_url()).content.decode()
    form = re.compile(r'<div id="div_id_(?:activity|task)-.*?</div>\s*</div>', re.S)
    assert form.findall(first) and form.findall(first) == form.findall(second)
    response = rep_client.post(
        reverse("activity_create", args=["crm.contact", contact.pk]),
        {"activity-kind": "call", "activity-summary": ""},
        HTTP_HX_REQUEST="true",
    )
    assert "is-invalid" in response.content.decode()
    blank = rep_client.get(contact.get_absolute_url()).content.decode()
    assert "is-invalid" not in blank


def test_log_activity_inline_shows_it_first_on_the_timeline(rep_client, rep):
    contact = ContactFactory(owner=rep)
    ActivityFactory(
        subject=contact, summary="Older call", occurred_at=timezone.now() - timedelta(days=3)
    )
    url = reverse("activity_create", args=["crm.contact", contact.pk])
    response = rep_client.post(
        url,
        {"activity-kind": "call", "activity-summary": "Discussed pricing", "activity-body": "ok"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.index("Discussed pricing") < body.index("Older call")
    assert "<html" not in body


def test_log_activity_with_bad_input_keeps_the_form_errors(rep_client, rep):
    contact = ContactFactory(owner=rep)
    url = reverse("activity_create", args=["crm.contact", contact.pk])
    response = rep_client.post(
        url, {"activity-kind": "fax", "activity-summary": ""}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert response.context["activity_form"].errors
    assert not Activity.objects.for_object(contact).exclude(kind="system").exists()


def test_add_and_complete_task_inline(rep_client, rep):
    account = AccountFactory(owner=rep)
    response = rep_client.post(
        reverse("task_create", args=["crm.account", account.pk]),
        {"task-title": "Send proposal", "task-due_at": "2030-05-01T10:00"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    task = Task.objects.get(title="Send proposal")
    assert task.assignee == rep and task.subject == account
    response = rep_client.post(reverse("task_toggle", args=[task.pk]), HTTP_HX_REQUEST="true")
    task.refresh_from_db()
    assert task.done_at is not None and task.done_by == rep
    assert Activity.objects.for_object(account).filter(summary="Task done: Send proposal").exists()


def test_home_lists_overdue_and_due_today(rep_client, rep):
    now = timezone.now()
    TaskFactory(assignee=rep, title="Late one", due_at=now - timedelta(hours=2))
    TaskFactory(
        assignee=rep,
        title="Later today",
        due_at=min(now + timedelta(minutes=5), timezone.localtime(now).replace(hour=23, minute=59)),
    )
    TaskFactory(assignee=rep, title="Next week", due_at=now + timedelta(days=7))
    response = rep_client.get(reverse("home"))
    [tasks] = [c for w, c in response.context["focus_widgets"] if w.title == "My tasks today"]
    assert [t.title for t in tasks["overdue"]] == ["Late one"]
    assert [t.title for t in tasks["due_today"]] == ["Later today"]


def test_older_timeline_entries_page_by_time_and_any_before_answers(rep_client, rep):
    """The timeline shows 20 entries and links to the older ones; the link's ``before``, or one
    typed by hand (no zone, no such day, not a time), answers 200."""
    import html

    contact = ContactFactory(owner=rep)
    now = timezone.now()
    for n in range(25):
        ActivityFactory(
            subject=contact, summary=f"Call {n:02}", occurred_at=now - timedelta(hours=n)
        )
    page = rep_client.get(contact.get_absolute_url()).content.decode()
    assert "Call 00" in page and "Call 19" in page and "Call 20" not in page
    older = html.unescape(re.search(r'hx-get="([^"]*before=[^"]*)"', page).group(1))
    body = rep_client.get(older, HTTP_HX_REQUEST="true").content.decode()
    assert "Call 20" in body and "Call 24" in body and "Call 19" not in body

    url = reverse("timeline_more", args=["crm.contact", contact.pk])
    naive = timezone.localtime(now - timedelta(hours=22)).replace(tzinfo=None).isoformat()
    body = rep_client.get(url, {"before": naive}).content.decode()
    assert "Call 23" in body and "Call 22" not in body
    for typed in ("2026-13-45T00:00:00", "yesterday", ""):
        assert rep_client.get(url, {"before": typed}).status_code == 200
