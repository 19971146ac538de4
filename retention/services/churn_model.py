"""The nightly churn model: logistic regression (scikit-learn) over each account's health
components, tenure and MRR, trained on accounts that churned against accounts still paying.
Until there is enough labelled history it says so instead of guessing."""

import datetime as dt
import math

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import DateField, DecimalField, ExpressionWrapper, F, Max, Min, Sum, Value
from django.utils import timezone

from crm.currencies import rate_expression
from retention.choices import PAYING_STATUSES, HealthComponentKey
from retention.models import ChurnEvent, ChurnModelRun, ChurnPrediction, HealthScore, Subscription

FEATURES = [
    (HealthComponentKey.USAGE_TREND, "Usage trend"),
    (HealthComponentKey.SUPPORT_LOAD, "Support load"),
    (HealthComponentKey.SENTIMENT, "Sentiment"),
    (HealthComponentKey.ENGAGEMENT, "Engagement"),
    (HealthComponentKey.RENEWAL_PROXIMITY, "Renewal proximity"),
    ("tenure", "Months as a customer"),
    ("mrr", "MRR (log)"),
]


def min_per_class() -> int:
    return int(getattr(settings, "CHURN_MODEL_MIN_PER_CLASS", 50))


def _features(today: dt.date) -> tuple[list[int], np.ndarray]:
    """Account ids and their feature rows (components missing → 50, the neutral value)."""
    components = dict(HealthScore.objects.values_list("account_id", "components"))
    # MRR in the company currency at today's rates (a currency without one adds nothing).
    subs = {
        a: (first, mrr)
        for a, first, mrr in Subscription.objects.annotate(
            rate_day=Value(today, output_field=DateField()),
            rate=rate_expression(date_field="rate_day"),
        )
        .values("account_id")
        .annotate(
            first=Min("start_date"),
            mrr=Sum(
                ExpressionWrapper(
                    F("mrr") * F("rate"),
                    output_field=DecimalField(max_digits=30, decimal_places=10),
                )
            ),
        )
        .order_by()
        .values_list("account_id", "first", "mrr")
    }
    ids = sorted(set(components) | set(subs))
    rows = []
    for account_id in ids:
        parts = components.get(account_id, {})
        row = []
        for key, _ in FEATURES[:5]:
            value = parts.get(key)
            value = value.get("value") if isinstance(value, dict) else value
            row.append(50.0 if value is None else float(value))
        first, mrr = subs.get(account_id, (today, 0))
        row.append(max(0, (today - first).days) / 30.0)
        row.append(math.log1p(float(mrr or 0)))
        rows.append(row)
    return ids, np.array(rows, dtype=float).reshape(len(ids), len(FEATURES))


@transaction.atomic
def churn_model_run(*, today: dt.date | None = None) -> ChurnModelRun:
    """Train and score, or record "not enough history". Predictions are replaced each run."""
    today = today or timezone.localdate()
    now = timezone.now()
    churned_ids = set(ChurnEvent.objects.values_list("account_id", flat=True).distinct())
    paying_ids = set(
        Subscription.objects.filter(status__in=PAYING_STATUSES)
        .values_list("account_id", flat=True)
        .distinct()
    )
    retained_ids = paying_ids - churned_ids
    needed = min_per_class()
    if len(churned_ids) < needed or len(retained_ids) < needed:
        return ChurnModelRun.objects.create(
            ran_at=now,
            churned=len(churned_ids),
            retained=len(retained_ids),
            trained=False,
            message=(
                f"Not enough history: {len(churned_ids)} churned and {len(retained_ids)} "
                f"retained accounts (the model needs {needed} of each)."
            ),
        )
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    ids, x = _features(today)
    index = {a: i for i, a in enumerate(ids)}
    labelled = [(index[a], 1) for a in churned_ids if a in index] + [
        (index[a], 0) for a in retained_ids if a in index
    ]
    rows = np.array([i for i, _ in labelled])
    y = np.array([label for _, label in labelled])
    scaler = StandardScaler().fit(x[rows])
    model = LogisticRegression(max_iter=1000, class_weight="balanced")
    model.fit(scaler.transform(x[rows]), y)
    score_rows = np.array([index[a] for a in sorted(retained_ids) if a in index], dtype=int)
    scored = scaler.transform(x[score_rows]) if len(score_rows) else np.zeros((0, x.shape[1]))
    probabilities = model.predict_proba(scored)[:, 1] if len(score_rows) else []
    contributions = scored * model.coef_[0][None, :]
    predictions = []
    for row_number, i in enumerate(score_rows):
        top = np.argsort(-contributions[row_number])[:3]
        factors = [
            [FEATURES[j][1], round(float(contributions[row_number, j]), 2)]
            for j in top
            if contributions[row_number, j] > 0
        ]
        predictions.append(
            ChurnPrediction(
                account_id=ids[i],
                probability=round(float(probabilities[row_number]), 4),
                factors=factors,
                computed_at=now,
            )
        )
    ChurnPrediction.objects.all().delete()
    ChurnPrediction.objects.bulk_create(predictions, batch_size=5000)
    latest = ChurnEvent.objects.aggregate(latest=Max("date"))["latest"]
    return ChurnModelRun.objects.create(
        ran_at=now,
        churned=len(churned_ids),
        retained=len(retained_ids),
        trained=True,
        scored=len(predictions),
        message=f"Trained on {len(labelled)} accounts (latest churn {latest}); "
        f"scored {len(predictions)} paying accounts.",
    )
