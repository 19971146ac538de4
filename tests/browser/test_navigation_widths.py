"""Every role, on a laptop (1,280 px) and on a phone (390 px), in Chromium: the page never
scrolls sideways, search and the user menu are in sight, every entry of the navigation can be
opened from its menu and answers 200 with a clean console; the keyboard shortcuts work.

Screenshots of each role's home page at both widths go to ``$NAV_SCREENSHOTS`` (a folder),
or to the test's temporary folder; the test prints where."""

import io
import os
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.browser.navigation import nav_open
from tests.browser.test_console_clean import REPORT_VIOLATIONS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

ROLES = ("rep", "agent", "manager", "admin")
WIDTHS = {"wide": 1280, "phone": 390}
NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"


def _page(chromium, width):
    context = chromium.new_context(viewport={"width": width, "height": 860})
    context.add_init_script(REPORT_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems = []
    page.on("console", lambda msg: msg.type == "error" and problems.append(msg.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    return page, problems


def _sign_in(page, base_url, username):
    page.goto(f"{base_url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def _menus(page):
    """``[(group key, [(label, href), ...]), ...]`` of the navigation on the page."""
    return page.eval_on_selector_all(
        "[data-nav-group]",
        """toggles => toggles.map(t => [t.dataset.navGroup,
            Array.from(t.nextElementSibling.querySelectorAll('a.dropdown-item'))
              .map(a => [a.textContent.trim(), a.getAttribute('href')])])""",
    )


def _shown(page, dialog_id):
    """Waits until the dialog has opened and taken the keyboard (a person is never faster)."""
    page.wait_for_function(
        f"() => document.getElementById('{dialog_id}').contains(document.activeElement)"
    )


def _screenshots_dir(tmp_path) -> Path:
    folder = Path(os.environ.get("NAV_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_every_role_finds_everything_on_a_laptop_and_a_phone(chromium, live_server, tmp_path):
    call_command("seed_demo", "--scale", "0.05", "--force", stdout=io.StringIO())
    shots = _screenshots_dir(tmp_path)
    url = live_server.url
    failures = []
    for username in ROLES:
        for width_name, width in WIDTHS.items():
            where = f"{username} at {width} px"
            page, problems = _page(chromium, width)
            _sign_in(page, url, username)

            # The home page: no sideways scroll, search and the user menu in sight.
            if not page.evaluate(NO_SIDEWAYS_SCROLL):
                failures.append(f"{where}: the home page scrolls sideways")
            page.screenshot(path=str(shots / f"home-{username}-{width}.png"), full_page=True)
            assert page.locator("#user-menu").is_visible(), where
            if width_name == "wide":
                assert page.locator("#nav-search").is_visible(), where
            else:
                assert not page.locator("#nav-search").is_visible(), where
                page.click("#nav-search-toggle")
                page.locator("#nav-search-phone-input").wait_for(state="visible")
            page.click("#user-menu")
            menu = page.locator("#user-menu + .dropdown-menu")
            assert menu.get_by_text("Your settings", exact=True).is_visible(), where
            assert menu.get_by_text("Sign out", exact=True).is_visible(), where
            page.keyboard.press("Escape")

            # Every entry opens from its menu and answers 200 with a clean console.
            menus = _menus(page)
            assert menus, where
            for group, links in menus:
                for label, href in links:
                    if href.startswith("/admin/"):
                        # Django's own admin, with its own pages and scripts: it answers.
                        status = page.request.get(url + href).status
                        if status != 200:
                            failures.append(f"{where}: {label} ({href}) answers {status}")
                        continue
                    with page.expect_navigation() as navigation:
                        nav_open(page, group, label)
                    response = navigation.value
                    if response is None or response.status != 200:
                        status = response.status if response else "no answer"
                        failures.append(f"{where}: {label} ({href}) answers {status}")
                    if not page.evaluate(NO_SIDEWAYS_SCROLL):
                        failures.append(f"{where}: {label} ({href}) scrolls sideways")
            failures += [f"{where}: console: {p}" for p in problems]
            page.context.close()
    print(f"\nHome page screenshots: {shots}")
    assert not failures, "\n".join(failures)


def test_keyboard_shortcuts(chromium, live_server):
    call_command("seed_demo", "--scale", "0.02", "--force", stdout=io.StringIO())
    page, problems = _page(chromium, 1280)
    url = live_server.url
    _sign_in(page, url, "rep")

    # "/" puts the cursor in search; typing there is not taken as shortcuts.
    page.keyboard.press("/")
    assert page.evaluate("() => document.activeElement.id") == "nav-search"
    page.keyboard.type("n?")
    assert page.input_value("#nav-search") == "n?"
    assert page.locator(".modal.show").count() == 0
    page.keyboard.press("Escape")
    page.evaluate("() => document.activeElement.blur()")

    # "?" shows the help; "n" on the home page offers a choice of records.
    page.keyboard.press("?")
    _shown(page, "shortcut-help")
    page.keyboard.press("Escape")
    page.locator("#shortcut-help").wait_for(state="hidden")
    page.keyboard.press("n")
    _shown(page, "new-record")
    assert page.locator("#new-record a").first.text_content() == "Lead"
    page.keyboard.press("Escape")
    page.locator("#new-record").wait_for(state="hidden")

    # On a list, "n" opens that list's new-record form.
    page.goto(f"{url}/leads/")
    page.keyboard.press("n")
    page.wait_for_url(f"{url}/leads/new/")

    # On a phone, "/" opens the search under the bar.
    phone, phone_problems = _page(page.context.browser, 390)
    _sign_in(phone, url, "rep")
    phone.keyboard.press("/")
    phone.locator("#nav-search-phone-input").wait_for(state="visible")
    phone.wait_for_function("() => document.activeElement.id === 'nav-search-phone-input'")
    assert problems == [] and phone_problems == []


def test_dark_mode_is_remembered(chromium, live_server):
    call_command("seed_demo", "--scale", "0.02", "--force", stdout=io.StringIO())
    page, problems = _page(chromium, 1280)
    _sign_in(page, live_server.url, "agent")
    assert page.evaluate("() => document.documentElement.dataset.bsTheme") == "light"
    page.click("#user-menu")
    page.click("[data-theme-choice=dark]")
    assert page.evaluate("() => document.documentElement.dataset.bsTheme") == "dark"
    page.reload()
    assert page.evaluate("() => document.documentElement.dataset.bsTheme") == "dark"
    page.click("#user-menu")
    page.click("[data-theme-choice=auto]")
    page.emulate_media(color_scheme="dark")  # the system turns dark: so does the page
    page.wait_for_function("() => document.documentElement.dataset.bsTheme === 'dark'")
    page.emulate_media(color_scheme="light")
    page.wait_for_function("() => document.documentElement.dataset.bsTheme === 'light'")
    page.reload()
    assert page.evaluate("() => document.documentElement.dataset.bsTheme") == "light"
    assert problems == []
