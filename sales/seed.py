"""Demo data of the sales stage: a product catalogue, deals across every pipeline and stage with
line items and two years of stage history, quotas, quotes, orders for won deals (with repeat
orders, the history lifetime value reads) and onboarding plans of recent wins.

Bulk inserts only (``ctx.insert_rows``): at scale 1 about 600 deals, at scale 333 about 200,000.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from crm.seeding import SeedContext, days_ago, pick_weighted

DEALS_AT_SCALE_1 = 600
CENTS = Decimal("0.01")

# name, sku, price, billing
CATALOGUE = (
    ("Platform licence – Team", "PLT-TEAM", "4800.00", "one_off"),
    ("Platform licence – Business", "PLT-BIZ", "12000.00", "one_off"),
    ("Platform licence – Enterprise", "PLT-ENT", "36000.00", "one_off"),
    ("Cloud subscription – Starter", "SUB-START", "290.00", "monthly"),
    ("Cloud subscription – Growth", "SUB-GROW", "890.00", "monthly"),
    ("Cloud subscription – Scale", "SUB-SCALE", "2400.00", "monthly"),
    ("Extra seats (10)", "SEATS-10", "150.00", "monthly"),
    ("Premium support", "SUP-PREM", "450.00", "monthly"),
    ("Implementation package", "SVC-IMPL", "7500.00", "one_off"),
    ("Data migration", "SVC-MIGR", "3200.00", "one_off"),
    ("Training day (on site)", "SVC-TRAIN", "1800.00", "one_off"),
    ("Integration connector", "ADD-CONN", "95.00", "monthly"),
)
PIPELINE_WEIGHTS = (("New business", 60), ("Expansion", 25), ("Renewal", 15))
DEAL_NAMES = {
    "New business": ("{account} – platform", "{account} – first rollout", "{account} – pilot"),
    "Expansion": ("{account} – more seats", "{account} – add-on", "{account} – second team"),
    "Renewal": ("{account} – renewal {year}", "{account} – contract renewal"),
}
NEXT_STEPS = (
    "Send the proposal",
    "Book a demo with the team",
    "Security questionnaire",
    "Call the economic buyer",
    "Agree on the rollout plan",
    "Legal review of the contract",
    "",
)
LOST_REASONS = (
    ("price", 30),
    ("competitor", 25),
    ("no_decision", 20),
    ("no_budget", 10),
    ("timing", 10),
    ("product_fit", 5),
)


#: The demo company's details on its quotes (fictitious: example.com addresses, a drama number).
DEMO_SELLER = {
    "legal_name": "Tealbridge Software Ltd",
    "address": "1 Example Street\nLondon EC1A 1AA\nUnited Kingdom",
    "tax_id": "GB123456789",
    "email": "sales@tealbridge.example.com",
    "phone": "+44 20 7946 0000",
    "payment_terms": "Net 30 days from invoice date.",
    "quote_footer": "Tealbridge Software Ltd, registered in England and Wales.",
    "default_tax_rate": Decimal("20"),
}


def seed(ctx: SeedContext):
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    from crm.models import Account, Task
    from sales.models import (
        OnboardingPlan,
        OnboardingTemplate,
        Opportunity,
        OpportunityLineItem,
        Order,
        OrderLine,
        Pipeline,
        Product,
        Quota,
        Quote,
        QuoteCounter,
        SellerProfile,
        StageChange,
    )

    rng, now = ctx.rng, ctx.now
    core = ctx.shared.get("crm")
    if core is None or not len(core.account_ids):
        ctx.progress("no accounts from the crm step; nothing to do")
        return
    reps = [u.pk for u in ctx.reps]
    currency = "EUR"

    # Catalogue ---------------------------------------------------------------------------------
    have = set(Product.objects.values_list("sku", flat=True))
    ctx.bulk_create(
        Product,
        [
            Product(name=n, sku=s, price=Decimal(p), currency=currency, billing=b)
            for n, s, p, b in CATALOGUE
            if s not in have
        ],
    )
    products = list(Product.objects.filter(sku__in=[c[1] for c in CATALOGUE]).order_by("id"))
    one_off = [p for p in products if p.billing == "one_off"]
    monthly = [p for p in products if p.billing == "monthly"]

    pipelines = {p.name: p for p in Pipeline.objects.prefetch_related("stages")}
    stages = {
        name: sorted(p.stages.all(), key=lambda s: (s.order, s.pk)) for name, p in pipelines.items()
    }

    # Deals ---------------------------------------------------------------------------------
    n_deals = ctx.count(DEALS_AT_SCALE_1)
    deal_ids = ctx.reserve_ids(Opportunity, n_deals)
    n_accounts = len(core.account_ids)
    deal_rows, change_rows, line_rows, won = [], [], [], []
    account_names = dict(Account.objects.values_list("id", "name"))
    quote_candidates = []
    today = now.date()

    # First what each deal is (account, owner, pipeline, outcome, line items and amount); then
    # when: won deals fill each rep's months along a steadily growing target (so revenue grows
    # over the year and quotas, set from the same targets, are met within a believable band);
    # open deals are recent, and most were moved to their stage lately (a few are rotting).
    drafts = []
    for pk in deal_ids:
        i = int(n_accounts * rng.random() ** 1.3)
        account_id = core.account_ids[i]
        owner = core.account_owner[i] if rng.random() < 0.9 else rng.choice(reps)
        pipeline_name = pick_weighted(rng, PIPELINE_WEIGHTS)
        if pipeline_name not in pipelines:
            continue
        outcome = pick_weighted(rng, OUTCOMES)
        items, one_off_amount, mrr, amount = _line_items(rng, one_off, monthly)
        drafts.append(
            (pk, account_id, owner, pipeline_name, outcome, items, one_off_amount, mrr, amount)
        )
        for product, quantity, discount, total in items:
            line_rows.append(
                (
                    pk,
                    product.pk,
                    product.name,
                    product.price,
                    quantity,
                    discount,
                    product.billing,
                    total,
                )
            )
    months, capacity = _months_back(now, MONTHS_OF_HISTORY)
    won_revenue: dict[int, Decimal] = {}
    for _, _, owner, _, outcome, *_, amount in drafts:
        if outcome == "won":
            won_revenue[owner] = won_revenue.get(owner, Decimal("0")) + amount
    targets = _monthly_targets(won_revenue, capacity)
    # A month goes better or worse than planned; the plan (and the quotas) stay smooth.
    actual = {
        owner: [t * Decimal(rng.uniform(0.88, 1.12)) for t in plan]
        for owner, plan in targets.items()
    }
    close_month = _fill_months(
        [
            (pk, owner, amount)
            for pk, _, owner, _, outcome, *_, amount in drafts
            if outcome == "won"
        ],
        actual,
        capacity,
    )

    for pk, account_id, owner, pipeline_name, outcome, items, one_off_amount, mrr, amount in drafts:
        pipeline = pipelines[pipeline_name]
        all_stages = stages[pipeline_name]
        open_stages = [s for s in all_stages if s.kind == "open"]
        won_stage = next(s for s in all_stages if s.kind == "won")
        lost_stage = next(s for s in all_stages if s.kind == "lost")
        if outcome == "open":
            reached = pick_weighted(
                rng, [(k, len(open_stages) - k + 1) for k in range(len(open_stages))]
            )
        elif outcome == "won":
            reached = len(open_stages) - 1
        else:
            reached = rng.randrange(len(open_stages))
        path = open_stages[: reached + 1] + (
            [won_stage] if outcome == "won" else [lost_stage] if outcome == "lost" else []
        )
        cycle = dt.timedelta(days=rng.randrange(14, 150))
        if outcome == "won":
            month = months[close_month[pk]]
            days = (min(_next_month(month), today + dt.timedelta(days=1)) - month).days
            end = _working_hours(rng, month + dt.timedelta(days=rng.randrange(max(1, days))))
            end = min(end, now - dt.timedelta(minutes=1))
            created = end - cycle
        elif outcome == "lost":
            end = days_ago(rng, now, 730)
            created = end - cycle
        else:
            # The last stage change: within the stage's rotting threshold for most deals.
            limit = path[-1].rotting_days or 30
            if rng.random() < ROTTING_SHARE:
                entered_days = rng.uniform(limit + 1, limit + 45)
            else:
                entered_days = rng.uniform(0.2, limit * 0.9)
            end = now - dt.timedelta(days=entered_days)
            created = end - dt.timedelta(days=rng.uniform(2, 25) * (len(path) - 1))
        span = (end - created).total_seconds()
        # Stage history: each step a share of the time from creation to the last change.
        times = [created]
        for k in range(1, len(path)):
            times.append(
                created + dt.timedelta(seconds=span * (k / len(path)) * rng.uniform(0.7, 1.0))
            )
        if len(path) > 1:
            times[-1] = end
        times = sorted(times)
        for k, stage in enumerate(path):
            previous = path[k - 1] if k else None
            seconds = int((times[k] - times[k - 1]).total_seconds()) if k else None
            change_rows.append(
                (pk, previous.pk if previous else None, stage.pk, times[k], owner, seconds)
            )
        stage = path[-1]

        if outcome == "open":
            probability = stage.probability
            category = (
                "commit"
                if stage.probability >= 70 and rng.random() < 0.6
                else "best_case"
                if stage.probability >= 40 and rng.random() < 0.6
                else "pipeline"
            )
            close_date = today + dt.timedelta(days=rng.randrange(-20, 150))
            closed_at = None
        else:
            probability = 100 if outcome == "won" else 0
            category = "closed"
            close_date = end.date()
            closed_at = end
        account_name = account_names.get(account_id, "Customer")
        name = rng.choice(DEAL_NAMES[pipeline_name]).format(
            account=account_name, year=created.year + 1
        )
        deal_rows.append(
            (
                pk,
                name,
                account_id,
                owner,
                pipeline.pk,
                stage.pk,
                outcome,
                amount,
                currency,
                one_off_amount,
                mrr,
                probability,
                category,
                close_date,
                rng.choice(NEXT_STEPS) if outcome == "open" else "",
                pick_weighted(rng, LOST_REASONS) if outcome == "lost" else "",
                times[-1],
                closed_at,
                created,
                max(times[-1], created),
            )
        )
        if outcome == "won":
            won.append((pk, account_id, owner, end, amount, one_off_amount, mrr, items, name))
        elif outcome == "open" and stage.probability >= 40 and items:
            quote_candidates.append((pk, created, items, one_off_amount, mrr))

    # Orders: one per won deal, and repeat orders of recurring customers -------------------------
    order_ids = ctx.reserve_ids(Order, len(won) * 4)
    next_order = iter(order_ids)
    order_rows, order_line_rows = [], []
    history = 0
    for deal_id, account_id, owner, closed, amount, one_off_amount, mrr, items, name in won:
        order_id = next(next_order)
        order_rows.append(
            (
                order_id,
                account_id,
                deal_id,
                owner,
                closed.date(),
                amount,
                currency,
                one_off_amount,
                mrr,
                "won",
                "",
                closed,
            )
        )
        if items:
            for product, quantity, discount, total in items:
                order_line_rows.append(
                    (
                        order_id,
                        product.pk,
                        product.name,
                        quantity,
                        product.price,
                        discount,
                        product.billing,
                        total,
                    )
                )
        else:
            order_line_rows.append(
                (order_id, None, name, 1, amount, Decimal("0"), "one_off", amount)
            )
        # Customers come back: add-ons and renewals in the months after the win.
        when = closed
        for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):
            when = when + dt.timedelta(days=rng.randrange(60, 240))
            if when >= now:
                break
            product = rng.choice(monthly or one_off)
            quantity = rng.choice((1, 2, 5))
            total = (product.price * quantity).quantize(CENTS)
            repeat_id = next(next_order)
            history += 1
            order_rows.append(
                (
                    repeat_id,
                    account_id,
                    None,
                    owner,
                    when.date(),
                    total * (12 if product.billing == "monthly" else 1),
                    currency,
                    total if product.billing == "one_off" else Decimal("0"),
                    total if product.billing == "monthly" else Decimal("0"),
                    "import",
                    f"DEMO-{repeat_id}",
                    when,
                )
            )
            order_line_rows.append(
                (
                    repeat_id,
                    product.pk,
                    product.name,
                    quantity,
                    product.price,
                    Decimal("0"),
                    product.billing,
                    total,
                )
            )
    # Above ~50,000 deals, loading then indexing (and checking the keys in one join each)
    # beats maintaining every index and queueing a key check per row.
    # (indexes_deferred runs the checks still pending on the rows written above first.)
    big = n_deals >= 50_000
    with ctx.indexes_deferred(
        Opportunity, StageChange, OpportunityLineItem, Order, OrderLine, when=big
    ):
        ctx.insert_rows(
            Opportunity,
            [
                "id",
                "name",
                "account_id",
                "owner_id",
                "pipeline_id",
                "stage_id",
                "status",
                "amount",
                "currency",
                "one_off_amount",
                "mrr",
                "probability",
                "forecast_category",
                "expected_close_date",
                "next_step",
                "lost_reason",
                "stage_entered_at",
                "closed_at",
                "created_at",
                "updated_at",
            ],
            deal_rows,
        )
        ctx.insert_rows(
            StageChange,
            [
                "opportunity_id",
                "from_stage_id",
                "to_stage_id",
                "changed_at",
                "changed_by_id",
                "seconds_in_from_stage",
            ],
            change_rows,
        )
        ctx.insert_rows(
            OpportunityLineItem,
            [
                "opportunity_id",
                "product_id",
                "description",
                "unit_price",
                "quantity",
                "discount_percent",
                "billing",
                "total",
            ],
            line_rows,
        )
        ctx.insert_rows(
            Order,
            [
                "id",
                "account_id",
                "opportunity_id",
                "owner_id",
                "order_date",
                "amount",
                "currency",
                "one_off_amount",
                "mrr",
                "source",
                "external_ref",
                "created_at",
            ],
            order_rows,
        )
        ctx.insert_rows(
            OrderLine,
            [
                "order_id",
                "product_id",
                "description",
                "quantity",
                "unit_price",
                "discount_percent",
                "billing",
                "total",
            ],
            order_line_rows,
        )
    if big:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")  # as Django's keys are declared
    del deal_rows, change_rows, line_rows, order_rows, order_line_rows

    # Quotas: every rep, every month of the last two years and the next quarter, set from the
    # rep's growing monthly target (a little above or below it), so attainment is believable.
    existing = set(Quota.objects.values_list("owner_id", "period_kind", "period_start"))
    fallback = (
        sum(t[-1] for t in targets.values()) / len(targets)
        if targets
        else Decimal(max(20000, int(n_deals * 12000 * 0.4 / 24 / max(1, len(reps)))))
    )
    quota_months = months + [_next_month(months[-1])]
    while len(quota_months) < len(months) + 3:
        quota_months.append(_next_month(quota_months[-1]))
    ctx.insert_rows(
        Quota,
        ["owner_id", "period_kind", "period_start", "amount", "currency"],
        (
            (
                rep,
                "month",
                month,
                max(
                    Decimal("1000"),
                    (
                        _target_of(targets.get(rep), k, fallback) * Decimal(rng.uniform(0.94, 1.08))
                    ).quantize(Decimal("100")),
                ),
                currency,
            )
            for rep in reps
            for k, month in enumerate(quota_months)
            if (rep, "month", month) not in existing
        ),
    )

    # The seller printed on quotes, unless an admin has filled it in already --------------------
    seller = SellerProfile.current()
    if not seller.legal_name:
        for name, value in DEMO_SELLER.items():
            setattr(seller, name, value)
        seller.save()

    # Quotes of deals in proposal and later -----------------------------------------------------
    counters: dict[int, int] = dict(QuoteCounter.objects.values_list("year", "last_number"))
    quote_rows = []
    for deal_id, created, items, one_off_amount, mrr in quote_candidates:
        year = created.year
        counters[year] = counters.get(year, 0) + 1
        lines = [
            {
                "product": p.name,
                "sku": p.sku,
                "description": p.name,
                "quantity": q,
                "unit_price": str(p.price),
                "discount_percent": str(d),
                "billing": p.billing,
                "total": str(t),
            }
            for p, q, d, t in items
        ]
        status = rng.choice(("draft", "sent", "sent"))
        quote_rows.append(
            (
                deal_id,
                f"Q-{year}-{counters[year]:05d}",
                status,
                currency,
                one_off_amount,
                mrr,
                lines,
                (created + dt.timedelta(days=30)).date(),
                created,
                created if status == "sent" else None,
            )
        )
    ctx.insert_rows(
        Quote,
        [
            "opportunity_id",
            "number",
            "status",
            "currency",
            "one_off_total",
            "monthly_total",
            "lines",
            "valid_until",
            "created_at",
            "sent_at",
        ],
        quote_rows,
    )
    for year, last in counters.items():
        QuoteCounter.objects.update_or_create(year=year, defaults={"last_number": last})

    # Onboarding of deals won in the last 90 days -------------------------------------------------
    template = OnboardingTemplate.objects.filter(is_default=True).prefetch_related("items").first()
    if template is None:
        return
    template_items = sorted(template.items.all(), key=lambda i: (i.order, i.pk))
    recent = [w for w in won if (now - w[3]).days <= 90]
    plan_ids = ctx.reserve_ids(OnboardingPlan, len(recent))
    agents = [u.pk for u in ctx.agents] or reps
    plan_rows, task_rows = [], []
    plan_ct = ContentType.objects.get_for_model(OnboardingPlan).pk
    for plan_id, (deal_id, account_id, owner, closed, *_rest) in zip(plan_ids, recent, strict=True):
        done_count = 0
        for item in template_items:
            due = closed + dt.timedelta(days=item.due_offset_days)
            is_done = due < now and rng.random() < 0.8
            done_count += is_done
            assignee = agents[plan_id % len(agents)] if item.role == "support" else owner
            task_rows.append(
                (
                    item.title,
                    due,
                    assignee,
                    plan_ct,
                    plan_id,
                    due - dt.timedelta(hours=rng.randrange(1, 48)) if is_done else None,
                    assignee if is_done else None,
                    closed,
                )
            )
        finished = done_count == len(template_items)
        plan_rows.append(
            (
                plan_id,
                account_id,
                deal_id,
                template.pk,
                owner,
                "done" if finished else "active",
                len(template_items),
                closed,
                now if finished else None,
            )
        )
    ctx.insert_rows(
        OnboardingPlan,
        [
            "id",
            "account_id",
            "opportunity_id",
            "template_id",
            "owner_id",
            "status",
            "items_total",
            "started_at",
            "completed_at",
        ],
        plan_rows,
    )
    ctx.insert_rows(
        Task,
        [
            "title",
            "due_at",
            "assignee_id",
            "content_type_id",
            "object_id",
            "done_at",
            "done_by_id",
            "created_at",
        ],
        task_rows,
    )
    ctx.progress(f"{len(won):,} won deals with orders, {history:,} repeat orders")


# The year's story: deals won along a steady growth, and how they are dated ---------------------

OUTCOMES = (("open", 27), ("won", 30), ("lost", 43))
MONTHS_OF_HISTORY = 24
MONTHLY_GROWTH = Decimal("1.03")  # about 43 % a year
ROTTING_SHARE = 0.12  # open deals left in their stage longer than its rotting threshold


def _line_items(rng, one_off, monthly):
    """A deal's line items (most deals have some) and what they decide: one-off value, MRR,
    and the amount (one-off plus twelve months of MRR); a plain amount without items."""
    items = []
    if rng.random() < 0.75:
        chosen = rng.sample(one_off, k=rng.randint(0, 2)) + rng.sample(monthly, k=rng.randint(1, 2))
        for product in chosen:
            quantity = rng.choice((1, 1, 1, 2, 3, 5, 10)) if product.billing == "monthly" else 1
            discount = Decimal(rng.choice((0, 0, 0, 5, 10, 15, 20)))
            total = (product.price * quantity * (100 - discount) / 100).quantize(CENTS)
            items.append((product, quantity, discount, total))
    if not items:
        amount = Decimal(rng.randrange(20, 800) * 100)
        return items, Decimal("0"), Decimal("0"), amount
    one_off_amount = sum((t for p, q, d, t in items if p.billing == "one_off"), Decimal("0"))
    mrr = sum((t for p, q, d, t in items if p.billing == "monthly"), Decimal("0"))
    return items, one_off_amount, mrr, one_off_amount + mrr * 12


def _next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _months_back(now: dt.datetime, n: int) -> tuple[list[dt.date], list[Decimal]]:
    """The ``n`` months before ``now``'s and ``now``'s own, oldest first, with the share of
    each that has passed (1 but for the current month)."""
    current = now.date().replace(day=1)
    months = [current]
    while len(months) < n + 1:
        months.insert(0, (months[0] - dt.timedelta(days=1)).replace(day=1))
    days_in_current = (_next_month(current) - current).days
    passed = Decimal(now.date().day - 1) / Decimal(days_in_current)
    return months, [Decimal("1")] * n + [passed]


def _monthly_targets(revenue: dict[int, Decimal], capacity: list[Decimal]) -> dict:
    """Each rep's full-month target per month, growing by ``MONTHLY_GROWTH``, scaled so the
    months (the current one only in part) add up to the revenue they win."""
    weights = [MONTHLY_GROWTH**k for k in range(len(capacity))]
    room = sum(w * c for w, c in zip(weights, capacity, strict=True))
    return {
        owner: [total / room * w for w in weights] for owner, total in revenue.items() if total > 0
    }


def _target_of(targets: list[Decimal] | None, k: int, fallback: Decimal) -> Decimal:
    if not targets:
        return fallback * MONTHLY_GROWTH ** (k - MONTHS_OF_HISTORY)
    if k < len(targets):
        return targets[k]
    return targets[-1] * MONTHLY_GROWTH ** (k - len(targets) + 1)


def _fill_months(won: list[tuple[int, int, Decimal]], targets: dict, capacity) -> dict[int, int]:
    """The month (index) each won deal closes in: the largest deals first, each into its rep's
    month furthest below target, so every rep's months follow their target closely."""
    # What is still missing from each month's goal, per rep.
    missing = {
        owner: [t * c for t, c in zip(plan, capacity, strict=True)]
        for owner, plan in targets.items()
    }
    placed = {}
    for pk, owner, amount in sorted(won, key=lambda w: (-w[2], w[0])):
        gaps = missing[owner]
        month = max(range(len(gaps)), key=lambda k: (gaps[k], k))
        gaps[month] -= amount
        placed[pk] = month
    return placed


def _working_hours(rng, day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0, 0), tzinfo=dt.UTC) + dt.timedelta(
        minutes=rng.randrange(8 * 60, 18 * 60)
    )
