"""Email campaign send throughput: queue 100,000 recipients through the outbox.

Creates (once) 100,000 consenting contacts titled "VP …" in the given database, a segment of
them and a campaign with two variants and a rate of 100,000 a minute, then times
``email_campaign_prepare`` (recipients from the segment, one streamed SELECT into chunked
inserts) and one ``email_campaign_send_batch`` run (per chunk of recipients: claim, read merge
values in one query, render, one bulk outbox insert, one UPDATE to queued).
The goal is under 30 s on PostgreSQL. Each run makes a new campaign; contacts are reused.

    python bench/campaigns.py [DATABASE_URL]   # default postgres://…/crm_campaigns_dev (made
                                                # when missing)
"""

from __future__ import annotations

import os
import sys
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crm_campaigns_dev"
RECIPIENTS = 100_000


def ensure_database(database_url: str) -> None:
    """Create the bench's own PostgreSQL database when it does not exist yet."""
    import psycopg

    parts = urllib.parse.urlsplit(database_url)
    name = parts.path.lstrip("/")
    with psycopg.connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=urllib.parse.unquote(parts.username or "postgres"),
        password=urllib.parse.unquote(parts.password) if parts.password else None,
        dbname="postgres",
        autocommit=True,
    ) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            admin.execute(f'CREATE DATABASE "{name}"')


def main(database_url: str) -> dict:
    sys.path.insert(0, str(ROOT))
    if database_url.startswith("postgres"):
        ensure_database(database_url)
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.base")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction
    from django.utils import timezone

    from crm.choices import Role
    from crm.models import Account, Contact, OutboundEmail, Segment, User
    from leads.campaigns.services import sending as service
    from leads.models import Campaign, EmailCampaign, EmailVariant

    call_command("migrate", verbosity=0)
    manager, _ = User.objects.get_or_create(username="bench-campaigns-manager")
    from django.contrib.auth.models import Group

    manager.groups.add(Group.objects.get_or_create(name=Role.ADMIN)[0])
    have = Contact.objects.filter(email__startswith="bench-vp-").count()
    if have < RECIPIENTS:
        account = Account.objects.create(name="Bench GmbH", country="DE")
        now = timezone.now()
        Contact.objects.bulk_create(
            [
                Contact(
                    first_name="Ada",
                    last_name=f"Bench {n}",
                    email=f"bench-vp-{n}@example.com",
                    title="VP Bench",
                    account=account,
                    marketing_consent=True,
                    marketing_consent_at=now,
                )
                for n in range(have, RECIPIENTS)
            ],
            batch_size=5000,
        )
    segment, _ = Segment.objects.get_or_create(
        name="Bench VPs",
        defaults={
            "owner": manager,
            "shared": True,
            "definition": {
                "op": "and",
                "children": [{"criterion": "title", "operator": "contains", "value": "VP Bench"}],
            },
        },
    )
    campaign_row, _ = Campaign.objects.get_or_create(
        slug="bench-email", defaults={"name": "Bench email"}
    )
    campaign = EmailCampaign.objects.create(
        name="Bench send",
        campaign=campaign_row,
        segment=segment,
        created_by=manager,
        rate_per_minute=RECIPIENTS,
        track_opens=True,
    )
    for label in "AB":
        EmailVariant.objects.create(
            campaign=campaign,
            label=label,
            subject=f"{label}: hello {{{{ first_name }}}}",
            body="Dear {{ full_name }} of {{ company }}, read https://example.com/news",
        )
    service.email_campaign_schedule(campaign=campaign, at=timezone.now())
    started = time.perf_counter()
    with transaction.atomic():
        prepared = service.email_campaign_prepare(campaign=campaign)
    prepare_s = time.perf_counter() - started
    queued = service.email_campaign_send_batch(campaign_id=campaign.pk)
    total_s = time.perf_counter() - started
    emails = OutboundEmail.objects.filter(idempotency_key__startswith=f"camp:{campaign.pk}:")
    result = {
        "recipients": prepared,
        "queued": queued,
        "outbox": emails.count(),
        "prepare_s": round(prepare_s, 2),
        "total_s": round(total_s, 2),
    }
    print(
        f"email campaign: {prepared:,} recipients prepared in {prepare_s:.1f} s, "
        f"{queued:,} queued ({result['outbox']:,} in the outbox) in {total_s - prepare_s:.1f} s; "
        f"total {total_s:.1f} s (goal < 30 s)"
    )
    return result


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_DATABASE_URL)
