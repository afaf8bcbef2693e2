"""The certificate fonts a box is configured with (no fpdf2 here, so `coachbox check` can look without drawing)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from coachbox.core.config import Settings


@dataclass(frozen=True)
class Fonts:
    regular: Path
    bold: Path | None = None
    fallbacks: tuple[Path, ...] = ()

    def missing(self) -> list[Path]:
        """Configured font files that are not on disk."""
        wanted = [self.regular, *([self.bold] if self.bold else []), *self.fallbacks]
        return [path for path in wanted if not path.is_file()]


def resolve(settings: Settings, value: str) -> Path:
    """A configured path: absolute as given, relative ones against the config file's folder."""
    path = Path(value)
    return path if path.is_absolute() else (Path(settings.root) / path).resolve()


def fonts_from_settings(settings: Settings) -> Fonts:
    org = settings.org
    extra = tuple(resolve(settings, p.strip()) for p in org.certificate_fallback_fonts.split(",") if p.strip())
    bold = resolve(settings, org.certificate_bold_font) if org.certificate_bold_font else None
    return Fonts(regular=resolve(settings, org.certificate_font), bold=bold, fallbacks=extra)
