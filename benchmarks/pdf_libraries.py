"""The same small brief-like sample drawn with fpdf2, reportlab and typst, for docs/desk.md.

    python benchmarks/pdf_libraries.py [--rows 150] [--repeat 10] [--out DIR]

Each library that is importable renders: a title, a 26-week stacked bar chart drawn with
rectangles, a table of `--rows` fictional notes with French accents, and "confidentiel" plus
"page x / n" on every page, with DejaVu Sans (Debian's fonts-dejavu-core) embedded. Printed
per library: first render in a fresh process (import included), the median of `--repeat`
renders, pages, bytes, and what `pdffonts` says is embedded (when poppler-utils is
installed). The project depends only on fpdf2; to compare, install the others into a
scratch virtualenv (`pip install fpdf2 reportlab typst`) and run this script with it.
Libraries that are not installed are reported as such. Every name and text is invented.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
REGULAR, BOLD = FONT_DIR / "DejaVuSans.ttf", FONT_DIR / "DejaVuSans-Bold.ttf"
TITLE = "Point d'équipe — Espaces verts, du 2 juin au 29 novembre"
NAMES = ["Léa M.", "Noël B.", "Cécile R.", "Jérôme T.", "Maëlle F.", "Zoé Ç."]
TEXTS = [
    "Arrivé en retard deux fois cette semaine ; a prévenu par téléphone.",
    "A évoqué un souci de cœur de famille, très ému ; à voir avec sa conseillère.",
    "Très bon travail sur la haie, a guidé un collègue : belle façon de faire.",
    "Chaussures de sécurité abîmées, demande de remplacement faite à l'atelier.",
]
CATEGORIES = ["Fatigue", "Logement", "Ponctualité", "Sécurité"]
COLOURS = [(66, 133, 180), (230, 159, 0), (0, 158, 115), (204, 121, 167)]


def sample(rows: int) -> dict:
    weeks = [[(w * 7 + c * 3) % 5 for c in range(len(CATEGORIES))] for w in range(26)]
    notes = [
        {
            "date": f"{1 + i % 28:02d}/{6 + i % 6:02d}",
            "worker": NAMES[i % len(NAMES)],
            "category": CATEGORIES[i % len(CATEGORIES)],
            "text": TEXTS[i % len(TEXTS)],
        }
        for i in range(rows)
    ]
    return {"title": TITLE, "weeks": weeks, "notes": notes}


# --- fpdf2 ------------------------------------------------------------------------------


def render_fpdf2(data: dict) -> bytes:
    from fpdf import FPDF

    class Brief(FPDF):
        def header(self) -> None:
            self.set_font("dejavu", "B", 9)
            self.cell(0, 5, "confidentiel", align="R", new_x="LMARGIN", new_y="NEXT")

        def footer(self) -> None:
            self.set_y(-12)
            self.set_font("dejavu", "", 8)
            self.cell(0, 5, f"page {self.page_no()} / {{nb}}", align="C")

    pdf = Brief(format="A4")
    pdf.add_font("dejavu", "", str(REGULAR))
    pdf.add_font("dejavu", "B", str(BOLD))
    pdf.add_page()
    pdf.set_font("dejavu", "B", 14)
    pdf.multi_cell(0, 7, data["title"], new_x="LMARGIN", new_y="NEXT")
    x0, y0, height, bar = pdf.l_margin, pdf.get_y() + 45, 40.0, 5.0
    peak = max(sum(w) for w in data["weeks"]) or 1
    for i, week in enumerate(data["weeks"]):
        y = y0
        for count, colour in zip(week, COLOURS, strict=True):
            h = height * count / peak
            pdf.set_fill_color(*colour)
            pdf.rect(x0 + i * (bar + 1.5), y - h, bar, h, style="F")
            y -= h
    pdf.set_y(y0 + 4)
    pdf.set_font("dejavu", "", 9)
    with pdf.table(col_widths=(14, 22, 26, 118), text_align="LEFT") as table:
        table.row(["Date", "Salarié", "Catégorie", "Note"])
        for note in data["notes"]:
            table.row([note["date"], note["worker"], note["category"], note["text"]])
    return bytes(pdf.output())


# --- reportlab --------------------------------------------------------------------------


def render_reportlab(data: dict) -> bytes:
    import io
    from xml.sax.saxutils import escape

    from reportlab import rl_config
    from reportlab.graphics.shapes import Drawing, Rect
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

    pdfmetrics.registerFont(TTFont("DejaVu", str(REGULAR)))
    pdfmetrics.registerFont(TTFont("DejaVu-Bold", str(BOLD)))
    # else an unused, unembedded Helvetica is listed
    rl_config.canvas_basefontname = rl_config.defaultGraphicsFontName = "DejaVu"
    body = ParagraphStyle("body", fontName="DejaVu", fontSize=9, leading=11)
    title = ParagraphStyle("title", fontName="DejaVu-Bold", fontSize=14, leading=17)

    from reportlab.pdfgen import canvas as rl_canvas

    class Canvas(rl_canvas.Canvas):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._pages: list[dict] = []

        def showPage(self):
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self):
            for state in self._pages:
                self.__dict__.update(state)
                self.setFont("DejaVu-Bold", 9)
                self.drawRightString(A4[0] - 20 * mm, A4[1] - 12 * mm, "confidentiel")
                self.setFont("DejaVu", 8)
                self.drawCentredString(
                    A4[0] / 2, 10 * mm, f"page {self._pageNumber} / {len(self._pages)}"
                )
                super().showPage()
            super().save()

    peak = max(sum(w) for w in data["weeks"]) or 1
    chart = Drawing(180 * mm, 42 * mm)
    for i, week in enumerate(data["weeks"]):
        y = 0.0
        for count, colour in zip(week, COLOURS, strict=True):
            h = 40 * mm * count / peak
            fill = colors.Color(*(c / 255 for c in colour))
            chart.add(Rect(i * 6.5 * mm, y, 5 * mm, h, fillColor=fill, strokeColor=None))
            y += h
    rows = [["Date", "Salarié", "Catégorie", "Note"]] + [
        [n["date"], n["worker"], n["category"], Paragraph(escape(n["text"]), body)]
        for n in data["notes"]
    ]
    table = Table(rows, colWidths=(14 * mm, 22 * mm, 26 * mm, 118 * mm), repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), "DejaVu", 9),
                ("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm)
    doc.build([Paragraph(escape(data["title"]), title), chart, table], canvasmaker=Canvas)
    return out.getvalue()


# --- typst ------------------------------------------------------------------------------

TYPST_TEMPLATE = r"""
#let data = json(bytes(sys.inputs.data))
#set page(paper: "a4", margin: 15mm,
  header: align(right, text(weight: "bold", size: 9pt)[confidentiel]),
  footer: context align(center, text(size: 8pt)[page #counter(page).display() / #counter(page).final().first()]))
#set text(font: "DejaVu Sans", size: 9pt, lang: "fr")
#text(size: 14pt, weight: "bold", data.title)
#let colours = (rgb(66, 133, 180), rgb(230, 159, 0), rgb(0, 158, 115), rgb(204, 121, 167))
#let peak = calc.max(..data.weeks.map(w => w.sum()))
#box(height: 42mm, width: 100%, stack(dir: ltr, spacing: 1.5mm, ..data.weeks.map(week =>
  align(bottom, stack(dir: btt, ..week.enumerate().map(((i, c)) =>
    rect(width: 5mm, height: 40mm * c / peak, fill: colours.at(i), stroke: none)))))))
#table(columns: (14mm, 22mm, 26mm, 1fr), [Date], [Salarié], [Catégorie], [Note],
  ..data.notes.map(n => (n.date, n.worker, n.category, n.text)).flatten())
"""


def render_typst(data: dict) -> bytes:
    import typst

    result = typst.compile(
        TYPST_TEMPLATE.encode(),
        format="pdf",
        font_paths=[str(FONT_DIR)],
        sys_inputs={"data": json.dumps(data)},
    )
    assert isinstance(result, bytes)
    return result


RENDERERS = {"fpdf2": render_fpdf2, "reportlab": render_reportlab, "typst": render_typst}
MODULES = {"fpdf2": "fpdf", "reportlab": "reportlab", "typst": "typst"}


def one(name: str, rows: int, repeat: int, out: Path) -> dict:
    """Run in a child process: cold first render, then the median of warm renders."""
    data = sample(rows)
    started = time.perf_counter()
    pdf = RENDERERS[name](data)
    first = time.perf_counter() - started
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        RENDERERS[name](data)
        times.append(time.perf_counter() - started)
    path = out / f"sample-{name}.pdf"
    path.write_bytes(pdf)
    return {"first": first, "median": statistics.median(times), "bytes": len(pdf)}


def pdf_facts(path: Path) -> tuple[str, str]:
    if not shutil.which("pdfinfo"):
        return "?", "poppler-utils not installed"
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True).stdout
    pages = next((line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")), "?")
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True).stdout
    described = [
        f"{line.split()[0]} emb={line.split()[-5]} sub={line.split()[-4]}"
        for line in fonts.splitlines()[2:]
    ]
    return pages, "; ".join(described)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=150)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="relais-pdf-"))
    out.mkdir(parents=True, exist_ok=True)
    if args.child:
        print(json.dumps(one(args.child, args.rows, args.repeat, out)))
        return
    print(f"sample: {args.rows} table rows, 26-week chart; {args.repeat} warm renders; {out}")
    for name, module in MODULES.items():
        probe = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True)
        if probe.returncode != 0:
            print(f"{name:10} not installed in this virtualenv")
            continue
        version = subprocess.run(
            [sys.executable, "-c", f"import importlib.metadata as m; print(m.version('{name}'))"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        started = time.perf_counter()
        child = subprocess.run(
            [
                *(sys.executable, __file__, "--child", name, "--rows", str(args.rows)),
                *("--repeat", str(args.repeat), "--out", str(out)),
            ],
            capture_output=True,
            text=True,
        )
        wall = time.perf_counter() - started
        if child.returncode != 0:
            print(f"{name:10} failed: {child.stderr.strip().splitlines()[-1:]}")
            continue
        result = json.loads(child.stdout)
        pages, fonts = pdf_facts(out / f"sample-{name}.pdf")
        print(
            f"{name:10} {version:8} first render {result['first'] * 1000:6.0f} ms "
            f"(process {wall:4.1f} s), median {result['median'] * 1000:5.0f} ms, "
            f"{pages} pages, {result['bytes'] / 1024:5.0f} KiB; fonts: {fonts}"
        )


if __name__ == "__main__":
    main()
