from django.conf import settings
from django.db import models


class DuplicateDismissal(models.Model):
    """A user's answer "not a duplicate" for two records of one kind (two leads, two contacts,
    two accounts): matching never proposes that pair again. The pair is stored with the lower
    id first, so it is one row whichever record the answer was given on."""

    kind = models.CharField(max_length=20)
    first_id = models.PositiveBigIntegerField()
    second_id = models.PositiveBigIntegerField()
    dismissed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "first_id", "second_id"], name="duplicate_dismissal_pair"
            ),
            models.CheckConstraint(
                condition=models.Q(first_id__lt=models.F("second_id")),
                name="duplicate_dismissal_ordered",
            ),
        ]
        indexes = [models.Index(fields=["kind", "second_id"], name="duplicate_dismissal_2nd_idx")]

    def __str__(self):
        return f"{self.kind} #{self.first_id} is not #{self.second_id}"
