from django.db import models


class StageKind(models.TextChoices):
    OPEN = "open", "Open"
    WON = "won", "Won"
    LOST = "lost", "Lost"


class Billing(models.TextChoices):
    ONE_OFF = "one_off", "One-off"
    MONTHLY = "monthly", "Recurring monthly"


class ForecastCategory(models.TextChoices):
    PIPELINE = "pipeline", "Pipeline"
    BEST_CASE = "best_case", "Best case"
    COMMIT = "commit", "Commit"
    CLOSED = "closed", "Closed"


class LostReason(models.TextChoices):
    PRICE = "price", "Price"
    COMPETITOR = "competitor", "Chose a competitor"
    NO_DECISION = "no_decision", "No decision"
    NO_BUDGET = "no_budget", "No budget"
    TIMING = "timing", "Bad timing"
    PRODUCT_FIT = "product_fit", "Product fit"
    OTHER = "other", "Other"


class PeriodKind(models.TextChoices):
    MONTH = "month", "Month"
    QUARTER = "quarter", "Quarter"


class QuoteStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SENT = "sent", "Sent"
    ACCEPTED = "accepted", "Accepted"
    DECLINED = "declined", "Declined"


#: Allowed quote status changes (from → to).
QUOTE_TRANSITIONS = {
    QuoteStatus.DRAFT: {QuoteStatus.SENT, QuoteStatus.DECLINED},
    QuoteStatus.SENT: {QuoteStatus.ACCEPTED, QuoteStatus.DECLINED},
    QuoteStatus.ACCEPTED: set(),
    QuoteStatus.DECLINED: set(),
}


def quote_next_statuses(status: str) -> set[str]:
    """The statuses a quote in ``status`` may move to."""
    return QUOTE_TRANSITIONS.get(status, set())


class OrderSource(models.TextChoices):
    WON = "won", "Won opportunity"
    IMPORT = "import", "Import"


class OnboardingRole(models.TextChoices):
    """Who does an onboarding item: sales roles go to the account owner, support roles to an
    agent of the "Support" team, anything else to the deal's owner."""

    SALES = "sales", "Sales (account owner)"
    SUPPORT = "support", "Support agent"
    OWNER = "owner", "Deal owner"


class OnboardingStatus(models.TextChoices):
    ACTIVE = "active", "In progress"
    DONE = "done", "Done"
