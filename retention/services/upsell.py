"""Upsell and cross-sell: product holdings, association mining (numpy over an account × product
matrix, no loops over accounts), recommendations and turning one into an expansion deal."""

import datetime as dt
import logging
import math

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from crm.db import insert_rows, lock_rows
from crm.services.timeline import system_event
from retention.choices import (
    PAYING_STATUSES,
    RecommendationKind,
    RecommendationStatus,
    SubscriptionStatus,
)
from retention.models import ProductAssociation, Recommendation, Subscription

logger = logging.getLogger(__name__)


def min_accounts() -> int:
    """Accounts that must hold both products before a rule counts."""
    return int(getattr(settings, "UPSELL_MIN_ACCOUNTS", 5))


def min_confidence() -> float:
    return float(getattr(settings, "UPSELL_MIN_CONFIDENCE", 0.3))


def min_lift() -> float:
    return float(getattr(settings, "UPSELL_MIN_LIFT", 1.2))


def seat_threshold() -> float:
    return float(getattr(settings, "UPSELL_SEAT_THRESHOLD", 0.9))


def holdings() -> tuple[np.ndarray, np.ndarray, list[int], list[str], dict[str, str]]:
    """Who holds what: (account indexes, product indexes) of every holding, the account ids and
    skus they index, and each sku's name. From live subscriptions and from sales orders."""
    pairs: set[tuple[int, str]] = set()
    names: dict[str, str] = {}
    subscriptions = (
        Subscription.objects.filter(
            status__in=(*PAYING_STATUSES, SubscriptionStatus.TRIAL), product_sku__gt=""
        )
        .values_list("account_id", "product_sku", "plan")
        .distinct()
    )
    for account_id, sku, name in subscriptions.iterator(chunk_size=20_000):
        pairs.add((account_id, sku))
        names.setdefault(sku, name)
    try:
        from sales.models import OrderLine
    except ImportError:
        OrderLine = None
    if OrderLine is not None:
        lines = (
            OrderLine.objects.filter(product__isnull=False)
            .values_list("order__account_id", "product__sku", "product__name")
            .distinct()
        )
        for account_id, sku, name in lines.iterator(chunk_size=20_000):
            pairs.add((account_id, sku))
            names[sku] = name
    accounts = sorted({a for a, _ in pairs})
    skus = sorted({s for _, s in pairs})
    a_index = {a: i for i, a in enumerate(accounts)}
    s_index = {s: i for i, s in enumerate(skus)}
    rows = np.fromiter((a_index[a] for a, _ in pairs), dtype=np.int64, count=len(pairs))
    cols = np.fromiter((s_index[s] for _, s in pairs), dtype=np.int64, count=len(pairs))
    return rows, cols, accounts, skus, names


def mine(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pairwise rules A → B over a boolean account × product matrix: (co-holding counts,
    support, confidence, lift), each products × products; the diagonal is zeroed."""
    x = matrix.astype(np.int32)
    n = max(x.shape[0], 1)
    held = x.sum(axis=0).astype(float)
    both = x.T @ x
    np.fill_diagonal(both, 0)
    support = both / n
    with np.errstate(divide="ignore", invalid="ignore"):
        confidence = np.where(held[:, None] > 0, both / held[:, None], 0.0)
        base_rate = held / n
        lift = np.where(base_rate[None, :] > 0, confidence / base_rate[None, :], 0.0)
    return both, support, confidence, lift


def reason_text(antecedent: str, consequent: str, confidence: float, lift: float) -> str:
    return (
        f"{round(confidence * 100)}% of accounts with {antecedent} also hold {consequent}; "
        f"lift {lift:.1f}"
    )


@transaction.atomic
def upsell_refresh(*, now=None) -> dict:
    """Mine the associations, store them, and open a recommendation for each account lacking a
    product its holdings predict (the strongest rule gives the reason); plus seat-usage
    signals. Idempotent: one open recommendation per account, kind and product."""
    now = now or timezone.now()
    rows, cols, accounts, skus, names = holdings()
    if not skus:
        ProductAssociation.objects.all().delete()
        return {"accounts": 0, "rules": 0, "recommendations": seat_recommendations(now=now)}
    matrix = np.zeros((len(accounts), len(skus)), dtype=bool)
    matrix[rows, cols] = True
    both, support, confidence, lift = mine(matrix)
    rule = (both >= min_accounts()) & (confidence >= min_confidence()) & (lift >= min_lift())
    ProductAssociation.objects.all().delete()
    ProductAssociation.objects.bulk_create(
        [
            ProductAssociation(
                antecedent_sku=skus[a],
                antecedent_name=names[skus[a]],
                consequent_sku=skus[b],
                consequent_name=names[skus[b]],
                support=float(support[a, b]),
                confidence=float(confidence[a, b]),
                lift=float(lift[a, b]),
                accounts=int(both[a, b]),
                computed_at=now,
            )
            for a, b in zip(*np.nonzero(rule), strict=True)
        ]
    )
    strength = np.where(rule, confidence, 0.0)
    # Written as plain rows (``crm.db.insert_rows``: one COPY and one INSERT … ON CONFLICT DO
    # NOTHING), not as model instances: at 100,000 accounts a run proposes some 350,000, and an
    # instance each cost three quarters of the job. A rule's reason and strength are the same
    # for every account it speaks to, so each is written once.
    rule_texts: dict[tuple[int, int], tuple[str, float]] = {}
    proposed = []
    for b in range(len(skus)):
        if not strength[:, b].any():
            continue
        # Per account: the held product whose rule towards b is the most confident.
        scores = matrix * strength[:, b][None, :]
        best = scores.argmax(axis=1)
        best_score = scores[np.arange(len(accounts)), best]
        wanted = np.nonzero((best_score > 0) & ~matrix[:, b])[0]
        sku, name = skus[b], names[skus[b]]
        for i, a in zip(wanted.tolist(), best[wanted].tolist(), strict=True):
            text = rule_texts.get((a, b))
            if text is None:
                text = rule_texts[(a, b)] = (
                    reason_text(names[skus[a]], name, confidence[a, b], lift[a, b]),
                    round(float(lift[a, b]), 3),
                )
            proposed.append((accounts[i], RecommendationKind.CROSS_SELL.value, sku, name, *text))
    _recommendations_insert(proposed, now=now)
    seats = seat_recommendations(now=now)
    return {
        "accounts": len(accounts),
        "rules": int(rule.sum()),
        "recommendations": len(proposed) + seats,
    }


def _recommendations_insert(rows: list[tuple], *, now) -> int:
    """Open recommendations from (account id, kind, sku, product name, reason, strength) rows;
    one an account already has open for that kind and product is kept as it is (the partial
    unique constraint ``recommendation_one_open``). Returns how many were opened."""
    fields = [
        "account_id",
        "kind",
        "product_sku",
        "product_name",
        "reason",
        "strength",
        "status",
        "created_at",
        "updated_at",
    ]
    status = RecommendationStatus.OPEN.value
    return insert_rows(Recommendation, fields, [(*row, status, now, now) for row in rows])


def seat_recommendations(*, now=None) -> int:
    """Subscriptions using nearly all their seats suggest more seats."""
    now = now or timezone.now()
    threshold = seat_threshold()
    near = (
        Subscription.objects.filter(status__in=PAYING_STATUSES, seats_used__isnull=False)
        .filter(seats_used__gte=F("seats") * threshold)
        .values_list("account_id", "product_sku", "plan", "seats", "seats_used")
    )
    rows = [
        (
            account_id,
            RecommendationKind.SEATS.value,
            (sku or plan[:60]),
            plan,
            f"{used} of {seats} seats of {plan} in use ({round(100 * used / seats)}%)",
            round(used / seats, 3),
        )
        for account_id, sku, plan, seats, used in near.iterator(chunk_size=5000)
    ]
    _recommendations_insert(rows, now=now)
    return len(rows)


def expansion_pipeline_name() -> str:
    return getattr(settings, "EXPANSION_PIPELINE_NAME", "Expansion")


@transaction.atomic
def recommendation_take(*, recommendation: Recommendation, user):
    """Turn an open recommendation into a deal in the Expansion pipeline (through sales'
    services), with the product as a line item when the catalogue has it. Once: a taken
    recommendation returns its deal."""
    from sales.models import Opportunity, Pipeline, Product
    from sales.services import first_open_stage, line_item_add, opportunity_create

    lock_rows(Recommendation, recommendation.pk)
    recommendation = Recommendation.objects.select_related("account", "account__owner").get(
        pk=recommendation.pk
    )
    if recommendation.status != RecommendationStatus.OPEN:
        if recommendation.opportunity_id:
            return Opportunity.objects.filter(pk=recommendation.opportunity_id).first()
        raise ValidationError("This recommendation is no longer open.")
    pipeline = Pipeline.objects.filter(name=expansion_pipeline_name(), is_active=True).first()
    stage = first_open_stage(pipeline) if pipeline else None
    if stage is None:
        raise ValidationError(f"There is no active “{expansion_pipeline_name()}” pipeline.")
    account = recommendation.account
    product = Product.objects.filter(sku=recommendation.product_sku, is_active=True).first()
    opportunity = opportunity_create(
        user=user,
        name=f"Expansion: {recommendation.product_name} · {account.name}"[:200],
        account=account,
        stage=stage,
        owner=account.owner or user,
        currency=product.currency if product else settings.DEFAULT_CURRENCY,
        expected_close_date=timezone.localdate() + dt.timedelta(days=45),
        next_step=recommendation.reason[:200],
    )
    if product is not None:
        quantity = 1
        if recommendation.kind == RecommendationKind.SEATS:
            quantity = max(1, math.ceil(recommendation.strength * 0.2 * _seats(recommendation)))
        line_item_add(opportunity=opportunity, user=user, product=product, quantity=quantity)
    recommendation.status = RecommendationStatus.TAKEN
    recommendation.opportunity_id = opportunity.pk
    recommendation.save(update_fields=["status", "opportunity_id", "updated_at"])
    system_event(subject=account, summary=f"Expansion deal opened: {recommendation.product_name}")
    return opportunity


def _seats(recommendation) -> int:
    sub = (
        Subscription.objects.filter(
            account_id=recommendation.account_id, product_sku=recommendation.product_sku
        )
        .order_by("-seats")
        .first()
    )
    return sub.seats if sub else 1


def recommendation_dismiss(*, recommendation: Recommendation, user) -> bool:
    return bool(
        Recommendation.objects.filter(
            pk=recommendation.pk, status=RecommendationStatus.OPEN
        ).update(status=RecommendationStatus.DISMISSED, updated_at=timezone.now())
    )


def on_opportunity_closed(*, opportunity, won: bool) -> int:
    """A deal opened from a recommendation closed: the recommendation remembers the outcome."""
    return Recommendation.objects.filter(
        opportunity_id=opportunity.pk, status=RecommendationStatus.TAKEN
    ).update(
        status=RecommendationStatus.WON if won else RecommendationStatus.LOST,
        updated_at=timezone.now(),
    )
