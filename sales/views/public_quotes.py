"""The customer's page of a sent quote (``/q/<token>/``, no sign-in): the quote as sent, its PDF,
and accepting or declining it with the name typed as signature. Any token that names no sent
quote answers 404, so a guess tells nothing."""

from django.core.exceptions import ValidationError
from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from sales import documents, services
from sales.forms import QuoteDecisionForm
from sales.pricing import quote_figures
from sales.selectors import quote_public_get
from sales.services.quotes import STATE_MESSAGES, quote_prepared_by, quote_public_state


@require_http_methods(["GET", "POST"])
def quote_public(request, token):
    quote = quote_public_get(token=token)
    if request.method == "GET" and request.GET.get("pdf"):
        response = HttpResponse(documents.quote_pdf(quote), content_type="application/pdf")
        response["Content-Disposition"] = (
            f'inline; filename="{documents.quote_pdf_filename(quote)}"'
        )
        return response
    form = QuoteDecisionForm(request.POST or None)
    error = ""
    if request.method == "POST" and form.is_valid():
        try:
            services.quote_decide(
                quote=quote,
                accept=form.cleaned_data["decision"] == "accept",
                name=form.cleaned_data["name"],
            )
        except ValidationError as exc:
            if hasattr(exc, "error_dict") and "name" in exc.error_dict:
                form.add_error("name", exc.error_dict["name"])
            else:
                error = " ".join(exc.messages)
        else:
            return HttpResponseRedirect(request.path)
    quote.refresh_from_db()
    state = quote_public_state(quote)
    return render(
        request,
        "sales/quote_public.html",
        {
            "quote": quote,
            "deal": quote.opportunity,
            "figures": quote_figures(quote.lines),
            "prepared_by": quote_prepared_by(quote),
            "state": state,
            "state_message": STATE_MESSAGES.get(state, ""),
            "form": form,
            "error": error,
        },
        status=200,
    )
