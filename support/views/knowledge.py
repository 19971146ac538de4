"""The knowledge base for staff (``/kb/``): the list of articles, an article's page with its
publishing actions, writing and editing, categories (managers and admins), the report, and the
"Suggest articles" panel of the ticket reply box.

The desk (agents, managers, admins) writes and publishes; every other role (sales reps) reads
published articles, internal and public alike: they answer customers too."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from crm.permissions import has_role, may_manage, may_work_tickets
from crm.views.lists import Column, FilteredListView
from crm.views.records import RecordFormView
from crm.views.submissions import submitted_once
from support import selectors
from support.articles import article_body_html
from support.choices import ArticleStatus, HelpSearchSource
from support.filtersets import ArticleCategoryFilterSet, ArticleFilterSet
from support.forms import ArticleCategoryForm, ArticleForm
from support.models import Article, ArticleCategory
from support.services import knowledge


class ArticleListView(FilteredListView):
    list_selector = selectors.article_list
    filterset_class = ArticleFilterSet
    title = "Knowledge base"
    empty_noun = "articles"
    row_template = "support/rows/article.html"
    template_name = "support/article_list.html"
    create_url_name = "support:article_create"
    columns = [
        Column("Title", sort="title"),
        Column("Category"),
        Column("Status"),
        Column("Visibility"),
        Column("Views", sort="views", css="text-end"),
        Column("Helpful", css="text-end"),
        Column("Updated", sort="updated"),
    ]
    sorts = {
        "title": ("title", "id"),
        "views": ("-view_count", "id"),
        "updated": ("-updated_at", "-id"),
    }
    default_sort = "updated"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not has_role(request.user):
            raise Http404
        return super().dispatch(request, *args, **kwargs)

    def base_queryset(self):
        return super().base_queryset().select_related("category").defer("body", "search_vector")

    def can_create(self):
        return may_work_tickets(self.request.user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["may_manage"] = may_manage(self.request.user)
        return context


#: The buttons of an article's page: (status it moves to, label, button style).
STATUS_ACTIONS = (
    (ArticleStatus.PUBLISHED, "Publish", "btn-success"),
    (ArticleStatus.DRAFT, "Unpublish (back to draft)", "btn-outline-secondary"),
    (ArticleStatus.ARCHIVED, "Archive", "btn-outline-danger"),
)


@login_required
@require_GET
def article_detail(request, pk):
    article = selectors.article_get(user=request.user, pk=pk)
    can_change = may_work_tickets(request.user)
    return render(
        request,
        "support/article_detail.html",
        {
            "article": article,
            "body_html": article_body_html(article.body),
            "can_change": can_change,
            "status_actions": [a for a in STATUS_ACTIONS if article.may_become(a[0])]
            if can_change
            else [],
            "public_url": settings.SITE_URL + article.get_public_url(),
        },
    )


class ArticleFormView(RecordFormView):
    model = Article
    selector = staticmethod(selectors.article_get)
    form_class = ArticleForm
    create_service = staticmethod(knowledge.article_create)
    update_service = staticmethod(knowledge.article_update)
    object_name = "article"

    def may_create(self, user) -> bool:
        return may_work_tickets(user)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        if self.object is None:
            context["cancel_url"] = reverse("support:article_list")
        return context


@login_required
@require_POST
@submitted_once
def article_status(request, pk):
    article = selectors.article_get(user=request.user, pk=pk, for_change=True)
    status = request.POST.get("status", "")
    if status not in ArticleStatus.values:
        raise Http404
    try:
        article = knowledge.article_set_status(article=article, user=request.user, status=status)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{article} is now {article.get_status_display().lower()}.")
    return HttpResponseRedirect(article.get_absolute_url())


class ArticleCategoryListView(FilteredListView):
    """Managers and admins keep the help centre's sections."""

    list_selector = selectors.article_category_list
    filterset_class = ArticleCategoryFilterSet
    title = "Knowledge base categories"
    empty_noun = "categories"
    row_template = "support/rows/article_category.html"
    create_url_name = "support:article_category_create"
    columns = [Column("Order", sort="order"), Column("Name", sort="name"), Column("Description")]
    sorts = {"order": ("order", "name"), "name": ("name",)}
    default_sort = "order"
    saved_views_enabled = False

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not may_manage(request.user):
            raise Http404
        return super().dispatch(request, *args, **kwargs)


class ArticleCategoryFormView(RecordFormView):
    model = ArticleCategory
    selector = staticmethod(selectors.article_category_get)
    form_class = ArticleCategoryForm
    create_service = staticmethod(knowledge.article_category_create)
    update_service = staticmethod(knowledge.article_category_update)
    object_name = "category"

    def may_create(self, user) -> bool:
        return may_manage(user)

    def form_valid(self, form):
        response = super().form_valid(form)
        if response.status_code == 302:
            return HttpResponseRedirect(reverse("support:article_category_list"))
        return response

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["cancel_url"] = reverse("support:article_category_list")
        return context


@login_required
@require_GET
def kb_report(request):
    if not may_manage(request.user):
        raise Http404
    try:
        days = int(request.GET.get("days", ""))
    except ValueError:
        days = selectors.REPORT_PERIODS[0]
    if days not in selectors.REPORT_PERIODS:
        days = selectors.REPORT_PERIODS[0]
    report = selectors.kb_report(days=days)
    return render(
        request,
        "support/kb_report.html",
        {"report": report, "periods": selectors.REPORT_PERIODS},
    )


@login_required
@require_GET
def article_suggest(request):
    """The reply box's "Suggest articles" panel, searched by the agent (logged as a search)."""
    if not may_work_tickets(request.user):
        raise Http404
    query = request.GET.get("q", "").strip()
    articles = list(selectors.agent_article_suggestions(user=request.user, query=query))
    if query:
        knowledge.help_search_log(
            query=query, results_count=len(articles), source=HelpSearchSource.AGENT
        )
    return render(
        request,
        "support/_kb_suggestions.html",
        {"kb_articles": articles, "kb_query": query, "site_url": settings.SITE_URL},
    )
