from zoneinfo import available_timezones

from crispy_forms.helper import FormHelper
from django import forms
from django.core.exceptions import ValidationError

from crm.normalize import normalize_email
from leads.booking.models import WEEKDAYS, BookingPage
from leads.models import DEFAULT_CONSENT_WORDING


class BookingSettingsForm(forms.ModelForm):
    """A seller's booking page settings; working hours as a start and an end per weekday
    (both empty: a day off)."""

    time_zone = forms.ChoiceField()

    class Meta:
        model = BookingPage
        fields = [
            "enabled",
            "slug",
            "title",
            "intro",
            "location",
            "meeting_minutes",
            "buffer_minutes",
            "notice_hours",
            "days_ahead",
            "time_zone",
        ]
        widgets = {"intro": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = [(z, z) for z in sorted(available_timezones())]
        hours = self.instance.working_hours or [[]] * 7
        for index, day in enumerate(WEEKDAYS):
            start, end = (hours[index] + ["", ""])[:2] if hours[index] else ("", "")
            self.fields[f"day{index}_start"] = forms.TimeField(
                label=f"{day} from",
                required=False,
                initial=start,
                widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            )
            self.fields[f"day{index}_end"] = forms.TimeField(
                label="to",
                required=False,
                initial=end,
                widget=forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            )
        self.helper = FormHelper()
        self.helper.form_tag = False

    def day_fields(self):
        return [
            (day, self[f"day{index}_start"], self[f"day{index}_end"])
            for index, day in enumerate(WEEKDAYS)
        ]

    def clean(self):
        data = super().clean()
        hours = []
        for index, day in enumerate(WEEKDAYS):
            start, end = data.get(f"day{index}_start"), data.get(f"day{index}_end")
            if start is None and end is None:
                hours.append([])
            elif start is None or end is None or start >= end:
                self.add_error(f"day{index}_start", f"{day}: a start before the end, or neither.")
            else:
                hours.append([start.strftime("%H:%M"), end.strftime("%H:%M")])
        if len(hours) == 7:
            if not any(hours) and data.get("enabled"):
                raise ValidationError("Give working hours for at least one day.")
            data["working_hours"] = hours
        return data


class BookingForm(forms.Form):
    """The visitor's details for a slot. ``website_url`` is the honeypot: hidden from people,
    filled by bots."""

    slot = forms.CharField(widget=forms.HiddenInput)
    name = forms.CharField(label="Your name", max_length=200)
    email = forms.EmailField(label="Email")
    company = forms.CharField(max_length=200, required=False)
    note = forms.CharField(
        label="What would you like to talk about?",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    consent = forms.BooleanField(required=False, label=DEFAULT_CONSENT_WORDING)
    website_url = forms.CharField(required=False, label="Leave this empty")

    def clean_email(self):
        return normalize_email(self.cleaned_data["email"])
