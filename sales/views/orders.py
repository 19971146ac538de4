"""Orders: the list, one order's page, and importing the order history."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_GET

from crm.permissions import may_manage
from crm.views.lists import Column, FilteredListView
from sales import services
from sales.filtersets import OrderFilterSet
from sales.forms import OrderImportForm
from sales.selectors import order_get, order_list
from sales.views.common import DealsOnlyMixin, require_deals


class OrderListView(DealsOnlyMixin, FilteredListView):
    list_selector = order_list
    filterset_class = OrderFilterSet
    title = "Orders"
    empty_noun = "orders"
    record_kind = "orders"
    row_template = "sales/rows/order.html"
    columns = [
        Column("Order"),
        Column("Account"),
        Column("Date", sort="date"),
        Column("Amount", sort="amount", css="text-end"),
        Column("MRR", css="text-end"),
        Column("Source"),
    ]
    sorts = {"date": ("order_date", "id"), "amount": ("amount", "id")}
    default_sort = "-date"

    def base_queryset(self):
        return super().base_queryset().select_related("account")


@login_required
@require_GET
def order_detail(request, pk):
    order = order_get(user=request.user, pk=pk)
    return render(
        request,
        "sales/order_detail.html",
        {"order": order, "lines": list(order.lines.select_related("product"))},
    )


@login_required
def order_import(request):
    require_deals(request.user)
    if not may_manage(request.user):
        raise Http404
    form = OrderImportForm(request.POST or None, request.FILES or None)
    result = None
    if request.method == "POST" and form.is_valid():
        result = services.orders_import(file=form.cleaned_data["file"].read(), user=request.user)
    return render(request, "sales/order_import.html", {"form": form, "result": result})
