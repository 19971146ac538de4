"""What sales adds to crm's registries (navigation, search, timeline, detail panels, seed)."""

from crm.choices import Role
from crm.permissions import may_sell

DEAL_ROLES = (Role.SALES_REP, Role.MANAGER, Role.ADMIN)
ACCOUNT_PANEL_ROWS = 10
#: What a row of the deals panel shows: the deal's name and amount, its stage and owner.
PANEL_FIELDS = (
    *("name", "currency", "amount", "stage", "owner", "stage__name"),
    *("owner__first_name", "owner__last_name", "owner__username"),
)


def _opportunities_panel(field: str):
    def context(request, obj):
        # sales.selectors imports models: registrations load before the app registry is ready.
        from sales.selectors import opportunity_list

        if not may_sell(request.user):
            return None  # support agents see no deals or amounts
        rows = list(
            opportunity_list(user=request.user)
            .filter(**{field: obj})
            .select_related("stage", "owner")
            .only(*PANEL_FIELDS)
            .order_by("status", "-created_at", "-id")[: ACCOUNT_PANEL_ROWS + 1]
        )
        return panel_of(obj, rows)

    def panel_of(obj, rows):
        return {
            "opportunities": rows[:ACCOUNT_PANEL_ROWS],
            "more": len(rows) > ACCOUNT_PANEL_ROWS,
            "list_query": f"{'account' if field == 'account' else 'contact'}={obj.pk}",
            "account": obj if field == "account" else None,
        }

    def probe(request):
        from django.db.models import Exists, OuterRef

        from sales.selectors import opportunity_list

        if not may_sell(request.user):
            return None
        return Exists(opportunity_list(user=request.user).filter(**{field: OuterRef("pk")}))

    def empty(request, obj):
        return panel_of(obj, [])

    return {"context": context, "probe": probe, "empty": empty}


def _pipeline_figures(request):
    """A rep's (a manager's team's) open pipeline totals in the company currency, in one
    aggregate, and the deals left out of them for want of an exchange rate: the block's figures,
    kept for a minute (``HomeWidget.figures``)."""
    from django.db.models import Count, ExpressionWrapper, F, Q, Sum, Value
    from django.utils import timezone

    from crm.currencies import rated
    from sales.selectors import opportunity_list
    from sales.selectors.board import MONEY_FIELD, open_deal_date

    if not may_sell(request.user):
        return None
    today = timezone.localdate()
    deals = opportunity_list(user=request.user).open().order_by()
    # Each open deal at the rate of its expected close date (today when it has none); every
    # deal in the company currency at 1, the totals read from the index of open deals by owner
    # and close date alone (a manager's: 100,000 deals' rows otherwise).
    rated_deals, single = rated(deals, deal_date=open_deal_date())
    left_out_count = {} if single else {"left_out": Count("id", filter=Q(rate__isnull=True))}
    totals = rated_deals.aggregate(
        n=Count("*"),
        value=Sum(ExpressionWrapper(F("amount") * F("rate"), output_field=MONEY_FIELD)),
        weighted=Sum(
            ExpressionWrapper(
                F("amount") * F("rate") * F("probability") / Value(100), output_field=MONEY_FIELD
            )
        ),
        # Counting the close dates counts the deals: a deal with a date before today has one.
        overdue=Count("expected_close_date", filter=Q(expected_close_date__lt=today)),
        **left_out_count,
    )
    totals.setdefault("left_out", 0)
    left_out = []
    if totals["left_out"]:
        left_out = list(
            rated_deals.filter(rate__isnull=True)
            .order_by("deal_date", "id")
            .only("id", "name", "currency", "amount")[:PIPELINE_LEFT_OUT_SHOWN]
        )
    return {"totals": totals, "left_out": left_out}


def _pipeline_widget(request, figures):
    """A rep's (a manager's team's) open pipeline at a glance: its totals and the deals left
    out of them (``figures``, from ``_pipeline_figures``), and the deals closing soonest."""
    from django.utils import timezone

    from crm.currencies import company_currency
    from sales.selectors import opportunity_list

    if figures is None:
        return None
    from crm import compiled

    user = request.user

    def build(today):
        return (
            opportunity_list(user=user)
            .open()
            .filter(expected_close_date__gte=today)
            .select_related("stage")
            .only("name", "expected_close_date", "stage__name")
            .order_by("expected_close_date", "id")[:5]
        )

    closing = compiled.rows(("home-closing",), build, user=user, today=timezone.localdate())
    return {
        **figures,
        "closing": closing,
        "overdue": figures["totals"]["overdue"],
        "currency": company_currency(),
    }


#: Deals named on the home page's pipeline as left out for want of a rate (then a count).
PIPELINE_LEFT_OUT_SHOWN = 3


def _deal_invitees(deal):
    contact = deal.primary_contact
    if contact is None or not contact.email:
        return []
    return [(contact.email, contact.full_name, contact)]


def register_all():
    from crm import registry
    from sales import bulk

    bulk.register()
    from crm.models import Account, Contact
    from leads.campaigns.services.outcomes import won_deals
    from sales.models import OnboardingPlan, Opportunity, deal_scope

    registry.navigation.register(
        "Deals", "sales:opportunity_list", group="sell", order=10, roles=DEAL_ROLES
    )
    _register_compose(registry, Opportunity)
    registry.navigation.register_new(
        "Deal",
        "sales:opportunity_create",
        list_url_name="sales:opportunity_list",
        order=15,
        roles=DEAL_ROLES,
    )
    from crm.permissions import may_delete_deals_and_tickets
    from crm.visibility import changeable

    registry.trash.register(
        Opportunity,
        label="Deal",
        may_delete=lambda u, o: may_delete_deals_and_tickets(u) and changeable(u, o),
    )
    registry.api.register("opportunities", "sales.api.OpportunityViewSet")
    registry.api.register("products", "sales.api.ProductViewSet")
    registry.api.register("quotes", "sales.api.QuoteViewSet")
    registry.navigation.register(
        "Board", "sales:board_default", group="sell", order=11, roles=DEAL_ROLES
    )
    registry.navigation.register(
        "Forecast", "sales:forecast", group="insights", order=10, roles=DEAL_ROLES
    )
    registry.navigation.register(
        "Products", "sales:product_list", group="sell", order=13, roles=DEAL_ROLES
    )
    registry.navigation.register(
        "Onboarding", "sales:onboarding_board", group="customers", order=30
    )
    from sales.services.quotes import QUOTE_PDF_ATTACHMENT, quote_pdf_attachment

    registry.email_attachments.register(QUOTE_PDF_ATTACHMENT, quote_pdf_attachment)
    registry.navigation.register(
        "Seller profile", "sales:seller_profile", group="admin", order=98.5, roles=[Role.ADMIN]
    )
    registry.home_widgets.register(
        registry.HomeWidget(
            "My pipeline",
            "sales/_home_pipeline.html",
            _pipeline_widget,
            20,
            focus=frozenset({Role.SALES_REP}),
            url_name="sales:opportunity_list",
            figures=_pipeline_figures,
        )
    )
    registry.timeline.register(Opportunity)
    registry.meeting_subjects.register(Opportunity, invitees=_deal_invitees)
    from crm.services.history import restorer
    from sales.forms import OpportunityForm
    from sales.models import OpportunityLineItem, Quote
    from sales.services import opportunity_update

    registry.history.register(
        Opportunity,
        related=[(OpportunityLineItem, "opportunity"), (Quote, "opportunity")],
        restore=restorer(opportunity_update, "opportunity"),
        restorable=OpportunityForm.Meta.fields,
    )
    registry.history.register(Quote)
    # Campaign outcomes and credit count its won deals; a credit is seen as its deal is.
    won_deals.register(Opportunity, scope=deal_scope)
    registry.timeline.register(OnboardingPlan)
    registry.search.register(
        Opportunity,
        label="Opportunities",
        fields=("name", "next_step"),
        order_by=("-created_at", "-id"),
        select_related=("account", "stage"),
        describe=lambda o: f"{o.account.name} · {o.stage.name}",
        roles=DEAL_ROLES,
    )
    panel = registry.Panel
    registry.detail_panels.register(
        Account,
        panel(
            "Opportunities",
            "sales/_opportunities_panel.html",
            order=30,
            **_opportunities_panel("account"),
        ),
    )
    registry.detail_panels.register(
        Contact,
        panel(
            "Opportunities",
            "sales/_opportunities_panel.html",
            order=30,
            **_opportunities_panel("primary_contact"),
        ),
    )

    from crm.registry import seed_steps

    seed_steps.register("sales", "sales.seed.seed", order=20)


def deal_merge_values(deal) -> dict:
    """What a template written from a deal sees: the deal, its account and main contact."""
    from crm.services.compose import account_values, contact_values

    close = deal.expected_close_date
    return {
        "deal": {
            "name": deal.name,
            "stage": deal.stage.name,
            "amount": f"{deal.amount:,.2f} {deal.currency}",
            "close_date": close.isoformat() if close else "",
        },
        "account": account_values(deal.account),
        "contact": contact_values(deal.primary_contact),
    }


def _register_compose(registry, Opportunity):
    from crm.services.compose import account_recipients

    registry.compose_targets.register(
        "deal",
        Opportunity,
        label="Deal",
        recipients=lambda deal: account_recipients(deal.account, first=deal.primary_contact),
        merge=deal_merge_values,
    )
