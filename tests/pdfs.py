"""Generated PDFs opened with a real reader: Debian's poppler-utils (pdftotext, pdfinfo,
pdffonts, pdftoppm). Missing locally, those tests skip; CI sets RELAIS_REQUIRE_POPPLER=1,
which makes a missing reader a failure."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from tests.conftest import require_or_skip

REQUIRE_POPPLER = os.environ.get("RELAIS_REQUIRE_POPPLER") == "1"


@dataclass
class Font:
    name: str
    embedded: bool


@dataclass
class Pdf:
    path: Path
    pages: list[str]  # the text of each page, as pdftotext reads it
    fonts: list[Font]

    @property
    def text(self) -> str:
        return "\n".join(self.pages)

    @property
    def words(self) -> str:
        """The whole text on one line: phrases wrapped in a table cell read as one."""
        return " ".join(self.text.split())

    def page_with(self, needle: str) -> int:
        """The first page (1-based) whose text has `needle`."""
        for number, page in enumerate(self.pages, start=1):
            if needle in page:
                return number
        raise AssertionError(f"{needle!r} is on no page")

    def image(self, page: int, dpi: int = 50) -> Image.Image:
        prefix = self.path.with_suffix(f".p{page}")
        _run(
            "pdftoppm",
            "-r",
            str(dpi),
            "-f",
            str(page),
            "-l",
            str(page),
            "-png",
            "-singlefile",
            str(self.path),
            str(prefix),
        )
        return Image.open(prefix.with_suffix(prefix.suffix + ".png")).convert("RGB")


def colour_pixels(image: Image.Image, rgb: tuple[int, int, int], tolerance: int = 12) -> int:
    """How many pixels of `image` are `rgb`, give or take anti-aliasing."""
    data = image.tobytes()
    return sum(
        1
        for i in range(0, len(data), 3)
        if all(abs(data[i + k] - rgb[k]) <= tolerance for k in range(3))
    )


def read_pdf(content: bytes, folder: Path, name: str = "document.pdf") -> Pdf:
    """Open `content` with poppler; fails if poppler does not read it as a PDF."""
    require_or_skip(
        shutil.which("pdftotext") is not None,
        "poppler-utils is not installed (apt-get install poppler-utils)",
        REQUIRE_POPPLER,
    )
    assert content.startswith(b"%PDF-"), content[:40]
    path = folder / name
    path.write_bytes(content)
    info = _run("pdfinfo", str(path))
    count = int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))
    text = _run("pdftotext", "-enc", "UTF-8", str(path), "-")
    pages = text.split("\f")[:count]
    assert len(pages) == count, (len(pages), count)
    fonts = []
    for line in _run("pdffonts", str(path)).splitlines()[2:]:
        cells = line.split()
        fonts.append(Font(name=cells[0], embedded=cells[-5] == "yes"))
    return Pdf(path=path, pages=pages, fonts=fonts)


def _run(*command: str) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, (command, result.stderr)
    return result.stdout
