"""Nightly conversion model: a logistic regression over leads with an outcome (converted or
disqualified), giving every open lead a conversion probability and the three factors that moved
it most. Only fitted once there are enough outcomes to learn from (``LEAD_MODEL_MIN_OUTCOMES``).
"""

import math

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Count

from crm.choices import ActivityKind, Industry
from crm.models import Activity, Contact
from leads.choices import LeadSource, LeadStatus, NeedSeverity
from leads.models import Lead

BATCH_SIZE = 5000
SEVERITY = {
    "": 0,
    NeedSeverity.LOW: 1,
    NeedSeverity.MEDIUM: 2,
    NeedSeverity.HIGH: 3,
    NeedSeverity.CRITICAL: 4,
}
COUNTED = (ActivityKind.CALL, ActivityKind.EMAIL, ActivityKind.MEETING)
FIELDS = (
    "pk",
    "score",
    "employees",
    "budget_confirmed",
    "budget_amount",
    "authority",
    "need_severity",
    "timeline",
    "marketing_consent",
    "replied_at",
    "source",
    "industry",
    "title",
    "converted_contact_id",
)


def min_outcomes() -> int:
    return int(getattr(settings, "LEAD_MODEL_MIN_OUTCOMES", 200))


def feature_names() -> list[str]:
    names = [
        "Rule score",
        "Company size (log)",
        "Budget confirmed",
        "Budget known",
        "Buying role known",
        "Need severity",
        "Purchase date known",
        "Marketing consent",
        "Replied",
        "Senior title",
    ]
    names += [f"{kind.label}s logged" for kind in COUNTED]
    names += [f"Source: {label}" for _, label in LeadSource.choices]
    names += [f"Industry: {label}" for _, label in Industry.choices]
    return names


def _features(row: dict, counts: dict) -> list[float]:
    title = (row["title"] or "").lower()
    senior = any(
        word in title for word in ("vp", "vice", "chief", "head", "director", "cto", "ceo")
    )
    vector = [
        row["score"] / 100,
        math.log1p(row["employees"] or 0),
        float(row["budget_confirmed"]),
        float(row["budget_amount"] is not None),
        float(bool(row["authority"])),
        SEVERITY.get(row["need_severity"] or "", 0) / 4,
        float(row["timeline"] is not None),
        float(row["marketing_consent"]),
        float(row["replied_at"] is not None),
        float(senior),
    ]
    vector += [math.log1p(counts.get(kind, 0)) for kind in COUNTED]
    vector += [float(row["source"] == value) for value in LeadSource.values]
    vector += [float(row["industry"] == value) for value in Industry.values]
    return vector


def _activity_counts(rows: list[dict]) -> dict[int, dict[str, int]]:
    """Activities per lead, by kind, in two GROUP BY queries: a converted lead's timeline moved
    to its contact, so it is counted there."""
    counts: dict[int, dict[str, int]] = {}
    lead_ids = [r["pk"] for r in rows]
    contact_to_lead = {
        r["converted_contact_id"]: r["pk"] for r in rows if r["converted_contact_id"]
    }
    for model, ids, mapping in (
        (Lead, lead_ids, None),
        (Contact, list(contact_to_lead), contact_to_lead),
    ):
        if not ids:
            continue
        grouped = (
            Activity.objects.filter(
                content_type=ContentType.objects.get_for_model(model),
                object_id__in=ids,
                kind__in=COUNTED,
            )
            .order_by()
            .values("object_id", "kind")
            .annotate(n=Count("id"))
        )
        for item in grouped:
            lead_id = mapping[item["object_id"]] if mapping else item["object_id"]
            counts.setdefault(lead_id, {})[item["kind"]] = item["n"]
    return counts


def _batches(queryset):
    last = 0
    while True:
        rows = list(queryset.filter(pk__gt=last).order_by("pk").values(*FIELDS)[:BATCH_SIZE])
        if not rows:
            return
        last = rows[-1]["pk"]
        yield rows


def predictions_refresh() -> int:
    """Fit on outcomes and score open leads; returns how many open leads got a probability
    (0 when there are too few outcomes, leaving stored values untouched)."""
    outcomes = Lead.objects.filter(status__in=[LeadStatus.CONVERTED, LeadStatus.DISQUALIFIED])
    if outcomes[: min_outcomes()].count() < min_outcomes():
        return 0
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    features, labels = [], []
    for rows in _batches(outcomes):
        counts = _activity_counts(rows)
        converted = set(
            Lead.objects.filter(
                pk__in=[r["pk"] for r in rows], status=LeadStatus.CONVERTED
            ).values_list("pk", flat=True)
        )
        for row in rows:
            features.append(_features(row, counts.get(row["pk"], {})))
            labels.append(int(row["pk"] in converted))
    if len(set(labels)) < 2:
        return 0
    scaler = StandardScaler().fit(np.array(features))
    model = LogisticRegression(max_iter=1000, class_weight="balanced")
    model.fit(scaler.transform(np.array(features)), np.array(labels))
    names = feature_names()
    coefficients = model.coef_[0]
    scored = 0
    for rows in _batches(Lead.objects.open()):
        counts = _activity_counts(rows)
        matrix = scaler.transform(np.array([_features(r, counts.get(r["pk"], {})) for r in rows]))
        probabilities = model.predict_proba(matrix)[:, 1]
        contributions = matrix * coefficients
        updates = []
        for row, probability, contribution in zip(rows, probabilities, contributions, strict=True):
            top = np.argsort(-np.abs(contribution))[:3]
            updates.append(
                Lead(
                    pk=row["pk"],
                    conversion_probability=round(float(probability) * 100, 1),
                    conversion_factors=[
                        {"label": names[i], "effect": round(float(contribution[i]), 2)} for i in top
                    ],
                )
            )
        with transaction.atomic():
            Lead.objects.bulk_update(updates, ["conversion_probability", "conversion_factors"])
        scored += len(updates)
    return scored
