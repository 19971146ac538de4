"""Every main page of the demo, opened in Chromium by each role and by a visitor without a login,
runs with a clean console: no JavaScript error, no failed load, and nothing the
Content-Security-Policy refused (a script, a style, a frame)."""

import contextlib
import http.server
import io
import threading

import pytest
from django.core.management import call_command

from crm.models import User
from leads.models import Campaign, Lead
from tests.pages import pages_for, public_pages

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

# Reports each refusal of the Content-Security-Policy on the console, where the test reads it
# (Chromium prints its own "Refused to ..." line as well; this one also names the directive).
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline")
    + " at " + e.sourceFile + ":" + e.lineNumber);
});
"""

# Roles share most screens: each screen is opened by the first role that has it, and every role's
# home page (its widgets differ) by each.
OPENED_BY_EACH = {"Home"}


def _problems_while_visiting(page, base_url, pages):
    """Opens each page and returns what went wrong: a non-200 answer or a console error."""
    problems, current = [], {"label": ""}
    page.on(
        "console",
        lambda msg: msg.type == "error" and problems.append(f"{current['label']}: {msg.text}"),
    )
    page.on("pageerror", lambda error: problems.append(f"{current['label']}: {error}"))
    for label, path in pages:
        current["label"] = f"{label} ({path})"
        response = page.goto(base_url + path, wait_until="load")
        if response is None or response.status != 200:
            status = response.status if response else "no answer"
            problems.append(f"{current['label']}: HTTP {status}")
    return problems


def _sign_in(page, base_url, username):
    page.goto(f"{base_url}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/")


def _new_page(chromium):
    context = chromium.new_context()
    context.add_init_script(REPORT_VIOLATIONS)
    page = context.new_page()
    page.set_default_timeout(15_000)
    return page


def test_every_page_of_the_demo_has_a_clean_console(chromium, live_server):
    call_command("seed_demo", "--scale", "0.05", "--force", stdout=io.StringIO())
    page = _new_page(chromium)
    problems = _problems_while_visiting(page, live_server.url, public_pages())
    page.context.close()
    opened = set()
    for username in ("rep", "agent", "manager", "admin"):
        page = _new_page(chromium)
        _sign_in(page, live_server.url, username)
        pages = [p for p in pages_for(username) if p[0] not in opened or p[0] in OPENED_BY_EACH]
        opened.update(label for label, _ in pages)
        problems += [
            f"{username}: {p}" for p in _problems_while_visiting(page, live_server.url, pages)
        ]
        page.context.close()
    assert not problems, "\n".join(problems)


def test_scripted_behaviour_works_under_the_policy(chromium, live_server):
    """What used to be inline script now runs from static files: confirmations, a select that
    submits its form, progress bars, the dashboards' charts, HTMX filtering."""
    call_command("seed_demo", "--scale", "0.05", "--force", stdout=io.StringIO())
    page = _new_page(chromium)
    errors = []
    page.on("console", lambda msg: msg.type == "error" and errors.append(msg.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    _sign_in(page, live_server.url, "manager")
    url = live_server.url

    # The bulk "delete" asks first; dismissing it sends nothing.
    lead = Lead.objects.visible_to(User.objects.get(username="manager")).order_by("pk").first()
    page.goto(f"{url}/leads/")
    page.evaluate("window.__marker = 'same page'")
    page.check(f"input[name=ids][value='{lead.pk}']")
    page.select_option("#bulk-action", "delete")
    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.click("#bulk-form button[type=submit]")
    assert dialogs == ["Delete the ticked leads?"]
    assert page.evaluate("window.__marker") == "same page"
    assert Lead.objects.filter(pk=lead.pk).exists()

    # A filter's select reloads only the table (HTMX), without eval.
    page.locator("form[hx-get] select").first.select_option(index=1)
    page.wait_for_function("() => window.location.search.length > 1")
    assert page.evaluate("window.__marker") == "same page"

    # The board's owner picker submits its form when changed.
    page.goto(f"{url}/opportunities/board/")
    page.select_option("select[name=owner]", index=1)
    page.wait_for_url("**/opportunities/board/**owner=*")

    # Progress bars get their width from data-progress.
    page.goto(f"{url}/onboarding/")
    width = page.eval_on_selector("[data-progress]", "el => el.style.width")
    assert width.endswith("%")

    # The ticket list's minute poll skips its turn while a ticket is ticked for a bulk action.
    page.goto(f"{url}/tickets/")
    poll = (
        "() => new Promise(done => {"
        " const poller = document.querySelector('[data-pause-while]');"
        " let sent = false;"
        " const seen = () => { sent = true; };"
        " document.addEventListener('htmx:beforeSend', seen, {once: true});"
        " htmx.ajax('GET', poller.getAttribute('hx-get'),"
        "   {source: poller, target: '#list-table'}).then(() => done(sent), () => done(sent));"
        " setTimeout(() => done(sent), 1000); })"
    )
    assert page.evaluate(poll) is True
    page.locator("#list-table input[name=tickets]").first.check()
    assert page.evaluate(poll) is False

    # Every chart of a dashboard is drawn.
    page.goto(f"{url}/analytics/pipeline/")
    drawn = page.evaluate(
        "Array.from(document.querySelectorAll('canvas[data-figure]'))"
        ".map(c => Boolean(Chart.getChart(c)))"
    )
    assert drawn and all(drawn)

    assert errors == []


@contextlib.contextmanager
def _customer_site(html: str):
    """A web server on another origin of this machine that answers every GET with ``html``, as
    a customer's site embedding the form would (the live server answers as localhost)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the name http.server calls
            body = html.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/signup"
    finally:
        server.shutdown()
        server.server_close()


def test_the_web_form_works_inside_a_customers_page(chromium, live_server):
    """A customer's site shows the web-to-lead form in an iframe and a visitor sends it there;
    the app's own pages refuse to be framed."""
    campaign = Campaign.objects.create(name="Spring webinar", slug="spring-webinar")
    customer_page = (
        "<!doctype html><title>Customer</title>"
        f'<iframe id="form" src="{live_server.url}/forms/{campaign.slug}/"></iframe>'
        f'<iframe id="app" src="{live_server.url}/login/"></iframe>'
    )
    page = _new_page(chromium)
    with _customer_site(customer_page) as customer_url:
        page.goto(customer_url)
        form = page.frame_locator("#form")
        form.locator("input[name=first_name]").fill("Ada")
        form.locator("input[name=last_name]").fill("Lovelace")
        form.locator("input[name=email]").fill("ada@example.com")
        form.locator("button[type=submit]").click()
        form.locator("text=Thank you").wait_for()
        assert Lead.objects.filter(email="ada@example.com").exists()
        # The sign-in page stays empty in its frame: frame-ancestors 'none'.
        assert all(frame.locator("input[name=username]").count() == 0 for frame in page.frames)
