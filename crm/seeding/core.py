"""The core step: accounts, contacts, their timelines and the reps' tasks."""

from __future__ import annotations

import datetime as dt
import math
from array import array
from collections import deque
from dataclasses import dataclass

from crm.seeding import duplicates
from crm.seeding.context import SeedContext
from crm.seeding.run import scored_rows
from crm.seeding.words import (
    INDUSTRY_VALUES,
    LIFECYCLE,
    PERSONAL_DOMAINS,
    SIZE_BANDS,
    TOPICS,
    Country,
    UniqueNames,
    _words,
    ascii_slug,
    company_name,
    days_ago,
    email_local_part,
    job_title,
    person_name,
    phone_number,
    pick_country,
    pick_weighted,
    working_hours,
)

# --------------------------------------------------------------------------------------------
# The core step: accounts, contacts, their timelines and the reps' tasks.
# --------------------------------------------------------------------------------------------

# Scale 1 has 200 accounts; scale 1000 has 100,000 (bigger customers at scale: 10 contacts each).
ACCOUNT_EXPONENT = math.log(500) / math.log(1000)
TWO_YEARS = 730


@dataclass
class CoreData:
    """What the core step made, for later steps (``ctx.shared["crm"]``): the rows' primary keys
    and, per row, the owner's id (and the contact's account id, 0 for none)."""

    account_ids: range
    account_owner: array
    account_country: list[str]
    contact_ids: range
    contact_owner: array
    contact_account: array


def seed_core(ctx: SeedContext):
    from crm.models import Account, Activity, Contact, Task

    # Above ~50,000 rows, loading then indexing beats indexing row by row.
    with ctx.indexes_deferred(Account, Contact, Activity, Task, when=ctx.count(1000) >= 50_000):
        _core_load(ctx)


def _core_load(ctx: SeedContext):
    from django.contrib.contenttypes.models import ContentType

    from crm.models import Account, AccountDuplicate, Activity, Contact, ContactDuplicate, Task

    rng, now = ctx.rng, ctx.now
    reps = [u.pk for u in ctx.reps]
    others = [u.pk for u in ctx.agents] + [ctx.users["manager"].pk]
    n_accounts = ctx.count(200, ACCOUNT_EXPONENT)
    n_contacts = ctx.count(1000)
    n_activities = ctx.count(3000)

    # Accounts ---------------------------------------------------------------------------------
    account_ids = ctx.reserve_ids(Account, n_accounts)
    names, domains = UniqueNames(), UniqueNames()
    variants = duplicates.variant_rng(ctx)
    planted_accounts = duplicates.planted_positions(n_accounts, per=50, most=20)
    recent_accounts: deque = deque(maxlen=20)
    account_pairs: list = []
    acc_owner = array("q")
    acc_created = array("d")
    acc_country: list[Country] = []
    acc_domain: list[str] = []

    def account_rows():
        for pk in account_ids:
            country = pick_country(rng)
            industry = rng.choice(INDUSTRY_VALUES)
            base, legal_form = company_name(rng, country, industry)
            # A second "Summit Logistics GmbH" becomes "Summit Logistics Hamburg GmbH".
            name = names.take(
                f"{base} {legal_form}",
                lambda wanted, n, b=base, lf=legal_form, cities=country.cities: (
                    f"{b} {cities[n - 2]} {lf}" if n - 2 < len(cities) else f"{wanted} ({n})"
                ),
            )
            stem = ascii_slug(base, sep="-")
            domain = domains.take(
                f"{stem[:50].strip('-')}.{country.tld}",
                lambda wanted, n: wanted.replace(".", f"{n}.", 1),
            )
            owner = rng.choice(reps)
            created = days_ago(rng, now, TWO_YEARS)
            updated = created + (now - created) * rng.random()
            acc_owner.append(owner)
            acc_created.append(created.timestamp())
            row_domain = domain
            position = len(acc_country)
            if position in planted_accounts and recent_accounts:
                # Entered again without its legal form and website (its people keep their
                # company addresses).
                original = variants.choice(recent_accounts)
                country, domain = original["country"], original["domain"]
                name = names.take(original["base"], lambda wanted, n: f"{wanted} ({n})")
                row_domain = ""
                variant = {"name": name, "domain": "", "country": country.code}
                account_pairs.append(
                    (original["pk"], pk, duplicates.account_pair(original["fields"], variant))
                )
            else:
                recent_accounts.append(
                    {
                        "pk": pk,
                        "base": base,
                        "country": country,
                        "domain": domain,
                        "fields": {"name": name, "domain": domain, "country": country.code},
                    }
                )
            acc_country.append(country)
            acc_domain.append(domain)
            yield (
                pk,
                name,
                row_domain,
                industry,
                pick_weighted(rng, SIZE_BANDS),
                country.code,
                owner,
                pick_weighted(rng, LIFECYCLE),
                created,
                updated,
            )

    # Written with their matching keys and scores (the keys step rewrites only what later steps
    # change).
    with scored_rows(
        ctx,
        Account,
        _words(
            "id name domain industry size_band country owner_id lifecycle_stage created_at "
            "updated_at"
        ),
        account_rows(),
    ) as (scored_fields, scored):
        ctx.insert_rows(Account, scored_fields, scored)

    duplicates.pairs_insert(AccountDuplicate, "account", account_pairs, now)

    # Contacts ---------------------------------------------------------------------------------
    contact_ids = ctx.reserve_ids(Contact, n_contacts)
    emails = UniqueNames()
    planted_contacts = duplicates.planted_positions(n_contacts, per=100, most=30)
    recent_contacts: deque = deque(maxlen=20)
    contact_pairs: list = []
    con_owner = array("q")
    con_account = array("q")
    con_created = array("d")
    con_name: list[str] = []
    tz = dt.UTC

    def contact_rows():
        for pk in contact_ids:
            if rng.random() < 0.92:
                # Some accounts have many contacts, most a few.
                i = int(n_accounts * rng.random() ** 1.6)
                account_id = account_ids[i]
                country, domain = acc_country[i], acc_domain[i]
                owner = acc_owner[i] if rng.random() < 0.85 else rng.choice(reps)
                earliest = acc_created[i]
            else:
                account_id, country, domain = None, pick_country(rng), rng.choice(PERSONAL_DOMAINS)
                owner = rng.choice(reps)
                earliest = (now - dt.timedelta(days=TWO_YEARS)).timestamp()
            first, last = person_name(rng, country)
            email = ""
            if rng.random() < 0.97:
                email = emails.take(
                    f"{email_local_part(rng, first, last)}@{domain}",
                    lambda wanted, n: wanted.replace("@", f"{n}@", 1),
                )
            phone = phone_number(rng, country) if rng.random() < 0.8 else ""
            created_ts = earliest + (now.timestamp() - earliest) * rng.random()
            created = dt.datetime.fromtimestamp(created_ts, tz)
            updated = created + (now - created) * rng.random()
            consent = rng.random() < 0.6
            marketing = consent and rng.random() < 0.5
            fields = {"first_name": first, "last_name": last, "email": email, "phone": phone}
            if len(con_owner) in planted_contacts and recent_contacts:
                # The same person entered a second time.
                original = variants.choice(recent_contacts)
                fields = duplicates.contact_variant(variants, original["fields"], emails.take)
                first, last = fields["first_name"], fields["last_name"]
                email, phone = fields["email"], fields["phone"]
                contact_pairs.append(
                    (original["pk"], pk, duplicates.contact_pair(original["fields"], fields))
                )
            else:
                recent_contacts.append({"pk": pk, "fields": fields})
            con_owner.append(owner)
            con_account.append(account_id or 0)
            con_created.append(created_ts)
            con_name.append(f"{first} {last}")
            yield (
                pk,
                first,
                last,
                email,
                phone,
                job_title(rng),
                account_id,
                owner,
                consent,
                created if consent else None,
                marketing,
                created if marketing else None,
                created,
                updated,
            )

    with scored_rows(
        ctx,
        Contact,
        _words(
            "id first_name last_name email phone title account_id owner_id email_consent email_consent_at marketing_consent marketing_consent_at created_at updated_at"
        ),
        contact_rows(),
    ) as (scored_fields, scored):
        ctx.insert_rows(Contact, scored_fields, scored)
    duplicates.pairs_insert(ContactDuplicate, "contact", contact_pairs, now)

    # Timeline ---------------------------------------------------------------------------------
    contact_ct = ContentType.objects.get_for_model(Contact).pk
    account_ct = ContentType.objects.get_for_model(Account).pk
    now_ts = now.timestamp()
    kinds = (("email", 35), ("call", 30), ("meeting", 15), ("note", 20))
    summaries = {
        "email": ("Sent {topic} follow-up", "Email about {topic}", "Replied on {topic}"),
        "call": ("Call with {name} about {topic}", "Left a voicemail for {name}"),
        "meeting": ("Meeting with {name}: {topic}", "Video call on {topic}"),
        "note": ("Note on {topic}", "{name} asked about {topic}"),
    }
    bodies = (
        "",
        "",
        "Agreed next steps; will follow up next week.",
        "Positive overall; needs sign-off from finance.",
        "Asked for a written summary and updated pricing.",
        "No decision yet, timing depends on their budget cycle.",
    )

    def activity_rows():
        for _ in range(n_activities):
            if rng.random() < 0.85:
                i = rng.randrange(n_contacts)
                ct, object_id, owner = contact_ct, contact_ids[i], con_owner[i]
                earliest, name = con_created[i], con_name[i]
            else:
                i = rng.randrange(n_accounts)
                ct, object_id, owner = account_ct, account_ids[i], acc_owner[i]
                earliest, name = acc_created[i], "the team"
            kind = pick_weighted(rng, kinds)
            actor = owner if rng.random() < 0.8 else rng.choice(others)
            occurred = working_hours(rng, earliest + (now_ts - earliest) * rng.random() ** 0.7)
            summary = rng.choice(summaries[kind]).format(name=name, topic=rng.choice(TOPICS))
            yield (
                kind,
                summary[:200],
                rng.choice(bodies),
                occurred,
                actor,
                owner,
                ct,
                object_id,
                occurred,
            )

    ctx.insert_rows(
        Activity,
        _words(
            "kind summary body occurred_at actor_id subject_owner_id content_type_id object_id created_at"
        ),
        activity_rows(),
    )

    # Tasks: each rep gets overdue ones and ones due today, then a mix of done and upcoming ------
    contacts_by_owner: dict[int, list[int]] = {}
    for i, owner in enumerate(con_owner):
        contacts_by_owner.setdefault(owner, []).append(i)
    assignees = reps + others
    per_user = max(10, ctx.count(100) // len(assignees))
    task_forms = (
        "Call back {name}",
        "Send proposal to {name}",
        "Follow up with {name} about {topic}",
        "Book a demo with {name}",
        "Check in with {name} on {topic}",
        "Prepare notes on {topic} for {name}",
    )

    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)

    def task_rows():
        for user in assignees:
            owned = contacts_by_owner.get(user) or range(n_contacts)
            for k in range(per_user):
                i = rng.choice(owned)
                title = rng.choice(task_forms).format(name=con_name[i], topic=rng.choice(TOPICS))
                done_at = None
                if k < 2:  # overdue
                    due = days_ago(rng, now, 20, min_days=1)
                elif k < 4:  # due today, in working hours
                    due = midnight + dt.timedelta(minutes=rng.randrange(9 * 60, 17 * 60))
                elif rng.random() < 0.45:  # done
                    due = days_ago(rng, now, 120, min_days=1)
                    done_at = due - dt.timedelta(hours=rng.randrange(0, 48))
                else:  # upcoming
                    due = now + dt.timedelta(
                        days=rng.randrange(1, 30), minutes=rng.randrange(9 * 60, 17 * 60)
                    )
                yield (
                    title[:200],
                    due,
                    user,
                    user,
                    contact_ct,
                    contact_ids[i],
                    done_at,
                    user if done_at else None,
                    min(due, now) - dt.timedelta(days=rng.randrange(1, 14)),
                )

    ctx.insert_rows(
        Task,
        _words(
            "title due_at assignee_id created_by_id content_type_id object_id done_at done_by_id created_at"
        ),
        task_rows(),
    )
    ctx.shared["crm"] = CoreData(
        account_ids=account_ids,
        account_owner=acc_owner,
        account_country=[c.code for c in acc_country],
        contact_ids=contact_ids,
        contact_owner=con_owner,
        contact_account=con_account,
    )
