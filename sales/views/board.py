"""The pipeline board: a pipeline's open stages as columns of deal cards."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from crm.currencies import company_currency
from crm.permissions import may_manage
from crm.views.lists import is_htmx
from crm.visibility import owner_in_scope
from sales import services
from sales.choices import StageKind
from sales.selectors import (
    forecast_reps,
    pipeline_board,
    pipeline_closing_stages,
    pipeline_get,
    pipelines_active,
)
from sales.tables import board_cards
from sales.views.common import require_deals


def board_context(request, pipeline, *, owner=None, error="") -> dict:
    user = request.user
    owner_id = int(owner) if owner and str(owner).isdigit() else None
    if owner_id and not owner_in_scope(user, owner_id):
        owner_id = None
    columns = pipeline_board(user=user, pipeline=pipeline, owner_id=owner_id)
    closing = pipeline_closing_stages(user=user, pipeline=pipeline)
    now = timezone.now()
    for column in columns:
        for card in column.cards:
            card.rotting = card.is_rotting(now)
        column.cards_html = board_cards(column.cards)
    return {
        "pipeline": pipeline,
        "pipelines": pipelines_active(user=user),
        "columns": columns,
        "won_stage": closing.get(StageKind.WON),
        "lost_stage": closing.get(StageKind.LOST),
        "owner_id": owner_id or "",
        "owners": forecast_reps(user) if may_manage(user) else [],
        "board_error": error,
        "company_currency": company_currency(),
    }


@login_required
@require_GET
def board(request, pk=None):
    require_deals(request.user)
    if pk is None:
        pipeline = services.default_pipeline()
        if pipeline is None:
            raise Http404
    else:
        pipeline = pipeline_get(user=request.user, pk=pk)
        if not pipeline.is_active:
            raise Http404
    context = board_context(request, pipeline, owner=request.GET.get("owner"))
    template = "sales/_board.html" if is_htmx(request) else "sales/board.html"
    return render(request, template, context)
