"""The public help centre (no sign-in): ``/help/`` with the categories and a search box, search
results, a category's articles, an article with "Was this helpful?", and the suggestions the
public ticket form shows while the visitor types.

Only published public articles are ever shown; any other address answers 404. What is logged
as a search: each search submitted in the help centre (its first page), each request sent from
the ticket form (its subject, when it is submitted; see ``support.views.public``) and each search
an agent submits in the reply box's panel. The suggestions asked while a visitor types are not
logged (they would log every pause in typing), only counted as "shown" once per visitor and
article."""

from allauth.account.adapter import get_adapter
from django.conf import settings
from django.core.cache import cache
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from crm.views.lists import is_htmx
from support import selectors
from support.articles import article_body_html, query_words, visitor_key
from support.choices import DeflectionStep, HelpSearchSource
from support.models import ArticleCategory, ArticleVote
from support.services import knowledge

SEARCH_PAGE_SIZE = 20
#: A suggestion is asked for once the visitor has typed this many characters.
SUGGEST_MIN_LENGTH = 3
#: How much of the description joins the subject in a suggestion query (the subject counts most).
SUGGEST_DESCRIPTION_CHARS = 300


def over_rate(request, name: str, limit: int, seconds: int) -> bool:
    """Whether this address has made more than ``limit`` requests of kind ``name`` within the
    window of ``seconds`` (a counter in the cache that the window's end resets)."""
    # The visitor's address as sign-in lockouts see it (behind TRUSTED_PROXY_COUNT proxies).
    key = f"help:{name}:{get_adapter(request).get_client_ip(request) or 'unknown'}"
    cache.add(key, 0, timeout=seconds)
    try:
        count = cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=seconds)
        count = 1
    return count > limit


@require_GET
def help_home(request):
    return render(
        request,
        "support/help/home.html",
        {
            "categories": list(selectors.help_categories()),
            "popular": list(selectors.public_article_list().order_by("-view_count", "title")[:6]),
        },
    )


@require_GET
def help_category(request, slug):
    category = ArticleCategory.objects.filter(slug=slug).first()
    if category is None:
        raise Http404
    articles = selectors.public_article_list().filter(category=category).order_by("title")
    page = Paginator(articles, SEARCH_PAGE_SIZE).get_page(request.GET.get("page"))
    if not page.object_list and page.number == 1:
        raise Http404
    return render(request, "support/help/category.html", {"category": category, "page": page})


@require_GET
def help_search(request):
    query = request.GET.get("q", "").strip()
    limited = bool(query) and over_rate(request, "search", settings.HELP_SEARCH_RATE_PER_MINUTE, 60)
    page = None
    if query and not limited:
        results = selectors.public_article_search(query)
        page = Paginator(results, SEARCH_PAGE_SIZE).get_page(request.GET.get("page"))
        if request.GET.get("page", "1") == "1":  # the search, not its further pages
            knowledge.help_search_log(
                query=query,
                results_count=page.paginator.count,
                source=HelpSearchSource.HELP_CENTRE,
            )
    return render(
        request,
        "support/help/search.html",
        {"query": query, "page": page, "rate_limited": limited},
        status=429 if limited else 200,
    )


def _from_ticket(request) -> bool:
    return (request.GET.get("from") or request.POST.get("from")) == "ticket"


@require_GET
def help_article(request, slug):
    article = selectors.public_article_get(slug=slug)
    knowledge.article_viewed(article=article)
    from_ticket = _from_ticket(request)
    voted = None
    if from_ticket or request.session.session_key:
        visitor = visitor_key(request)
        if from_ticket:
            knowledge.deflection_record(
                articles=[article], visitor_key=visitor, step=DeflectionStep.OPENED
            )
        voted = (
            ArticleVote.objects.filter(article=article, visitor_key=visitor)
            .values_list("helpful", flat=True)
            .first()
        )
    return render(
        request,
        "support/help/article.html",
        {
            "article": article,
            "body_html": article_body_html(article.body),
            "related": list(selectors.related_articles(article=article)),
            "from_ticket": from_ticket,
            "voted": voted,
        },
    )


@require_POST
def help_vote(request, slug):
    """ "Was this helpful?": one answer per visitor and article, at most
    ``HELP_VOTE_RATE_PER_HOUR`` answers per address and hour."""
    article = selectors.public_article_get(slug=slug)
    helpful = request.POST.get("helpful")
    if helpful not in ("yes", "no"):
        raise Http404
    from_ticket = _from_ticket(request)
    limited = over_rate(request, "vote", settings.HELP_VOTE_RATE_PER_HOUR, 3600)
    recorded = False
    if not limited:
        recorded = knowledge.article_vote(
            article=article,
            visitor_key=visitor_key(request),
            helpful=helpful == "yes",
            from_ticket_form=from_ticket,
        )
    context = {
        "article": article,
        "voted": helpful == "yes",
        "recorded": recorded,
        "rate_limited": limited,
        "from_ticket": from_ticket,
    }
    if is_htmx(request):
        return render(request, "support/help/_vote.html", context, status=429 if limited else 200)
    if limited:
        return render(request, "support/help/_vote.html", context, status=429)
    url = article.get_public_url() + ("?from=ticket" if from_ticket else "")
    return HttpResponseRedirect(url)


def suggestion_query(request) -> str:
    """What the ticket form's suggestions search for: ``q``, or the subject followed by the start
    of the description."""
    query = request.GET.get("q", "")
    if not query:
        description = request.GET.get("description", "")[:SUGGEST_DESCRIPTION_CHARS]
        query = f"{request.GET.get('subject', '')} {description}"
    return query.strip()


@require_GET
def help_suggest(request):
    """Articles that may answer what the visitor is typing on the ticket form: an HTML fragment
    for HTMX, each link marked ``?from=ticket``; empty while the text is short or this address
    asks too often (``HELP_SUGGEST_RATE_PER_MINUTE``)."""
    query = suggestion_query(request)
    if len(query) < SUGGEST_MIN_LENGTH or not query_words(query):
        return HttpResponse("")
    if over_rate(request, "suggest", settings.HELP_SUGGEST_RATE_PER_MINUTE, 60):
        return HttpResponse("", status=429)
    articles = list(selectors.public_article_search(query, any_word=True)[: selectors.SUGGESTIONS])
    if articles:
        knowledge.deflection_record(
            articles=articles, visitor_key=visitor_key(request), step=DeflectionStep.SHOWN
        )
    return render(request, "support/help/_suggestions.html", {"articles": articles})
