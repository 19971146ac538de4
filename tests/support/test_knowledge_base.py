"""The knowledge base: full-text search (stemming, ranking, prefixes while typing), the staff
pages (list, writing, publishing, categories, the report), the public help centre (only
published public articles, one vote per visitor, searches logged), the ticket form's
suggestions and their deflection count, and the reply box's "Suggest articles" panel."""

import pytest
from django.core.cache import cache
from django.urls import reverse

from support.articles import article_body_html, prefix_tsquery
from support.choices import ArticleStatus, ArticleVisibility, DeflectionStep, HelpSearchSource
from support.models import Article, ArticleVote, Deflection, HelpSearch
from support.selectors import agent_article_suggestions, kb_report, public_article_search
from support.services import knowledge
from support.services import tickets as ticket_services
from tests.factories.crm import ContactFactory
from tests.factories.support import ArticleCategoryFactory, ArticleFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def password_article(db):
    return ArticleFactory(
        title="Reset your password",
        slug="reset-your-password",
        summary="Forgot your password? Set a new one.",
        body="Open the sign-in page and click Forgot password. Links expire after one hour.",
    )


@pytest.fixture
def invoice_article(db):
    return ArticleFactory(
        title="Download past invoices",
        slug="download-past-invoices",
        body="Every invoice is a PDF file under Billing. Your password is not needed.",
    )


def titles(queryset):
    return [a.title for a in queryset]


# Search ----------------------------------------------------------------------------------------


def test_search_finds_stemmed_words_and_ranks_a_title_match_first(
    password_article, invoice_article
):
    # "invoices" and "downloading" are found by their stems; "password" is in one title and
    # the other's body: the title match comes first.
    assert titles(public_article_search("downloading invoices")) == ["Download past invoices"]
    assert titles(public_article_search("passwords")) == [
        "Reset your password",
        "Download past invoices",
    ]


def test_the_word_being_typed_matches_as_a_prefix(password_article, invoice_article):
    assert titles(public_article_search("pass"))[0] == "Reset your password"
    assert titles(public_article_search("reset pass")) == ["Reset your password"]
    assert prefix_tsquery("Reset your pass!") == "reset & your & pass:*"
    assert prefix_tsquery("it's & | ! broken", any_word=True) == "it | s | broken:*"
    assert list(public_article_search("   ")) == []


def test_drafts_archived_and_internal_articles_are_never_public(password_article):
    ArticleFactory(title="Password policy for staff", visibility=ArticleVisibility.INTERNAL)
    ArticleFactory(title="Password draft", status=ArticleStatus.DRAFT)
    ArticleFactory(title="Old password article", status=ArticleStatus.ARCHIVED)
    assert titles(public_article_search("password")) == ["Reset your password"]


def test_article_body_is_markdown_rendered_and_sanitised():
    html = article_body_html(
        "# Steps\n\n- one\n- **two**\n\n<script>alert(1)</script> "
        "[bad](javascript:alert(1)) [good](https://example.com)"
    )
    assert "<h2>Steps</h2>" in html
    assert "<li><strong>two</strong></li>" in html
    assert "<script>" not in html
    assert 'href="javascript' not in html
    assert 'href="https://example.com"' in html


# Staff pages ------------------------------------------------------------------------------------


def test_agent_writes_and_publishes_an_article(agent_client, agent):
    category = ArticleCategoryFactory(name="Billing")
    response = agent_client.post(
        reverse("support:article_create"),
        {
            "title": "Change your billing address",
            "slug": "",
            "summary": "Update the address on invoices.",
            "body": "Open **Billing** and save.",
            "category": category.pk,
            "visibility": "public",
        },
    )
    article = Article.objects.get(title="Change your billing address")
    assert response.status_code == 302
    assert (article.slug, article.status, article.author) == (
        "change-your-billing-address",
        ArticleStatus.DRAFT,
        agent,
    )
    assert agent_client.get(article.get_public_url()).status_code == 404

    agent_client.post(reverse("support:article_status", args=[article.pk]), {"status": "published"})
    article.refresh_from_db()
    assert article.status == ArticleStatus.PUBLISHED and article.published_at is not None
    page = agent_client.get(article.get_public_url())
    assert page.status_code == 200
    assert "<strong>Billing</strong>" in page.content.decode()

    agent_client.post(reverse("support:article_status", args=[article.pk]), {"status": "archived"})
    article.refresh_from_db()
    assert article.status == ArticleStatus.ARCHIVED
    assert agent_client.get(article.get_public_url()).status_code == 404


def test_a_taken_or_reserved_slug_gets_a_number(agent):
    first = knowledge.article_create(user=agent, title="Search tips", body="x")
    second = knowledge.article_create(user=agent, title="Search tips", body="x")
    reserved = knowledge.article_create(user=agent, title="Search", body="x")
    assert (first.slug, second.slug, reserved.slug) == (
        "search-tips",
        "search-tips-2",
        "search-article",
    )


def test_reps_read_published_articles_only_and_write_none(rep_client, rep):
    published = ArticleFactory(title="Internal pricing FAQ", visibility="internal")
    draft = ArticleFactory(title="Unfinished", status=ArticleStatus.DRAFT)
    page = rep_client.get(reverse("support:article_list"))
    assert titles(page.context["object_list"]) == ["Internal pricing FAQ"]
    assert rep_client.get(published.get_absolute_url()).status_code == 200
    assert rep_client.get(draft.get_absolute_url()).status_code == 404
    assert rep_client.get(reverse("support:article_create")).status_code == 404
    assert rep_client.get(reverse("support:article_edit", args=[published.pk])).status_code == 404
    assert rep_client.get(reverse("support:kb_report")).status_code == 404


def test_only_managers_keep_categories(client, agent, manager):
    client.force_login(agent)
    assert client.get(reverse("support:article_category_list")).status_code == 404
    assert client.get(reverse("support:article_category_create")).status_code == 404
    manager_client = client
    manager_client.force_login(manager)
    response = manager_client.post(
        reverse("support:article_category_create"),
        {"name": "Getting started", "slug": "", "description": "First steps", "order": 10},
    )
    assert response.status_code == 302
    page = manager_client.get(reverse("support:article_category_list"))
    assert "Getting started" in page.content.decode()


def test_article_list_has_a_fixed_query_count(agent_client, django_assert_max_num_queries):
    for n in range(3):
        ArticleFactory(title=f"Password help {n}")
    agent_client.get(reverse("support:article_list"))
    # session, user, roles, saved views, bell; the count and the page (with categories)
    with django_assert_max_num_queries(12) as few:
        agent_client.get(reverse("support:article_list") + "?q=password")
    for n in range(20):
        ArticleFactory(title=f"Password more {n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = agent_client.get(reverse("support:article_list") + "?q=password")
    assert len(response.context["object_list"]) == 23


# Public help centre -----------------------------------------------------------------------------


def test_help_centre_pages_have_fixed_query_counts(
    client, password_article, django_assert_max_num_queries
):
    for n in range(15):
        ArticleFactory(title=f"Password topic {n}", category=password_article.category)
    with django_assert_max_num_queries(4):  # categories, popular (and the session's nothing)
        home = client.get(reverse("support:help_home"))
    assert password_article.category.name in home.content.decode()
    # the rate counter (10 queries in the tests' database cache; one Redis call in production),
    # the count, the page and the search logged
    with django_assert_max_num_queries(14):
        search = client.get(reverse("support:help_search"), {"q": "password"})
    assert search.status_code == 200 and "16 articles found" in search.content.decode()
    with django_assert_max_num_queries(5):  # article, view counted, related
        page = client.get(password_article.get_public_url())
    assert page.status_code == 200 and "Related articles" in page.content.decode()
    with django_assert_max_num_queries(4):
        category = client.get(password_article.category.get_public_url())
    assert "Password topic 3" in category.content.decode()


def test_help_centre_escapes_what_it_shows(client):
    article = ArticleFactory(title="<b>Bold</b> title", summary="<img src=x onerror=alert(1)>")
    body = client.get(article.get_public_url()).content.decode()
    assert "&lt;b&gt;Bold&lt;/b&gt; title" in body
    assert "<img src=x" not in body
    search = client.get(reverse("support:help_search"), {"q": "<script>bold"}).content.decode()
    assert "<script>bold" not in search


def test_drafts_and_internal_articles_answer_404_in_the_help_centre(client):
    draft = ArticleFactory(status=ArticleStatus.DRAFT)
    internal = ArticleFactory(visibility=ArticleVisibility.INTERNAL)
    archived = ArticleFactory(status=ArticleStatus.ARCHIVED)
    for article in (draft, internal, archived):
        assert client.get(article.get_public_url()).status_code == 404
        vote = client.post(reverse("support:help_vote", args=[article.slug]), {"helpful": "yes"})
        assert vote.status_code == 404
    assert (
        client.get(reverse("support:help_category", args=[draft.category.slug])).status_code == 404
    )


def test_a_visitor_votes_once(client, password_article):
    url = reverse("support:help_vote", args=[password_article.slug])
    assert client.post(url, {"helpful": "yes"}).status_code == 302
    client.post(url, {"helpful": "no"})
    client.post(url, {"helpful": "yes"}, HTTP_HX_REQUEST="true")
    password_article.refresh_from_db()
    assert (password_article.helpful_yes, password_article.helpful_no) == (1, 0)
    assert ArticleVote.objects.count() == 1
    page = client.get(password_article.get_public_url()).content.decode()
    assert "Glad this helped" in page and "Was this helpful?" not in page

    client.cookies.clear()  # another visitor
    client.post(url, {"helpful": "no"})
    password_article.refresh_from_db()
    assert (password_article.helpful_yes, password_article.helpful_no) == (1, 1)


def test_votes_are_throttled_per_address(client, settings):
    settings.HELP_VOTE_RATE_PER_HOUR = 2
    articles = [ArticleFactory() for _ in range(3)]
    answers = [
        client.post(reverse("support:help_vote", args=[a.slug]), {"helpful": "yes"}).status_code
        for a in articles
    ]
    assert answers == [302, 302, 429]
    assert ArticleVote.objects.count() == 2


def test_searches_are_logged_and_those_with_no_result_reported(client, manager, password_article):
    client.get(reverse("support:help_search"), {"q": "Password"})
    client.get(reverse("support:help_search"), {"q": "  delete   my ACCOUNT "})
    client.get(reverse("support:help_search"), {"q": "delete my account"})
    client.get(reverse("support:help_search"), {"q": "password", "page": "2"})  # not again
    assert sorted(HelpSearch.objects.values_list("query", "results_count", "source")) == [
        ("delete my account", 0, HelpSearchSource.HELP_CENTRE),
        ("delete my account", 0, HelpSearchSource.HELP_CENTRE),
        ("password", 1, HelpSearchSource.HELP_CENTRE),
    ]
    report = kb_report(days=30)
    assert [(r["query"], r["count"]) for r in report["no_result"]] == [("delete my account", 2)]
    assert [(r["query"], r["count"]) for r in report["top"]] == [
        ("delete my account", 2),
        ("password", 1),
    ]
    client.force_login(manager)
    page = client.get(reverse("support:kb_report"), {"days": 90})
    assert page.status_code == 200
    assert "delete my account" in page.content.decode()


def test_search_is_throttled(client, settings):
    settings.HELP_SEARCH_RATE_PER_MINUTE = 1
    assert client.get(reverse("support:help_search"), {"q": "a"}).status_code == 200
    assert client.get(reverse("support:help_search"), {"q": "b"}).status_code == 429
    assert HelpSearch.objects.count() == 1


# Ticket form: suggestions and deflection --------------------------------------------------------


def test_suggestions_answer_a_question_in_the_customers_words(client, password_article):
    ArticleFactory(title="Export your data to CSV", body="Every list can be exported.")
    ArticleFactory(title="Password rules for staff", visibility="internal")
    ArticleFactory(title="Password reset draft", status=ArticleStatus.DRAFT)
    response = client.get(
        reverse("support:help_suggest"),
        {"subject": "I forgot my password and cannot log in", "description": ""},
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert f"{password_article.get_public_url()}?from=ticket" in body
    assert "Export your data" not in body
    assert "staff" not in body and "draft" not in body
    assert HelpSearch.objects.count() == 0  # typing is not logged
    assert Deflection.objects.filter(step=DeflectionStep.SHOWN).count() == 1
    # while typing the same question on, a suggestion shown again is not counted twice
    client.get(reverse("support:help_suggest"), {"q": "I forgot my passw"})
    assert Deflection.objects.filter(step=DeflectionStep.SHOWN).count() == 1
    assert client.get(reverse("support:help_suggest"), {"q": "pa"}).content == b""


def test_suggestions_are_throttled(client, settings, password_article):
    settings.HELP_SUGGEST_RATE_PER_MINUTE = 2
    codes = [
        client.get(reverse("support:help_suggest"), {"q": "password"}).status_code for _ in range(3)
    ]
    assert codes == [200, 200, 429]


def test_yes_on_an_article_opened_from_the_ticket_form_is_a_deflection(client, password_article):
    client.get(reverse("support:help_suggest"), {"q": "forgot password"})
    client.get(password_article.get_public_url() + "?from=ticket")
    page = client.get(password_article.get_public_url() + "?from=ticket").content.decode()
    assert "Yes, this solved my problem" in page
    client.post(
        reverse("support:help_vote", args=[password_article.slug]),
        {"helpful": "yes", "from": "ticket"},
    )
    funnel = kb_report(days=30)["funnel"]
    assert funnel == {"shown": 1, "opened": 1, "deflected": 1}


def test_no_deflection_without_opening_from_the_form_or_with_a_no(client, password_article):
    other = ArticleFactory(title="Another")
    # a yes claimed "from the ticket form" on an article never opened from it
    client.post(
        reverse("support:help_vote", args=[other.slug]), {"helpful": "yes", "from": "ticket"}
    )
    # a no after opening it from the form
    client.get(password_article.get_public_url() + "?from=ticket")
    client.post(
        reverse("support:help_vote", args=[password_article.slug]),
        {"helpful": "no", "from": "ticket"},
    )
    assert not Deflection.objects.filter(step=DeflectionStep.DEFLECTED).exists()


def test_the_submitted_ticket_forms_subject_is_logged_as_a_search(client, password_article):
    response = client.post(
        reverse("support:public_new"),
        {
            "name": "Jana Meyer",
            "email": "jana@example.com",
            "subject": "Cannot reset my password",
            "description": "The link has expired.",
            "website": "",
        },
    )
    assert response.status_code == 302
    assert list(HelpSearch.objects.values_list("query", "results_count", "source")) == [
        ("cannot reset my password", 1, HelpSearchSource.TICKET_FORM)
    ]


def test_public_ticket_form_asks_for_suggestions_while_typing(client):
    body = client.get(reverse("support:public_new")).content.decode()
    assert f'hx-get="{reverse("support:help_suggest")}"' in body
    assert "keyup changed delay:400ms" in body


# Agent's reply box ------------------------------------------------------------------------------


def test_reply_box_suggests_articles_with_a_link_to_insert(
    agent_client, agent, queue, password_article
):
    internal = ArticleFactory(
        title="Password resets for enterprise accounts", visibility="internal"
    )
    ArticleFactory(title="Password draft", status=ArticleStatus.DRAFT)
    ticket = ticket_services.ticket_create(
        subject="Password reset link expired", contact=ContactFactory(), assignee=agent
    )
    body = agent_client.get(ticket.get_absolute_url()).content.decode()
    assert 'id="kb-panel"' in body
    assert "Reset your password" in body and internal.title in body
    assert "Password draft" not in body
    assert 'data-kb-url="http://testserver/help/reset-your-password/"' in body or (
        "/help/reset-your-password/" in body
    )
    assert "support/kb_insert.js" in body
    # the internal one can be read, not linked for the customer
    assert body.count("data-kb-insert") == 1

    found = agent_client.get(reverse("support:article_suggest"), {"q": "enterprise"})
    assert internal.title in found.content.decode()
    assert HelpSearch.objects.filter(source=HelpSearchSource.AGENT).count() == 1


def test_agent_suggestions_are_published_articles_only(agent, rep):
    ArticleFactory(title="Refund a double charge", visibility="internal")
    ArticleFactory(title="Refund draft", status=ArticleStatus.DRAFT)
    assert titles(agent_article_suggestions(user=agent, query="refund")) == [
        "Refund a double charge"
    ]


def test_reps_get_no_suggestion_endpoint(rep_client):
    assert rep_client.get(reverse("support:article_suggest"), {"q": "x"}).status_code == 404


# API --------------------------------------------------------------------------------------------


def test_api_lists_and_searches_articles_as_the_pages_do(agent, rep, password_article):
    from tests.api.conftest import client_for

    ArticleFactory(title="Unfinished draft", status=ArticleStatus.DRAFT)
    found = client_for(agent).get("/api/v1/articles/", {"q": "passwords"}).json()
    assert [a["title"] for a in found["results"]] == ["Reset your password"]
    assert found["results"][0]["public_url"].endswith("/help/reset-your-password/")
    as_rep = client_for(rep).get("/api/v1/articles/").json()
    assert [a["title"] for a in as_rep["results"]] == ["Reset your password"]
    assert client_for(rep).post("/api/v1/articles/", {"title": "x"}).status_code == 405


def test_an_articles_changes_show_on_its_history_page(agent_client, agent):
    article = knowledge.article_create(user=agent, title="Old title", body="Old body")
    agent_client.post(
        reverse("support:article_edit", args=[article.pk]),
        {
            "title": "New title",
            "slug": article.slug,
            "summary": "",
            "body": "New body",
            "visibility": "public",
        },
    )
    knowledge.article_viewed(article=article)  # a reading is not a change
    assert article.history_events.count() == 2  # created, edited
    page = agent_client.get(reverse("record_history", args=["support.article", article.pk]))
    body = page.content.decode()
    assert page.status_code == 200
    assert "Old title" in body and "New title" in body


def test_report_page_has_a_fixed_query_count(client, manager, django_assert_max_num_queries):
    def activity(n):
        for i in range(n):
            article = ArticleFactory(view_count=i + 1, helpful_yes=i, helpful_no=1)
            knowledge.help_search_log(query=f"nothing {i}", results_count=0, source="help_centre")
            knowledge.deflection_record(articles=[article], visitor_key=f"v{i}", step="shown")

    client.force_login(manager)
    activity(2)
    client.get(reverse("support:kb_report"))
    with django_assert_max_num_queries(20) as few:
        client.get(reverse("support:kb_report"))
    activity(15)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("support:kb_report"), {"days": 90})
    assert len(response.context["report"]["no_result"]) == 15  # "nothing 0" and "1" twice
    assert response.context["report"]["funnel"]["shown"] == 17


def test_global_search_finds_the_articles_the_user_reads(rep_client):
    ArticleFactory(title="Zebra pricing explained", visibility="internal")
    ArticleFactory(title="Zebra draft", status=ArticleStatus.DRAFT)
    results = rep_client.get(reverse("search"), {"q": "zebra"}).context["results"]
    found = [str(obj) for entry, objects in results for obj in objects]
    assert found == ["Zebra pricing explained"]


def test_a_nul_byte_in_a_query_is_dropped(agent_client, client, password_article):
    assert (
        agent_client.get(reverse("support:article_suggest"), {"q": "pass\x00word"}).status_code
        == 200
    )
    assert client.get(reverse("support:help_search"), {"q": "pass\x00"}).status_code == 200
    assert set(HelpSearch.objects.values_list("query", flat=True)) == {"pass word", "pass"}


# Retention --------------------------------------------------------------------------------------


def test_old_searches_are_deleted_by_their_retention_rule(settings):
    from datetime import timedelta

    from django.utils import timezone

    from crm.models import AuditEvent
    from crm.retention import retention_rules_run
    from support.retention import SEARCHES_ACTION, SEARCHES_RULE

    old = knowledge.help_search_log(
        query="refund jana@example.com", results_count=0, source="agent"
    )
    HelpSearch.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=400))
    knowledge.help_search_log(query="invoice", results_count=2, source="help_centre")

    [off] = retention_rules_run(names=[SEARCHES_RULE])
    assert HelpSearch.objects.count() == 2  # off by default

    settings.RETENTION_HELP_SEARCHES_MONTHS = 12
    [dry] = retention_rules_run(names=[SEARCHES_RULE], dry_run=True)
    assert dry.counts == {"searches": 1} and HelpSearch.objects.count() == 2
    [outcome] = retention_rules_run(names=[SEARCHES_RULE])
    assert outcome.counts == {"searches": 1}
    assert list(HelpSearch.objects.values_list("query", flat=True)) == ["invoice"]
    assert AuditEvent.objects.filter(action=SEARCHES_ACTION).count() == 1
