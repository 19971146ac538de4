"""The app's icon: an SVG and a 32 px PNG linked from every page, and /favicon.ico answering
with the icon for browsers that ask for it there."""

from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.test import Client, override_settings
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_pages_link_the_icons(client, rep_client):
    for page in (rep_client.get(reverse("home")), client.get(reverse("login"), follow=True)):
        html = page.content.decode()
        assert 'rel="icon" href="/static/crm/favicon.svg" type="image/svg+xml"' in html
        assert 'href="/static/crm/favicon-32.png" sizes="32x32" type="image/png"' in html


@override_settings(WHITENOISE_USE_FINDERS=True, WHITENOISE_AUTOREFRESH=True)
def test_favicon_ico_answers_with_the_icon():
    # A new client loads the middleware with the settings above (static files from the
    # finders, as ``collectstatic`` puts them in production).
    response = Client().get("/favicon.ico", follow=True)

    assert response.status_code == 200
    assert response.redirect_chain == [("/static/crm/favicon.ico", 301)]
    body = b"".join(response.streaming_content)
    assert body[:4] == b"\x00\x00\x01\x00"  # an ICO file


def test_the_icon_files_are_what_their_names_say():
    png = Path(finders.find("crm/favicon-32.png")).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (32, 32)
    ico = Path(finders.find("crm/favicon.ico")).read_bytes()
    assert int.from_bytes(ico[4:6], "little") >= 2  # 16 and 32 px at least
    svg = Path(finders.find("crm/favicon.svg")).read_text(encoding="utf-8")
    assert svg.startswith("<svg") and 'viewBox="0 0 32 32"' in svg
    assert len(png) < 4096
