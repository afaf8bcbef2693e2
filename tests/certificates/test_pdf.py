"""The certificate PDF itself: names in many scripts, the logo, long titles, and a missing font."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from coachbox.certificates import pdf
from coachbox.certificates.fonts import Fonts, fonts_from_settings
from tests.certificates.conftest import needs_poppler

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
needs_dejavu = pytest.mark.skipif(not DEJAVU.is_file(), reason="fonts-dejavu-core is not installed")


def content(name: str = "Amina Wanjiru", **changes) -> pdf.CertificateContent:
    base = pdf.CertificateContent(
        org_name="Tumaini Learning Centre",
        heading="Certificate of completion",
        presented="This certifies that",
        learner_name=name,
        completed="has completed the course",
        course_title="Mobile Money Safety",
        details="with a score of 85%  ·  2 March 2026",
        code_label="Verification code: K7QM-3XPA",
        verify_label="Scan the QR code or visit https://learn.example.org/verify/K7QM-3XPA",
        verify_url="https://learn.example.org/verify/K7QM-3XPA",
    )
    return replace(base, **changes)


def text_of(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "c.pdf"
    path.write_bytes(data)
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True).stdout
    return out.decode("utf-8").replace("\u202b", "").replace("\u202c", "")


@needs_poppler
@needs_dejavu
@pytest.mark.parametrize(
    "name",
    [
        "Zoë Ñúñez-Çelik Wanjirũ",  # Latin with accents and a Gikuyu tilde
        "Анна Сергеевна Каренина",  # Cyrillic
        "Αλέξανδρος Παπαδόπουλος",  # Greek
        "فاطمة الزهراء",  # Arabic: joined (shaped) and right-to-left
        "Nguyễn Thị Minh Khai",  # Vietnamese stacked diacritics
    ],
)
def test_it_draws_the_learners_name_exactly_as_given_in_any_script(settings, tmp_path, name):
    data = pdf.render(content(name), fonts_from_settings(settings))

    assert name in text_of(data, tmp_path)


@needs_dejavu
def test_it_shapes_arabic_names_into_joined_letters(settings):
    data = pdf.render(content("فاطمة الزهراء"), fonts_from_settings(settings))
    unshaped = pdf.render(content("ف ا ط م ة"), fonts_from_settings(settings))

    # With HarfBuzz shaping the glyphs are contextual forms: the font subset differs from isolated letters.
    assert data != unshaped and b"uharfbuzz" not in data


@needs_poppler
@needs_dejavu
def test_it_shrinks_a_very_long_name_to_fit_one_line(settings, tmp_path):
    name = "Mwanaisha Nyambura Wairimu Achieng Chebet Jeptoo Kamau-Odhiambo"

    text = text_of(pdf.render(content(name), fonts_from_settings(settings)), tmp_path)

    assert name in text.replace("\n", " ")


@needs_dejavu
def test_it_draws_the_organisations_logo(settings, tmp_path):
    from PIL import Image

    logo = tmp_path / "logo.png"
    Image.new("RGB", (120, 60), (20, 108, 92)).save(logo)

    with_logo = pdf.render(content(logo=logo), fonts_from_settings(settings))
    without = pdf.render(content(), fonts_from_settings(settings))

    assert b"/Subtype /Image" in with_logo and b"/Subtype /Image" not in without


def test_it_falls_back_to_the_core_font_for_latin1_text_when_the_unicode_font_is_missing(tmp_path):
    fonts = Fonts(regular=tmp_path / "missing.ttf")

    assert pdf.render(content("Zoë Müller"), fonts).startswith(b"%PDF")
    with pytest.raises(pdf.FontMissing, match="fonts-dejavu-core"):
        pdf.render(content("Анна Каренина"), fonts)
    assert fonts.missing() == [tmp_path / "missing.ttf"]


def test_it_reads_font_paths_from_settings(settings):
    changed = settings.replace(
        org={
            "certificate_font": "fonts/Custom.ttf",
            "certificate_bold_font": "",
            "certificate_fallback_fonts": "/x/NotoSansEthiopic.ttf, fonts/Extra.ttf",
        }
    )

    fonts = fonts_from_settings(changed)

    root = Path(settings.root)
    assert fonts.regular == (root / "fonts/Custom.ttf").resolve() and fonts.bold is None
    assert fonts.fallbacks == (Path("/x/NotoSansEthiopic.ttf"), (root / "fonts/Extra.ttf").resolve())
