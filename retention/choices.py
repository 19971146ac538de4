from django.db import models


class SubscriptionStatus(models.TextChoices):
    TRIAL = "trial", "Trial"
    ACTIVE = "active", "Active"
    CANCELLED = "cancelled", "Cancelled (runs to term)"
    CHURNED = "churned", "Churned"
    EXPIRED = "expired", "Expired"


#: Statuses in which a subscription pays (counts in MRR).
PAYING_STATUSES = (SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELLED)

#: The only status changes ``subscription_set_status`` allows (from → to).
SUBSCRIPTION_TRANSITIONS: dict[str, frozenset[str]] = {
    SubscriptionStatus.TRIAL: frozenset(
        {SubscriptionStatus.ACTIVE, SubscriptionStatus.EXPIRED, SubscriptionStatus.CHURNED}
    ),
    SubscriptionStatus.ACTIVE: frozenset(
        {SubscriptionStatus.CANCELLED, SubscriptionStatus.CHURNED, SubscriptionStatus.EXPIRED}
    ),
    SubscriptionStatus.CANCELLED: frozenset(
        {SubscriptionStatus.ACTIVE, SubscriptionStatus.CHURNED, SubscriptionStatus.EXPIRED}
    ),
    SubscriptionStatus.CHURNED: frozenset({SubscriptionStatus.ACTIVE}),
    SubscriptionStatus.EXPIRED: frozenset({SubscriptionStatus.ACTIVE}),
}


class MovementKind(models.TextChoices):
    NEW = "new", "New"
    EXPANSION = "expansion", "Expansion"
    CONTRACTION = "contraction", "Contraction"
    CHURN = "churn", "Churn"
    REACTIVATION = "reactivation", "Reactivation"


class UsageKind(models.TextChoices):
    ACTIVE_USERS = "active_users", "Active users"
    LOGIN = "login", "Logins"
    FEATURE = "feature", "Feature use"


class UsageSource(models.TextChoices):
    API = "api", "API"
    CSV = "csv", "CSV import"


class HealthComponentKey(models.TextChoices):
    USAGE_TREND = "usage_trend", "Usage trend"
    SUPPORT_LOAD = "support_load", "Support load"
    SENTIMENT = "sentiment", "Sentiment"
    ENGAGEMENT = "engagement", "Engagement"
    RENEWAL_PROXIMITY = "renewal_proximity", "Renewal proximity"


class HealthColour(models.TextChoices):
    GREEN = "green", "Green"
    YELLOW = "yellow", "Yellow"
    RED = "red", "Red"


class RiskReason(models.TextChoices):
    RED = "red", "Health turned red"
    FALLING = "falling", "Health score falling"


class ChurnReason(models.TextChoices):
    PRICE = "price", "Price"
    COMPETITOR = "competitor", "Moved to a competitor"
    PRODUCT_FIT = "product_fit", "Product fit"
    SERVICE = "service", "Service quality"
    BUDGET = "budget", "Budget cut"
    BUSINESS_CLOSED = "closed", "Business closed or acquired"
    OTHER = "other", "Other"


class NpsCategory(models.TextChoices):
    PROMOTER = "promoter", "Promoter"
    PASSIVE = "passive", "Passive"
    DETRACTOR = "detractor", "Detractor"


class NpsRunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    DONE = "done", "Sent"
    FAILED = "failed", "Failed"


def nps_category(score: int) -> str:
    if score >= 9:
        return NpsCategory.PROMOTER
    if score >= 7:
        return NpsCategory.PASSIVE
    return NpsCategory.DETRACTOR


class RecommendationKind(models.TextChoices):
    CROSS_SELL = "cross_sell", "Cross-sell"
    SEATS = "seats", "Seats near the limit"


class RecommendationStatus(models.TextChoices):
    OPEN = "open", "Open"
    TAKEN = "taken", "Taken (deal opened)"
    DISMISSED = "dismissed", "Dismissed"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class AdvocateStatus(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    ACTIVE = "active", "Active advocate"
    DECLINED = "declined", "Declined"


class RewardStatus(models.TextChoices):
    NONE = "none", "Not yet"
    EARNED = "earned", "Earned (lead converted)"
    PAID = "paid", "Paid"


class TestimonialKind(models.TextChoices):
    TESTIMONIAL = "testimonial", "Testimonial"
    CASE_STUDY = "case_study", "Case study"


class TestimonialStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    RECEIVED = "received", "Received"
    APPROVED = "approved", "Approved to publish"
    DECLINED = "declined", "Declined"


class ChurnRiskLevel(models.TextChoices):
    """The churn model's predicted probability in three bands (segments filter on these)."""

    HIGH = "high", "High (50 % or more)"
    MEDIUM = "medium", "Medium (20–50 %)"
    LOW = "low", "Low (under 20 %)"


#: The ``[low, high)`` probability range of each churn risk level.
CHURN_RISK_BANDS: dict[str, tuple[float, float]] = {
    ChurnRiskLevel.HIGH: (0.5, 1.01),
    ChurnRiskLevel.MEDIUM: (0.2, 0.5),
    ChurnRiskLevel.LOW: (0.0, 0.2),
}
