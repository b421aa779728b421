"""Invoice and credit-note PDFs, drawn with fpdf2 (pure Python: no system packages, no service).

`render_document(DocumentData) -> bytes` knows nothing of databases or invoice kinds: each kind's
document adapter (tenant_app/documents.py, marketplace_app/documents.py) fills a `DocumentData`
from what it stores, and breederhq/invoicing/documents.py stores the result once. Amounts are
integer minor units, printed through `breederhq.money.Money.format` (the currency's own number of
decimals). The font is DejaVu Sans, kept in `fonts/` (its licence beside it), so any name prints as
written. Why fpdf2: docs/decisions/0007-invoice-pdfs.md.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from breederhq.money import Money

#: fontTools (fpdf2's font subsetting) logs every glyph at INFO: not worth a log line per document.
logging.getLogger("fontTools").setLevel(logging.WARNING)

FONTS = Path(__file__).resolve().parent / "fonts"
FONT = "DejaVu"
TITLES = {"invoice": "Invoice", "credit_note": "Credit note"}


@dataclass(frozen=True)
class Party:
    """A seller or a buyer as stored: the name, then whatever address and contact lines there are."""

    name: str
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class DocumentLine:
    description: str
    quantity: int
    unit_price_cents: int
    total_cents: int


@dataclass(frozen=True)
class DocumentData:
    """Everything one document prints. `kind` is "invoice" or "credit_note"."""

    kind: str
    number: str
    currency: str
    seller: Party
    buyer: Party
    issue_date: date
    lines: tuple[DocumentLine, ...]
    #: None: not itemised (a credit note states the amount credited, as stored).
    subtotal_cents: int | None
    tax_cents: int | None
    total_cents: int
    due_date: date | None = None
    supply_date: date | None = None
    #: A credit note names the invoice it corrects; a reissued invoice the one it replaces.
    references: tuple[str, ...] = ()
    #: (label, text) rows under the totals: payment instructions, notes, the refund's reason.
    notes: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def money(cents: int, currency: str) -> str:
    return Money(cents, currency).format()


class _Document(FPDF):
    def __init__(self, footer_text: str):
        super().__init__(format="A4", unit="mm")
        self._footer_text = footer_text
        self.add_font(FONT, "", str(FONTS / "DejaVuSans.ttf"))
        self.add_font(FONT, "B", str(FONTS / "DejaVuSans-Bold.ttf"))
        self.set_auto_page_break(auto=True, margin=18)
        self.set_margins(18, 18, 18)

    def footer(self):
        self.set_y(-12)
        self.set_font(FONT, "", 7)
        self.cell(0, 5, f"{self._footer_text} - page {self.page_no()}/{{nb}}", align="C")


def _party(pdf: _Document, heading: str, party: Party, *, x: float, y: float, width: float) -> float:
    pdf.set_xy(x, y)
    pdf.set_font(FONT, "B", 9)
    pdf.cell(width, 5, heading, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_x(x)
    pdf.set_font(FONT, "B", 10)
    pdf.multi_cell(width, 5, party.name or "-", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 9)
    for line in party.lines:
        pdf.set_x(x)
        pdf.multi_cell(width, 4.5, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return pdf.get_y()


def render_document(data: DocumentData) -> bytes:
    """The PDF of one invoice or credit note."""
    title = TITLES[data.kind]
    pdf = _Document(f"{title} {data.number}")
    pdf.set_title(f"{title} {data.number}")
    pdf.set_author(data.seller.name)
    pdf.set_creator("BreederHQ")
    # A fixed creation date keeps the bytes a function of the data (the stored sha256 is re-checkable).
    pdf.set_creation_date(_midnight(data.issue_date))
    pdf.add_page()
    width = pdf.epw

    pdf.set_font(FONT, "B", 18)
    pdf.cell(width, 10, f"{title} {data.number}", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 9)
    facts = [("Issue date", data.issue_date.isoformat())]
    if data.due_date:
        facts.append(("Due date", data.due_date.isoformat()))
    if data.supply_date:
        facts.append(("Date of supply", data.supply_date.isoformat()))
    facts.append(("Currency", data.currency))
    for label, value in facts:
        pdf.cell(30, 5, f"{label}:")
        pdf.cell(width - 30, 5, value, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    for reference in data.references:
        pdf.cell(width, 5, reference, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)

    top = pdf.get_y()
    half = (width - 8) / 2
    bottom = max(
        _party(pdf, "From (seller)", data.seller, x=pdf.l_margin, y=top, width=half),
        _party(pdf, "To (buyer)", data.buyer, x=pdf.l_margin + half + 8, y=top, width=half),
    )
    pdf.set_xy(pdf.l_margin, bottom + 6)

    pdf.set_font(FONT, "", 9)
    with pdf.table(
        col_widths=(86, 18, 35, 35),
        text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT"),
        headings_style=_bold(pdf),
        line_height=5.5,
        first_row_as_headings=True,
    ) as table:
        table.row(("Description", "Qty", "Unit price", "Line total"))
        for line in data.lines:
            table.row(
                (
                    line.description,
                    str(line.quantity),
                    money(line.unit_price_cents, data.currency),
                    money(line.total_cents, data.currency),
                )
            )
    pdf.ln(3)

    totals = [("Subtotal", data.subtotal_cents), ("Tax", data.tax_cents), ("Total", data.total_cents)]
    for label, cents in totals:
        if cents is None:
            continue
        pdf.set_font(FONT, "B" if label == "Total" else "", 10)
        pdf.cell(width - 45, 6, f"{label} ({data.currency})" if label == "Total" else label, align="R")
        pdf.cell(45, 6, money(cents, data.currency), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)

    for label, text in data.notes:
        if not text:
            continue
        pdf.set_font(FONT, "B", 9)
        pdf.cell(width, 5, label, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(FONT, "", 9)
        pdf.multi_cell(width, 4.5, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(2)
    return bytes(pdf.output())


def _bold(pdf: FPDF):
    from fpdf.fonts import FontFace

    return FontFace(family=FONT, emphasis="BOLD")


def _midnight(day: date):
    from datetime import datetime

    return datetime(day.year, day.month, day.day, tzinfo=UTC)
