"""Drawing the meeting brief and the subject-access export as PDF (reportlab; docs/desk.md).

DejaVu Sans, shipped in `fonts/`, is embedded (subset) in every file, so accents and most
Latin, Greek and Cyrillic names print right on any reader. Text from the database is always
escaped before it reaches a reportlab paragraph, whose markup it would otherwise be.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from reportlab import rl_config
from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from shared_models.vocabulary import alerts_someone
from sync_server.desk.schemas import SubjectAccessExport
from sync_server.desk.service import SENSITIVE, Brief, BriefNote
from sync_server.desk.texts import Catalogue

FONTS = Path(__file__).parent / "fonts"
FONT, BOLD = "DejaVuSans", "DejaVuSans-Bold"
pdfmetrics.registerFont(TTFont(FONT, str(FONTS / "DejaVuSans.ttf")))
pdfmetrics.registerFont(TTFont(BOLD, str(FONTS / "DejaVuSans-Bold.ttf")))
pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD, italic=FONT, boldItalic=BOLD)
# reportlab's defaults name Helvetica, a font never embedded: the server's PDFs use DejaVu only.
rl_config.canvas_basefontname = FONT
rl_config.defaultGraphicsFontName = FONT

MARGIN = 15 * mm
WIDTH = A4[0] - 2 * MARGIN
INK = colors.HexColor("#1f2328")
MUTED = colors.HexColor("#59636e")
RULE = colors.HexColor("#c8ccd1")
SHADE = colors.HexColor("#eef1f4")
ALERT_HEX = "#b3261e"
ALERT = colors.HexColor(ALERT_HEX)
# Okabe-Ito: told apart by colour-blind readers too, and in greyscale by their order.
PALETTE = [
    colors.HexColor(c)
    for c in ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
]
OTHERS_COLOUR = colors.HexColor("#999999")
SENSITIVE_COLOUR = colors.HexColor("#6f4e7c")
CHART_CATEGORIES = 7  # the most frequent; the rest are summed as "other categories"

STYLES = {
    "title": ParagraphStyle("title", fontName=BOLD, fontSize=17, leading=21, textColor=INK),
    "h2": ParagraphStyle(
        "h2", fontName=BOLD, fontSize=12.5, leading=16, spaceBefore=10, spaceAfter=4, keepWithNext=1
    ),
    "h3": ParagraphStyle(
        "h3", fontName=BOLD, fontSize=10.5, leading=13, spaceBefore=8, keepWithNext=1
    ),
    "body": ParagraphStyle("body", fontName=FONT, fontSize=9.5, leading=12.5, textColor=INK),
    "muted": ParagraphStyle("muted", fontName=FONT, fontSize=8.5, leading=11, textColor=MUTED),
    "keep": ParagraphStyle(  # stays on the page of what follows
        "keep", fontName=FONT, fontSize=8.5, leading=11, textColor=MUTED, keepWithNext=1
    ),
    "lead": ParagraphStyle(  # a line that introduces the table under it
        "lead",
        fontName=FONT,
        fontSize=8.5,
        leading=11,
        textColor=MUTED,
        spaceAfter=3,
        keepWithNext=1,
    ),
    "alert": ParagraphStyle("alert", fontName=BOLD, fontSize=9, leading=12, textColor=ALERT),
    "cell": ParagraphStyle("cell", fontName=FONT, fontSize=8, leading=10, textColor=INK),
    "head": ParagraphStyle("head", fontName=BOLD, fontSize=8, leading=10, textColor=INK),
}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def para(text: str, style: str = "body") -> Paragraph:
    """Stored text as a paragraph: escaped, control characters dropped, line breaks kept."""
    clean = _CONTROL.sub("", text)
    return Paragraph(escape(clean).replace("\n", "<br/>"), STYLES[style])


class Short(str):
    """A cell that fits its column as it is (a date, a kind, a severity): drawn as plain
    text, several times faster than a wrapping paragraph in a long brief."""


def table(header: Sequence[str], rows: Iterable[Sequence[Any]], widths: Sequence[float]) -> Table:
    """A ruled table that repeats its header on each page; cells wrap, `Short` ones need not."""
    body = [
        [c if isinstance(c, Flowable | Short) else para(str(c), "cell") for c in row]
        for row in rows
    ]
    result = Table(
        [[para(h, "head") for h in header], *body],
        colWidths=[WIDTH * w for w in widths],
        repeatRows=1,
    )
    result.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), FONT, 8, 10),
                ("TEXTCOLOR", (0, 0), (-1, -1), INK),
                ("BACKGROUND", (0, 0), (-1, 0), SHADE),
                ("LINEBELOW", (0, 0), (-1, -1), 0.4, RULE),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 3),
                ("RIGHTPADDING", (0, 0), (-1, -1), 3),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    return result


def _paged_canvas(header: str, mark: str | None, footer: Callable[[int, int], str]) -> type[Canvas]:
    """A canvas that draws the running header, the mark and "page n / total" on every page
    once the total is known (it keeps each page until the document is complete)."""

    class PagedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            for number, state in enumerate(self._pages, start=1):
                self.__dict__.update(state)
                self._decorate(number, len(self._pages))
                super().showPage()
            super().save()

        def _decorate(self, number: int, total: int) -> None:
            width, height = A4
            self.setFont(FONT, 8)
            self.setFillColor(MUTED)
            self.drawString(MARGIN, height - 10 * mm, header)
            self.drawCentredString(width / 2, 9 * mm, footer(number, total))
            if mark:
                self.setFont(BOLD, 10)
                self.setFillColor(ALERT)
                self.setStrokeColor(ALERT)
                text_width = pdfmetrics.stringWidth(mark, BOLD, 10)
                x = width - MARGIN - text_width
                self.drawString(x, height - 10.5 * mm, mark)
                self.rect(x - 2 * mm, height - 12 * mm, text_width + 4 * mm, 6 * mm)

    return PagedCanvas


def _build(
    story: list[Flowable], *, title: str, header: str, mark: str | None, t: Catalogue
) -> bytes:
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=18 * mm,
        bottomMargin=16 * mm,
        title=title,
        author="Relais",
        creator="Relais",
        lang=t.language,
    )
    canvas = _paged_canvas(header, mark, lambda n, total: t("page", n=n, total=total))
    doc.build(story, canvasmaker=canvas)
    return out.getvalue()


# --- the meeting brief -------------------------------------------------------------------


def render_brief(brief: Brief) -> bytes:
    t = Catalogue(brief.language)
    period = brief.period
    generated = t.moment(period.local(brief.generated_at))
    scope = (
        t("brief.scope.team", name=brief.team)
        if brief.team is not None
        else t("brief.scope.worker", name=brief.worker, ref=brief.worker_ref)
    )
    story: list[Flowable] = [
        para(t("brief.title"), "title"),
        Spacer(0, 2 * mm),
        para(scope, "h3"),
        para(t("period", start=t.day(period.start), end=t.day(period.end))),
        para(
            t("generated.by", when=generated, who=brief.generated_by)
            if brief.generated_by
            else t("generated", when=generated),
            "muted",
        ),
        Spacer(0, 2 * mm),
        para(t("confidential.notice"), "alert")
        if brief.include_sensitive
        else para(t("withheld.notice"), "muted"),
    ]
    story += _open_section(brief, t)
    story += _figures_section(brief, t)
    story += _workers_section(brief, t)
    story += _follow_ups_section(brief, t)
    header = f"{brief.organisation} — {t('brief.title')} — {scope}"
    mark = t("confidential") if brief.include_sensitive else None
    return _build(story, title=f"{t('brief.title')} — {scope}", header=header, mark=mark, t=t)


def _category(t: Catalogue, note: BriefNote) -> str:
    return _category_label(t, note.category or SENSITIVE)


def _category_label(t: Catalogue, category: str) -> str:
    """A category's label; a sensitive note whose category is left out reads "sensitive"."""
    return t("sensitive") if category == SENSITIVE else t.label("category", category)


def _note_text(t: Catalogue, note: BriefNote) -> str:
    return note.text if note.text is not None else t("sensitive.withheld")


def _status(t: Catalogue, note: BriefNote) -> Paragraph:
    # An observation alerts no one (unless urgent): "open" would only say nobody closed it.
    routed = alerts_someone(note.kind, note.severity)
    label = t.label("status", note.status) if routed else ""
    if note.late:
        return Paragraph(
            f"{escape(label)}<br/><font color='{ALERT_HEX}'><b>{escape(t('late'))}</b></font>",
            STYLES["cell"],
        )
    return para(label, "cell")


def _open_section(brief: Brief, t: Catalogue) -> list[Flowable]:
    local = brief.period.local
    story: list[Flowable] = [
        para(t("open.title"), "h2"),
        para(t("open.intro", day=t.day(local(brief.generated_at).date())), "muted"),
        Spacer(0, 1.5 * mm),
    ]
    if not brief.awaiting:
        return [*story, para(t("open.empty"))]
    rows = [
        [
            Short(t.day(local(n.captured_at).date())),
            n.worker or t("whole_team"),
            Short(t.label("kind", n.kind)),
            _category(t, n),
            Short(t.label("severity", n.severity)),
            _status(t, n),
            _note_text(t, n),
        ]
        for n in brief.awaiting
    ]
    header = [
        t(f"col.{c}") for c in ("date", "worker", "kind", "category", "severity", "status", "text")
    ]
    return [*story, table(header, rows, AWAITING_WIDTHS)]


def _figures_section(brief: Brief, t: Catalogue) -> list[Flowable]:
    f = brief.figures
    median = (
        t("hours", value=t.number(f.ack_median_hours))
        if f.ack_median_hours is not None
        else t("none")
    )
    pairs = [
        (t("figures.notes"), str(f.notes)),
        (t("figures.signals"), str(f.signals)),
        (t("figures.safety"), str(f.safety)),
        (t("figures.observations"), str(f.observations)),
        (t("figures.awaiting"), str(f.awaiting)),
        (t("figures.late"), str(f.late)),
        (t("figures.in_progress"), str(f.in_progress)),
        (t("figures.ack_median"), median),
        (t("figures.ack_late"), str(f.acknowledged_late)),
    ]
    half = (len(pairs) + 1) // 2
    right = [*pairs[half:], ("", "")]
    rows = [
        [para(a, "cell"), para(b, "head"), para(c, "cell"), para(d, "head")]
        for (a, b), (c, d) in zip(pairs[:half], right[:half], strict=True)
    ]
    figures = Table(rows, colWidths=[WIDTH * w for w in (0.34, 0.12, 0.4, 0.14)])
    figures.setStyle(
        TableStyle(
            [("FONT", (0, 0), (-1, -1), FONT, 8), ("LINEBELOW", (0, 0), (-1, -1), 0.4, RULE)]
        )
    )
    return [
        para(t("figures"), "h2"),
        figures,
        KeepTogether([para(t("chart.title"), "h3"), Spacer(0, 1 * mm), _chart(brief, t)]),
    ]


def _chart(brief: Brief, t: Catalogue) -> Flowable:
    """Stacked bars: one per ISO week, one colour per category (the most frequent ones)."""
    totals: Counter[str] = Counter()
    for week in brief.weeks:
        totals.update(week.counts)
    if not totals:
        return para(t("chart.empty"), "muted")
    ordered = [c for c, _ in totals.most_common() if c != SENSITIVE]
    shown = ordered[:CHART_CATEGORIES]
    rest = set(ordered[CHART_CATEGORIES:])
    series: list[tuple[str, colors.Color, list[int]]] = [
        (t.label("category", c), PALETTE[i], [w.counts[c] for w in brief.weeks])
        for i, c in enumerate(shown)
    ]
    if rest:
        series.append(
            (
                t("chart.others"),
                OTHERS_COLOUR,
                [sum(w.counts[c] for c in rest) for w in brief.weeks],
            )
        )
    if SENSITIVE in totals:
        series.append(
            (t("sensitive"), SENSITIVE_COLOUR, [w.counts[SENSITIVE] for w in brief.weeks])
        )

    height = 62 * mm
    drawing = Drawing(WIDTH, height)
    chart = VerticalBarChart()
    chart.x, chart.y = 8 * mm, 10 * mm
    chart.width, chart.height = WIDTH * 0.68, height - 14 * mm
    chart.data = [values for _, _, values in series]
    chart.categoryAxis.style = "stacked"
    step = max(1, -(-len(brief.weeks) // 13))  # at most 13 labels: they never collide
    chart.categoryAxis.categoryNames = [
        t("chart.week", n=w.number) if i % step == 0 else "" for i, w in enumerate(brief.weeks)
    ]
    chart.categoryAxis.labels.fontName = FONT
    chart.categoryAxis.labels.fontSize = 7
    chart.categoryAxis.labels.dy = -2
    chart.valueAxis.valueMin = 0
    peak = max(sum(values[i] for _, _, values in series) for i in range(len(brief.weeks)))
    chart.valueAxis.valueStep = max(1, -(-peak // 5))
    chart.valueAxis.valueMax = chart.valueAxis.valueStep * max(
        1, -(-peak // chart.valueAxis.valueStep)
    )
    chart.valueAxis.labels.fontName = FONT
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.labelTextFormat = "%d"
    chart.barSpacing = 0.5
    chart.groupSpacing = 2
    for i, (_, colour, _) in enumerate(series):
        chart.bars[i].fillColor = colour
        chart.bars[i].strokeColor = None
    drawing.add(chart)
    legend = Legend()
    legend.x, legend.y = chart.x + chart.width + 6 * mm, height - 6 * mm
    legend.fontName, legend.fontSize = FONT, 7.5
    legend.alignment = "right"
    legend.columnMaximum = 10
    legend.boxAnchor = "nw"
    legend.dx = legend.dy = 7
    legend.deltay = 10
    legend.colorNamePairs = [(colour, name) for name, colour, _ in series]
    drawing.add(legend)
    return drawing


def _workers_section(brief: Brief, t: Catalogue) -> list[Flowable]:
    story: list[Flowable] = [para(t("workers.title"), "h2")]
    if not brief.workers:
        story.append(para(t("workers.empty"), "muted"))
    local = brief.period.local
    header = [
        t(f"col.{c}") for c in ("date", "kind", "category", "severity", "status", "author", "text")
    ]
    for w in brief.workers:
        counsellor = (
            t("worker.counsellor", name=w.counsellor) if w.counsellor else t("worker.no_counsellor")
        )
        summary = t(
            "worker.summary",
            notes=t.count("notes", w.total),
            signals=t.count("signals", w.kinds["signal"]),
            safety=t.count("safety", w.kinds["safety"]),
            observations=t.count("observations", w.kinds["observation"]),
            awaiting=t.count("awaiting", w.awaiting),
        )
        story.append(para(f"{w.name} ({w.ref})", "h3"))
        if not w.notes:
            story.append(para(f"{counsellor} — {summary}", "muted"))
            story.append(para(t("worker.no_notes"), "muted"))
            continue
        categories = " · ".join(
            f"{_category_label(t, c)} {n}" for c, n in w.categories.most_common()
        )
        story.append(para(f"{counsellor} — {summary}", "keep"))
        story.append(para(t("worker.categories", list=categories), "lead"))
        story.append(table(header, [_note_row(t, n, local) for n in w.notes], NOTE_WIDTHS))
        if w.older:
            story.append(para(t.count("older_notes", w.older), "muted"))
    if brief.team_notes:
        story.append(para(t("team_notes.title"), "h3"))
        story.append(table(header, [_note_row(t, n, local) for n in brief.team_notes], NOTE_WIDTHS))
        if brief.team_notes_older:
            story.append(para(t.count("older_notes", brief.team_notes_older), "muted"))
    return story


# Shares of the page width. Wide enough for every language's kind, severity and the words of
# every category at 8 pt (a test measures them): a label is never split inside a word.
NOTE_WIDTHS = (0.11, 0.12, 0.15, 0.1, 0.11, 0.11, 0.3)  # date kind category severity ...
AWAITING_WIDTHS = (0.11, 0.12, 0.12, 0.15, 0.1, 0.11, 0.29)  # date worker kind category ...


def _note_row(t: Catalogue, n: BriefNote, local: Callable[[datetime], datetime]) -> list[Any]:
    return [
        Short(t.moment(local(n.captured_at), stacked=True)),
        Short(t.label("kind", n.kind)),
        _category(t, n),
        Short(t.label("severity", n.severity)),
        _status(t, n),
        n.author,
        _note_text(t, n),
    ]


def _follow_ups_section(brief: Brief, t: Catalogue) -> list[Flowable]:
    local = brief.period.local
    story: list[Flowable] = [para(t("followups.title"), "h2"), para(t("followups.subtitle"), "h3")]
    if brief.follow_ups:
        rows = []
        for f in brief.follow_ups:
            note = f"{t.short_day(local(f.note.captured_at).date())} · {f.note.worker or t('whole_team')} · {_category(t, f.note)}"
            action = t.label("action", f.action) + (f" ({t('closed')})" if f.close else "")
            comment = (
                f.text if f.text is not None else (t("text.withheld") if f.note.sensitive else "")
            )
            rows.append(
                [t.moment(local(f.created_at), stacked=True), note, f.author, action, comment or ""]
            )
        header = [t(f"col.{c}") for c in ("date", "text", "author", "action", "comment")]
        story.append(table(header, rows, (0.11, 0.26, 0.15, 0.17, 0.31)))
        if brief.follow_ups_older:
            story.append(para(t.count("older_follow_ups", brief.follow_ups_older), "muted"))
    else:
        story.append(para(t("followups.empty"), "muted"))
    story.append(para(t("headsups.subtitle"), "h3"))
    if brief.heads_ups:
        rows = [
            [
                t.day(local(h.created_at).date()),
                h.worker,
                h.author,
                t.day(h.valid_until) if h.valid_until else "",
                h.text,
            ]
            for h in brief.heads_ups
        ]
        header = [t(f"col.{c}") for c in ("date", "worker", "author", "until", "text")]
        story.append(table(header, rows, (0.11, 0.15, 0.15, 0.11, 0.48)))
        if brief.heads_ups_older:
            story.append(para(t.count("older_heads_ups", brief.heads_ups_older), "muted"))
    else:
        story.append(para(t("headsups.empty"), "muted"))
    return story


# --- the subject-access export -----------------------------------------------------------


def render_subject_access(export: SubjectAccessExport, language: str, zone: ZoneInfo) -> bytes:
    """The same content as the JSON export, for a person to read; every page is marked."""
    t = Catalogue(language)

    def when(moment: datetime | None) -> str:
        return t.moment(moment.astimezone(zone), stacked=True) if moment else ""

    def day(value: date | None) -> str:
        return t.day(value) if value else ""

    worker = export.worker
    notes = {n.id: n for n in export.notes}

    def about(note_id: Any) -> str:
        n = notes.get(note_id)
        if n is None:
            return str(note_id)
        return f"{t.short_day(n.captured_at.astimezone(zone).date())} · {t.label('category', n.category)}"

    story: list[Flowable] = [
        para(t("sar.title", name=worker.display_name), "title"),
        para(t("sar.subtitle"), "h3"),
        para(t("sar.intro", day=t.day(export.generated_at.astimezone(zone).date())), "muted"),
        para(t("sar.record"), "h2"),
    ]
    record = [
        (t("sar.name"), worker.display_name),
        (t("sar.ref"), worker.ref),
        (t("sar.organisation"), export.organisation.name),
        (t("sar.team"), worker.team.name),
        (t("sar.counsellor"), worker.counsellor or t("worker.no_counsellor")),
        (t("sar.contract_type"), worker.contract_type or ""),
        (t("sar.contract_start"), day(worker.contract_start)),
        (t("sar.contract_end"), day(worker.contract_end)),
        (t("sar.active"), t.yes_no(worker.active)),
    ]
    fiche = Table(
        [[para(k, "head"), para(v, "cell")] for k, v in record],
        colWidths=[WIDTH * 0.3, WIDTH * 0.7],
    )
    fiche.setStyle(
        TableStyle(
            [("FONT", (0, 0), (-1, -1), FONT, 8), ("LINEBELOW", (0, 0), (-1, -1), 0.4, RULE)]
        )
    )
    story.append(fiche)

    def section(
        title: str, empty: str, header: list[str], rows: list[list[Any]], widths: Sequence[float]
    ) -> None:
        story.append(para(t(title), "h2"))
        story.append(table(header, rows, widths) if rows else para(t(empty), "muted"))

    cols = lambda *names: [t(f"col.{n}") for n in names]  # noqa: E731
    section(
        "sar.notes",
        "sar.notes.empty",
        cols("date", "kind", "category", "severity", "status", "author", "text"),
        [
            [
                when(n.captured_at),
                t.label("kind", n.kind),
                t.label("category", n.category)
                + (f" ({t('sensitive.short')})" if n.sensitive else ""),
                t.label("severity", n.severity),
                t.label("status", n.status),
                n.author,
                n.text
                + (
                    "\n"
                    + t("sar.retracted", day=when(n.retracted_at), reason=n.retract_reason or "")
                    if n.retracted_at
                    else ""
                ),
            ]
            for n in export.notes
        ],
        NOTE_WIDTHS,
    )
    section(
        "sar.follow_ups",
        "sar.follow_ups.empty",
        cols("date", "text", "author", "action", "comment"),
        [
            [
                when(f.created_at),
                about(f.note_id),
                f.author,
                t.label("action", f.action) + (f" ({t('closed')})" if f.close else ""),
                f.text or "",
            ]
            for f in export.follow_ups
        ],
        (0.11, 0.2, 0.15, 0.18, 0.36),
    )
    section(
        "sar.heads_ups",
        "sar.heads_ups.empty",
        cols("date", "author", "until", "text"),
        [[when(h.created_at), h.author, day(h.valid_until), h.text] for h in export.heads_ups],
        (0.11, 0.17, 0.12, 0.6),
    )
    section(
        "sar.deliveries",
        "sar.deliveries.empty",
        cols("text", "recipient", "reason", "delivered", "seen", "acknowledged", "escalated"),
        [
            [
                about(d.note_id),
                d.recipient,
                t.label("reason", d.reason),
                when(d.delivered_at),
                when(d.seen_at),
                when(d.acknowledged_at),
                when(d.escalated_at),
            ]
            for d in export.deliveries
        ],
        (0.15, 0.14, 0.19, 0.13, 0.13, 0.13, 0.13),
    )
    section(
        "sar.reads",
        "sar.reads.empty",
        cols("date", "reader", "text", "how"),
        [
            [when(r.at), r.reader or t("command_line"), about(r.note_id), t(f"how.{r.how}")]
            for r in export.sensitive_note_reads
        ],
        (0.15, 0.25, 0.25, 0.35),
    )
    section(
        "sar.exports",
        "sar.exports.empty",
        cols("date", "by", "what"),
        [[when(e.at), e.by or t("command_line"), t(f"what.{e.what}")] for e in export.exports],
        (0.15, 0.3, 0.55),
    )
    section(
        "sar.refused",
        "sar.refused.empty",
        cols("received", "author", "reason_refused", "content"),
        [
            [
                when(r.received_at),
                r.sent_by,
                f"{r.error_code or ''}: {r.error_message or ''}",
                json.dumps(r.content, ensure_ascii=False, indent=1) if r.content else "",
            ]
            for r in export.refused_submissions
        ],
        (0.11, 0.14, 0.25, 0.5),
    )
    title = t("sar.title", name=worker.display_name)
    header = (
        f"{export.organisation.name} — {t('sar.subtitle')} — {worker.display_name} ({worker.ref})"
    )
    return _build(story, title=title, header=header, mark=t("confidential"), t=t)
