"""Demo data: a booking page for each of the first two reps, and meetings with their contacts
and leads (a few behind, most ahead, some answered)."""

import datetime as dt
from urllib.parse import urlsplit

from django.conf import settings


def seed(ctx):
    from django.contrib.contenttypes.models import ContentType

    from crm.choices import AttendeeResponse
    from crm.models import Contact, Meeting, MeetingAttendee
    from leads.booking.models import BookingPage
    from leads.models import Lead

    host = urlsplit(settings.SITE_URL).hostname or "localhost"
    rng, now = ctx.rng, ctx.now
    titles = ("Product demo", "Discovery call", "Pricing walk-through", "Quarterly review")
    answers = (
        AttendeeResponse.ACCEPTED,
        AttendeeResponse.ACCEPTED,
        AttendeeResponse.TENTATIVE,
        AttendeeResponse.NEEDS_ACTION,
    )
    contact_type = ContentType.objects.get_for_model(Contact)
    lead_type = ContentType.objects.get_for_model(Lead)
    made = 0
    for rep in ctx.reps[:2]:
        BookingPage.objects.get_or_create(
            user=rep,
            defaults={
                "slug": rep.username,
                "enabled": True,
                "title": "Intro call",
                "intro": "Thirty minutes to see whether we can help you.",
                "location": f"https://meet.example.com/{rep.username}",
                "time_zone": settings.TIME_ZONE,
            },
        )
        if Meeting.objects.filter(organizer=rep).exists():
            continue
        people = [
            (contact_type, c.pk, c.email, c.full_name, c.pk)
            for c in Contact.objects.filter(owner=rep).exclude(email="").order_by("id")[:6]
        ] + [
            (lead_type, lead.pk, lead.email, lead.full_name, None)
            for lead in Lead.objects.filter(owner=rep).exclude(email="").order_by("id")[:4]
        ]
        for n, (content_type, object_id, email, name, contact_id) in enumerate(people):
            day = now.date() + dt.timedelta(days=n - 2)
            if day.weekday() >= 5:
                day += dt.timedelta(days=7 - day.weekday())
            start = dt.datetime.combine(
                day, dt.time(9 + rng.randrange(7), rng.choice((0, 30))), tzinfo=now.tzinfo
            )
            meeting = Meeting.objects.create(
                title=f"{rng.choice(titles)} with {name}",
                location=f"https://meet.example.com/{rep.username}",
                starts_at=start,
                ends_at=start + dt.timedelta(minutes=rng.choice((30, 45, 60))),
                time_zone=settings.TIME_ZONE,
                organizer=rep,
                created_by=rep,
                content_type=content_type,
                object_id=object_id,
                uid=f"demo-{rep.username}-{n}@{host}",
            )
            response = rng.choice(answers)
            MeetingAttendee.objects.create(
                meeting=meeting,
                email=email,
                name=name,
                contact_id=contact_id,
                response=response,
                responded_at=None if response == AttendeeResponse.NEEDS_ACTION else now,
            )
            made += 1
    ctx.progress(
        f"{made} meetings, booking pages for {', '.join(u.username for u in ctx.reps[:2])}"
    )
