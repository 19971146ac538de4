"""A person's data: the registry covers every model that can hold it, and the export gathers
it from every stage into one ZIP (README, "Personal data: export and erasure")."""

import csv
import io
import json
import zipfile

import pytest
from django.apps import apps
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.urls import reverse

from crm.choices import AuditAction
from crm.models import AuditEvent, Contact
from crm.registry import personal_data
from leads.models import Lead
from tests.crm.privacy_seed import EMAIL, FIRST, LAST, seed_person
from tests.factories.crm import ContactFactory

PROJECT_APPS = {"crm", "leads", "sales", "support", "retention", "analytics"}

#: Models with an email-like column that hold no customer's personal data, and why.
NOT_PERSONAL = {
    "crm.user": "the CRM's own users (staff), not customers",
    "crm.mailbox": "a user's own mailbox connection (their address and server), not a customer",
    "support.queue": "a support mailbox's own address",
    "sales.sellerprofile": "the selling company's own details, printed on its quotes",
}

#: Kinds that may hold nothing for the seeded person, and why.
MAY_BE_EMPTY = {
    "api_replays": "the person was not created through the API with an idempotency key",
    "audit_lines": "no security-relevant action on them before this export",
    "duplicate_pairs": "their contact resembles no other contact",
}

EMAIL_WORDS = ("email", "e_mail", "mail_address")


def _refers_to_person(model) -> str | None:
    """Why ``model`` may hold a person's data (a link to a lead or a contact, a generic link
    that can point at one, an email column), or None."""
    for f in model._meta.get_fields():
        if isinstance(f, GenericForeignKey):
            return f"generic link {f.name}"
        if not getattr(f, "concrete", False):
            continue
        if f.is_relation and f.related_model in (Lead, Contact):
            return f"link {f.name} to {f.related_model.__name__}"
        if f.is_relation and f.related_model is ContentType:
            # A record of any type (a trash entry, an audit line): a lead or a contact too.
            return f"link {f.name} to a record of any type"
        if isinstance(f, models.EmailField) or (
            isinstance(f, models.CharField | models.TextField)
            and any(word in f.name for word in EMAIL_WORDS)
            and "message_id" not in f.name
        ):
            return f"email column {f.name}"
    return None


@pytest.mark.django_db
def test_every_model_holding_a_person_is_covered_by_the_registry():
    covered = personal_data.covered_models()
    missing = []
    for model in apps.get_models():
        if model._meta.app_label not in PROJECT_APPS or model._meta.label_lower in NOT_PERSONAL:
            continue
        reason = _refers_to_person(model)
        if reason and model not in covered:
            missing.append(f"{model._meta.label} ({reason})")
    assert not missing, (
        "Register these in crm.registry.personal_data (or explain in NOT_PERSONAL): "
        + ", ".join(missing)
    )


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def seeded(db, media, admin, agent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return seed_person(admin=admin, agent=agent)


def _download(client, url):
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    assert response["Content-Type"] == "application/zip"
    assert "attachment" in response["Content-Disposition"]
    return zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))


def test_export_gathers_the_person_from_every_stage(seeded, admin_client_):
    archive = _download(
        admin_client_, reverse("person_data_export", args=["leads.lead", seeded.lead.pk])
    )
    document = json.loads(archive.read("person.json"))
    assert document["records"]["crm.contact"] == [seeded.contact.pk]
    assert seeded.lead.pk in document["records"]["leads.lead"]
    names = set(archive.namelist())
    empty = []
    for kind in personal_data.kinds():
        rows = document["data"][kind.name]["rows"]
        if not rows:
            empty.append(kind.name)
            continue
        assert f"{kind.name}.csv" in names
        with archive.open(f"{kind.name}.csv") as handle:
            table = list(csv.reader(io.TextIOWrapper(handle, encoding="utf-8-sig")))
        assert len(table) == len(rows) + 1  # the header, then a line per row
    assert set(empty) <= set(MAY_BE_EMPTY), f"nothing exported for {set(empty) - set(MAY_BE_EMPTY)}"
    everything = json.dumps(document)
    assert EMAIL in everything and FIRST in everything and LAST in everything
    # Every stage's tables are there, history included.
    for kind in ("contacts", "leads", "lead_history", "contact_history", "opportunity_history"):
        assert document["data"][kind]["count"] > 0
    change = [r for r in document["data"]["lead_history"]["rows"] if r["pgh_changes"]]
    assert any("phone" in r["pgh_changes"] for r in change)


def test_export_from_the_contact_is_the_same_person(seeded, admin_client_):
    archive = _download(
        admin_client_, reverse("person_data_export", args=["crm.contact", seeded.contact.pk])
    )
    document = json.loads(archive.read("person.json"))
    assert seeded.lead.pk in document["records"]["leads.lead"]
    assert document["data"]["tickets"]["count"] == 2  # one merged into the other


@pytest.mark.django_db
def test_export_is_formula_safe_and_audited(admin_client_, admin):
    contact = ContactFactory(first_name="=HYPERLINK(1)", last_name="Cell")
    archive = _download(
        admin_client_, reverse("person_data_export", args=["crm.contact", contact.pk])
    )
    text = archive.read("contacts.csv").decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in text
    line = AuditEvent.objects.get(action=AuditAction.PERSONAL_DATA_EXPORTED)
    assert line.actor == admin and line.target_id == str(contact.pk)
    assert line.detail["records"] == {"crm.contact": 1}


@pytest.mark.django_db
def test_export_is_for_those_who_may_change_the_record(client, rep, rep2):
    contact = ContactFactory(owner=rep2)
    client.force_login(rep)
    url = reverse("person_data_export", args=["crm.contact", contact.pk])
    assert client.get(url).status_code == 404
    assert (
        client.get(reverse("person_data_export", args=["sales.opportunity", 1])).status_code == 404
    )
    client.force_login(rep2)
    assert client.get(url).status_code == 200
    page = client.get(contact.get_absolute_url())
    assert b'id="person-export"' in page.content
    assert b'id="person-erase"' not in page.content
