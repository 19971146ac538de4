from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse

from crm.models.meetings import site_time_zone

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def default_working_hours() -> list[list[str]]:
    """Monday to Friday, 9:00 to 17:00."""
    return [["09:00", "17:00"]] * 5 + [[], []]


def validate_working_hours(value) -> None:
    """Seven entries, Monday first: ``["HH:MM", "HH:MM"]`` (start before end), or ``[]`` for a
    day off."""
    if not isinstance(value, list) or len(value) != 7:
        raise ValidationError("Working hours need an entry for each of the seven weekdays.")
    for day, hours in zip(WEEKDAYS, value, strict=True):
        if hours == []:
            continue
        if (
            not isinstance(hours, list)
            or len(hours) != 2
            or not all(isinstance(h, str) and len(h) == 5 and h[2] == ":" for h in hours)
        ):
            raise ValidationError(f"{day}: give a start and an end as HH:MM.")
        if hours[0] >= hours[1]:
            raise ValidationError(f"{day}: the working day ends after it starts.")


class BookingPage(models.Model):
    """A seller's public booking page: visitors pick a free slot in the seller's working hours
    and book a meeting with them, which makes them a lead (or finds their contact). The
    seller sets how long meetings are, the buffer kept free around each, how much notice they
    need and how far ahead visitors may book."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="booking_page"
    )
    enabled = models.BooleanField(
        default=False, help_text="Off: the public page answers “not found”."
    )
    slug = models.SlugField(
        max_length=60, unique=True, help_text="The last part of the page's address, after /book/."
    )
    title = models.CharField(max_length=200, default="Book a meeting")
    intro = models.TextField(blank=True, help_text="A few words shown above the free times.")
    location = models.CharField(
        max_length=500,
        blank=True,
        help_text="Where booked meetings take place: an address or a video call link.",
    )
    meeting_minutes = models.PositiveSmallIntegerField(
        "meeting length (minutes)",
        default=30,
        validators=[MinValueValidator(10), MaxValueValidator(240)],
    )
    buffer_minutes = models.PositiveSmallIntegerField(
        "buffer (minutes)",
        default=10,
        validators=[MaxValueValidator(120)],
        help_text="Kept free before and after each of your meetings.",
    )
    notice_hours = models.PositiveSmallIntegerField(
        "minimum notice (hours)",
        default=4,
        validators=[MaxValueValidator(24 * 14)],
        help_text="Nobody books a slot sooner than this from now.",
    )
    days_ahead = models.PositiveSmallIntegerField(
        default=14,
        validators=[MinValueValidator(1), MaxValueValidator(90)],
        help_text="How many days ahead visitors may book.",
    )
    time_zone = models.CharField(max_length=64, default=site_time_zone)
    working_hours = models.JSONField(
        default=default_working_hours,
        validators=[validate_working_hours],
        help_text='Monday first: ["09:00", "17:00"] or [] for a day off.',
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self):
        return f"Booking page of {self.user}"

    def get_absolute_url(self):
        return reverse("leads:booking_public", args=[self.slug])
