"""Draw a certificate: fpdf2, landscape A4, Unicode names (shaped), and a segno QR to the verify page."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import segno
from fpdf import FPDF

from coachbox.certificates.fonts import Fonts

log = logging.getLogger("coachbox.certificates")

PAGE_W, PAGE_H = 297.0, 210.0  # A4 landscape, mm
INK = (33, 37, 41)
ACCENT = (20, 108, 92)
MUTED = (110, 117, 125)


@dataclass(frozen=True)
class CertificateContent:
    """Everything printed on one certificate, already in the learner's language."""

    org_name: str
    heading: str  # "Certificate of completion"
    presented: str  # "This certifies that"
    learner_name: str  # exactly as the learner gave it
    completed: str  # "has completed the course"
    course_title: str
    details: str  # "with a score of 85% · 2 March 2026"
    code_label: str  # "Verification code: K7QM-3XPA"
    verify_label: str  # "Scan or visit to check: https://…/verify/K7QM-3XPA"
    verify_url: str
    logo: Path | None = None


class FontMissing(Exception):
    """The configured Unicode font is not installed and the text needs more than Latin-1."""


def render(content: CertificateContent, fonts: Fonts) -> bytes:
    """The certificate as PDF bytes."""
    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    pdf.set_title(f"{content.heading}: {content.learner_name}")
    pdf.set_author(content.org_name)
    pdf.set_creator("coachbox")
    pdf.add_page()
    family = _set_up_fonts(pdf, fonts, content)

    _frame(pdf)
    top = 24.0
    if content.logo and content.logo.is_file():
        try:
            pdf.image(str(content.logo), x=(PAGE_W - 30) / 2, y=18, h=22, keep_aspect_ratio=True, w=30)
            top = 44.0
        except Exception:  # noqa: BLE001 - a broken logo file must not cost the learner a certificate
            log.warning("certificate logo could not be drawn", extra={"path": str(content.logo)})

    _line(pdf, family, "B", 15, ACCENT, top, content.org_name)
    _line(pdf, family, "B", 30, INK, top + 13, content.heading)
    _line(pdf, family, "", 14, MUTED, top + 33, content.presented)
    _line(pdf, family, "B", _fit(pdf, family, content.learner_name, 34, 250), INK, top + 45, content.learner_name, h=16)
    _rule(pdf, top + 63)
    _line(pdf, family, "", 14, MUTED, top + 68, content.completed)
    _line(
        pdf, family, "B", _fit(pdf, family, content.course_title, 22, 250), ACCENT, top + 78, content.course_title, h=11
    )
    _line(pdf, family, "", 13, INK, top + 93, content.details)

    # Verification block, bottom right: a vector QR (crisp at any zoom and when printed) and the code.
    qr_size = 34.0
    qr_x, qr_y = PAGE_W - 24 - qr_size, PAGE_H - 24 - qr_size
    _qr(pdf, content.verify_url, qr_x, qr_y, qr_size)
    pdf.set_text_color(*MUTED)
    pdf.set_font(family, "B", 11)
    pdf.set_xy(24, PAGE_H - 42)
    pdf.cell(qr_x - 30, 6, content.code_label)
    pdf.set_font(family, "", 9)
    pdf.set_xy(24, PAGE_H - 35)
    pdf.cell(qr_x - 30, 5, content.verify_label)
    return bytes(pdf.output())


def _set_up_fonts(pdf: FPDF, fonts: Fonts, content: CertificateContent) -> str:
    if not fonts.regular.is_file():
        texts = [
            content.org_name,
            content.heading,
            content.presented,
            content.learner_name,
            content.completed,
            content.course_title,
            content.details,
            content.code_label,
            content.verify_label,
        ]
        try:
            for text in texts:
                text.encode("latin-1")
        except UnicodeEncodeError:
            raise FontMissing(
                f"certificate font {fonts.regular} is missing: install fonts-dejavu-core or set org.certificate_font"
            ) from None
        log.warning("certificate font missing; using the Latin-1 core font", extra={"font": str(fonts.regular)})
        return "helvetica"
    pdf.add_font("body", "", str(fonts.regular))
    bold = fonts.bold if fonts.bold and fonts.bold.is_file() else fonts.regular
    pdf.add_font("body", "B", str(bold))
    names = []
    for index, path in enumerate(fonts.fallbacks):
        if path.is_file():
            pdf.add_font(f"fallback{index}", "", str(path))
            names.append(f"fallback{index}")
    if names:
        # exact_match=False: bold text with only regular fallbacks would otherwise silently drop glyphs.
        pdf.set_fallback_fonts(names, exact_match=False)
    try:
        # Shaping (HarfBuzz) joins Arabic letters and orders right-to-left runs; without uharfbuzz the
        # letters are still there, only unjoined.
        pdf.set_text_shaping(True)
    except ImportError:
        log.warning("uharfbuzz is not installed: Arabic and similar scripts are drawn unshaped")
    return "body"


def _line(pdf: FPDF, family: str, style: str, size: float, colour: tuple, y: float, text: str, h: float = 10) -> None:
    pdf.set_font(family, style, size)
    pdf.set_text_color(*colour)
    pdf.set_xy(20, y)
    pdf.cell(PAGE_W - 40, h, text, align="C")


def _fit(pdf: FPDF, family: str, text: str, size: float, width: float) -> float:
    """The largest size up to `size` at which a long name or title still fits on one line."""
    pdf.set_font(family, "B", size)
    measured = pdf.get_string_width(text)
    return size if measured <= width else max(10.0, size * width / measured)


def _frame(pdf: FPDF) -> None:
    pdf.set_draw_color(*ACCENT)
    pdf.set_line_width(1.6)
    pdf.rect(8, 8, PAGE_W - 16, PAGE_H - 16)
    pdf.set_line_width(0.4)
    pdf.rect(12, 12, PAGE_W - 24, PAGE_H - 24)


def _rule(pdf: FPDF, y: float) -> None:
    pdf.set_draw_color(*ACCENT)
    pdf.set_line_width(0.5)
    pdf.line(PAGE_W / 2 - 60, y, PAGE_W / 2 + 60, y)


def _qr(pdf: FPDF, url: str, x: float, y: float, size: float) -> None:
    """Draw the QR as filled rectangles, one per horizontal run of dark modules (few, fast operators)."""
    qr = segno.make(url, error="m", micro=False)
    border = 2  # quiet zone, in modules, kept white so phone scanners lock on
    rows = [list(row) for row in qr.matrix_iter(scale=1, border=border)]
    module = size / len(rows)
    pdf.set_fill_color(255, 255, 255)
    pdf.rect(x, y, size, size, style="F")
    pdf.set_fill_color(0, 0, 0)
    for r, row in enumerate(rows):
        c = 0
        while c < len(row):
            if row[c]:
                start = c
                while c < len(row) and row[c]:
                    c += 1
                # a hair of overlap hides anti-aliasing seams between rows in viewers
                pdf.rect(x + start * module, y + r * module, (c - start) * module, module + 0.02, style="F")
            else:
                c += 1
