"""The seller profile: the company details every quote prints, edited by admins."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from crm.permissions import may_configure_company
from sales.forms import SellerProfileForm
from sales.models import SellerProfile
from sales.services.quotes import seller_profile_update


@login_required
def seller_profile_edit(request):
    if not may_configure_company(request.user):
        raise Http404
    profile = SellerProfile.current()
    form = SellerProfileForm(request.POST or None, instance=profile)
    if request.method == "POST" and form.is_valid():
        try:
            seller_profile_update(user=request.user, **form.cleaned_data)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, "Seller profile saved. New quotes print these details.")
            return HttpResponseRedirect(reverse("sales:seller_profile"))
    return render(request, "sales/seller_profile.html", {"form": form})
