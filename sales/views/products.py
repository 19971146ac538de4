"""The product catalogue as a list (sellers read it; it exports and, for managers, imports)."""

from crm.views.lists import Column, FilteredListView
from sales.filtersets import ProductFilterSet
from sales.selectors import product_list
from sales.views.common import DealsOnlyMixin


class ProductListView(DealsOnlyMixin, FilteredListView):
    list_selector = product_list
    filterset_class = ProductFilterSet
    title = "Products"
    empty_noun = "products"
    record_kind = "products"
    row_template = "sales/rows/product.html"
    columns = [
        Column("Name", sort="name"),
        Column("SKU", sort="sku"),
        Column("Billing"),
        Column("Price", sort="price", css="text-end"),
        Column("Active"),
    ]
    sorts = {"name": ("name", "id"), "sku": ("sku", "id"), "price": ("price", "id")}
    default_sort = "name"
