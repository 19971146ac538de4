"""Webhook endpoints for admins: the list, create/edit/delete, the secret with rotation, a test
event, re-enabling, and each endpoint's delivery log with replay. Everyone else gets 404 on every
URL (``crm.selectors.webhook_endpoint_get``)."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import InvalidPage
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from crm.choices import WebhookDeliveryState
from crm.forms import WebhookEndpointForm
from crm.models import WebhookEndpoint
from crm.pagination import EstimatedCountPaginator
from crm.permissions import may_operate
from crm.registry import webhook_events
from crm.selectors import webhook_delivery_get, webhook_endpoint_get, webhook_endpoint_list
from crm.services import webhooks as services
from crm.views.records import RecordDeleteView, RecordFormView
from crm.views.submissions import submitted_once

#: Deliveries per page of an endpoint's log.
LOG_PAGE_SIZE = 25


@login_required
def webhook_list(request):
    if not may_operate(request.user):
        raise Http404
    endpoints = webhook_endpoint_list(user=request.user).order_by("url", "id")[:500]
    return render(
        request,
        "crm/webhooks/list.html",
        {"endpoints": endpoints, "events": webhook_events.events()},
    )


@login_required
def webhook_detail(request, pk: int):
    endpoint = webhook_endpoint_get(user=request.user, pk=pk)
    deliveries = endpoint.deliveries.order_by("-id").only(
        "pk",
        "endpoint_id",
        "event_id",
        "event_type",
        "state",
        "uncertain",
        "attempts",
        "next_attempt_at",
        "last_response_code",
        "last_error",
        "last_attempt_at",
        "last_duration_ms",
        "created_at",
        "replay_of_id",
    )
    paginator = EstimatedCountPaginator(deliveries, LOG_PAGE_SIZE)
    try:
        page = paginator.page(request.GET.get("page") or 1)
    except InvalidPage:
        page = paginator.page(1)
    labels = dict(webhook_events.choices())
    return render(
        request,
        "crm/webhooks/detail.html",
        {
            "endpoint": endpoint,
            "object": endpoint,
            "page_obj": page,
            "paginator": paginator,
            "subscribed": [labels.get(t, t) for t in endpoint.event_types],
            "replayable": (WebhookDeliveryState.DELIVERED, WebhookDeliveryState.FAILED),
        },
    )


@login_required
def webhook_delivery_detail(request, pk: int, delivery_pk: int):
    delivery = webhook_delivery_get(user=request.user, endpoint_pk=pk, pk=delivery_pk)
    return render(
        request,
        "crm/webhooks/delivery.html",
        {
            "delivery": delivery,
            "endpoint": delivery.endpoint,
            "payload": json.dumps(delivery.payload, indent=2, ensure_ascii=False),
            "replayable": delivery.state
            in (WebhookDeliveryState.DELIVERED, WebhookDeliveryState.FAILED),
        },
    )


class WebhookFormView(RecordFormView):
    model = WebhookEndpoint
    selector = webhook_endpoint_get
    form_class = WebhookEndpointForm
    create_service = services.webhook_endpoint_create
    update_service = services.webhook_endpoint_update
    object_name = "endpoint"

    def may_create(self, user) -> bool:
        return may_operate(user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if self.object is None:
            context["cancel_url"] = reverse("webhook_list")
        return context


class WebhookDeleteView(RecordDeleteView):
    model = WebhookEndpoint
    selector = webhook_endpoint_get
    template_name = "crm/webhooks/confirm_delete.html"
    delete_service = services.webhook_endpoint_delete
    object_name = "endpoint"
    success_url_name = "webhook_list"


def _endpoint_action(service, done: str):
    @login_required
    @require_POST
    @submitted_once
    def view(request, pk: int):
        endpoint = webhook_endpoint_get(user=request.user, pk=pk, for_change=True)
        service(endpoint=endpoint, user=request.user)
        messages.success(request, done)
        return HttpResponseRedirect(endpoint.get_absolute_url())

    return view


webhook_rotate = _endpoint_action(
    services.webhook_endpoint_rotate_secret,
    "A new secret is set. The previous one still signs for a while (see below); update your "
    "receiver now.",
)
webhook_send_test = _endpoint_action(
    services.webhook_endpoint_send_test,
    "A test event is on its way; its delivery shows in the log below.",
)
webhook_enable = _endpoint_action(
    services.webhook_endpoint_enable,
    "The endpoint is enabled again; deliveries that waited go out now.",
)


@login_required
@require_POST
@submitted_once
def webhook_delivery_replay(request, pk: int, delivery_pk: int):
    delivery = webhook_delivery_get(user=request.user, endpoint_pk=pk, pk=delivery_pk)
    try:
        services.webhook_delivery_replay(delivery=delivery, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{delivery.event_type} {delivery.event_id} is being sent again.")
    return HttpResponseRedirect(delivery.endpoint.get_absolute_url())
