"""Demo data of the leads stage: campaigns with costs, scoring and assignment rules, leads in
every status and from every source, sequences with steps, and enrolments in every state. A
converted lead is written as the contact it became: that contact's name and address, its
account's name and domain, and the two linked; for most, an account that won a deal within the
attribution window after the lead was captured, so lead captures count as campaign touches (the
step runs after the sales step's won deals).

Leads are written as plain rows (COPY on PostgreSQL), so scale 1000 (a million leads) stays fast.
"""

import bisect
import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

from django.db import connection

from crm import seeding
from crm.choices import Industry
from crm.db import temporary_copy
from crm.normalize import phones_known_valid
from crm.seeding.run import SCORE_COLUMNS, row_scorer, scored_rows
from crm.seeding.words import phone_number_pattern
from leads.choices import (
    BuyingRole,
    CampaignChannel,
    DisqualifyReason,
    EnrollmentState,
    EnrollmentStopReason,
    LeadSource,
    LeadStatus,
    NeedSeverity,
    ScoringCriterion,
    StepAction,
)
from leads.services.scoring import score_compute

# What each campaign cost at scale 1 (production, media, booth, partner fees); a larger demo
# company (``--scale``) spends in proportion, so returns stay believable at every scale.
CAMPAIGNS = [
    ("Spring webinar", "spring-webinar", CampaignChannel.WEB, "40000"),
    ("Trade fair Hannover", "trade-fair", CampaignChannel.EVENT, "40000"),
    ("Search ads Q2", "search-ads-q2", CampaignChannel.PAID_SEARCH, "46000"),
    ("LinkedIn retargeting", "linkedin-retargeting", CampaignChannel.SOCIAL, "18000"),
    ("Partner referrals", "partner-referrals", CampaignChannel.PARTNER, "22000"),
    ("Newsletter", "newsletter", CampaignChannel.EMAIL, "30000"),
]
SCORING_RULES = [
    ("VP or chief in title", ScoringCriterion.TITLE_CONTAINS, "VP", 20, 0),
    ("Head of in title", ScoringCriterion.TITLE_CONTAINS, "Head", 10, 0),
    ("Software industry", ScoringCriterion.INDUSTRY_IS, Industry.SOFTWARE, 10, 0),
    ("Over 200 employees", ScoringCriterion.EMPLOYEES_OVER, "200", 15, 0),
    ("Budget confirmed", ScoringCriterion.BUDGET_CONFIRMED, "", 20, 0),
    ("Replied to an email", ScoringCriterion.EMAIL_REPLIED, "", 20, 30),
    ("Meeting held", ScoringCriterion.MEETING_HELD, "", 25, 45),
    ("Used a web form", ScoringCriterion.WEB_FORM_USED, "", 10, 60),
]
STATUSES = (
    (LeadStatus.NEW, 30),
    (LeadStatus.WORKING, 25),
    (LeadStatus.NURTURING, 15),
    (LeadStatus.QUALIFIED, 8),
    (LeadStatus.CONVERTED, 10),
    (LeadStatus.DISQUALIFIED, 12),
)
SOURCES = (
    (LeadSource.WEB_FORM, 35),
    (LeadSource.IMPORT, 20),
    (LeadSource.MANUAL, 15),
    (LeadSource.REFERRAL, 10),
    (LeadSource.CAMPAIGN, 15),
    (LeadSource.API, 5),
)
SIZES = (12, 35, 80, 150, 400, 900, 2500, 12000)
# Converted leads whose account is one that won a deal after the capture.
WON_SHARE = 0.9
# Captured leads become deals up to this quantile of the won deals' amounts.
ORDINARY_DEAL_QUANTILE = 0.7
# What a converted lead takes from the contact and account it became (the primary key first).
LINKED_COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "email",
    "company_name",
    "website",
    "converted_account_id",
    "converted_contact_id",
)


def seed(ctx):
    from crm.models import Team
    from leads.models import (
        AssignmentRule,
        Campaign,
        Enrollment,
        Lead,
        ScoringRule,
        Sequence,
        SequenceStep,
    )

    rng, now = ctx.rng, ctx.now
    rules = ctx.bulk_create(
        ScoringRule,
        [
            ScoringRule(name=n, criterion=c, value=v, points=p, decay_days=d)
            for n, c, v, p, d in SCORING_RULES
        ],
    )
    sales = Team.objects.filter(name="Sales").first()
    if sales is not None:
        ctx.bulk_create(
            AssignmentRule,
            [
                AssignmentRule(name="DACH", priority=10, countries="DE,AT,CH", team=sales),
                AssignmentRule(name="Enterprise", priority=20, min_employees=1000, team=sales),
            ],
        )
    welcome = Sequence.objects.create(
        name="Welcome after the webinar",
        description="Three touches over two weeks.",
        auto_enrol=True,
        rule_source=LeadSource.WEB_FORM,
    )
    revive = Sequence.objects.create(name="Revive quiet leads", description="For nurturing leads.")
    ctx.bulk_create(
        SequenceStep,
        [
            SequenceStep(
                sequence=welcome,
                position=1,
                delay_days=0,
                subject="Thanks for joining, {{ first_name }}",
                body="Hi {{ first_name }},\nthanks for joining our webinar. The slides are attached.\n{{ owner_name }}",
            ),
            SequenceStep(
                sequence=welcome,
                position=2,
                delay_days=4,
                subject="How {{ company }} could use this",
                body="Hi {{ first_name }},\nthree ideas for {{ company }}…",
            ),
            SequenceStep(
                sequence=welcome,
                position=3,
                delay_days=10,
                action=StepAction.TASK,
                task_title="Call {{ full_name }} about the webinar",
            ),
            SequenceStep(
                sequence=revive,
                position=1,
                delay_days=0,
                subject="Still looking, {{ first_name }}?",
                body="Hi {{ first_name }},\njust checking in.",
            ),
            SequenceStep(
                sequence=revive,
                position=2,
                delay_days=7,
                action=StepAction.TASK,
                task_title="Decide: keep nurturing {{ full_name }}?",
            ),
        ],
    )
    campaigns = ctx.bulk_create(
        Campaign,
        [
            Campaign(
                name=name,
                slug=slug,
                channel=channel,
                cost=(Decimal(cost) * Decimal(str(ctx.scale))).quantize(Decimal("100")),
                start_date=ctx.today - dt.timedelta(days=120 - 15 * i),
                end_date=ctx.today + dt.timedelta(days=30) if i % 2 else None,
                sequence=welcome if slug == "spring-webinar" else None,
                owner=ctx.users["manager"],
            )
            for i, (name, slug, channel, cost) in enumerate(CAMPAIGNS)
        ],
    )
    campaign_ids = [c.pk for c in campaigns]
    reps = [u.pk for u in ctx.reps]
    n_leads = ctx.count(1000)
    lead_ids = ctx.reserve_ids(Lead, n_leads)
    enrol_rows = []
    fields = [
        "id",
        "first_name",
        "last_name",
        "email",
        "phone",
        "title",
        "company_name",
        "website",
        "industry",
        "employees",
        "country",
        "source",
        "campaign_id",
        "owner_id",
        "status",
        "disqualify_reason",
        "budget_amount",
        "budget_confirmed",
        "authority",
        "need",
        "need_severity",
        "timeline",
        "score",
        "grade",
        "score_breakdown",
        "replied_at",
        "last_activity_at",
        "email_consent",
        "marketing_consent",
        "marketing_consent_at",
        "unsubscribed_at",
        "possible_duplicate",
        "converted_at",
        "converted_account_id",
        "converted_contact_id",
        "created_at",
        "updated_at",
    ]
    industries = Industry.values
    # Read once: an enum's ``values`` is built anew on every read (tens of microseconds a row).
    disqualify_reasons = DisqualifyReason.values
    buying_roles = BuyingRole.values[1:]
    need_severities = NeedSeverity.values[1:]

    converted = []
    status_at = fields.index("status")

    def is_converted(row: tuple) -> bool:
        # Its keys and score are computed once it is linked to what it became.
        return row[status_at] == LeadStatus.CONVERTED

    def rows():
        for lead_id in lead_ids:
            country = seeding.pick_country(rng)
            first, last = seeding.person_name(rng, country)
            industry = rng.choice(industries)
            company, form = seeding.company_name(rng, country, industry)
            domain = seeding.ascii_slug(company) + "." + country.code.lower()
            status = seeding.pick_weighted(rng, STATUSES)
            source = seeding.pick_weighted(rng, SOURCES)
            created = seeding.days_ago(rng, now, 180)
            title = seeding.job_title(rng)
            employees = rng.choice(SIZES)
            confirmed = status in (LeadStatus.QUALIFIED, LeadStatus.CONVERTED) or rng.random() < 0.1
            replied = (
                created + dt.timedelta(days=rng.randint(1, 20)) if rng.random() < 0.25 else None
            )
            if replied and replied > now:
                replied = None
            consent = rng.random() < 0.6
            unsubscribed = (
                now - dt.timedelta(days=rng.randint(1, 30))
                if consent and rng.random() < 0.04
                else None
            )
            touch = replied or created
            facts = SimpleNamespace(
                title=title,
                industry=industry,
                employees=employees,
                budget_confirmed=confirmed,
                replied_at=replied,
                source=source,
                created_at=created,
                last_activity_at=touch,
            )
            score, grade, breakdown = score_compute(lead=facts, rules=rules, now=now)
            if status == LeadStatus.NURTURING and rng.random() < 0.7:
                enrol_rows.append(
                    (lead_id, consent and not unsubscribed, replied, unsubscribed, created)
                )
            row = (
                lead_id,
                first,
                last,
                f"{seeding.email_local_part(rng, first, last)}.{lead_id}@{domain}",
                seeding.phone_number(rng, country) if rng.random() < 0.7 else "",
                title,
                f"{company} {form}",
                domain,
                industry,
                employees,
                country.code,
                source,
                rng.choice(campaign_ids)
                if source in (LeadSource.WEB_FORM, LeadSource.CAMPAIGN)
                else None,
                rng.choice(reps) if rng.random() < 0.95 else None,
                status,
                rng.choice(disqualify_reasons) if status == LeadStatus.DISQUALIFIED else "",
                Decimal(rng.randrange(5, 500) * 1000) if confirmed or rng.random() < 0.2 else None,
                confirmed,
                rng.choice(buying_roles) if rng.random() < 0.5 else "",
                "Manual reporting takes days each month." if rng.random() < 0.4 else "",
                rng.choice(need_severities) if rng.random() < 0.4 else "",
                (now + dt.timedelta(days=rng.randint(20, 200))).date()
                if rng.random() < 0.3
                else None,
                score,
                grade,
                breakdown,
                replied,
                touch,
                True,
                consent and not unsubscribed,
                created if consent else None,
                unsubscribed,
                rng.random() < 0.01,
                created + dt.timedelta(days=rng.randint(5, 40))
                if status == LeadStatus.CONVERTED
                else None,
                None,
                None,
                created,
                created,
            )
            if is_converted(row):
                converted.append(row)
            yield row

    # indexes_deferred runs the checks still pending on the rows written above first. The
    # leads are written with their matching keys and scores (the keys step computes only what
    # later steps change); the converted leads' are computed once they are linked.
    with (
        ctx.indexes_deferred(Lead, when=n_leads >= 50_000),
        scored_rows(ctx, Lead, fields, rows(), later=is_converted) as (scored_fields, scored),
    ):
        ctx.insert_rows(
            Lead,
            scored_fields,
            scored,
            order_by="created_at",
            staged=lambda table: _converted_link(ctx, table, fields, converted),
        )
    ctx.shared["lead_ids"] = lead_ids

    enrollments = []
    for lead_id, may_email, replied, unsubscribed, created in enrol_rows:
        sequence = welcome if rng.random() < 0.5 else revive
        state, reason, position, next_at, finished = EnrollmentState.ACTIVE, "", 2, None, None
        if unsubscribed:
            state, reason = EnrollmentState.STOPPED, EnrollmentStopReason.UNSUBSCRIBED
        elif replied:
            state, reason = EnrollmentState.STOPPED, EnrollmentStopReason.REPLIED
        elif not may_email:
            state, reason = EnrollmentState.STOPPED, EnrollmentStopReason.NO_CONSENT
        elif rng.random() < 0.3:
            state = EnrollmentState.COMPLETED
        else:
            next_at = now + dt.timedelta(days=rng.randint(0, 6), hours=rng.randint(0, 23))
        if state != EnrollmentState.ACTIVE:
            finished = now - dt.timedelta(days=rng.randint(0, 20))
        enrollments.append(
            Enrollment(
                lead_id=lead_id,
                sequence=sequence,
                state=state,
                stop_reason=reason,
                next_position=position,
                next_step_at=next_at,
                steps_done=position - 1,
                created_at=created,
                finished_at=finished,
            )
        )
    ctx.bulk_create(Enrollment, enrollments)


def _converted_link(ctx, table: str, fields: list[str], converted: list[tuple]):
    """Make each converted lead of ``converted`` (its row in ``fields`` order, staged in
    ``table``) the account and contact it became: the contact's name and address (a contact
    without one keeps the lead's), the account's name and domain, and the matching keys and
    score of that. One ``UPDATE`` of the staged rows, before they are stored and indexed."""
    from crm.models import Account, Contact
    from leads.models import Lead

    now = ctx.now
    contacts_of: dict[int, list[int]] = {}
    core = ctx.shared.get("crm")
    if core is not None:
        for contact_id, account_id in zip(core.contact_ids, core.contact_account, strict=True):
            if account_id:
                contacts_of.setdefault(account_id, []).append(contact_id)
    else:
        for contact_id, account_id in (
            Contact.objects.filter(account__isnull=False)
            .order_by("id")
            .values_list("id", "account_id")
        ):
            contacts_of.setdefault(account_id, []).append(contact_id)
    at = {name: i for i, name in enumerate(fields)}
    if contacts_of:
        links, from_wins = _choose_links(ctx, at, converted, contacts_of)
        ctx.progress(
            f"linking {len(links):,} converted leads to their account and contact "
            f"({from_wins:,} to accounts that won a deal after the capture)"
        )
    else:
        # Nothing to link to: each lead keeps its own name, and gets its score.
        ctx.progress("no contacts with an account; converted leads stay unlinked")
        links = [None] * len(converted)
    # The converted leads were written unscored (``scored_rows(later=...)``): their keys and
    # score are computed here, once, from what they became.
    scores = row_scorer(Lead, fields, now)
    rows = []
    with phones_known_valid(phone_number_pattern()):
        for start in range(0, len(links), 5000):
            chunk = [link for link in links[start : start + 5000] if link is not None]
            people = {
                pk: (first, last, email)
                for pk, first, last, email in Contact.objects.filter(
                    pk__in={c for *_, c in chunk}
                ).values_list("pk", "first_name", "last_name", "email")
            }
            companies = {
                pk: (name, domain)
                for pk, name, domain in Account.objects.filter(
                    pk__in={a for _, a, _ in chunk}
                ).values_list("pk", "name", "domain")
            }
            for row, link in zip(
                converted[start : start + 5000], links[start : start + 5000], strict=True
            ):
                row = list(row)
                if link is not None:
                    _, account_id, contact_id = link
                    first, last, email = people[contact_id]
                    row[at["first_name"]], row[at["last_name"]] = first, last
                    row[at["email"]] = email or row[at["email"]]
                    row[at["company_name"]], row[at["website"]] = companies[account_id]
                    row[at["converted_account_id"]] = account_id
                    row[at["converted_contact_id"]] = contact_id
                rows.append(
                    (
                        row[at["id"]],
                        *(row[at[f]] for f in LINKED_COLUMNS[1:]),
                        *scores(tuple(row)),
                    )
                )
    if rows:
        columns = [*LINKED_COLUMNS, *SCORE_COLUMNS]
        with connection.cursor() as cursor:
            temporary_copy(cursor, "seed_links", ", ".join(columns), table, rows)
            cursor.execute(
                f"UPDATE {table} AS t SET "  # noqa: S608
                + ", ".join(f"{c} = v.{c}" for c in columns[1:])
                + " FROM seed_links AS v WHERE t.id = v.id"
            )
            cursor.execute("DROP TABLE seed_links")


def _choose_links(
    ctx, at: dict[str, int], converted: list[tuple], contacts_of: dict[int, list[int]]
):
    """The ``(lead id, account id, contact id)`` each converted lead became, in the order of
    ``converted``, and how many of them went to an account that won a deal in the lead's
    attribution window. ``at`` gives a column's position in the rows; ``contacts_of`` (not
    empty) the contacts of each account."""
    from leads.campaigns.services.outcomes import ATTRIBUTION_DAYS, won_deals_model

    rng, now = ctx.rng, ctx.now
    accounts = sorted(contacts_of)
    window = dt.timedelta(days=ATTRIBUTION_DAYS)
    wins: list[tuple[dt.datetime, int]] = []
    Opportunity = won_deals_model()
    if Opportunity is not None:
        won = list(
            Opportunity.objects.filter(
                status="won", closed_at__gte=now - dt.timedelta(days=400)
            ).values_list("closed_at", "account_id", "amount")
        )
        # A captured lead grows into a deal of ordinary size: the largest deals are the field
        # reps' own accounts. (Crediting a handful of them to one campaign made its return a
        # lottery of which day the demo was loaded on.)
        amounts = sorted(amount for *_, amount in won)
        ordinary = amounts[int(len(amounts) * ORDINARY_DEAL_QUANTILE)] if amounts else 0
        wins = sorted(
            (closed, account_id)
            for closed, account_id, amount in won
            if account_id in contacts_of and amount <= ordinary
        )
        # Nor does a lead that won nothing in its window become one of those accounts.
        fields_own = {account_id for _, account_id, amount in won if amount > ordinary}
        accounts = [a for a in accounts if a not in fields_own] or accounts
    win_times = [w[0] for w in wins]
    links = []
    from_wins = 0
    for row in converted:
        lead_id, created, converted_at = (row[at[f]] for f in ("id", "created_at", "converted_at"))
        account_id = None
        if rng.random() < WON_SHARE:
            # A deal won after the conversion and within the window after the capture.
            lo = bisect.bisect_left(win_times, converted_at or created)
            hi = bisect.bisect_right(win_times, created + window)
            if lo < hi:
                account_id = wins[rng.randrange(lo, hi)][1]
                from_wins += 1
        if account_id is None:
            account_id = rng.choice(accounts)
        links.append((lead_id, account_id, rng.choice(contacts_of[account_id])))
    return links, from_wins
