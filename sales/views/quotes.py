"""Quotes: drafting one from a deal's line items, its page, and its status."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from crm.views.lists import is_htmx
from crm.views.submissions import submitted_once
from sales import documents, services
from sales.choices import QuoteStatus, quote_next_statuses
from sales.forms import QuoteSendForm
from sales.pricing import quote_figures
from sales.selectors import opportunity_get, quote_get, quote_list
from sales.services.quotes import quote_prepared_by
from sales.views.common import error_text
from sales.views.line_items import deal_lines_answer


@login_required
@require_POST
@submitted_once
def quote_create(request, pk):
    deal = opportunity_get(user=request.user, pk=pk, for_change=True)
    try:
        quote = services.quote_create(opportunity=deal, user=request.user)
    except ValidationError as exc:
        if is_htmx(request):
            return deal_lines_answer(request, deal, error=error_text(exc))
        messages.error(request, error_text(exc))
        return HttpResponseRedirect(deal.get_absolute_url())
    if is_htmx(request):
        return deal_lines_answer(request, deal, new_quote=quote)
    messages.success(request, f"Quote {quote.number} drafted.")
    return HttpResponseRedirect(quote.get_absolute_url())


@login_required
@require_GET
def quote_detail(request, pk):
    quote = quote_get(user=request.user, pk=pk)
    can_change = quote_list(user=request.user, for_change=True).filter(pk=quote.pk).exists()
    return render(
        request,
        "sales/quote_detail.html",
        {
            "quote": quote,
            "deal": quote.opportunity,
            "figures": quote_figures(quote.lines),
            "prepared_by": quote_prepared_by(quote),
            "can_change": can_change,
            "next_statuses": [QuoteStatus(s) for s in sorted(quote_next_statuses(quote.status))],
        },
    )


@login_required
@require_GET
def quote_pdf(request, pk):
    """The quote as a PDF file, for whoever may see its deal."""
    quote = quote_get(user=request.user, pk=pk)
    response = HttpResponse(documents.quote_pdf(quote), content_type="application/pdf")
    disposition = "attachment" if request.GET.get("download") else "inline"
    response["Content-Disposition"] = (
        f'{disposition}; filename="{documents.quote_pdf_filename(quote)}"'
    )
    return response


@login_required
@require_POST
@submitted_once
def quote_status(request, pk):
    quote = quote_get(user=request.user, pk=pk, for_change=True)
    try:
        services.quote_set_status(
            quote=quote, status=request.POST.get("status", ""), user=request.user
        )
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    return HttpResponseRedirect(quote.get_absolute_url())


def _send_initial(quote) -> dict:
    contact = quote.opportunity.primary_contact
    seller = quote.seller.get("legal_name") or ""
    greeting = f"Hello {contact.first_name or contact.full_name}," if contact else "Hello,"
    return {
        "to_email": contact.email if contact else "",
        "subject": f"Quote {quote.number}" + (f" from {seller}" if seller else ""),
        "message": f"{greeting}\n\nplease find our quote {quote.number} attached.\n\n"
        f"Best regards,\n{quote_prepared_by(quote)}",
    }


@login_required
@submitted_once
def quote_send(request, pk):
    """The form that emails the quote, with its PDF, to the customer."""
    quote = quote_get(user=request.user, pk=pk, for_change=True)
    form = QuoteSendForm(request.POST or None, initial=_send_initial(quote))
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            services.quote_send(quote=quote, user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for field, errors in exc.message_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                error = error_text(exc)
        else:
            messages.success(
                request, f"Quote {quote.number} is on its way to {form.cleaned_data['to_email']}."
            )
            return HttpResponseRedirect(quote.opportunity.get_absolute_url())
    return render(
        request,
        "sales/quote_send.html",
        {"quote": quote, "deal": quote.opportunity, "form": form, "error": error},
    )
