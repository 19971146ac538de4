"""Knowledge-base text: an article's body as sanitised HTML, search queries as PostgreSQL
``tsquery`` text, and the anonymous key that counts a help-centre visitor once.

An article's body is light Markdown rendered by markdown-it with raw HTML off (a ``<script>``
typed into an article stays text), then cleaned by nh3 with a short allow-list of tags and the
http, https and mailto link schemes: a mistake in one layer is caught by the other."""

import hmac
import re

import nh3
from django.conf import settings
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

_MARKDOWN = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_TAGS = {
    "a", "p", "br", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "strong", "em", "code",
    "pre", "blockquote", "hr", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "th": {"align"}, "td": {"align"}}
_URL_SCHEMES = {"http", "https", "mailto"}
_HEADING = re.compile(r"<(/?)h1>")

#: Words of a query (letters and digits): nothing else reaches ``to_tsquery``.
_WORD = re.compile(r"\w+", re.UNICODE)
MAX_QUERY_WORDS = 12
MAX_QUERY_LENGTH = 200


def article_body_html(body: str) -> SafeString:
    """The body as HTML safe to put into a page: Markdown rendered without raw HTML, then
    sanitised (the page's own title is the one ``<h1>``, so ``#`` headings become ``<h2>``).
    Marked safe here, after nh3, so templates never mark anything themselves."""
    html = _HEADING.sub(r"<\1h2>", _MARKDOWN.render(body or ""))
    return mark_safe(
        nh3.clean(
            html,
            tags=_TAGS,
            attributes=_ATTRIBUTES,
            url_schemes=_URL_SCHEMES,
            link_rel="noopener noreferrer nofollow",
        )
    )


def normalise_query(query: str) -> str:
    """A search as the report groups it: lower case, single spaces, at most 200 characters (and
    no NUL, which PostgreSQL text refuses)."""
    return " ".join((query or "").replace("\x00", " ").lower().split())[:MAX_QUERY_LENGTH]


def query_words(query: str) -> list[str]:
    return _WORD.findall(normalise_query(query))[:MAX_QUERY_WORDS]


def prefix_tsquery(query: str, *, any_word: bool = False) -> str:
    """``to_tsquery`` text of the query's words, the last one as a prefix (the word being
    typed: "reset pass" finds "Reset your password"). Every word must match, or with
    ``any_word`` any of them (suggestions for a question in the customer's own words, ranked
    by how much of it an article covers)."""
    words = query_words(query)
    if not words:
        return ""
    terms = [*words[:-1], f"{words[-1]}:*"]
    return (" | " if any_word else " & ").join(terms)


def visitor_key(request) -> str:
    """A visitor of the public pages, as a keyed hash of their session (made when missing):
    their votes and steps count once, and the key leads back to no one."""
    session = request.session
    if not session.session_key:
        session["help_visitor"] = True
        session.save()
    return hmac.new(
        settings.SECRET_KEY.encode(), f"help-visitor:{session.session_key}".encode(), "sha256"
    ).hexdigest()
