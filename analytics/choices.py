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
