"""Demo data for retention: subscriptions with their MRR ledger, churn, product usage, NPS
answers and advocates; then the nightly jobs run once (health, risk, upsell, churn model) so
every page has something to show. Bulk inserts only."""

import datetime as dt
import math
from decimal import Decimal

from crm.seeding import SeedContext, pick_weighted

# sku, plan, MRR per seat or flat, seats (min, max)
PLANS = (
    ("SUB-START", "Cloud subscription – Starter", Decimal("290.00"), (3, 10)),
    ("SUB-GROW", "Cloud subscription – Growth", Decimal("890.00"), (10, 40)),
    ("SUB-SCALE", "Cloud subscription – Scale", Decimal("2400.00"), (40, 200)),
)
ADD_ONS = (
    # sku, name, MRR, chance when holding the plan index ≥ n
    ("SUP-PREM", "Premium support", Decimal("450.00"), 0.55),
    ("ADD-CONN", "Integration connector", Decimal("95.00"), 0.35),
    ("SEATS-10", "Extra seats (10)", Decimal("150.00"), 0.25),
)
MONTHLY_CHURN = 0.018  # of paying customers, a month
FADING_SHARE = 0.15  # of live customers, those whose usage is fading away

CHURN_REASONS = (
    ("price", 30),
    ("competitor", 25),
    ("product_fit", 15),
    ("service", 15),
    ("budget", 15),
)


def seed(ctx: SeedContext):
    from crm.models import Contact
    from retention.choices import NpsRunStatus
    from retention.models import (
        Advocate,
        ChurnEvent,
        MrrMovement,
        NpsRun,
        NpsSurvey,
        Subscription,
        UsageDaily,
    )

    core = ctx.shared.get("crm")
    if core is None or not len(core.account_ids):
        ctx.progress("no accounts from the crm step; nothing to do")
        return
    rng, now = ctx.rng, ctx.now
    today = now.date()
    account_ids = list(core.account_ids)
    owners = dict(zip(account_ids, core.account_owner, strict=True))
    customers = [a for a in account_ids if rng.random() < 0.55]

    subscriptions, movements, churns = [], [], []
    sub_ids = iter(ctx.reserve_ids(Subscription, len(customers) * (1 + len(ADD_ONS))))
    held: dict[int, list[int]] = {}

    def add(account_id, sku, plan, mrr, seats, start, churned_on=None):
        pk = next(sub_ids)
        renewal = start
        while renewal <= today:
            renewal = dt.date(renewal.year + 1, renewal.month, min(renewal.day, 28))
        status = "churned" if churned_on else ("trial" if rng.random() < 0.03 else "active")
        seats_used = None
        if status != "churned":
            seats_used = min(seats + 2, max(1, int(seats * rng.uniform(0.4, 1.05))))
        delta = Decimal("0")
        if status == "active" and rng.random() < 0.2:
            delta = (mrr * Decimal(rng.choice(("0.1", "0.25", "-0.1")))).quantize(Decimal("0.01"))
        current = mrr + delta
        subscriptions.append(
            (
                pk,
                account_id,
                owners[account_id],
                plan,
                sku,
                seats,
                seats_used,
                current,
                "EUR",
                status,
                start,
                12,
                renewal,
                rng.random() < 0.85,
                churned_on,
            )
        )
        held.setdefault(account_id, []).append(pk)
        if status == "trial":
            return pk
        movements.append((pk, account_id, "new", start, mrr, "EUR", mrr, "", now))
        if churned_on:
            movements.append(
                (pk, account_id, "churn", churned_on, -mrr, "EUR", Decimal("0"), "", now)
            )
        elif delta:
            when = start + dt.timedelta(days=rng.randrange(30, max(31, (today - start).days)))
            kind = "expansion" if delta > 0 else "contraction"
            movements.append(
                (pk, account_id, kind, min(when, today), delta, "EUR", current, "", now)
            )
        return pk

    for account_id in customers:
        plan_index = pick_weighted(rng, ((0, 50), (1, 35), (2, 15)))
        sku, plan, price, (lo, hi) = PLANS[plan_index]
        start = today - dt.timedelta(days=rng.randrange(20, 900))
        # Customers leave at a steady monthly rate after their first two months (about one in
        # five a year): each cohort's retention falls month by month, and most stay.
        months_kept = int(math.log(1 - rng.random()) / math.log(1 - MONTHLY_CHURN))
        churned_on = start + dt.timedelta(days=60 + 30 * months_kept + rng.randrange(30))
        if churned_on >= today:
            churned_on = None
        seats = rng.randrange(lo, hi + 1)
        add(account_id, sku, plan, price, seats, start, churned_on)
        if churned_on:
            churns.append((account_id, churned_on, pick_weighted(rng, CHURN_REASONS), price))
            continue
        for add_sku, name, mrr, chance in ADD_ONS:
            if rng.random() < chance * (1 + plan_index) / 2:
                add(
                    account_id,
                    add_sku,
                    name,
                    mrr,
                    1,
                    start + dt.timedelta(days=rng.randrange(0, 200)),
                )

    ctx.insert_rows(
        Subscription,
        [
            "id",
            "account_id",
            "owner_id",
            "plan",
            "product_sku",
            "seats",
            "seats_used",
            "mrr",
            "currency",
            "status",
            "start_date",
            "term_months",
            "renewal_date",
            "auto_renew",
            "ended_on",
        ],
        subscriptions,
    )
    ctx.insert_rows(
        MrrMovement,
        [
            "subscription_id",
            "account_id",
            "kind",
            "date",
            "amount",
            "currency",
            "mrr_after",
            "note",
            "created_at",
        ],
        movements,
    )
    ctx.insert_rows(
        ChurnEvent,
        ["account_id", "date", "reason", "lost_mrr", "currency", "note", "created_at"],
        ((a, d, r, m, "EUR", "", now) for a, d, r, m in churns),
    )

    # Product usage: logins over the last 90 days, fading for accounts on their way out.
    churned = {c[0] for c in churns}
    live = [a for a in customers if a not in churned]

    fading = {a for a in live if rng.random() < FADING_SHARE}

    def usage_rows():
        for account_id in live:
            base = rng.randrange(5, 60)
            for day in range(0, 90, rng.choice((2, 3, 4))):
                # A fading account all but stopped logging in over the last month.
                level = base * (
                    min(1, max(0, day - 24) / 36) if account_id in fading else rng.uniform(0.7, 1.3)
                )
                n = max(0, int(level))
                if n:
                    yield (account_id, today - dt.timedelta(days=day), "login", "", n, n, n)
            yield (account_id, today - dt.timedelta(days=1), "active_users", "", base, base, 1)

    ctx.insert_rows(
        UsageDaily,
        ["account_id", "day", "kind", "feature", "total", "peak", "events"],
        usage_rows(),
    )

    # NPS: one run three weeks ago to a sample of customers' contacts; promoters advocate.
    run = NpsRun.objects.create(
        name="Quarterly NPS", created_by=ctx.users.get("manager"), status=NpsRunStatus.DONE
    )
    contact_rows = list(
        Contact.objects.filter(account_id__in=live, email_consent=True)
        .exclude(email="")
        .values_list("pk", "account_id")[: ctx.count(300)]
    )
    sent = now - dt.timedelta(days=21)
    surveys, advocates = [], []
    survey_ids = iter(ctx.reserve_ids(NpsSurvey, len(contact_rows)))
    for contact_id, account_id in contact_rows:
        pk = next(survey_ids)
        answered = rng.random() < 0.45
        score = pick_weighted(rng, ((10, 20), (9, 20), (8, 20), (7, 12), (5, 10), (3, 10), (0, 8)))
        if account_id in fading:  # they say so when asked
            answered = answered or rng.random() < 0.6
            score = pick_weighted(rng, ((6, 20), (4, 30), (2, 30), (0, 20)))
        surveys.append(
            (
                pk,
                run.pk,
                contact_id,
                account_id,
                f"{rng.getrandbits(128):032x}",
                sent,
                score if answered else None,
                "",
                sent + dt.timedelta(days=rng.randrange(1, 10)) if answered else None,
            )
        )
        if answered and score >= 9:
            advocates.append(
                (
                    contact_id,
                    account_id,
                    f"{rng.getrandbits(40):010x}",
                    "candidate",
                    rng.random() < 0.3,
                    pk,
                    now,
                )
            )
    ctx.insert_rows(
        NpsSurvey,
        [
            "id",
            "run_id",
            "contact_id",
            "account_id",
            "key",
            "sent_at",
            "score",
            "comment",
            "answered_at",
        ],
        surveys,
    )
    NpsRun.objects.filter(pk=run.pk).update(sent_count=len(surveys))
    ctx.insert_rows(
        Advocate,
        [
            "contact_id",
            "account_id",
            "code",
            "status",
            "is_reference",
            "source_survey_id",
            "created_at",
        ],
        advocates,
    )
    ctx.progress(
        f"{len(subscriptions)} subscriptions, {len(movements)} MRR movements, {len(churns)} churn "
        f"events, {len(surveys)} NPS surveys, {len(advocates)} advocates"
    )
    _nightly(ctx)


def _nightly(ctx: SeedContext):
    """Run the nightly jobs once so scores, risk, recommendations and predictions exist."""
    from retention.services import churn_model, health, upsell

    # Last month's scores first, from the data as it stood then: today's have a trend, and
    # the accounts whose usage and answers turned sour show as falling.
    health.health_history_record(day=ctx.today - dt.timedelta(days=30))
    result = health.health_recompute(today=ctx.today)
    ctx.progress(
        f"health for {result['accounts']} accounts in {result['timings']['total']} s; "
        f"{result['opened']} at risk"
    )
    mined = upsell.upsell_refresh(now=ctx.now)
    ctx.progress(f"upsell: {mined['rules']} rules, {mined['recommendations']} recommendations")
    ctx.progress(churn_model.churn_model_run(today=ctx.today).message)
