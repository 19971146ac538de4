"""``{% url %}`` and ``{% static %}`` that remember what they resolved.

Django's ``{% url %}`` walks the URL patterns on every render (``reverse()``: 30 to 90 µs) and
``{% static %}`` looks the hashed name up and joins it to ``STATIC_URL`` on every render; a record
page renders about fifteen of each, 0.5 to 0.8 ms of its time. The same view name with the same
arguments (whole numbers and text only), script prefix, URL configuration and current
application always gives the same address, and the same file the same static address: each
process keeps the last ``REMEMBERED`` of each. Anything else (a model instance as an argument, a
name that does not resolve) takes Django's way, as do the errors.

Installed for every template as a built-in (``TEMPLATES["OPTIONS"]["builtins"]``), with the
other tags of Django's ``static`` library: the project's templates use them without a
``{% load static %}``, which would put Django's ``static`` back (a library loaded by name cannot
be replaced without the check ``templates.W003`` failing the deploy check).
"""

import functools

from django import template
from django.conf import settings
from django.core.signals import setting_changed
from django.template.defaulttags import URLNode
from django.template.defaulttags import url as django_url
from django.templatetags import static as django_static
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.html import conditional_escape

#: Addresses each process keeps, of ``{% url %}`` and of ``{% static %}`` each.
REMEMBERED = 4096

register = template.Library()
register.tags.update(django_static.register.tags)
register.filters.update(django_static.register.filters)

_PLAIN = (int, str)


@functools.lru_cache(maxsize=REMEMBERED)
def _reverse(view_name, args, kwargs, current_app, prefix, urlconf, root_urlconf) -> str:
    return reverse(view_name, args=args, kwargs=dict(kwargs), current_app=current_app)


def remembered_reverse(view_name, args, kwargs, current_app) -> str:
    """``reverse()``, kept per process for plain arguments (``bool`` is not one: it prints as
    ``True``, equal to ``1``)."""
    if (
        isinstance(view_name, str)
        and all(type(arg) in _PLAIN for arg in args)
        and all(type(value) in _PLAIN for value in kwargs.values())
        and (current_app is None or isinstance(current_app, str))
    ):
        return _reverse(
            view_name,
            tuple(args),
            tuple(sorted(kwargs.items())),
            current_app,
            get_script_prefix(),
            get_urlconf(),
            settings.ROOT_URLCONF,
        )
    return reverse(view_name, args=args, kwargs=kwargs, current_app=current_app)


class RememberedURLNode(URLNode):
    def render(self, context):
        from django.urls import NoReverseMatch

        args = [arg.resolve(context) for arg in self.args]
        kwargs = {k: v.resolve(context) for k, v in self.kwargs.items()}
        view_name = self.view_name.resolve(context)
        try:
            current_app = context.request.current_app
        except AttributeError:
            try:
                current_app = context.request.resolver_match.namespace
            except AttributeError:
                current_app = None
        url = ""
        try:
            url = remembered_reverse(view_name, args, kwargs, current_app)
        except NoReverseMatch:
            if self.asvar is None:
                raise
        if self.asvar:
            context[self.asvar] = url
            return ""
        if context.autoescape:
            url = conditional_escape(url)
        return url


@register.tag("url")
def url(parser, token):
    """Django's ``{% url %}`` (same syntax and errors), remembering what it resolved."""
    node = django_url(parser, token)
    return RememberedURLNode(node.view_name, node.args, node.kwargs, node.asvar)


@functools.lru_cache(maxsize=REMEMBERED)
def _static(path: str) -> str:
    return django_static.StaticNode.handle_simple(path)


class RememberedStaticNode(django_static.StaticNode):
    @classmethod
    def handle_simple(cls, path):
        if isinstance(path, str):
            return _static(path)
        return super().handle_simple(path)


@register.tag("static")
def static(parser, token):
    """Django's ``{% static %}``, remembering each file's address."""
    return RememberedStaticNode.handle_token(parser, token)


def forget(**kwargs) -> None:
    """Addresses are forgotten when the settings they come from change (tests)."""
    if kwargs.get("setting") in {"ROOT_URLCONF", "STATIC_URL", "STORAGES", "FORCE_SCRIPT_NAME"}:
        _reverse.cache_clear()
        _static.cache_clear()


setting_changed.connect(forget)
