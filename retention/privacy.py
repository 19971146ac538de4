"""What retention holds about a person (``crm.registry.personal_data``): NPS answers, their
advocacy (referral code, referrals they made or came through, testimonials)."""

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q

from crm.models import Activity
from crm.personal_data import rows
from crm.registry import personal_data
from retention.models import Advocate, NpsSurvey, Referral, TestimonialRequest


def _surveys(person):
    return NpsSurvey.objects.filter(contact__in=person.ids("crm.contact"))


def _advocates(person):
    return Advocate.objects.filter(contact__in=person.ids("crm.contact"))


def _referrals(person):
    return Referral.objects.filter(
        Q(advocate__in=_advocates(person)) | Q(lead__in=person.ids("leads.lead"))
    )


def _testimonials(person):
    return TestimonialRequest.objects.filter(advocate__in=_advocates(person))


def referrals_erase(person, erasure) -> int:
    """Referrals stay (rewards are owed); the timelines of the leads they referred say who
    referred them, and lose that."""
    lead_type = ContentType.objects.get_by_natural_key("leads", "lead")
    referred = _referrals(person).values_list("lead_id", flat=True)
    return erasure.scrub_text_fields(
        Activity.objects.filter(content_type=lead_type, object_id__in=list(referred)),
        ["summary", "body"],
    )


def register() -> None:
    personal_data.register(
        "nps_answers",
        "NPS survey answers",
        collect=lambda p: rows(_surveys(p), exclude=["key"]),
        # The score stays (it is counted in NPS); the comment is their words.
        erase=lambda p, e: _surveys(p).update(comment=""),
        models=[NpsSurvey],
    )
    personal_data.register(
        "advocacy",
        "Advocacy (referral code, reference customer)",
        collect=lambda p: rows(_advocates(p)),
        # An erased person is no longer offered as a reference.
        erase=lambda p, e: _advocates(p).update(is_reference=False),
        models=[Advocate],
    )
    personal_data.register(
        "referrals",
        "Referrals (sign-ups through their link, or theirs through another's)",
        collect=lambda p: rows(_referrals(p)),
        erase=referrals_erase,
        models=[Referral],
    )
    personal_data.register(
        "testimonials",
        "Testimonials and case studies",
        collect=lambda p: rows(_testimonials(p)),
        erase=lambda p, e: _testimonials(p).update(quote="", permission_to_publish=False),
        models=[TestimonialRequest],
    )
