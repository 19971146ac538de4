"""Demo knowledge base: categories and articles that answer the demo tickets' questions (public
ones in the help centre, internal desk procedures, a draft and an archived one), with the
searches, readings, votes and ticket-form deflections of the last months for the report."""

import datetime as dt
import hashlib

from django.utils.text import slugify

from support.choices import ArticleStatus, ArticleVisibility, DeflectionStep, HelpSearchSource

CATEGORIES = [
    ("Getting started", "First steps: your workspace, your team and your data.", 10),
    ("Account and sign-in", "Passwords, two-factor authentication and security.", 20),
    ("Billing and invoices", "Plans, invoices, VAT and payments.", 30),
    ("Import and export", "Bringing your data in and taking it out.", 40),
    ("Integrations and API", "Calendars, the REST API and webhooks.", 50),
    ("Desk procedures", "How the support team handles special cases (staff only).", 90),
]
PUBLIC, INTERNAL = ArticleVisibility.PUBLIC, ArticleVisibility.INTERNAL
PUBLISHED, DRAFT, ARCHIVED = ArticleStatus.PUBLISHED, ArticleStatus.DRAFT, ArticleStatus.ARCHIVED

# (category, title, summary, body, visibility, status)
ARTICLES = [
    (
        "Account and sign-in",
        "Reset your password",
        "Forgot your password or it stopped working? Set a new one in two minutes.",
        """If you forgot your password, you can set a new one yourself.

1. Open the sign-in page and click **Forgot password?**
2. Enter the email address of your account and send the form.
3. Open the email we send you (check your spam folder) and click the link within one hour.
4. Choose a new password of at least 10 characters.

## The link does not work

Each link works once and for one hour. Ask for a new one and use only the newest email.

## Still locked out

After five wrong passwords your account is locked for 15 minutes. Wait, then try again, or
[contact support](/support/new/).""",
        PUBLIC,
        PUBLISHED,
    ),
    (
        "Account and sign-in",
        "Set up two-factor authentication",
        "Protect your account with a code from an authenticator app or a security key.",
        """Two-factor authentication asks for a second proof after your password.

1. Open **Your account → Security**.
2. Click **Set up an authenticator app** and scan the QR code with an app such as
   FreeOTP, Aegis or Google Authenticator.
3. Type the six-digit code the app shows to confirm.
4. Download your **recovery codes** and keep them somewhere safe.

You can also register a security key or passkey on the same page.""",
        PUBLIC,
        PUBLISHED,
    ),
    (
        "Account and sign-in",
        "Two-factor codes are not accepted or not arriving",
        "Codes rejected? Usually the phone's clock is off. Here is how to fix it.",
        """Authenticator codes depend on the time of your phone.

- Turn on **automatic date and time** in your phone's settings.
- Type the code shown now, not one that is about to change.
- Lost your phone? Sign in with one of your **recovery codes**, then set up the new phone.

If you have no recovery codes left, your administrator can reset your second factor.""",
        PUBLIC,
        PUBLISHED,
    ),
    (
        "Getting started",
        "Add a new user to your workspace",
        "Invite colleagues and give them the right role.",
        """Administrators invite new users.

1. Open **Admin → People** and click **Invite**.
2. Enter the colleague's name and email address and choose their roles
   (sales rep, support agent, manager).
3. They receive an email with a link to choose their password.

An invitation link is valid for three days; you can send it again from the same page.""",
        PUBLIC,
        PUBLISHED,
    ),
    (
        "Getting started",
        "Get started in five steps",
        "Set up your workspace: team, data, pipeline, email and your first report.",
        """Welcome! These five steps take about half an hour.

1. **Invite your team** (Admin → People).
2. **Import your contacts** from a CSV or XLSX file.
3. **Set up your pipeline** stages to match how you sell.
4. **Connect your email** so replies land on the right record.
5. **Open the dashboards** to see your pipeline and support at a glance.""",
        PUBLIC,
        PUBLISHED,
    ),
    (
        "Billing and invoices",
        "Understand your invoice and the VAT rate",
        "Why the VAT rate on your invoice may differ and how to correct it.",
        """The VAT rate follows the billing address and VAT number of your company.

- Companies in the EU with a valid **VAT number** are invoiced without VAT (reverse charge).
- Without a VAT number, the rate of your country applies.

If the rate is wrong, check your billing address and VAT number under **Billing**. Invoices
already issued are corrected with a credit note: [contact support](/support/new/).""",
        PUBLIC,
        PUBLISHED,
    ),
    (
        "Billing and invoices",
        "Change your billing address",
        "Update the company name, address or VAT number printed on your invoices.",
        """1. Open **Billing → Billing details**.
2. Change the company name, address or VAT number and save.

The new address is printed on every invoice from the next one on.""",
        PUBLIC,
        PUBLISHED,
    ),
    (
        "Billing and invoices",
        "Download past invoices",
        "All your invoices as PDF files, for as long as you are a customer.",
        """Open **Billing → Invoices**. Every invoice can be downloaded as a PDF file; use the
year filter to find older ones. Your accountant can receive them by email: add their address
under **Billing details → Invoice recipients**.""",
        PUBLIC,
        PUBLISHED,
    ),
    (
        "Billing and invoices",
        "You were charged twice",
        "A second charge is usually a pending card authorisation that disappears by itself.",
        """Card payments are first **authorised**, then charged. A declined first attempt can
show as a second, pending amount for a few days; it disappears by itself.

If both amounts are still charged after five working days, send us the dates and amounts
and we refund the duplicate.""",
        PUBLIC,
        PUBLISHED,
    ),
    (
        "Import and export",
        "Export your data to CSV",
        "Download leads, contacts, deals or tickets with the filters you chose.",
        """Every list can be exported.

1. Filter the list the way you need it.
2. Click **Export** and choose **CSV** or **XLSX**.

The file holds exactly the rows of the list, every page. An empty file means the filter
matched nothing: reset the filters and try again.""",
        PUBLIC,
        PUBLISHED,
    ),
    (
        "Import and export",
        "Fix encoding errors when importing a CSV file",
        "Accents look broken or the import stops? Save the file as UTF-8.",
        """Imports expect **UTF-8**. Spreadsheet programs often save CSV files in another
encoding.

- In Excel: **File → Save as → CSV UTF-8 (comma delimited)**.
- In LibreOffice: tick **Edit filter settings** and choose **Unicode (UTF-8)**.

Then start the import again; rows already imported are recognised and not doubled.""",
        PUBLIC,
        PUBLISHED,
    ),
    (
        "Integrations and API",
        "API rate limits",
        "How many API requests you may send, and what to do when you get a 429 answer.",
        """The REST API allows **600 requests a minute** per token. Past that, it answers
`429 Too Many Requests` with a `Retry-After` header: wait that many seconds and retry.

Ask for pages of 100 rows rather than one row at a time, and use webhooks instead of
polling for changes.""",
        PUBLIC,
        PUBLISHED,
    ),
    (
        "Integrations and API",
        "Connect your calendar",
        "Meetings from the CRM in Google Calendar, Outlook or any calendar app.",
        """Subscribe to your personal calendar feed from **Your account → Calendar**.""",
        PUBLIC,
        DRAFT,
    ),
    (
        "Desk procedures",
        "Refunding a double charge",
        "When and how an agent refunds a duplicate card payment.",
        """Refund only after the customer confirms **both** charges are final (five working
days after the payment).

1. Find both payments in the payment provider's dashboard.
2. Refund the later one in full; never the first.
3. Add an internal note to the ticket with the refund's reference.
4. Reply with the article "You were charged twice" and the refund date.""",
        INTERNAL,
        PUBLISHED,
    ),
    (
        "Desk procedures",
        "Escalating a suspected outage",
        "Three customers report the same error within an hour: treat it as an outage.",
        """- Set the tickets to **urgent** and tag them `outage`.
- Post in the engineering on-call channel with the ticket references.
- Merge later duplicates into the first ticket and answer with the status page link.""",
        INTERNAL,
        PUBLISHED,
    ),
    (
        "Getting started",
        "Mobile app crashes on start (version 2.3)",
        "A workaround for the crash of version 2.3, fixed in 2.4.",
        """Update the app to version 2.4 or later from your app store.""",
        PUBLIC,
        ARCHIVED,
    ),
]

# Searches of the last months: (query, times, source); the report shows what found nothing.
SEARCHES = [
    ("reset password", 14, HelpSearchSource.HELP_CENTRE),
    ("invoice", 9, HelpSearchSource.HELP_CENTRE),
    ("vat", 6, HelpSearchSource.HELP_CENTRE),
    ("export csv", 5, HelpSearchSource.HELP_CENTRE),
    ("two factor", 4, HelpSearchSource.HELP_CENTRE),
    ("delete my account", 7, HelpSearchSource.HELP_CENTRE),
    ("single sign-on", 5, HelpSearchSource.HELP_CENTRE),
    ("change language", 3, HelpSearchSource.HELP_CENTRE),
    ("gdpr data request", 2, HelpSearchSource.HELP_CENTRE),
    ("cannot log in after password reset", 3, HelpSearchSource.TICKET_FORM),
    ("slow dashboard since the update", 2, HelpSearchSource.TICKET_FORM),
    ("refund", 4, HelpSearchSource.AGENT),
]


def _visitor(n: int) -> str:
    return hashlib.sha256(f"demo-visitor-{n}".encode()).hexdigest()


def seed(ctx):
    from support.models import (
        Article,
        ArticleCategory,
        ArticleVote,
        Deflection,
        HelpSearch,
    )
    from support.selectors import public_article_search

    rng, now = ctx.rng, ctx.now
    author = ctx.users.get("agent") or next(iter(ctx.users.values()), None)
    categories = {
        c.name: c
        for c in ctx.bulk_create(
            ArticleCategory,
            [
                ArticleCategory(name=name, slug=slugify(name), description=text, order=order)
                for name, text, order in CATEGORIES
            ],
        )
    }
    articles = []
    for n, (category, title, summary, body, visibility, status) in enumerate(ARTICLES):
        created = now - dt.timedelta(days=200 - 9 * n)
        published = status != DRAFT
        # Views are readings in the help centre: public published articles only.
        views = rng.randint(20, 400) if status == PUBLISHED and visibility == PUBLIC else 0
        articles.append(
            Article(
                title=title,
                slug=slugify(title),
                summary=summary,
                body=body,
                category=categories[category],
                visibility=visibility,
                status=status,
                author=author,
                created_at=created,
                updated_at=created + dt.timedelta(days=rng.randint(0, 30)),
                published_at=created + dt.timedelta(hours=2) if published else None,
                view_count=views,
            )
        )
    articles = ctx.bulk_create(Article, articles)

    votes, visitor = [], 0
    for article in articles:
        if not article.is_public:
            continue
        for _ in range(rng.randint(2, 12)):
            visitor += 1
            helpful = rng.random() < 0.8
            votes.append(
                ArticleVote(
                    article=article,
                    helpful=helpful,
                    visitor_key=_visitor(visitor),
                    created_at=now - dt.timedelta(days=rng.randint(0, 80)),
                )
            )
            if helpful:
                article.helpful_yes += 1
            else:
                article.helpful_no += 1
    ctx.bulk_create(ArticleVote, votes)
    Article.objects.bulk_update(articles, ["helpful_yes", "helpful_no"])

    searches = []
    for query, times, source in SEARCHES:
        # The ticket form and the agents' panel match any word; the help centre every word.
        any_word = source != HelpSearchSource.HELP_CENTRE
        found = public_article_search(query, any_word=any_word)[:5].count()
        for _ in range(times):
            searches.append(
                HelpSearch(
                    query=query,
                    results_count=found,
                    source=source,
                    created_at=now
                    - dt.timedelta(days=rng.randint(0, 85), minutes=rng.randint(0, 1440)),
                )
            )
    ctx.bulk_create(HelpSearch, searches)

    # The ticket form's funnel: suggested, some opened, a few solved without a ticket.
    steps = []
    public = [a for a in articles if a.is_public]
    for n in range(60):
        article, key = rng.choice(public), _visitor(10_000 + n)
        at = now - dt.timedelta(days=rng.randint(0, 85))
        steps.append(
            Deflection(article=article, step=DeflectionStep.SHOWN, visitor_key=key, created_at=at)
        )
        if n % 2 == 0:
            steps.append(
                Deflection(
                    article=article, step=DeflectionStep.OPENED, visitor_key=key, created_at=at
                )
            )
        if n % 5 == 0:
            steps.append(
                Deflection(
                    article=article, step=DeflectionStep.DEFLECTED, visitor_key=key, created_at=at
                )
            )
    ctx.bulk_create(Deflection, steps)
