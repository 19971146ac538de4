"""The trash: deleted records are kept with what went with them, restored as they were (same
ids, same values, same links), refused with a message when something they need is missing,
listed by who may see them, and purged after ``TRASH_RETENTION_DAYS``."""

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from crm.choices import AuditAction
from crm.history import Source
from crm.models import Account, Activity, AuditEvent, Contact, Task, TrashedRecord
from crm.services.customers import account_delete, contact_delete
from crm.services.trash import (
    trash_delete,
    trash_purge_expired,
    trash_purge_matching,
    trash_restore,
)
from leads.models import Lead
from leads.services.leads import lead_delete, leads_bulk_delete
from sales import services as sales_services
from sales.models import Opportunity, OpportunityLineItem, Quote
from support.models import Tag, Ticket, TicketMessage
from tests.factories.crm import (
    AccountFactory,
    ActivityFactory,
    ContactFactory,
    TaskFactory,
    UserFactory,
)
from tests.factories.leads import LeadFactory
from tests.factories.sales import OpportunityFactory, ProductFactory
from tests.factories.support import TicketFactory, TicketMessageFactory


def values(obj) -> dict:
    """Every stored column of ``obj`` as it is in the database now."""
    fresh = type(obj)._base_manager.get(pk=obj.pk)
    return {f.attname: getattr(fresh, f.attname) for f in fresh._meta.concrete_fields}


def rows_of(model, **filters) -> list[dict]:
    return [values(row) for row in model._base_manager.filter(**filters).order_by("pk")]


def timeline_of(obj):
    ct = ContentType.objects.get_for_model(obj)
    return (
        rows_of(Activity, content_type=ct, object_id=obj.pk),
        rows_of(Task, content_type=ct, object_id=obj.pk),
    )


def with_timeline(obj, user):
    ActivityFactory(subject=obj, actor=user, subject_owner=user)
    ActivityFactory(subject=obj, actor=user, subject_owner=user, summary="Second call")
    TaskFactory(
        assignee=user, content_type=ContentType.objects.get_for_model(obj), object_id=obj.pk
    )
    return obj


# Delete and restore ---------------------------------------------------------------------------


def test_a_deleted_account_comes_back_with_its_timeline_tasks_and_contacts(rep):
    # given an account with a timeline, a task, two contacts and a ticket
    account = with_timeline(AccountFactory(owner=rep), rep)
    contacts = [ContactFactory(owner=rep, account=account) for _ in range(2)]
    ticket = TicketFactory(contact=contacts[0], account=account)
    before = values(account)
    timeline = timeline_of(account)

    # when it is deleted: it is gone, its contacts and ticket stay, unlinked
    account_delete(account=account, user=rep)
    assert not Account.objects.filter(pk=account.pk).exists()
    assert timeline_of(account) == ([], [])
    assert all(Contact.objects.get(pk=c.pk).account_id is None for c in contacts)
    assert Ticket.objects.get(pk=ticket.pk).account_id is None
    entry = TrashedRecord.objects.get(kind="crm.account", object_pk=account.pk)
    assert entry.name == account.name and entry.owner == rep and entry.deleted_by == rep
    assert entry.row_count == 4  # the account, two activities, a task

    # then restoring it puts everything back as it was
    restored, notes = trash_restore(entry=entry, user=rep)
    assert notes == []
    assert restored.pk == account.pk and values(account) == before
    assert timeline_of(account) == timeline
    assert all(Contact.objects.get(pk=c.pk).account_id == account.pk for c in contacts)
    assert Ticket.objects.get(pk=ticket.pk).account_id == account.pk
    assert not TrashedRecord.objects.filter(pk=entry.pk).exists()
    line = AuditEvent.objects.get(action=AuditAction.RECORD_RESTORED)
    assert line.actor == rep and line.target_id == str(account.pk)
    assert line.detail["rows"] == 4
    # field history shows the record coming back as a restore, by the user
    insert = account.history_events.filter(pgh_label="insert").latest("pgh_id")
    assert insert.pgh_context.metadata["source"] == Source.RESTORE
    assert insert.pgh_context.metadata["user"] == rep.pk


def test_a_deleted_deal_comes_back_with_its_lines_and_quote(manager, rep):
    deal = with_timeline(OpportunityFactory(owner=rep), rep)
    for _ in range(2):
        sales_services.line_item_add(opportunity=deal, user=rep, product=ProductFactory())
    sales_services.quote_create(opportunity=deal, user=rep)
    deal.refresh_from_db()
    before = values(deal)
    lines = rows_of(OpportunityLineItem, opportunity=deal)
    quotes = rows_of(Quote, opportunity=deal)
    timeline = timeline_of(deal)

    sales_services.opportunity_delete(opportunity=deal, user=manager)
    assert not Opportunity.objects.filter(pk=deal.pk).exists()
    assert not OpportunityLineItem.objects.filter(pk__in=[r["id"] for r in lines]).exists()

    entry = TrashedRecord.objects.get(kind="sales.opportunity", object_pk=deal.pk)
    assert entry.owner == rep and entry.deleted_by == manager
    trash_restore(entry=entry, user=manager)
    assert values(deal) == before
    assert rows_of(OpportunityLineItem, opportunity=deal) == lines
    assert rows_of(Quote, opportunity=deal) == quotes
    assert timeline_of(deal) == timeline


def test_a_deleted_contact_and_lead_come_back(rep):
    contact = with_timeline(ContactFactory(owner=rep), rep)
    lead = with_timeline(LeadFactory(owner=rep), rep)
    expected = [(contact, values(contact), timeline_of(contact))]
    expected.append((lead, values(lead), timeline_of(lead)))

    contact_delete(contact=contact, user=rep)
    lead_delete(lead=lead, user=rep)
    for entry in TrashedRecord.objects.all():
        trash_restore(entry=entry, user=rep)
    for obj, before, timeline in expected:
        assert values(obj) == before and timeline_of(obj) == timeline


def test_bulk_deleted_leads_get_an_entry_each(rep):
    leads = [with_timeline(LeadFactory(owner=rep), rep) for _ in range(3)]
    expected = {lead.pk: (values(lead), timeline_of(lead)) for lead in leads}

    assert leads_bulk_delete(leads=Lead.objects.filter(owner=rep), user=rep) == 3
    entries = {e.object_pk: e for e in TrashedRecord.objects.filter(kind="leads.lead")}
    assert set(entries) == set(expected)
    assert {e.row_count for e in entries.values()} == {4}  # each lead with its own timeline

    # restoring one brings back that lead alone, with its own timeline
    first = leads[0]
    trash_restore(entry=entries[first.pk], user=rep)
    assert (values(first), timeline_of(first)) == expected[first.pk]
    assert Lead.objects.count() == 1


def test_a_deleted_ticket_comes_back_from_the_trash(client, manager, rep):
    """The issue's "done when": a ticket deleted on its page is restored from the Trash page
    with its messages and tags."""
    ticket = TicketFactory(contact=ContactFactory(owner=rep), reference="T-000042")
    ticket.tags.set([Tag.objects.create(name="printer"), Tag.objects.create(name="urgent")])
    for _ in range(3):
        TicketMessageFactory(ticket=ticket)
    before = values(ticket)
    messages = rows_of(TicketMessage, ticket=ticket)
    client.force_login(manager)

    response = client.post(reverse("support:ticket_delete", args=[ticket.pk]))
    assert response.status_code == 302
    assert not Ticket.objects.filter(pk=ticket.pk).exists()
    assert not TicketMessage.objects.filter(pk__in=[m["id"] for m in messages]).exists()

    page = client.get(reverse("trash_list"), {"kind": "support.ticket"})
    assert ticket.subject in page.content.decode()
    entry = TrashedRecord.objects.get(kind="support.ticket", object_pk=ticket.pk)
    response = client.post(reverse("trash_restore", args=[entry.pk]))
    assert response.status_code == 302 and response["Location"] == ticket.get_absolute_url()
    assert values(ticket) == before
    assert rows_of(TicketMessage, ticket=ticket) == messages
    assert sorted(ticket.tags.values_list("name", flat=True)) == ["printer", "urgent"]


# Refusals -------------------------------------------------------------------------------------


def test_an_account_with_deals_is_not_deleted_and_the_page_says_why(client, rep):
    account = AccountFactory(owner=rep)
    OpportunityFactory(account=account, owner=rep)
    client.force_login(rep)
    response = client.post(reverse("account_delete", args=[account.pk]), follow=True)
    assert response.status_code == 200
    assert "cannot be deleted while it has 1 opportunities" in response.content.decode()
    assert Account.objects.filter(pk=account.pk).exists()
    assert not TrashedRecord.objects.exists()


def test_a_contact_whose_account_is_in_the_trash_waits_for_the_account(rep):
    account = AccountFactory(owner=rep, name="Initech")
    contact = ContactFactory(owner=rep, account=account)
    contact_delete(contact=contact, user=rep)
    account_delete(account=account, user=rep)
    contact_entry = TrashedRecord.objects.get(kind="crm.contact")

    with pytest.raises(ValidationError) as refusal:
        trash_restore(entry=contact_entry, user=rep)
    assert "Restore the account “Initech” first" in " ".join(refusal.value.messages)
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert TrashedRecord.objects.filter(pk=contact_entry.pk).exists()

    trash_restore(entry=TrashedRecord.objects.get(kind="crm.account"), user=rep)
    trash_restore(entry=contact_entry, user=rep)
    assert Contact.objects.get(pk=contact.pk).account_id == account.pk


def test_a_unique_value_taken_since_gives_a_message_not_an_error(client, admin, rep):
    ticket = TicketFactory(contact=ContactFactory(owner=rep), reference="T-000007")
    trash_delete(obj=ticket, user=admin)
    TicketFactory(reference="T-000007")  # another ticket took the reference meanwhile
    entry = TrashedRecord.objects.get()
    client.force_login(admin)

    response = client.post(reverse("trash_restore", args=[entry.pk]), follow=True)
    assert response.status_code == 200
    text = response.content.decode()
    assert "was not restored" in text and "Reference already exists" in text
    assert not Ticket.objects.filter(pk=ticket.pk).exists()
    assert TrashedRecord.objects.filter(pk=entry.pk).exists()


def test_an_owner_deleted_since_leaves_the_owner_empty_and_says_so(admin):
    gone = UserFactory(username="gone")
    account = AccountFactory(owner=gone)
    account_delete(account=account, user=admin)
    gone.delete()

    restored, notes = trash_restore(entry=TrashedRecord.objects.get(), user=admin)
    assert restored.owner_id is None
    assert notes == ["Owner left empty on 1 account: the user it named was deleted."]


def test_a_restore_of_a_gone_entry_or_past_retention_is_refused(rep):
    entry = trash_delete(obj=AccountFactory(owner=rep), user=rep)
    TrashedRecord.objects.filter(pk=entry.pk).update(purge_after=timezone.now())
    with pytest.raises(ValidationError, match="can no longer be restored"):
        trash_restore(entry=entry, user=rep)
    entry.delete()
    with pytest.raises(ValidationError, match="no longer in the trash"):
        trash_restore(entry=entry, user=rep)


# Who sees what --------------------------------------------------------------------------------


def test_the_trash_lists_what_the_user_deleted_or_owns(client, rep, rep2, manager, admin):
    mine = trash_delete(obj=AccountFactory(owner=rep, name="Mine"), user=rep)
    owned = trash_delete(obj=AccountFactory(owner=rep, name="Owned"), user=admin)
    theirs = trash_delete(obj=AccountFactory(owner=rep2, name="Theirs"), user=rep2)
    outsider = UserFactory(username="outsider", roles=["Sales rep"])
    elsewhere = trash_delete(obj=AccountFactory(owner=outsider, name="Elsewhere"), user=outsider)

    def listed(user):
        return set(TrashedRecord.objects.visible_to(user).values_list("pk", flat=True))

    assert listed(rep) == {mine.pk, owned.pk}
    assert listed(manager) == {mine.pk, owned.pk, theirs.pk}
    assert listed(admin) == {mine.pk, owned.pk, theirs.pk, elsewhere.pk}
    client.force_login(rep)
    page = client.get(reverse("trash_list")).content.decode()
    assert "Mine" in page and "Owned" in page and "Theirs" not in page
    assert "Delete forever" not in page
    # guessing another's entry: 404, and it stays in the trash
    assert client.post(reverse("trash_restore", args=[theirs.pk])).status_code == 404
    assert TrashedRecord.objects.filter(pk=theirs.pk).exists()


def test_the_trash_filters_by_kind_and_name(client, admin, rep):
    trash_delete(obj=AccountFactory(owner=rep, name="Globex"), user=admin)
    trash_delete(obj=ContactFactory(owner=rep, first_name="Hank", last_name="Scorpio"), user=admin)
    client.force_login(admin)
    page = client.get(reverse("trash_list"), {"kind": "crm.contact"}).content.decode()
    assert "Scorpio" in page and "Globex" not in page
    page = client.get(reverse("trash_list"), {"q": "glob"}).content.decode()
    assert "Globex" in page and "Scorpio" not in page


def test_the_trash_page_reads_a_fixed_number_of_queries(
    client, admin, rep, django_assert_max_num_queries
):
    def entries(n):
        for _ in range(n):
            trash_delete(obj=with_timeline(AccountFactory(owner=rep), rep), user=rep)

    client.force_login(admin)
    entries(2)
    with django_assert_max_num_queries(12) as few:
        assert client.get(reverse("trash_list")).status_code == 200
    entries(20)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get(reverse("trash_list")).status_code == 200


def test_admins_delete_forever(client, admin, rep):
    entry = trash_delete(obj=AccountFactory(owner=rep), user=rep)
    client.force_login(rep)
    assert client.post(reverse("trash_delete_forever", args=[entry.pk])).status_code == 404
    client.force_login(admin)
    assert client.post(reverse("trash_delete_forever", args=[entry.pk])).status_code == 302
    assert not TrashedRecord.objects.exists()
    assert AuditEvent.objects.filter(action=AuditAction.TRASH_DELETED_FOREVER).count() == 1


# Purges ---------------------------------------------------------------------------------------


def test_expired_entries_are_purged_and_reported(rep):
    old = [trash_delete(obj=AccountFactory(owner=rep), user=rep) for _ in range(3)]
    recent = trash_delete(obj=AccountFactory(owner=rep), user=rep)
    TrashedRecord.objects.filter(pk__in=[e.pk for e in old]).update(
        purge_after=timezone.now() - timedelta(hours=1)
    )

    assert trash_purge_expired(batch=2) == 3
    assert list(TrashedRecord.objects.values_list("pk", flat=True)) == [recent.pk]
    line = AuditEvent.objects.get(action=AuditAction.TRASH_PURGED)
    assert line.actor is None and line.detail["deleted"] == 3
    # a second run finds nothing and reports nothing
    assert trash_purge_expired() == 0
    assert AuditEvent.objects.filter(action=AuditAction.TRASH_PURGED).count() == 1


def test_a_deleted_tickets_files_stay_while_restorable_and_go_with_the_purge(
    manager, rep, django_capture_on_commit_callbacks
):
    from django.core.files.base import ContentFile

    from tests.factories.support import AttachmentFactory

    ticket = TicketFactory(assignee=rep)
    attachment = AttachmentFactory(
        ticket=ticket, file=ContentFile(b"invoice", name="invoice.txt"), filename="invoice.txt"
    )
    storage, name = attachment.file.storage, attachment.file.name
    entry = trash_delete(obj=ticket, user=manager)
    assert storage.exists(name)
    TrashedRecord.objects.filter(pk=entry.pk).update(
        purge_after=timezone.now() - timedelta(hours=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert trash_purge_expired() == 1
    assert not storage.exists(name)


def test_entries_are_kept_for_the_retention_setting(rep):
    entry = trash_delete(obj=AccountFactory(owner=rep), user=rep)
    assert settings.TRASH_RETENTION_DAYS == 30
    assert entry.purge_after - entry.deleted_at == timedelta(days=30)
    assert "trash-purge" in settings.CELERY_BEAT_SCHEDULE


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_purges_at_once_delete_each_entry_once():
    owner = UserFactory(username="owner", roles=["Sales rep"])
    for _ in range(40):
        trash_delete(obj=AccountFactory(owner=owner), user=owner)
    TrashedRecord.objects.update(purge_after=timezone.now() - timedelta(days=1))
    barrier = threading.Barrier(2)
    counts, errors = [], []

    def purge():
        try:
            barrier.wait(timeout=30)
            counts.append(trash_purge_expired(batch=3))
        except Exception as exc:  # re-raised below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=purge) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert sum(counts) == 40 and not TrashedRecord.objects.exists()
    lines = AuditEvent.objects.filter(action=AuditAction.TRASH_PURGED)
    assert sum(line.detail["deleted"] for line in lines) == 40


def test_entries_mentioning_a_value_are_purged(rep):
    contact = ContactFactory(owner=rep, email="erase.me@example.com")
    account = AccountFactory(owner=rep)
    ActivityFactory(subject=account, body="Wrote to erase.me@example.com")
    contact_delete(contact=contact, user=rep)
    account_delete(account=account, user=rep)
    kept = trash_delete(obj=ContactFactory(owner=rep, email="keep@example.com"), user=rep)

    assert trash_purge_matching("Erase.Me@example.com", user=rep, reason="erasure") == 2
    assert list(TrashedRecord.objects.values_list("pk", flat=True)) == [kept.pk]
    line = AuditEvent.objects.get(action=AuditAction.TRASH_PURGED)
    assert line.detail == {"deleted": 2, "reason": "erasure"}
    assert trash_purge_matching("  ") == 0 and TrashedRecord.objects.count() == 1


def test_deleting_in_django_admin_goes_to_the_trash_too(client, admin, rep):
    account = with_timeline(AccountFactory(owner=rep), rep)
    leads = [LeadFactory(owner=rep) for _ in range(2)]
    client.force_login(admin)

    url = reverse("admin:crm_account_delete", args=[account.pk])
    assert client.post(url, {"post": "yes"}).status_code == 302
    response = client.post(
        reverse("admin:leads_lead_changelist"),
        {
            "action": "delete_selected",
            "_selected_action": [lead.pk for lead in leads],
            "post": "yes",
        },
    )
    assert response.status_code == 302
    assert not Account.objects.exists() and not Lead.objects.exists()
    kinds = sorted(TrashedRecord.objects.values_list("kind", flat=True))
    assert kinds == ["crm.account", "leads.lead", "leads.lead"]
    assert TrashedRecord.objects.get(kind="crm.account").row_count == 4
