from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from crm import registry
from crm.replica import reads_may_lag
from crm.views.lists import is_htmx

RESULTS_PER_KIND = 10


@login_required
@reads_may_lag
def search(request):
    """Global search over every registered model, each scoped by what the user may see."""
    query = request.GET.get("q", "").strip()[:200]
    results = (
        registry.search.search(user=request.user, query=query, limit=RESULTS_PER_KIND)
        if query
        else []
    )
    template = "crm/_search_results.html" if is_htmx(request) else "crm/search.html"
    return render(
        request,
        template,
        {"query": query, "results": results, "per_kind": RESULTS_PER_KIND},
    )
