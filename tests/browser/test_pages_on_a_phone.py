"""Every record page and form of the demo, for each role, on a phone (390 px wide) in Chromium:
nothing makes the page scroll sideways (wide tables scroll inside their own box). The pages of
the navigation are checked at both widths by ``test_navigation_widths``.

Screenshots of pages that do scroll sideways go to ``$PHONE_SCREENSHOTS`` (a folder), or to the
test's temporary folder; the failure message says where."""

import io
import os
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.browser.test_console_clean import REPORT_VIOLATIONS
from tests.pages import pages_for

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PHONE = {"width": 390, "height": 844}
# What sticks out past the right edge, to name it in the failure message.
OVERFLOW = """() => {
  if (document.documentElement.scrollWidth <= window.innerWidth) return null;
  const wide = [];
  for (const el of document.querySelectorAll("body *")) {
    const box = el.getBoundingClientRect();
    if (box.right > window.innerWidth + 1 && !el.closest(".table-responsive, .list-scroll")) {
      const parentWide = el.parentElement && el.parentElement.getBoundingClientRect().right
        > window.innerWidth + 1;
      if (!parentWide) wide.push(el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
        + (el.className && typeof el.className === "string"
           ? "." + el.className.trim().split(/\\s+/).join(".") : ""));
    }
  }
  return document.documentElement.scrollWidth + " px: " + wide.slice(0, 5).join(", ");
}"""


def test_no_page_scrolls_sideways_on_a_phone(chromium, live_server, tmp_path):
    call_command("seed_demo", "--scale", "0.05", "--force", stdout=io.StringIO())
    shots = Path(os.environ.get("PHONE_SCREENSHOTS") or tmp_path / "phone")
    shots.mkdir(parents=True, exist_ok=True)
    url = live_server.url
    failures, seen = [], set()
    for username in ("rep", "agent", "manager"):
        context = chromium.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
        context.add_init_script(REPORT_VIOLATIONS)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{url}/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", "demo")
        page.click("button[type=submit]")
        page.wait_for_url(f"{url}/")
        for label, path in pages_for(username):
            if path in seen or not any(c.isdigit() for c in path) and "new" not in label.lower():
                continue
            seen.add(path)
            response = page.goto(url + path, wait_until="load")
            if response is None or response.status != 200:
                failures.append(
                    f"{username}: {label} ({path}) answers {response and response.status}"
                )
                continue
            wide = page.evaluate(OVERFLOW)
            if wide:
                name = f"{username}-{label}".replace(" ", "-").replace("/", "-")
                page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
                failures.append(f"{username}: {label} ({path}) is {wide}")
        context.close()
    assert not failures, f"Screenshots in {shots}\n" + "\n".join(failures)
