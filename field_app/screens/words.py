"""Shared wording for notes on screens: "Signal · Fatigue", who it is about, and the
"delivered to / seen / acknowledged" lines, from the catalogs."""

from __future__ import annotations

import uuid
from typing import Any

from field_app.components.note_card import CardFacts
from field_app.i18n import Translator
from field_app.state.records import Directory, Note
from field_app.state.review import WorkerSummary


def kind_and_category(t: Translator, note: Note) -> str:
    return t(
        "note.kind_category", kind=t.kind(note.data.kind), category=t.category(note.data.category)
    )


def about(
    t: Translator, directory: Directory, worker_id: uuid.UUID | None, team_id: uuid.UUID | None
) -> str:
    """Who a note or a heads-up is about: the worker, or the whole team."""
    worker = directory.worker(worker_id)
    if worker is not None:
        return worker.display_name
    if worker_id:
        return t("note.unknown_worker")
    return t("note.whole_team", team=directory.team_name(team_id))


def note_facts(t: Translator, note: Note, directory: Directory, **rest: Any) -> CardFacts:
    """A note's card: who it is about, kind and category, severity and text; `rest` adds
    the screen's own pills, footer and actions (or another text)."""
    facts: dict[str, Any] = {
        "heading": about(t, directory, note.data.worker_id, note.data.team_id),
        "subheading": kind_and_category(t, note),
        "severity": note.data.severity,
        "severity_word": t.severity(note.data.severity),
        "text": note.data.text or "",
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


def delivery_footer(t: Translator, note: Note) -> list[str]:
    """ "Delivered to Sophie at 10:40, seen at 10:42, acknowledged at 11:05", per recipient."""
    out = []
    for delivery in note.deliveries:
        parts = [t("delivery.to", name=delivery.recipient_name, when=t.when(delivery.delivered_at))]
        if delivery.seen_at:
            parts.append(t("delivery.seen", when=t.when(delivery.seen_at)))
        if delivery.acknowledged_at:
            parts.append(t("delivery.acknowledged", when=t.when(delivery.acknowledged_at)))
        out.append(" · ".join(parts))
    return out
