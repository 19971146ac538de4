"""What sales holds about a person (``crm.registry.personal_data``): the deals they are the
primary contact of or that came from their lead, with their line items, quotes, the webhook
deliveries and timeline entries about them, and their field history."""

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q

from crm.models import Activity
from crm.personal_data import event_model_for, history_erase, history_rows, rows
from crm.privacy import deliveries_about
from crm.registry import personal_data
from sales.models import Opportunity, OpportunityLineItem, Quote


def _deals(person):
    return Opportunity.objects.filter(
        Q(primary_contact__in=person.ids("crm.contact"))
        | Q(source_lead__in=person.ids("leads.lead"))
    )


def _deal_ids(person):
    return set(_deals(person).values_list("pk", flat=True))


def _lines(person):
    return OpportunityLineItem.objects.filter(opportunity__in=_deals(person))


def _quotes(person):
    return Quote.objects.filter(opportunity__in=_deals(person))


def deals_erase(person, erasure) -> int:
    """Deals are the customer company's business and stay; their free text (and that of their
    lines, quotes, timeline and webhook deliveries) loses the person's names, addresses and
    phone numbers."""
    ids = _deal_ids(person)
    count = erasure.scrub_text_fields(_deals(person), ["name", "next_step", "lost_note"])
    erasure.scrub_text_fields(_lines(person), ["description"])
    erasure.scrub_text_fields(_quotes(person), ["lines", "buyer", "sent_to", "decided_by_name"])
    deal_type = ContentType.objects.get_for_model(Opportunity)
    erasure.scrub_text_fields(
        Activity.objects.filter(content_type=deal_type, object_id__in=ids), ["summary", "body"]
    )
    erasure.scrub_text_fields(deliveries_about("opportunity.", ids), ["payload"])
    return count


def history_of_deals_erase(person, erasure) -> int:
    ids = _deal_ids(person)
    count = history_erase(Opportunity, ids, erasure)
    count += history_erase(
        OpportunityLineItem, set(_lines(person).values_list("pk", flat=True)), erasure
    )
    return count + history_erase(Quote, set(_quotes(person).values_list("pk", flat=True)), erasure)


def history_of_deals(person):
    return [
        *history_rows(Opportunity, _deal_ids(person)),
        *history_rows(OpportunityLineItem, set(_lines(person).values_list("pk", flat=True))),
        *history_rows(Quote, set(_quotes(person).values_list("pk", flat=True))),
    ]


def register() -> None:
    personal_data.register(
        "opportunities",
        "Deals (as primary contact, or from their lead)",
        collect=lambda p: rows(_deals(p)),
        erase=deals_erase,
        models=[Opportunity],
    )
    personal_data.register(
        "opportunity_lines", "Line items of those deals", collect=lambda p: rows(_lines(p))
    )
    personal_data.register(
        "quotes",
        "Quotes of those deals",
        collect=lambda p: rows(_quotes(p)),
        models=[Quote],
    )
    personal_data.register(
        "opportunity_history",
        "Field history of those deals, their lines and quotes",
        collect=history_of_deals,
        erase=history_of_deals_erase,
        models=[event_model_for(Opportunity), event_model_for(Quote)],
        order=90,
    )
