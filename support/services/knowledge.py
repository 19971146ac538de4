"""Writes of the knowledge base: articles and categories (the desk writes articles, managers
and admins keep the categories), publishing, and what the help centre counts: views, votes,
searches and the ticket form's deflection steps."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify

from crm.permissions import may_manage, may_work_tickets
from support.articles import normalise_query
from support.choices import ArticleStatus, DeflectionStep
from support.models import Article, ArticleCategory, ArticleVote, Deflection, HelpSearch


def _check_may_write(user) -> None:
    if not may_work_tickets(user):
        raise ValidationError("Only the support desk writes knowledge-base articles.")


#: Addresses under ``/help/`` that are pages of their own, not articles.
RESERVED_SLUGS = frozenset({"search", "suggest", "category"})


def _unique_slug(title: str, slug: str, *, exclude_pk=None) -> str:
    """``slug`` (or the title's) made unique among articles with a number when taken."""
    base = slugify(slug or title)[:190] or "article"
    if base in RESERVED_SLUGS:
        base = f"{base}-article"
    taken = set(
        Article.objects.filter(slug__startswith=base)
        .exclude(pk=exclude_pk)
        .values_list("slug", flat=True)
    )
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


@transaction.atomic
def article_create(
    *,
    user,
    title: str,
    body: str,
    summary: str = "",
    category: ArticleCategory | None = None,
    visibility: str = "public",
    slug: str = "",
) -> Article:
    """A new article, as a draft: nobody outside the desk reads it until it is published."""
    _check_may_write(user)
    return Article.objects.create(
        title=title.strip(),
        slug=_unique_slug(title, slug),
        summary=summary.strip(),
        body=body,
        category=category,
        visibility=visibility,
        author=user if getattr(user, "pk", None) else None,
    )


@transaction.atomic
def article_update(
    *,
    article: Article,
    user,
    title: str,
    body: str,
    summary: str = "",
    category: ArticleCategory | None = None,
    visibility: str = "public",
    slug: str = "",
) -> Article:
    _check_may_write(user)
    article.title, article.summary, article.body = title.strip(), summary.strip(), body
    article.category, article.visibility = category, visibility
    article.slug = _unique_slug(title, slug or article.slug, exclude_pk=article.pk)
    article.save(
        update_fields=["title", "slug", "summary", "body", "category", "visibility", "updated_at"]
    )
    return article


@transaction.atomic
def article_set_status(*, article: Article, user, status: str) -> Article:
    """Publish, unpublish (back to draft) or archive an article, as the transitions allow; the
    first publication stamps ``published_at``."""
    _check_may_write(user)
    article = Article.objects.select_for_update().get(pk=article.pk)
    if status == article.status:
        return article
    if not article.may_become(status):
        raise ValidationError(
            f"A {article.get_status_display().lower()} article cannot become {status}."
        )
    article.status = status
    fields = ["status", "updated_at"]
    if status == ArticleStatus.PUBLISHED and article.published_at is None:
        article.published_at = timezone.now()
        fields.append("published_at")
    article.save(update_fields=fields)
    return article


def _check_may_keep_categories(user) -> None:
    if not may_manage(user):
        raise ValidationError("Only managers and admins change the knowledge base's categories.")


@transaction.atomic
def article_category_create(
    *, user, name: str, slug: str = "", description: str = "", order: int = 100
) -> ArticleCategory:
    _check_may_keep_categories(user)
    return ArticleCategory.objects.create(
        name=name.strip(),
        slug=slugify(slug or name)[:100],
        description=description.strip(),
        order=order,
    )


@transaction.atomic
def article_category_update(
    *,
    category: ArticleCategory,
    user,
    name: str,
    slug: str = "",
    description: str = "",
    order: int = 100,
) -> ArticleCategory:
    _check_may_keep_categories(user)
    category.name, category.description, category.order = name.strip(), description, order
    category.slug = slugify(slug or name)[:100]
    category.save(update_fields=["name", "slug", "description", "order"])
    return category


def article_viewed(*, article: Article) -> None:
    """Count one reading of the article (one UPDATE, no race between readers)."""
    Article.objects.filter(pk=article.pk).update(view_count=F("view_count") + 1)


def article_vote(
    *, article: Article, visitor_key: str, helpful: bool, from_ticket_form: bool = False
) -> bool:
    """Record a visitor's "Was this helpful?" once per article; False when they had already
    answered (the first answer stands). A "yes" from a visitor who opened the article from a
    suggestion on the ticket form is a deflection: a question answered without a ticket."""
    try:
        with transaction.atomic():
            ArticleVote.objects.create(article=article, helpful=helpful, visitor_key=visitor_key)
            counter = "helpful_yes" if helpful else "helpful_no"
            Article.objects.filter(pk=article.pk).update(**{counter: F(counter) + 1})
            if helpful and from_ticket_form:
                opened = Deflection.objects.filter(
                    article=article, visitor_key=visitor_key, step=DeflectionStep.OPENED
                ).exists()
                if opened:
                    deflection_record(
                        articles=[article], visitor_key=visitor_key, step=DeflectionStep.DEFLECTED
                    )
    except IntegrityError:
        return False
    return True


def deflection_record(*, articles, visitor_key: str, step: str) -> None:
    """Note that ``step`` happened for each article for this visitor (once each: repeats of
    the same step by the same visitor are ignored)."""
    Deflection.objects.bulk_create(
        [Deflection(article=a, step=step, visitor_key=visitor_key) for a in articles],
        ignore_conflicts=True,
    )


def help_search_log(*, query: str, results_count: int, source: str) -> HelpSearch | None:
    """Log one search (normalised); an empty query is not a search."""
    normalised = normalise_query(query)
    if not normalised:
        return None
    return HelpSearch.objects.create(query=normalised, results_count=results_count, source=source)
