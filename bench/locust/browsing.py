"""Reading the product's pages as a browser does, for the load scenario (``locustfile.py``):
the forms a page carries with the values a browser would send, links, and the CSRF token HTMX
sends. Standard library only, so the tests check it against real pages without locust."""

from __future__ import annotations

import datetime as dt
import html
import json
import random
import re
from html.parser import HTMLParser


class _Forms(HTMLParser):
    """Every ``<form>`` of a page: its action, method and the values a browser would send as
    they stand (hidden inputs, text, checked boxes, selected options, textareas)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self._form = None
        self._select = None
        self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {
                "action": a.get("action", ""),
                "method": (a.get("method") or "get").lower(),
                "fields": {},
                "options": {},
            }
            self.forms.append(self._form)
        if self._form is None:
            return
        fields = self._form["fields"]
        name = a.get("name")
        if tag == "input" and name:
            kind = (a.get("type") or "text").lower()
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            if kind in ("submit", "button", "file", "image", "reset"):
                return
            fields[name] = a.get("value", "")
        elif tag == "select" and name:
            self._select = name
            self._form["options"][name] = []
            fields.setdefault(name, None)
        elif tag == "option" and self._select:
            value = a.get("value", "")
            self._form["options"][self._select].append(value)
            if "selected" in a or fields.get(self._select) is None:
                fields[self._select] = value
        elif tag == "textarea" and name:
            self._textarea = name
            fields[name] = ""

    def handle_data(self, data):
        if self._form is not None and self._textarea:
            self._form["fields"][self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "form":
            self._form = None


def page_form(page: str, action_pattern: str) -> dict | None:
    """The first form whose action matches ``action_pattern`` (a regular expression)."""
    parser = _Forms()
    parser.feed(page)
    for form in parser.forms:
        if re.search(action_pattern, form["action"]):
            form["fields"] = {k: ("" if v is None else v) for k, v in form["fields"].items()}
            return form
    return None


def links(page: str, pattern: str) -> list[str]:
    """Distinct ``href`` values matching ``pattern`` (anchored), in page order."""
    found = re.findall(r'href="(' + pattern + r')"', page)
    return list(dict.fromkeys(found))


def csrf_header(page: str) -> str:
    """The token HTMX sends (``<body hx-headers='{"X-CSRFToken": …}'>``)."""
    match = re.search(r"hx-headers='([^']*)'", page)
    if not match:
        return ""
    return json.loads(html.unescape(match[1])).get("X-CSRFToken", "")


def board_move(page: str) -> tuple[str, dict] | None:
    """What dropping a random card of the board on another open stage sends (``board.js``):
    the move URL and its values. Open stages only: a drop on "lost" asks for a reason on a page
    of its own, and a won deal leaves the board, so a day of moves stays between the open
    columns."""
    cards = re.findall(r'class="board-card[^"]*"[^>]*data-id="(\d+)"', page)
    stages = re.findall(r'class="board-column card flex-shrink-0[^"]*" data-stage="(\d+)"', page)
    move_url = re.search(r'data-move-url="([^"]+)"', page)
    if not (cards and len(stages) > 1 and move_url):
        return None
    pipeline = re.search(r'data-pipeline="(\d*)"', page)
    owner = re.search(r'data-owner="([^"]*)"', page)
    card = random.choice(cards)
    return move_url[1].replace("/0/", f"/{card}/"), {
        "stage": random.choice(stages),
        "board": pipeline[1] if pipeline else "",
        "owner": owner[1] if owner else "",
    }


def due(days: int = 1) -> str:
    """A due date as a ``datetime-local`` input sends it."""
    return (dt.datetime.now() + dt.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M")


def form_errors(page: str) -> bool:
    """Whether a form came back with its errors (crispy's ``is-invalid`` fields)."""
    return "is-invalid" in page
