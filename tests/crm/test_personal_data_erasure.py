"""Erasing a person: after an export and the erasure, no table, history row, outbox email,
kept file or broker message holds their name, address or phone number; only the SHA-256 of
the address stays on the suppression list (README, "Personal data: export and erasure")."""

import io
import json
from pathlib import Path

import openpyxl
import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection
from django.urls import reverse
from kombu.transport.memory import Channel as MemoryChannel

from crm.choices import AuditAction, OutboxStatus, TabularImportStatus
from crm.models import AuditEvent, Contact
from crm.personal_data import email_hash
from leads.choices import EnrollmentState, LeadSource, SuppressionReason
from leads.models import Lead, Suppression
from leads.services.web_forms import web_form_submit
from tests.crm.privacy_seed import EMAIL, FIRST, LAST, PHONE, seed_person
from tests.factories.crm import OutboundEmailFactory, TabularImportJobFactory
from tests.factories.leads import CampaignFactory, EnrollmentFactory, LeadFactory

pytestmark = pytest.mark.pgbouncer

#: The values searched for: names, the address, both phone numbers the person gave.
NEEDLES = [FIRST, LAST, EMAIL, PHONE.lstrip("+"), "4155550100"]
TEXT_TYPES = ("text", "character varying", "character", "json", "jsonb", "ARRAY")


def tables_holding(needles) -> list[tuple[str, str, str]]:
    """(table, column, needle) of every text, JSON or array column of every table of the
    schema that contains one of ``needles`` (case-insensitive)."""
    patterns = [f"%{n}%" for n in needles]
    hits = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c "
            "JOIN information_schema.tables t ON t.table_name = c.table_name "
            "AND t.table_schema = c.table_schema "
            "WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' "
            "AND c.data_type = ANY(%s)",
            [list(TEXT_TYPES)],
        )
        columns = cursor.fetchall()
        assert len(columns) > 300  # every table, not a few
        for table, column in columns:
            cursor.execute(
                f'SELECT "{column}"::text FROM "{table}" WHERE "{column}"::text ILIKE ANY(%s)',
                [patterns],
            )
            for (value,) in cursor.fetchall():
                found = [n for n in needles if n.lower() in value.lower()]
                hits.extend((table, column, n) for n in found)
    return hits


def files_holding(root: Path, needles) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes().lower()
            hits.extend(f"{path}: {n}" for n in needles if n.lower().encode() in data)
    return hits


def broker_messages() -> list[str]:
    """Every message waiting in the (in-memory, under tests) broker's queues, as text."""
    return [json.dumps(m) for queue in MemoryChannel.queues.values() for m in list(queue.queue)]


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.mark.django_db
def test_an_erased_person_is_nowhere_but_as_a_hash_on_the_suppression_list(
    media, admin, agent, admin_client_, django_capture_on_commit_callbacks
):
    MemoryChannel.queues.clear()
    with django_capture_on_commit_callbacks(execute=True):
        seeded = seed_person(admin=admin, agent=agent)
    assert {n for _, _, n in tables_holding(NEEDLES)} == set(NEEDLES)  # the search finds them
    assert files_holding(media, [EMAIL])
    # The broker carries ids only: nothing to erase there (README); checked all the same.
    published = broker_messages()
    assert published
    export = admin_client_.get(
        reverse("person_data_export", args=["crm.contact", seeded.contact.pk])
    )
    assert export.status_code == 200
    b"".join(export.streaming_content)
    lead_consent_at = seeded.lead.marketing_consent_at

    url = reverse("person_erase", args=["crm.contact", seeded.contact.pk])
    page = admin_client_.get(url)
    assert page.status_code == 200 and b"erase-preview" in page.content
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client_.post(
            url,
            {"confirm": f"{FIRST.lower()}  {LAST}", "reason": f"Request of {FIRST} {LAST}, #77"},
        )
    assert response.status_code == 302

    hits = tables_holding(NEEDLES)
    assert not hits, f"still held: {sorted(set(hits))}"
    assert not files_holding(media, NEEDLES)
    assert not [m for m in broker_messages() if any(n in m for n in NEEDLES)]
    if Path(settings.BROKER_DIR).exists():  # the filesystem broker of `make run`, if any
        assert not files_holding(Path(settings.BROKER_DIR), NEEDLES)

    # What stays: the records, anonymous; consent proof; the address as a hash.
    contact = Contact.objects.get(pk=seeded.contact.pk)
    assert contact.last_name == "Erased person #1" and contact.email == ""
    lead = Lead.objects.get(pk=seeded.lead.pk)
    assert lead.last_name == "Erased person #1"
    assert lead.source == LeadSource.WEB_FORM
    assert lead.marketing_consent and lead.marketing_consent_at == lead_consent_at
    kept = Suppression.objects.get(email_hash=email_hash(EMAIL))
    assert kept.email is None and kept.reason == SuppressionReason.ERASED
    assert not Suppression.objects.filter(email=EMAIL).exists()
    line = AuditEvent.objects.get(action=AuditAction.PERSONAL_DATA_ERASED)
    assert line.actor == admin
    assert line.detail["reason"] == "Request of Erased person #1, #77"
    # Their contact, and their lead with the duplicate merged into the contact.
    assert line.detail["records"] == {"crm.contact": 1, "leads.lead": 2}

    # The web form later stores nothing of them.
    assert (
        web_form_submit(campaign=CampaignFactory(), data={"last_name": LAST, "email": EMAIL})
        is None
    )
    assert not Lead.objects.filter(email=EMAIL).exists()


@pytest.mark.django_db
def test_erasure_needs_the_typed_name_and_a_reason(admin_client_, client, rep):
    contact = Contact.objects.create(first_name="Ada", last_name="Byron", email="ada@example.com")
    url = reverse("person_erase", args=["crm.contact", contact.pk])
    response = admin_client_.post(url, {"confirm": "Someone else", "reason": "Asked"})
    assert response.status_code == 200 and "Type “Ada Byron” exactly" in response.content.decode()
    response = admin_client_.post(url, {"confirm": "Ada Byron", "reason": "  "})
    assert response.status_code == 200
    contact.refresh_from_db()
    assert contact.last_name == "Byron"
    assert not AuditEvent.objects.filter(action=AuditAction.PERSONAL_DATA_ERASED).exists()


@pytest.mark.django_db
def test_erasing_a_lead_cancels_what_was_still_to_be_sent(admin_client_, admin):
    lead = LeadFactory(first_name="Orla", last_name="Vantreece", email="orla@example.net")
    enrollment = EnrollmentFactory(lead=lead, state=EnrollmentState.ACTIVE)
    queued = OutboundEmailFactory(
        to_email="orla@example.net", subject="Hello Orla", body_text="Dear Orla Vantreece"
    )
    url = reverse("person_erase", args=["leads.lead", lead.pk])
    response = admin_client_.post(url, {"confirm": str(lead), "reason": "Asked by email"})
    assert response.status_code == 302
    queued.refresh_from_db()
    assert queued.status == OutboxStatus.FAILED and queued.to_email == ""
    assert queued.subject == "Erased person #1" and queued.body_text == ""
    enrollment.refresh_from_db()
    assert enrollment.state == EnrollmentState.STOPPED
    event = lead.history_events.order_by("pgh_id").first()
    assert event.email == "" and event.last_name == "Erased person #1"
    assert not tables_holding(["Vantreece", "orla@example.net"])


@pytest.mark.django_db
def test_import_files_naming_them_are_deleted_whatever_their_format(
    media, admin_client_, django_capture_on_commit_callbacks
):
    book = openpyxl.Workbook()
    book.active.append(["first_name", "last_name", "email"])
    book.active.append(["Ines", "Marrowdale", "ines@example.net"])
    data = io.BytesIO()
    book.save(data)
    xlsx = TabularImportJobFactory(
        kind="contacts",
        status=TabularImportStatus.DONE,
        file_format="xlsx",
        file=ContentFile(data.getvalue(), name="people.xlsx"),
    )
    other = TabularImportJobFactory(status=TabularImportStatus.DONE)  # names someone else
    contact = Contact.objects.create(
        first_name="Ines", last_name="Marrowdale", email="ines@example.net"
    )
    stored = Path(media, xlsx.file.name)
    assert stored.exists()
    with django_capture_on_commit_callbacks(execute=True):
        admin_client_.post(
            reverse("person_erase", args=["crm.contact", contact.pk]),
            {"confirm": "Ines Marrowdale", "reason": "Asked"},
        )
    xlsx.refresh_from_db()
    other.refresh_from_db()
    assert xlsx.file.name == "" and not stored.exists()
    assert other.file.name and Path(media, other.file.name).exists()
