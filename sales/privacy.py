"""What sales holds about a person (``crm.registry.personal_data``): the deals they are the
primary contact of or that came from their lead, with their quotes and field history."""

from django.db.models import Q

from crm.personal_data import event_model_for, history_erase, history_rows, rows
from crm.registry import personal_data
from sales.models import Opportunity, Quote


def _deals(person):
    return Opportunity.objects.filter(
        Q(primary_contact__in=person.ids("crm.contact"))
        | Q(source_lead__in=person.ids("leads.lead"))
    )


def deals_erase(person, erasure) -> int:
    """Deals are the customer company's business and stay; their free text loses the
    person's names, addresses and phone numbers."""
    return erasure.scrub_text_fields(_deals(person), ["name", "next_step", "lost_note"])


def _deal_ids(person):
    return set(_deals(person).values_list("pk", flat=True))


def register() -> None:
    personal_data.register(
        "opportunities",
        "Deals (as primary contact, or from their lead)",
        collect=lambda p: rows(_deals(p)),
        erase=deals_erase,
        models=[Opportunity],
    )
    personal_data.register(
        "quotes",
        "Quotes of those deals",
        collect=lambda p: rows(Quote.objects.filter(opportunity__in=_deals(p))),
        erase=lambda p, e: e.scrub_text_fields(
            Quote.objects.filter(opportunity__in=_deals(p)), ["lines"]
        ),
        models=[Quote],
    )
    personal_data.register(
        "opportunity_history",
        "Field history of those deals",
        collect=lambda p: history_rows(Opportunity, _deal_ids(p)),
        erase=lambda p, e: history_erase(Opportunity, _deal_ids(p), e),
        models=[event_model_for(Opportunity)],
        order=90,
    )
