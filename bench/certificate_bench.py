"""Certificate figures: time to draw one certificate PDF (fpdf2 + shaping + QR), against an empty fpdf2 page.

Run: .venv/bin/python bench/certificate_bench.py [--count 40]
Prints one JSON object per line; exits 1 when the target is missed. Target (issue 8): under 200 ms per certificate. The baseline is a blank fpdf2
page with the same Unicode font loaded, drawn in the same run, so the ratio says what our layout, shaping and
QR add on this machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fpdf import FPDF  # noqa: E402

from coachbox.certificates import codes, service  # noqa: E402
from coachbox.certificates.fonts import fonts_from_settings  # noqa: E402
from coachbox.core.config import Settings  # noqa: E402
from coachbox.store.certificates import CertificateRow  # noqa: E402

NAMES = [
    "Amina Wanjiru",
    "Zoë Ñúñez-Çelik",
    "Анна Каренина",
    "Αλέξανδρος Παπαδόπουλος",
    "فاطمة الزهراء",
    "Nguyễn Thị Minh Khai",
    "Baraka Otieno Odhiambo",
    "Wanjirũ Kamau",
]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _summary(name: str, seconds: list[float], **extra) -> dict:
    ms = [s * 1000 for s in seconds]
    return {
        "bench": name,
        "count": len(ms),
        "mean_ms": round(statistics.mean(ms), 2),
        "p50_ms": round(_percentile(ms, 0.5), 2),
        "p95_ms": round(_percentile(ms, 0.95), 2),
        "max_ms": round(max(ms), 2),
        **extra,
    }


def blank_page(font: Path) -> bytes:
    pdf = FPDF(orientation="L", format="A4")
    pdf.add_page()
    pdf.add_font("body", "", str(font))
    pdf.set_font("body", "", 12)
    return bytes(pdf.output())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--quick", action="store_true", help="10 certificates, a smoke test")
    args = parser.parse_args()
    if args.quick:
        args.count = 10
    repo = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.load(
            repo / "coachbox.toml",
            {"COACHBOX_PATHS_DATA_DIR": tmp, "COACHBOX_SERVER_PUBLIC_URL": "https://learn.example.org"},
        )
        font = fonts_from_settings(settings).regular
        blank_page(font)  # warm imports and the font parser once, for both sides
        baseline = []
        for _ in range(args.count):
            started = time.perf_counter()
            blank_page(font)
            baseline.append(time.perf_counter() - started)
        drawn, sizes = [], []
        for n in range(args.count):
            row = CertificateRow(
                0,
                codes.new_code(),
                1,
                1,
                NAMES[n % len(NAMES)],
                60 + n % 40,
                "sw" if n % 3 == 0 else "en",
                "",
                "2026-03-02T05:00:00+00:00",
                None,
                "Mobile Money Safety",
            )
            started = time.perf_counter()
            data = service.render_pdf(settings, row, timezone="Africa/Nairobi")
            drawn.append(time.perf_counter() - started)
            sizes.append(len(data))
    base = _summary("blank_fpdf2_page_baseline", baseline)
    ours = _summary(
        "certificate_pdf",
        drawn,
        mean_kb=round(statistics.mean(sizes) / 1024, 1),
        target_ms=200,
        meets_target=_percentile([s * 1000 for s in drawn], 0.95) < 200,
        ratio_to_baseline_p50=round(_percentile(drawn, 0.5) / _percentile(baseline, 0.5), 1),
    )
    for line in (base, ours):
        print(json.dumps(line, ensure_ascii=False))
    return 0 if ours["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
