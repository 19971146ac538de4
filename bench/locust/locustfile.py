"""A working day of reps, agents and managers, for locust (``bin/load-test`` runs it).

Each simulated person signs in at ``/login/`` as one of the load users (``bench/load_users.py``:
``load-rep-01``…, ``load-agent-01``…, ``load-manager-01``…, password ``LOAD_TEST_PASSWORD``,
default ``demo``) and then clicks through the pages a browser opens, with a pause between clicks
(``LOAD_TEST_WAIT``, default ``2-8`` seconds). Writes are the forms the pages carry, sent as the
browser sends them: the CSRF token and the form's one-time submission key parsed from the page,
HTMX requests with ``HX-Request`` and the ``X-CSRFToken`` header from ``<body hx-headers>``.

Reps, agents and managers come in the proportions 6:3:1. Every answer outside 2xx/3xx is an
error, and so is a redirect to the sign-in page (a lost session). Requests are named by page
(``lead detail``, not ``/leads/123/``) so the statistics are per page.

The users' names come from ``LOAD_TEST_USERS`` (JSON: ``{"reps": […], "agents": […],
"managers": […]}``), which ``bin/load-test`` sets from what it created.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re

from browsing import board_move, csrf_header, due, form_errors, links, page_form
from locust import HttpUser, between, task

PASSWORD = os.environ.get("LOAD_TEST_PASSWORD", "demo")
_low, _, _high = os.environ.get("LOAD_TEST_WAIT", "2-8").partition("-")
WAIT = between(float(_low), float(_high or _low))
_USERS = json.loads(os.environ.get("LOAD_TEST_USERS", "{}") or "{}")


def _usernames(kind: str, count: int) -> itertools.cycle:
    names = _USERS.get(f"{kind}s") or [f"load-{kind}-{i:02d}" for i in range(1, count + 1)]
    return itertools.cycle(names)


_NEXT_NAME = {
    "rep": _usernames("rep", 20),
    "agent": _usernames("agent", 10),
    "manager": _usernames("manager", 3),
}


WORDS = ("call", "pricing", "renewal", "demo", "contract", "budget", "follow", "invoice")


# People ------------------------------------------------------------------------------------


class Person(HttpUser):
    """Signs in once, then works; remembers what its pages showed to pick the next click."""

    abstract = True
    wait_time = WAIT
    kind = ""

    def on_start(self):
        self.username = next(_NEXT_NAME[self.kind])
        self.token = ""
        self.login()

    def login(self):
        page = self.open("/login/", "sign-in page", anonymous=True)
        form = page and page_form(page, r"login")
        if form is None:
            return
        data = {**form["fields"], "username": self.username, "password": PASSWORD}
        self.send("/login/", data, "sign in", referer="/login/")

    # Requests that count a lost session or any answer outside 2xx/3xx as an error.

    def open(self, path: str, name: str, *, anonymous: bool = False) -> str | None:
        with self.client.get(
            path, name=name, allow_redirects=False, catch_response=True
        ) as response:
            if not self._ok(response, anonymous=anonymous):
                return None
            if response.status_code != 200:
                response.failure(f"{response.status_code} where a page was expected")
                return None
            page = response.text
            self.token = csrf_header(page) or self.token
            return page

    def send(
        self,
        path: str,
        data: dict,
        name: str,
        *,
        referer: str,
        htmx: bool = False,
    ) -> str | None:
        headers = {"Referer": self.client.base_url + referer}
        if htmx:
            headers.update({"HX-Request": "true", "X-CSRFToken": self.token})
        with self.client.post(
            path,
            data=data,
            headers=headers,
            name=name,
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if not self._ok(response):
                return None
            if form_errors(response.text):
                # The form came back with its errors: nothing was saved.
                response.failure("the form came back with errors")
                return None
            return response.text

    def _ok(self, response, *, anonymous: bool = False) -> bool:
        status = response.status_code
        if not 200 <= status < 400:
            response.failure(f"answered {status}")
            return False
        location = response.headers.get("Location", "")
        if not anonymous and location.split("?")[0].rstrip("/").endswith(("/login", "/auth/login")):
            response.failure("sent to the sign-in page (session lost)")
            self.login()
            return False
        response.success()
        return True

    def log_activity_and_task(self, page: str, subject_path: str, page_name: str):
        form = page_form(page, r"/timeline/[^/]+/\d+/activities/$")
        if form and random.random() < 0.6:
            data = {
                **form["fields"],
                "activity-kind": random.choice(["call", "note", "email", "meeting"]),
                "activity-summary": f"{random.choice(WORDS).capitalize()} with the customer",
                "activity-body": "Went through the open points; next step agreed.",
                "activity-occurred_at": "",
            }
            if form["options"].get("activity-kind"):
                data["activity-kind"] = random.choice(form["options"]["activity-kind"])
            self.send(
                form["action"], data, f"log activity ({page_name})", referer=subject_path, htmx=True
            )
        form = page_form(page, r"/timeline/[^/]+/\d+/tasks/$")
        if form and random.random() < 0.3:
            data = {
                **form["fields"],
                "task-title": f"Follow up: {random.choice(WORDS)}",
                "task-due_at": due(random.randint(1, 7)),
                "task-assignee": "",
                "task-notes": "",
            }
            self.send(
                form["action"], data, f"create task ({page_name})", referer=subject_path, htmx=True
            )


class Rep(Person):
    """A sales rep: their leads and deals, the board, contacts, the timeline."""

    weight = 6
    kind = "rep"

    def on_start(self):
        self.leads: list[str] = []
        self.deals: list[str] = []
        self.contacts: list[str] = []
        self.surnames: list[str] = []
        super().on_start()

    @task(3)
    def home(self):
        self.open("/", "home")

    @task(4)
    def lead_list(self):
        page = self.open("/leads/", "lead list")
        if page:
            self.leads = links(page, r"/leads/\d+/") or self.leads

    @task(5)
    def lead_detail(self):
        if not self.leads:
            return self.lead_list()
        path = random.choice(self.leads)
        page = self.open(path, "lead detail")
        if page:
            self.log_activity_and_task(page, path, "lead")

    @task(3)
    def move_deal(self):
        page = self.open("/opportunities/board/", "board")
        if not page:
            return
        move = board_move(page)
        if move is None:
            return
        self.send(
            *move,
            "move deal (board)",
            referer="/opportunities/board/",
            htmx=True,
        )

    @task(2)
    def deal_detail(self):
        if not self.deals:
            page = self.open("/opportunities/", "deal list")
            self.deals = links(page or "", r"/opportunities/\d+/")
            if not self.deals:
                return
        path = random.choice(self.deals)
        page = self.open(path, "deal detail")
        if page:
            self.log_activity_and_task(page, path, "deal")

    @task(3)
    def contact_search(self):
        if not self.surnames:
            page = self.open("/contacts/", "contact list")
            if not page:
                return
            self.contacts = links(page, r"/contacts/\d+/")
            names = re.findall(r'href="/contacts/\d+/"[^>]*>([^<]+)</a>', page)
            self.surnames = [n.split()[-1] for n in names if n.strip()] or ["a"]
        word = random.choice(self.surnames)
        page = self.open(f"/contacts/?q={word}", "contact search")
        if page:
            self.contacts = links(page, r"/contacts/\d+/") or self.contacts

    @task(3)
    def contact_detail(self):
        if not self.contacts:
            return self.contact_search()
        path = random.choice(self.contacts)
        page = self.open(path, "contact detail")
        if page and random.random() < 0.3:
            self.log_activity_and_task(page, path, "contact")

    @task(1)
    def task_list(self):
        self.open("/tasks/", "task list")


class Agent(Person):
    """A support agent: the queue, tickets, replies and statuses, the knowledge base."""

    weight = 3
    kind = "agent"

    def on_start(self):
        self.tickets: list[str] = []
        super().on_start()

    @task(4)
    def ticket_list(self):
        path = random.choice(["/tickets/", "/tickets/mine/", "/tickets/unassigned/"])
        page = self.open(path, "ticket list")
        if page:
            self.tickets = links(page, r"/tickets/\d+/") or self.tickets

    @task(6)
    def ticket_work(self):
        if not self.tickets:
            return self.ticket_list()
        path = random.choice(self.tickets)
        page = self.open(path, "ticket detail")
        if not page:
            return
        chance = random.random()
        if chance < 0.35:
            form = page_form(page, r"/tickets/\d+/reply/$")
            if form:
                data = {
                    **form["fields"],
                    "body": "Thank you for the details. We have found the cause and the fix "
                    "is on its way; you will hear from us today.",
                    "status": "",
                }
                self.send(form["action"], data, "reply to ticket", referer=path)
        elif chance < 0.55:
            form = page_form(page, r"/tickets/\d+/status/$")
            if form and form["options"].get("status"):
                data = {**form["fields"], "status": random.choice(form["options"]["status"])}
                self.send(form["action"], data, "change ticket status", referer=path)

    @task(2)
    def kb_search(self):
        self.open(f"/kb/?q={random.choice(WORDS)}", "knowledge base search")

    @task(1)
    def home(self):
        self.open("/", "home")


class Manager(Person):
    """A manager: dashboards, the pipeline and forecast, the team's board, reports."""

    weight = 1
    kind = "manager"

    @task(2)
    def home(self):
        self.open("/", "home")

    @task(3)
    def dashboards(self):
        path = random.choice(
            [
                "/analytics/",
                "/analytics/pipeline/",
                "/analytics/funnel/",
                "/analytics/support/",
                "/analytics/retention/",
                "/analytics/clv/",
            ]
        )
        self.open(path, "dashboard")

    @task(2)
    def forecast(self):
        self.open("/opportunities/forecast/", "forecast")

    @task(2)
    def board(self):
        self.open("/opportunities/board/", "board")

    @task(2)
    def team_lists(self):
        path = random.choice(["/leads/", "/opportunities/", "/tickets/breaching/"])
        self.open(path, "team list (manager)")

    @task(1)
    def reports(self):
        path = random.choice(["/at-risk/", "/renewals/", "/kb/report/", "/subscriptions/"])
        self.open(path, "report (manager)")
