from django.conf import settings
from django.db import models
from django.utils import timezone


class SubmittedForm(models.Model):
    """A form a user sent that did something (converted a lead, won a deal, started a send…),
    known by the random key its page carried. The same form sent again (a double click, the
    browser sending it anew, a retry after a timeout) finds this row and is answered with the
    first answer's page instead of doing the work twice. Kept for a week."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=64, help_text="The key the form's page was given.")
    path = models.CharField(max_length=500, help_text="Where the form was sent.")
    location = models.TextField(
        blank=True,
        help_text="Where the first answer took the user; the same form sent again goes there.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="submittedform_user_key_uniq")
        ]
        indexes = [models.Index(fields=["user", "created_at"], name="submittedform_user_age_idx")]

    def __str__(self):
        return f"{self.path} by {self.user_id} at {self.created_at:%Y-%m-%d %H:%M}"
