"""A deal's line items: add, change and remove products inline on the deal page, and going
back from a manual amount to the lines' total."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_POST

from crm.views.lists import is_htmx
from crm.views.submissions import submitted_once
from sales import services
from sales.forms import LineItemEditForm, LineItemForm
from sales.selectors import line_item_get, opportunity_get
from sales.views.common import error_text
from sales.views.opportunities import deal_context


def deal_lines_answer(request, deal, line_form=None, error="", new_quote=None):
    """The deal page's money part (amount, line items, quotes) for an HTMX swap, else back to
    the deal page: what changed shows at once, without a reload."""
    deal.refresh_from_db()
    if is_htmx(request):
        context = {
            "object": deal,
            "can_change": True,
            "swapped": True,
            "new_quote": new_quote,
            **deal_context(deal, line_form, error),
        }
        return render(request, "sales/_line_items.html", context)
    if error or (line_form is not None and line_form.errors):
        messages.error(request, error or line_form.errors.as_text())
    return HttpResponseRedirect(deal.get_absolute_url())


@login_required
@require_POST
@submitted_once
def line_item_add(request, pk):
    deal = opportunity_get(user=request.user, pk=pk, for_change=True)
    form = LineItemForm(request.POST)
    if not form.is_valid():
        return deal_lines_answer(request, deal, line_form=form)
    data = form.cleaned_data
    try:
        services.line_item_add(
            opportunity=deal,
            user=request.user,
            product=data["product"],
            quantity=data["quantity"],
            unit_price=data.get("unit_price"),
            discount_percent=data.get("discount_percent") or 0,
            tax_rate=data.get("tax_rate"),
            billing=data.get("billing") or "",
        )
    except ValidationError as exc:
        return deal_lines_answer(request, deal, line_form=form, error=error_text(exc))
    return deal_lines_answer(request, deal)


@login_required
@require_POST
def line_item_update(request, pk):
    item = line_item_get(user=request.user, pk=pk, for_change=True)
    form = LineItemEditForm(request.POST)
    if not form.is_valid():
        return deal_lines_answer(request, item.opportunity, error=form.errors.as_text())
    try:
        services.line_item_update(item=item, user=request.user, **form.cleaned_data)
    except ValidationError as exc:
        return deal_lines_answer(request, item.opportunity, error=error_text(exc))
    return deal_lines_answer(request, item.opportunity)


@login_required
@require_POST
@submitted_once
def line_item_remove(request, pk):
    item = line_item_get(user=request.user, pk=pk, for_change=True)
    deal = item.opportunity
    try:
        services.line_item_remove(item=item, user=request.user)
    except ValidationError as exc:
        return deal_lines_answer(request, deal, error=error_text(exc))
    return deal_lines_answer(request, deal)


@login_required
@require_POST
@submitted_once
def opportunity_amount_from_lines(request, pk):
    """End a deal's manual amount: its amount is the line items' total again."""
    deal = opportunity_get(user=request.user, pk=pk, for_change=True)
    services.opportunity_amount_from_lines(opportunity=deal, user=request.user)
    return deal_lines_answer(request, deal)
