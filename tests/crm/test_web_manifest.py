"""A phone can pin the CRM: a public web manifest naming the app, its theme colour and its
icons, each of which is a PNG of the size it claims."""

import json
import struct
from pathlib import Path

from django.conf import settings
from django.urls import reverse

STATIC = Path(settings.BASE_DIR) / "static"


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", data[16:24])


def test_the_manifest_names_the_app_and_its_icons(client):
    response = client.get(reverse("web_manifest"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/manifest+json"
    manifest = json.loads(response.content)
    assert manifest["name"] == "CRM" and manifest["start_url"] == "/"
    assert manifest["display"] == "standalone" and manifest["theme_color"].startswith("#")
    sizes = {(icon["sizes"], icon["purpose"]) for icon in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    for icon in manifest["icons"]:
        path = STATIC / icon["src"].removeprefix(settings.STATIC_URL)
        width, height = _png_size(path)
        assert f"{width}x{height}" == icon["sizes"]


def test_the_home_screen_icon_for_phones_is_there():
    assert _png_size(STATIC / "crm" / "icons" / "apple-touch-icon.png") == (180, 180)
