from django.db import models


class RFMSegment(models.TextChoices):
    """Named customer segments from recency and frequency quintile scores (analytics.clv.rfm)."""

    CHAMPIONS = "champions", "Champions"
    LOYAL = "loyal", "Loyal"
    POTENTIAL_LOYALIST = "potential_loyalist", "Potential loyalist"
    NEW = "new", "New"
    PROMISING = "promising", "Promising"
    NEED_ATTENTION = "need_attention", "Need attention"
    ABOUT_TO_SLEEP = "about_to_sleep", "About to sleep"
    AT_RISK = "at_risk", "At risk"
    CANT_LOSE = "cant_lose", "Can't lose them"
    HIBERNATING = "hibernating", "Hibernating"


class TimeUnit(models.TextChoices):
    """The unit in which recency and customer age are measured for the CLV models."""

    DAYS = "days", "Days"
    WEEKS = "weeks", "Weeks"


class Metric(models.TextChoices):
    """What the nightly snapshot records per day and owner."""

    PIPELINE_OPEN_COUNT = "pipeline_open_count", "Open deals"
    PIPELINE_OPEN_VALUE = "pipeline_open_value", "Open pipeline value"
    PIPELINE_WEIGHTED = "pipeline_weighted", "Weighted open pipeline"
    TICKETS_ACTIVE = "tickets_active", "Active tickets"


SALES_METRICS = (
    Metric.PIPELINE_OPEN_COUNT,
    Metric.PIPELINE_OPEN_VALUE,
    Metric.PIPELINE_WEIGHTED,
)
SUPPORT_METRICS = (Metric.TICKETS_ACTIVE,)


class Audience(models.TextChoices):
    """Whose view of the tickets a ``SupportDay`` row counts (a ticket counts once in each)."""

    ASSIGNEE = "assignee", "By assignee"
    ACCOUNT_OWNER = "account_owner", "By account owner"
    MANAGER = "manager", "A manager's tickets"
