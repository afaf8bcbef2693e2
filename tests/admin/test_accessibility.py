"""Accessibility: WCAG AA contrast computed from admin.css, visible focus, and a label for every form control."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from coachbox.admin.pages import STATIC
from tests.admin.conftest import add_learner, signed_in

TEXT_RATIO = 4.5  # WCAG 1.4.3, normal-size text
UI_RATIO = 3.0  # WCAG 1.4.11, focus indicators and other non-text parts


# -- colours --------------------------------------------------------------------------------------------------------
def _rules(css: str) -> list[tuple[str, dict[str, str]]]:
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    root = dict(re.findall(r"--([\w-]+)\s*:\s*([^;]+);", re.search(r":root\s*\{([^}]*)\}", css).group(1)))

    def resolve(value: str) -> str:
        return re.sub(r"var\(--([\w-]+)\)", lambda m: root[m.group(1)].strip(), value).strip()

    rules = []
    # Innermost blocks only: a rule inside @media is matched on its own.
    for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        decls = {}
        for name, value in re.findall(r"([\w-]+)\s*:\s*([^;]+)", body):
            decls[name.strip()] = resolve(value)
        rules.append((selector.strip(), decls))
    return rules


def _rgba(value: str) -> tuple[float, float, float, float] | None:
    value = value.strip().lower()
    if value in ("#fff", "white"):
        value = "#ffffff"
    if m := re.fullmatch(r"#([0-9a-f]{3})", value):
        value = "#" + "".join(c * 2 for c in m.group(1))
    if m := re.fullmatch(r"#([0-9a-f]{6})", value):
        h = m.group(1)
        return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), 1.0
    if m := re.fullmatch(r"rgba?\(([^)]*)\)", value):
        parts = [float(p) for p in m.group(1).split(",")]
        return parts[0], parts[1], parts[2], parts[3] if len(parts) == 4 else 1.0
    return None


def _colour_in(value: str) -> tuple | None:
    """The first colour in a declaration such as `3px solid #f2a900` or `var(--x)` (already resolved)."""
    for token in re.findall(r"#[0-9a-fA-F]{3,6}\b|rgba?\([^)]*\)|\bwhite\b", value):
        return _rgba(token)
    return None


def _over(fg: tuple, bg: tuple) -> tuple:
    a = fg[3]
    return tuple(fg[i] * a + bg[i] * (1 - a) for i in range(3)) + (1.0,)


def _luminance(c: tuple) -> float:
    def channel(v: float) -> float:
        v /= 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(c[0]) + 0.7152 * channel(c[1]) + 0.0722 * channel(c[2])


def contrast(fg: tuple, bg: tuple) -> float:
    fg = _over(fg, bg)
    hi, lo = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def _background(decls: dict[str, str]) -> tuple | None:
    return _colour_in(decls.get("background-color") or decls.get("background") or "")


def _surfaces(rules) -> tuple[list[tuple], tuple]:
    """Every light background in the stylesheet (text without its own background may sit on any of them), and
    the header's colour (text inside .top sits on it)."""
    light, header = [], None
    for selector, decls in rules:
        bg = _background(decls)
        if bg is None:
            continue
        if selector == ".top":
            header = bg
        if bg[3] == 1.0 and _luminance(bg) > 0.5:
            light.append(bg)
    return light, header


def test_it_computes_wcag_contrast_like_the_spec():
    assert round(contrast(_rgba("#000"), _rgba("#fff")), 1) == 21.0
    assert round(contrast(_rgba("#777777"), _rgba("#ffffff")), 2) == 4.48


def test_it_keeps_text_colours_at_4_5_to_1_on_every_background_they_meet():
    rules = _rules((STATIC / "admin.css").read_text(encoding="utf-8"))
    light, header = _surfaces(rules)
    assert len(light) >= 5 and header is not None
    failures = []
    checked = 0
    for selector, decls in rules:
        fg = _rgba(decls.get("color", ""))
        if fg is None:
            continue  # inherit / currentColor: checked where the colour is set
        own = _background(decls)
        if own is not None and own[3] < 1.0:
            own = _over(own, header if selector.startswith(".top") else light[0])
        backgrounds = [own] if own else [header] if selector.startswith(".top") else light
        for bg in backgrounds:
            checked += 1
            if contrast(fg, bg) < TEXT_RATIO:
                failures.append(f"{selector}: {decls['color']} on {bg} = {contrast(fg, bg):.2f}")
    # Text in the header that takes the header's colour (.role has a translucent white chip).
    for selector, decls in rules:
        if selector == ".role":
            chip = _over(_background(decls), header)
            checked += 1
            if contrast(_rgba("#fff"), chip) < TEXT_RATIO:
                failures.append(f".role: white on {chip}")
    assert checked > 20
    assert failures == []


def test_it_makes_focus_visible_against_every_background():
    rules = _rules((STATIC / "admin.css").read_text(encoding="utf-8"))
    light, header = _surfaces(rules)
    focus = [(s, d) for s, d in rules if ":focus" in s and ("outline" in d or "outline-color" in d)]
    body = [d for s, d in focus if not s.startswith(".top") and "button:focus-visible" in s]
    top = [d for s, d in focus if s.startswith(".top")]
    assert body and top, "focus styles for the page and for the header"
    colour = _colour_in(body[0].get("outline-color") or body[0]["outline"])
    assert "none" not in body[0]["outline"]
    assert all(contrast(colour, bg) >= UI_RATIO for bg in light), [round(contrast(colour, bg), 2) for bg in light]
    top_colour = _colour_in(top[0].get("outline-color") or top[0].get("outline", ""))
    assert contrast(top_colour, header) >= UI_RATIO


# -- labels ---------------------------------------------------------------------------------------------------------
class _Controls(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.labels: set[str] = set()
        self.controls: list[dict] = []
        self.in_label = 0
        self.has_skip = False

    def handle_starttag(self, tag: str, attrs) -> None:
        attrs = dict(attrs)
        if tag == "label":
            self.in_label += 1
            if attrs.get("for"):
                self.labels.add(attrs["for"])
        elif tag == "a" and attrs.get("class") == "skip" and attrs.get("href") == "#main":
            self.has_skip = True
        elif tag in ("input", "select", "textarea"):
            if tag == "input" and attrs.get("type") in ("hidden", "submit", "button"):
                return
            self.controls.append({**attrs, "_tag": tag, "_wrapped": self.in_label > 0})

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.in_label -= 1

    def unlabelled(self) -> list[str]:
        return [
            f"<{c['_tag']} name={c.get('name')!r} id={c.get('id')!r}>"
            for c in self.controls
            if not (
                c["_wrapped"]
                or c.get("id") in self.labels
                or c.get("aria-label")
                or c.get("aria-labelledby")
                or c.get("title")
            )
        ]


@pytest.mark.anyio
async def test_it_labels_every_form_control_and_offers_a_skip_link(app, client, cast, conn):
    learner_id = add_learner(conn)
    course_id = conn.execute("""INSERT INTO courses (slug, title, language, created_at, updated_at)
                                VALUES ('c', 'C', 'en', '2026-03-01T00:00:00+00:00', '2026-03-01T00:00:00+00:00')""").lastrowid
    await signed_in(client, "alice@school.test")
    pages = [
        "/admin/",
        "/admin/learners",
        f"/admin/learners/{learner_id}",
        "/admin/learners/enrol",
        "/admin/courses",
        f"/admin/courses/{course_id}",
        "/admin/broadcasts",
        "/admin/certificates",
        "/admin/costs",
        "/admin/simulator",
        "/admin/operations",
        "/admin/users",
        "/admin/account",
    ]
    problems = {}
    seen = 0
    for path in pages:
        _, page = await client.get(path)
        if page.status_code == 404:
            continue
        assert page.status_code == 200, (path, page.status_code)
        parser = _Controls()
        parser.feed(page.text)
        seen += len(parser.controls)
        if parser.unlabelled() or not parser.has_skip:
            problems[path] = parser.unlabelled() or ["no skip link"]
    assert seen > 20
    assert problems == {}
