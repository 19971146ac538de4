"""The bulk bar's one endpoint: every list's bulk actions (``crm.registry.bulk``) post here."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_POST

from crm import registry
from crm.bulk import BulkForm, bulk_apply
from crm.views import safe_next
from crm.views.submissions import submitted_once


@login_required
@require_POST
@submitted_once
def bulk_edit(request, kind):
    """Carry out a bulk action of the list ``kind`` on the ticked rows (or every row matching
    the list's filters) and go back to the list saying what changed and what was refused."""
    bulk_kind = registry.bulk.get(kind)
    if bulk_kind is None or not bulk_kind.actions_for(request.user):
        raise Http404
    back = safe_next(request, reverse(bulk_kind.list_url))
    form = BulkForm(request.POST, kind=bulk_kind, user=request.user)
    if not form.is_valid():
        errors = "; ".join(
            f"{form.fields[name].label or name}: {' '.join(errs)}"
            if name != "__all__"
            else " ".join(errs)
            for name, errs in form.errors.items()
        )
        messages.error(request, f"Nothing was changed: {errors}")
        return HttpResponseRedirect(back)
    action = bulk_kind.action(form.cleaned_data["action"])
    try:
        result = bulk_apply(
            kind=bulk_kind,
            action=action,
            user=request.user,
            request=request,
            data=form.cleaned_data,
        )
    except PermissionDenied:
        raise Http404 from None
    text = result.message(bulk_kind, action)
    if result.too_many or (result.refused and not result.changed):
        messages.error(request, text)
    elif result.refused:
        messages.warning(request, text)
    else:
        messages.success(request, text)
    return HttpResponseRedirect(back)
