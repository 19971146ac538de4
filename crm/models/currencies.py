"""Dated exchange rates into the company currency."""

from django.conf import settings
from django.db import models

from crm.choices import ExchangeRateSource
from crm.currencies import RATE_DECIMAL_PLACES, RATE_MAX_DIGITS


class ExchangeRate(models.Model):
    """What one unit of a foreign currency is worth in the company currency from a day on, until
    the next rate of that currency. Totals over deals in several currencies convert each amount at
    the rate in force on the deal's date."""

    currency = models.CharField(max_length=3)
    valid_from = models.DateField()
    rate = models.DecimalField(
        max_digits=RATE_MAX_DIGITS,
        decimal_places=RATE_DECIMAL_PLACES,
        help_text="Units of the company currency one unit of this currency is worth.",
    )
    source = models.CharField(
        max_length=10, choices=ExchangeRateSource.choices, default=ExchangeRateSource.MANUAL
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["currency", "-valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["currency", "valid_from"], name="exchange_rate_one_per_currency_day"
            ),
            models.CheckConstraint(condition=models.Q(rate__gt=0), name="exchange_rate_positive"),
        ]

    def __str__(self):
        return f"1 {self.currency} = {self.rate.normalize()} from {self.valid_from}"
