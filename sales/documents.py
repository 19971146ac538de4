"""A quote as a PDF file, drawn with fpdf2 (pure Python; README, "Quotes").

The PDF is made from what the quote keeps (its line snapshot and the seller's and buyer's
details as they were), so the same quote always gives the same document: the page a rep
downloads and the file attached when the outbox sends it say the same thing.

Text is set in DejaVu Sans when the machine has it (Debian's fonts-dejavu-core, on most Linux
desktops and servers), which covers accented and non-Latin names; without it (the slim Docker
image) the PDF uses the built-in Helvetica and spells characters outside Latin-1 in ASCII.
"""

import logging
from pathlib import Path

from anyascii import anyascii
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import FontFace

from sales.models import Quote
from sales.pricing import quote_figures
from sales.templatetags.sales_format import money

FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/usr/local/share/fonts",
    "/Library/Fonts",
)
# Embedding a font subset logs each table it prunes at INFO.
logging.getLogger("fontTools").setLevel(logging.WARNING)

NEXT_LINE = {"new_x": XPos.LMARGIN, "new_y": YPos.NEXT}


def _font_dir() -> Path | None:
    for candidate in map(Path, FONT_DIRS):
        if (candidate / "DejaVuSans.ttf").is_file() and (
            candidate / "DejaVuSans-Bold.ttf"
        ).is_file():
            return candidate
    return None


class QuotePDF(FPDF):
    def __init__(self, quote: Quote):
        super().__init__(format="A4")
        self.quote = quote
        self.set_auto_page_break(auto=True, margin=18)
        self.set_margins(18, 18, 18)
        fonts = _font_dir()
        self.unicode = fonts is not None
        if self.unicode:
            self.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
            self.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
            self.family = "DejaVu"
        else:
            self.family = "Helvetica"
        self.set_title(f"Quote {quote.number}")
        self.set_creator("CRM")

    def text_of(self, value) -> str:
        text = str(value or "")
        if self.unicode:
            return text
        return "".join(ch if ord(ch) < 256 else anyascii(ch) for ch in text)

    def font(self, size=10, bold=False):
        self.set_font(self.family, "B" if bold else "", size)

    def footer(self):
        self.set_y(-12)
        self.font(8)
        self.set_text_color(120)
        self.cell(0, 5, self.text_of(f"Quote {self.quote.number} · page {self.page_no()}/{{nb}}"))
        self.set_text_color(0)


def quote_pdf(quote: Quote) -> bytes:
    """The quote as a PDF document."""
    figures = quote_figures(quote.lines)
    seller, buyer = quote.seller or {}, quote.buyer or {}
    if not buyer:
        deal = quote.opportunity
        contact = deal.primary_contact
        buyer = {
            "account_name": deal.account.name if deal.account_id else "",
            "contact_name": contact.full_name if contact else "",
            "contact_email": contact.email if contact else "",
        }
    pdf = QuotePDF(quote)
    t = pdf.text_of
    width = pdf.epw
    pdf.add_page()

    # Heading, with the seller on the right.
    top = pdf.get_y()
    pdf.font(18, bold=True)
    pdf.cell(width / 2, 9, t(f"Quote {quote.number}"), **NEXT_LINE)
    pdf.font(9)
    dated = f"Date {quote.created_at:%Y-%m-%d}"
    if quote.valid_until:
        dated += f" · valid until {quote.valid_until:%Y-%m-%d}"
    pdf.cell(width / 2, 5, t(dated), **NEXT_LINE)
    pdf.cell(width / 2, 5, t(f"All amounts in {quote.currency}"), **NEXT_LINE)
    left_bottom = pdf.get_y()
    seller_lines = [seller.get("legal_name", "")]
    seller_lines += (seller.get("address") or "").splitlines()
    if seller.get("tax_id"):
        seller_lines.append(f"Tax ID {seller['tax_id']}")
    seller_lines += [seller.get("email", ""), seller.get("phone", "")]
    pdf.set_xy(pdf.l_margin + width / 2, top)
    for index, line in enumerate(filter(None, seller_lines)):
        pdf.font(10 if index == 0 else 9, bold=index == 0)
        pdf.set_x(pdf.l_margin + width / 2)
        pdf.cell(width / 2, 5, t(line), align="R", **NEXT_LINE)
    pdf.set_y(max(left_bottom, pdf.get_y()) + 6)

    # The customer.
    pdf.font(8)
    pdf.set_text_color(110)
    pdf.cell(0, 4, "For", **NEXT_LINE)
    pdf.set_text_color(0)
    pdf.font(10, bold=True)
    pdf.cell(0, 5, t(buyer.get("account_name")), **NEXT_LINE)
    pdf.font(9)
    for line in (buyer.get("billing_address") or "").splitlines():
        pdf.cell(0, 4.5, t(line), **NEXT_LINE)
    contact = " · ".join(filter(None, [buyer.get("contact_name"), buyer.get("contact_email")]))
    if contact:
        pdf.cell(0, 4.5, t(contact), **NEXT_LINE)
    pdf.ln(5)

    # The lines.
    pdf.font(9)
    with pdf.table(
        col_widths=(70, 14, 26, 20, 16, 28),
        text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
        headings_style=FontFace(emphasis="BOLD", fill_color=(240, 240, 240)),
        line_height=5.5,
        first_row_as_headings=True,
    ) as table:
        head = table.row()
        for label in (
            "Item",
            "Qty",
            f"Unit price ({quote.currency})",
            "Discount",
            "Tax",
            f"Amount ({quote.currency})",
        ):
            head.cell(label)
        for line in figures.lines:
            row = table.row()
            item = line.description + (" (per month)" if line.per_month else "")
            if line.sku:
                item += f"\n{line.sku}"
            row.cell(t(item))
            row.cell(str(line.quantity))
            row.cell(money(line.unit_price))
            row.cell(f"{line.discount_percent.normalize():f} %" if line.discount_percent else "")
            row.cell(f"{line.tax_rate.normalize():f} %")
            row.cell(money(line.net))
    pdf.ln(4)

    # Totals, one block per billing kind.
    label_width, amount_width = 60, 34
    for totals in figures.totals:
        rows = [(f"{totals.label}{' (per month)' if totals.billing == 'monthly' else ''}", "")]
        rows.append(("Subtotal", money(totals.subtotal)))
        if totals.discount:
            rows += [("Discount", f"- {money(totals.discount)}"), ("Net", money(totals.net))]
        for tax in totals.taxes:
            rows.append((f"Tax {tax.rate.normalize():f} % on {money(tax.base)}", money(tax.tax)))
        if not totals.taxes:
            rows.append(("Tax", money(0)))
        total_label = "Total per month" if totals.billing == "monthly" else "Total"
        rows.append((total_label, f"{quote.currency} {money(totals.total)}"))
        for index, (label, amount) in enumerate(rows):
            bold = index in (0, len(rows) - 1)
            pdf.font(9, bold=bold)
            pdf.set_x(pdf.l_margin + width - label_width - amount_width)
            pdf.cell(label_width, 5, t(label))
            pdf.cell(amount_width, 5, t(amount), align="R", **NEXT_LINE)
        pdf.ln(3)

    pdf.font(9)
    if seller.get("payment_terms"):
        pdf.multi_cell(0, 4.5, t(f"Payment terms: {seller['payment_terms']}"), **NEXT_LINE)
    if seller.get("prepared_by"):
        pdf.multi_cell(0, 4.5, t(f"Prepared by {seller['prepared_by']}."), **NEXT_LINE)
    if seller.get("quote_footer"):
        pdf.ln(4)
        pdf.font(8)
        pdf.set_text_color(90)
        pdf.multi_cell(0, 4, t(seller["quote_footer"]), **NEXT_LINE)
    return bytes(pdf.output())


def quote_pdf_filename(quote: Quote) -> str:
    return f"Quote-{quote.number}.pdf"
