"""Saved views of the list pages: saving the list as it is shown, its settings page (name,
columns, sharing, default, delete), updating it to the list's current filters."""

from urllib.parse import urlsplit

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, Resolver404, resolve, reverse
from django.views.decorators.http import require_POST

from crm.forms import SavedViewForm
from crm.selectors import saved_view_get
from crm.services import saved_views as services
from crm.views.lists import FilteredListView, choosable_columns
from crm.views.submissions import submitted_once


def list_view_at(path: str):
    """``(list key, view class)`` of the list page at ``path`` when it offers saved views."""
    parts = urlsplit(path or "")
    path = parts.path
    if parts.scheme or parts.netloc or not path.startswith("/"):
        return None
    try:
        match = resolve(path)
    except Resolver404:
        return None
    view_class = getattr(match.func, "view_class", None)
    if (
        view_class is None
        or not issubclass(view_class, FilteredListView)
        or not view_class.saved_views_enabled
        or match.args
        or match.kwargs
    ):
        return None
    return match.view_name, view_class


def list_path(list_key: str) -> str | None:
    try:
        return reverse(list_key)
    except NoReverseMatch:
        return None


def list_view_of(view):
    """The list page class a saved view is of (``None`` when the list is gone)."""
    path = list_path(view.list_key)
    found = list_view_at(path) if path else None
    return found[1] if found and found[0] == view.list_key else None


def _applied(view) -> str:
    return f"{list_path(view.list_key) or reverse('home')}?{view.apply_query()}"


@login_required
@require_POST
@submitted_once
def saved_view_create(request):
    """Save the list at ``list`` as it is shown (``query``) under a name, with the columns
    ticked; then show the list with it applied."""
    found = list_view_at(request.POST.get("list", ""))
    if found is None:
        raise Http404
    list_key, view_class = found
    columns = choosable_columns(view_class.columns_for(request.user))
    form = SavedViewForm(request.POST, columns=columns)
    query = request.POST.get("query", "")
    if form.is_valid():
        try:
            view = services.saved_view_create(
                user=request.user,
                list_key=list_key,
                name=form.cleaned_data["name"],
                query=query,
                hidden_columns=form.hidden_columns(),
                choosable=form.column_keys,
                shared=form.cleaned_data["shared"],
                default=form.cleaned_data["default"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Saved the view “{view.name}”.")
            return redirect(_applied(view))
    context = {
        "form": form,
        "list_title": view_class.title,
        "list_url": f"{list_path(list_key)}?{services.view_query(query)}",
        "list_path": list_path(list_key),
        "query": query,
    }
    return render(request, "crm/saved_view_form.html", context, status=400)


@login_required
@submitted_once
def saved_view_edit(request, pk):
    """A view's settings: name, columns, sharing, default; and deleting it. Its owner's only."""
    view = saved_view_get(user=request.user, pk=pk, for_change=True)
    view_class = list_view_of(view)
    columns = choosable_columns(view_class.columns_for(request.user)) if view_class else []
    if request.method == "POST":
        form = SavedViewForm(request.POST, columns=columns)
        if form.is_valid():
            try:
                services.saved_view_change(
                    view=view,
                    user=request.user,
                    name=form.cleaned_data["name"],
                    hidden_columns=form.hidden_columns(),
                    choosable=form.column_keys,
                    shared=form.cleaned_data["shared"],
                    default=form.cleaned_data["default"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, f"Saved the view “{view.name}”.")
                return redirect(_applied(view))
        status = 400
    else:
        hidden = set(view.hidden_columns)
        form = SavedViewForm(
            initial={
                "name": view.name,
                "columns": [key for key, _ in columns if key not in hidden],
                "shared": view.shared_with_team,
                "default": view.is_default,
            },
            columns=columns,
        )
        status = 200
    context = {
        "form": form,
        "view": view,
        "list_title": view_class.title if view_class else view.list_key,
        "list_url": _applied(view) if view_class else "",
    }
    return render(request, "crm/saved_view_form.html", context, status=status)


@login_required
@require_POST
@submitted_once
def saved_view_update(request, pk):
    """The view keeps the list's current filters, sort and page size (``query``)."""
    view = saved_view_get(user=request.user, pk=pk, for_change=True)
    try:
        services.saved_view_update(
            view=view, user=request.user, query=request.POST.get("query", "")
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"The view “{view.name}” now keeps the current filters.")
    return redirect(_applied(view))


@login_required
@require_POST
@submitted_once
def saved_view_delete(request, pk):
    view = saved_view_get(user=request.user, pk=pk, for_change=True)
    name, path = view.name, list_path(view.list_key)
    services.saved_view_delete(view=view, user=request.user)
    messages.info(request, f"Deleted the view “{name}”.")
    return redirect(f"{path}?view=" if path else reverse("home"))
