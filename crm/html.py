"""HTML written by users (email bodies, templates) shown inside the app.

Such HTML is never put into a page as markup: it is cleaned by nh3 (an allow-list of tags,
attributes and URL schemes; scripts, event handlers, script links, forms and frames removed)
and shown in an ``<iframe sandbox srcdoc>``: a document of its own origin with scripts, forms,
popups and top navigation off, under a Content-Security-Policy of its own that loads nothing but
images. A mistake in one layer is caught by the other.

A srcdoc document also keeps the page's own policy, which allows no inline style: the preview
drops ``style`` attributes rather than have the browser refuse them (and log each refusal); the
email as sent keeps them."""

import nh3

#: Inline styles emails rely on; anything else (positioning, ``url()`` behaviours) is dropped.
EMAIL_STYLE_PROPERTIES = frozenset(
    {
        "background-color",
        "border",
        "border-collapse",
        "border-radius",
        "color",
        "font-family",
        "font-size",
        "font-style",
        "font-weight",
        "height",
        "line-height",
        "margin",
        "max-width",
        "padding",
        "text-align",
        "text-decoration",
        "vertical-align",
        "width",
    }
)
_EXTRA_ATTRIBUTES = {
    "*": {"style", "align", "title", "dir", "lang"},
    "td": {"colspan", "rowspan", "width", "valign"},
    "th": {"colspan", "rowspan", "width", "valign", "scope"},
    "table": {"width", "cellpadding", "cellspacing", "border"},
    "img": {"src", "alt", "width", "height"},
}
_ATTRIBUTES = {
    tag: set(nh3.ALLOWED_ATTRIBUTES.get(tag, ())) | _EXTRA_ATTRIBUTES.get(tag, set())
    for tag in {*nh3.ALLOWED_ATTRIBUTES, *_EXTRA_ATTRIBUTES}
}
_URL_SCHEMES = {"http", "https", "mailto", "tel"}

#: The policy of the preview document itself (a srcdoc document also keeps the page's own).
PREVIEW_POLICY = "default-src 'none'; img-src https: data:; form-action 'none'; base-uri 'none'"

#: The preview's attributes: those of ``sanitize_html`` without ``style``.
_PREVIEW_ATTRIBUTES = {tag: names - {"style"} for tag, names in _ATTRIBUTES.items()}


def sanitize_html(html: str) -> str:
    """``html`` with only harmless markup left (a fragment; text is kept, escaped)."""
    return _clean(html, _ATTRIBUTES)


def _clean(html: str, attributes: dict) -> str:
    return nh3.clean(
        html or "",
        attributes=attributes,
        url_schemes=_URL_SCHEMES,
        filter_style_properties=EMAIL_STYLE_PROPERTIES,
        link_rel="noopener noreferrer",
    )


def preview_document(html: str) -> str:
    """A whole document for an ``<iframe sandbox srcdoc=…>``: the sanitised ``html`` under a
    policy that runs no script and loads nothing but images. The template escapes it into the
    attribute; it is never marked safe."""
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{PREVIEW_POLICY}">'
        '<meta name="referrer" content="no-referrer">'
        f"</head><body>{_clean(html, _PREVIEW_ATTRIBUTES)}</body></html>"
    )
