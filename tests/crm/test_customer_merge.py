"""Merging duplicate contacts and accounts keeps every link, is recorded, and undoes exactly."""

from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from crm.choices import AuditAction
from crm.history import Source
from crm.models import (
    Account,
    AccountMerge,
    Activity,
    AuditEvent,
    ConsentEvent,
    Contact,
    ContactMerge,
    Task,
)
from crm.services.customer_merges import (
    account_merge,
    account_merge_undo,
    contact_merge,
    contact_merge_undo,
)
from crm.services.customers import contact_update
from crm.services.trash import trash_delete, trash_restore
from leads.campaigns.models import CampaignRecipient
from retention.models import HealthScore, NpsSurvey, Subscription
from sales.models import Opportunity
from support.models import Ticket
from tests.factories.crm import (
    AccountFactory,
    ActivityFactory,
    ConsentEventFactory,
    ContactFactory,
    TaskFactory,
)
from tests.factories.email_campaigns import EmailCampaignFactory
from tests.factories.leads import LeadFactory
from tests.factories.retention import HealthScoreFactory, NpsSurveyFactory, SubscriptionFactory
from tests.factories.sales import OpportunityFactory
from tests.factories.support import TicketFactory

pytestmark = pytest.mark.django_db


def _fields(obj) -> dict:
    obj = type(obj)._base_manager.get(pk=obj.pk)
    return {
        f.attname: getattr(obj, f.attname)
        for f in obj._meta.concrete_fields
        if f.name != "updated_at"
    }


def _task(subject):
    return TaskFactory(
        assignee=subject.owner,
        content_type=ContentType.objects.get_for_model(subject),
        object_id=subject.pk,
    )


def _recipient(campaign, contact):
    return CampaignRecipient.objects.create(campaign=campaign, contact=contact, email=contact.email)


def _contact_links(contact) -> dict:
    pk = contact.pk
    return {
        "activities": set(Activity.objects.for_object(contact).values_list("pk", flat=True)),
        "tasks": set(Task.objects.for_object(contact).values_list("pk", flat=True)),
        "consents": set(ConsentEvent.objects.for_object(contact).values_list("pk", flat=True)),
        "deals": set(
            Opportunity.objects.filter(primary_contact_id=pk).values_list("pk", flat=True)
        ),
        "tickets": set(Ticket.objects.filter(contact_id=pk).values_list("pk", flat=True)),
        "recipients": set(
            CampaignRecipient.objects.filter(contact_id=pk).values_list("pk", flat=True)
        ),
        "surveys": set(NpsSurvey.objects.filter(contact_id=pk).values_list("pk", flat=True)),
    }


@pytest.fixture
def contacts(rep):
    """Two contacts of ``rep`` for one person, each with timeline, tasks, deals, tickets,
    campaign memberships (one campaign both are in), consent proof and an NPS survey."""
    keep = ContactFactory(owner=rep, first_name="Robert", last_name="Miller", title="")
    merge = ContactFactory(
        owner=rep,
        first_name="Bob",
        last_name="Miller",
        title="CFO",
        phone="+4930123456",
        marketing_consent=True,
        marketing_consent_at=timezone.now() - timedelta(days=3),
    )
    shared = EmailCampaignFactory()
    for contact in (keep, merge):
        ActivityFactory(subject=contact)
        _task(contact)
        OpportunityFactory(owner=rep, account=contact.account, primary_contact=contact)
        TicketFactory(contact=contact)
        _recipient(shared, contact)
        _recipient(EmailCampaignFactory(), contact)
        ConsentEventFactory(subject=contact)
        NpsSurveyFactory(contact=contact)
    return keep, merge


def test_contact_merge_moves_every_link_and_deletes_the_merged_contact(rep, contacts):
    keep, merge = contacts
    before_keep, before_merge = _contact_links(keep), _contact_links(merge)
    shared_recipient = CampaignRecipient.objects.get(
        contact=merge, campaign__recipients__contact=keep
    )

    record = contact_merge(keep=keep, merge=merge, user=rep, field_choices={"first_name": "merge"})

    assert not Contact.objects.filter(pk=merge.pk).exists()
    after = _contact_links(keep)
    for kind, ids in before_merge.items():
        expected = ids - ({shared_recipient.pk} if kind == "recipients" else set())
        assert expected <= after[kind], kind
        assert before_keep[kind] <= after[kind], kind
    assert not CampaignRecipient.objects.filter(pk=shared_recipient.pk).exists()
    keep.refresh_from_db()
    assert (keep.first_name, keep.title, keep.phone) == ("Bob", "CFO", "+4930123456")
    assert keep.marketing_consent and keep.marketing_consent_at is not None
    moved_activity = Activity.objects.get(pk=next(iter(before_merge["activities"])))
    assert moved_activity.subject_owner_id == keep.owner_id
    assert record.kept == keep and record.merged_pk == merge.pk
    assert set(record.kept_after) >= {"first_name", "title", "phone", "marketing_consent"}
    assert Activity.objects.for_object(keep).filter(
        summary=f"Merged contact Bob Miller (#{merge.pk}) into this one"
    )
    assert AuditEvent.objects.get(action=AuditAction.CONTACT_MERGED).detail["merged"] == merge.pk
    event = keep.history_events.filter(pgh_label="update").latest("pgh_id")
    assert event.pgh_context.metadata["source"] == Source.MERGE
    assert event.pgh_context.metadata["user"] == rep.pk


def test_contact_merge_undo_puts_everything_back_exactly(rep, contacts):
    keep, merge = contacts
    fields_keep, fields_merge = _fields(keep), _fields(merge)
    links_keep, links_merge = _contact_links(keep), _contact_links(merge)
    record = contact_merge(keep=keep, merge=merge, user=rep, field_choices={"first_name": "merge"})

    contact_merge_undo(record=record, user=rep)

    assert _fields(keep) == fields_keep
    assert _fields(merge) == fields_merge
    after_keep, after_merge = _contact_links(keep), _contact_links(merge)
    for kind in links_keep:
        if kind == "activities":  # one line on each timeline says the merge was undone
            assert after_keep[kind] - links_keep[kind] == set(
                Activity.objects.for_object(keep)
                .filter(summary__startswith="Merge undone")
                .values_list("pk", flat=True)
            )
            assert len(after_merge[kind] - links_merge[kind]) == 1
        elif kind == "consents":  # append-only proof: the merge's answer and the undo's stay
            added = ConsentEvent.objects.filter(pk__in=after_keep[kind] - links_keep[kind])
            assert {(e.channel, e.given) for e in added} == {("merge", True), ("merge", False)}
            assert after_merge[kind] == links_merge[kind]
        else:
            assert after_keep[kind] == links_keep[kind], kind
            assert after_merge[kind] == links_merge[kind], kind
    record.refresh_from_db()
    assert record.undone_at is not None and record.undone_by == rep
    event = merge.history_events.order_by("-pgh_id").first()
    assert event.pgh_context.metadata["source"] == Source.RESTORE
    assert AuditEvent.objects.filter(action=AuditAction.CONTACT_MERGE_UNDONE).count() == 1
    with pytest.raises(ValidationError, match="already undone"):
        contact_merge_undo(record=record, user=rep)


def test_undo_is_refused_when_a_field_the_merge_set_changed_since(rep, contacts):
    keep, merge = contacts
    record = contact_merge(keep=keep, merge=merge, user=rep, field_choices={"title": "merge"})
    contact_update(contact=Contact.objects.get(pk=keep.pk), user=rep, title="COO")

    with pytest.raises(ValidationError, match="job title"):
        contact_merge_undo(record=record, user=rep)
    assert not Contact.objects.filter(pk=merge.pk).exists()


def test_a_rep_cannot_merge_or_undo_another_reps_contacts(rep, rep2):
    mine, theirs = ContactFactory(owner=rep), ContactFactory(owner=rep2)
    with pytest.raises(Contact.DoesNotExist):
        contact_merge(keep=mine, merge=theirs, user=rep)
    other = ContactFactory(owner=rep2)
    record = contact_merge(keep=theirs, merge=other, user=rep2)
    with pytest.raises(Contact.DoesNotExist):
        contact_merge_undo(record=record, user=rep)


def test_a_contact_is_not_merged_with_itself_nor_with_a_bad_choice(rep):
    contact, other = ContactFactory(owner=rep), ContactFactory(owner=rep)
    with pytest.raises(ValidationError):
        contact_merge(keep=contact, merge=contact, user=rep)
    with pytest.raises(ValidationError):
        contact_merge(keep=contact, merge=other, user=rep, field_choices={"email": "both"})
    with pytest.raises(ValidationError):
        contact_merge(keep=contact, merge=other, user=rep, field_choices={"owner_id": "merge"})


def test_leads_converted_into_the_merged_contact_follow_it_and_come_back(rep):
    keep, merge = ContactFactory(owner=rep), ContactFactory(owner=rep)
    lead = LeadFactory(owner=rep, converted_contact=merge)
    record = contact_merge(keep=keep, merge=merge, user=rep)
    lead.refresh_from_db()
    assert lead.converted_contact_id == keep.pk
    contact_merge_undo(record=record, user=rep)
    lead.refresh_from_db()
    assert lead.converted_contact_id == merge.pk


def test_an_earlier_merge_goes_and_comes_back_with_its_contact(rep):
    a, b, c = (ContactFactory(owner=rep) for _ in range(3))
    first = contact_merge(keep=b, merge=a, user=rep)
    second = contact_merge(keep=c, merge=b, user=rep)
    assert not ContactMerge.objects.filter(pk=first.pk).exists()
    contact_merge_undo(record=second, user=rep)
    contact_merge_undo(record=ContactMerge.objects.get(pk=first.pk), user=rep)
    assert Contact.objects.filter(pk__in=[a.pk, b.pk, c.pk]).count() == 3


def test_the_kept_contact_goes_to_the_trash_and_back_with_its_merges(rep):
    keep, merge = ContactFactory(owner=rep), ContactFactory(owner=rep)
    ActivityFactory(subject=merge)
    record = contact_merge(keep=keep, merge=merge, user=rep)
    entry = trash_delete(obj=Contact.objects.get(pk=keep.pk), user=rep)
    trash_restore(entry=entry, user=rep)
    assert ContactMerge.objects.filter(pk=record.pk, kept=keep).exists()
    contact_merge_undo(record=record, user=rep)
    assert Contact.objects.filter(pk=merge.pk).exists()


# Accounts ---------------------------------------------------------------------------------------


def _account_links(account) -> dict:
    pk = account.pk
    return {
        "contacts": set(Contact.objects.filter(account_id=pk).values_list("pk", flat=True)),
        "deals": set(Opportunity.objects.filter(account_id=pk).values_list("pk", flat=True)),
        "tickets": set(Ticket.objects.filter(account_id=pk).values_list("pk", flat=True)),
        "subscriptions": set(
            Subscription.objects.filter(account_id=pk).values_list("pk", flat=True)
        ),
        "activities": set(Activity.objects.for_object(account).values_list("pk", flat=True)),
        "health": set(HealthScore.objects.filter(account_id=pk).values_list("pk", flat=True)),
    }


@pytest.fixture
def accounts(rep):
    keep = AccountFactory(owner=rep, name="Acme GmbH", industry="")
    merge = AccountFactory(owner=rep, name="ACME", industry="software")
    for account in (keep, merge):
        contact = ContactFactory(owner=rep, account=account)
        OpportunityFactory(owner=rep, account=account, primary_contact=contact)
        TicketFactory(contact=contact)
        SubscriptionFactory(account=account)
        ActivityFactory(subject=account)
        HealthScoreFactory(account=account)
    return keep, merge


def test_account_merge_moves_contacts_deals_tickets_subscriptions_and_undo_returns_them(
    rep, accounts
):
    keep, merge = accounts
    fields_keep, fields_merge = _fields(keep), _fields(merge)
    links_keep, links_merge = _account_links(keep), _account_links(merge)
    health_merge = _fields(HealthScore.objects.get(account=merge))

    record = account_merge(keep=keep, merge=merge, user=rep)

    assert not Account.objects.filter(pk=merge.pk).exists()
    after = _account_links(keep)
    for kind in ("contacts", "deals", "tickets", "subscriptions"):
        assert after[kind] == links_keep[kind] | links_merge[kind], kind
    assert after["health"] == links_keep["health"]  # one health score per account: the kept one's
    keep.refresh_from_db()
    assert keep.industry == "software"  # filled from the merged account, as the kept one had none
    assert isinstance(record, AccountMerge)

    account_merge_undo(record=record, user=rep)

    assert _fields(keep) == fields_keep and _fields(merge) == fields_merge
    for kind in ("contacts", "deals", "tickets", "subscriptions", "health"):
        assert _account_links(keep)[kind] == links_keep[kind], kind
        assert _account_links(merge)[kind] == links_merge[kind], kind
    assert _fields(HealthScore.objects.get(account=merge)) == health_merge


# Pages ------------------------------------------------------------------------------------------


def test_contact_merge_page_shows_both_and_merges_on_post(rep_client, contacts):
    keep, merge = contacts
    url = reverse("contact_merge", args=[keep.pk]) + f"?with={merge.pk}"

    page = rep_client.get(url)
    assert page.status_code == 200
    assert b'name="first_name"' in page.content and b"Tickets" in page.content

    response = rep_client.post(url, {"first_name": "keep", "title": "merge"})
    assert response.status_code == 302
    assert not Contact.objects.filter(pk=merge.pk).exists()
    detail = rep_client.get(keep.get_absolute_url())
    record = ContactMerge.objects.get()
    assert reverse("contact_merge_undo", args=[record.pk]).encode() in detail.content

    response = rep_client.post(reverse("contact_merge_undo", args=[record.pk]))
    assert response.status_code == 302
    assert Contact.objects.filter(pk=merge.pk).exists()


def test_contact_merge_page_rerenders_on_a_bad_choice(rep_client, contacts):
    keep, merge = contacts
    url = reverse("contact_merge", args=[keep.pk]) + f"?with={merge.pk}"
    response = rep_client.post(url, {"first_name": "both"})
    assert response.status_code == 200
    assert Contact.objects.filter(pk=merge.pk).exists()
    assert b"Select a valid choice" in response.content


def test_merge_chooser_lists_likely_duplicates(rep_client, rep):
    keep = ContactFactory(owner=rep, first_name="Jane", last_name="Doe", email="jane@example.org")
    twin = ContactFactory(owner=rep, first_name="Jane", last_name="Doe", email="jane.d@example.net")
    page = rep_client.get(reverse("contact_merge", args=[keep.pk]))
    assert page.status_code == 200
    assert f"?with={twin.pk}".encode() in page.content
    found = rep_client.get(reverse("contact_merge", args=[keep.pk]), {"q": "jane.d"})
    assert f"?with={twin.pk}".encode() in found.content


def test_account_merge_page_hides_another_reps_account(rep_client, rep, rep2):
    mine, theirs = AccountFactory(owner=rep), AccountFactory(owner=rep2)
    url = reverse("account_merge", args=[mine.pk]) + f"?with={theirs.pk}"
    assert rep_client.get(url).status_code == 404
    assert rep_client.post(url, {}).status_code == 404
    assert Account.objects.filter(pk=theirs.pk).exists()


def test_merged_records_panel_has_a_fixed_query_count(rep_client, rep, django_assert_num_queries):
    keep = ContactFactory(owner=rep)
    contact_merge(keep=keep, merge=ContactFactory(owner=rep), user=rep)
    rep_client.get(keep.get_absolute_url())  # the catalog (crm.catalog) read and kept
    with CaptureQueriesContext(connection) as one:
        assert rep_client.get(keep.get_absolute_url()).status_code == 200
    for _ in range(3):
        contact_merge(keep=keep, merge=ContactFactory(owner=rep), user=rep)
    with django_assert_num_queries(len(one)):
        page = rep_client.get(keep.get_absolute_url())
    assert page.content.count(b"Undo merge") == 4
