"""Advocacy: the overview (leaderboard, candidates, references, testimonials) and an
advocate's page, where the account side asks for testimonials and records what came back."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from crm.permissions import has_role
from crm.views.submissions import submitted_once
from crm.visibility import owner_in_scope
from retention import selectors
from retention.choices import TestimonialStatus
from retention.services import advocacy as advocacy_services


@login_required
@require_GET
def advocacy(request):
    if not has_role(request.user):
        raise Http404
    return render(
        request, "retention/advocacy.html", selectors.advocacy_overview(user=request.user)
    )


def _of_advocate(record, advocate):
    """A referral or testimonial request named in a form, which must be this advocate's."""
    if record.advocate_id != advocate.pk:
        raise Http404
    return record


def _advocate_act(request, advocate) -> None:
    user, data = request.user, request.POST
    action = data.get("action")
    if action == "request":
        advocacy_services.testimonial_request(
            advocate=advocate, kind=data.get("kind", ""), user=user
        )
    elif action == "record":
        item = selectors.testimonial_request_get(user=user, pk=data.get("request"), for_change=True)
        advocacy_services.testimonial_record(
            request=_of_advocate(item, advocate),
            quote=data.get("quote", ""),
            permission_to_publish=bool(data.get("permission_to_publish")),
            status=data.get("status", ""),
            user=user,
        )
    elif action == "reference":
        advocacy_services.advocate_set_reference(
            advocate=advocate, is_reference=data.get("is_reference") == "1", user=user
        )
    elif action == "paid":
        referral = selectors.referral_get(user=user, pk=data.get("referral"), for_change=True)
        advocacy_services.referral_reward_paid(referral=_of_advocate(referral, advocate), user=user)
    else:
        raise ValidationError("Unknown action.")


@login_required
@submitted_once
def advocate_detail(request, pk):
    advocate = selectors.advocate_get(user=request.user, pk=pk)
    can_change = owner_in_scope(request.user, advocate.account.owner_id)
    if request.method == "POST":
        if not can_change:
            raise Http404
        try:
            _advocate_act(request, advocate)
            messages.success(request, "Saved.")
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect(advocate)
    return render(
        request,
        "retention/advocate_detail.html",
        {
            "advocate": advocate,
            "can_change": can_change,
            "referral_url": advocacy_services.referral_url(advocate),
            "referrals": list(
                advocate.referrals.select_related("lead").order_by("-created_at")[:50]
            ),
            "requests": list(advocate.testimonial_requests.order_by("-requested_at")),
            "statuses": TestimonialStatus.choices,
        },
    )
