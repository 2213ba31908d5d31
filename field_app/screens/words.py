"""Shared wording for notes on screens: "Signal · Fatigue", who it is about, and the
"delivered to / seen / acknowledged" lines, from the catalogs."""

from __future__ import annotations

from typing import Any

from field_app.components.note_card import CardFacts
from field_app.i18n import Translator
from field_app.state.notes import delivery_lines
from field_app.state.records import Directory, Entity
from field_app.state.review import WorkerSummary
from field_app.store import NoteView


def kind_and_category(t: Translator, note: Entity) -> str:
    return t("note.kind_category", kind=t.kind(note["kind"]), category=t.category(note["category"]))


def about(t: Translator, note: Entity, directory: Directory) -> str:
    worker = directory.worker(note.get("worker_id"))
    if worker is not None:
        return str(worker["display_name"])
    if note.get("worker_id"):
        return t("note.unknown_worker")
    return t("note.whole_team", team=directory.team_name(note.get("team_id")))


def note_facts(t: Translator, note: Entity, directory: Directory, **rest: Any) -> CardFacts:
    """A note's card: who it is about, kind and category, severity and text; `rest` adds
    the screen's own pills, footer and actions (or another text)."""
    facts: dict[str, Any] = {
        "heading": about(t, note, directory),
        "subheading": kind_and_category(t, note),
        "severity": note["severity"],
        "severity_word": t.severity(note["severity"]),
        "text": note.get("text") or "",
    }
    return CardFacts(**(facts | rest))


def summary_line(t: Translator, summary: WorkerSummary) -> str:
    """A worker's figures for a period: notes, open, unacknowledged, median time to ack."""
    return t(
        "summary.line",
        total=summary.total,
        open=summary.open,
        unacknowledged=summary.unacknowledged,
        median=t.duration(summary.median_acknowledge_seconds),
    )


def delivery_footer(t: Translator, view: NoteView) -> list[str]:
    out = []
    for line in delivery_lines(view):
        parts = [t("delivery.to", name=line.recipient, when=t.when(line.delivered_at))]
        if line.seen_at:
            parts.append(t("delivery.seen", when=t.when(line.seen_at)))
        if line.acknowledged_at:
            parts.append(t("delivery.acknowledged", when=t.when(line.acknowledged_at)))
        out.append(" · ".join(parts))
    return out
