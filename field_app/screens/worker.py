"""One worker's timeline: notes, follow-ups and heads-ups in one list, newest first; a
coordinator also sees the summary of the last 30 days; counsellors can send a heads-up."""

from __future__ import annotations

from datetime import timedelta

import flet as ft

from field_app.components.layout import empty_state, frame, heading, hint
from field_app.components.note_card import CardFacts, note_card
from field_app.screens.context import Screen, Ui
from field_app.screens.words import about, delivery_footer, kind_and_category, summary_line
from field_app.state.inbox import TimelineEntry, timeline
from field_app.state.records import Directory, now, parse_day
from field_app.state.review import worker_summary
from shared_models.vocabulary import EntityType, Role, Severity


class WorkerScreen(Screen):
    key = "worker"
    title_key = "worker.title"

    def __init__(self, ui: Ui, worker_id: str) -> None:
        super().__init__(ui)
        self.worker_id = worker_id
        self.worker = self.session.require_store().get_entity(EntityType.WORKER, worker_id) or {}

    def title(self) -> str:
        return str(self.worker.get("display_name") or self.t("worker.title"))

    def content(self) -> list[ft.Control]:
        t = self.t
        self.summary = ft.Column(key="worker-summary", spacing=6)
        self.entries = ft.Column(key="timeline", spacing=10)
        roles = self.session.roles
        self.heads_up = ft.FilledTonalButton(
            t("headsup.new"),
            key="new-heads-up",
            icon=ft.Icons.CAMPAIGN_OUTLINED,
            height=48,
            visible=bool(roles & {Role.COUNSELLOR, Role.COORDINATOR}) and bool(self.worker),
            on_click=self._new_heads_up,
        )
        self.refresh()
        return [
            frame(
                self.summary,
                ft.Row([self.heads_up]),
                heading(t("worker.timeline"), level=2),
                self.entries,
            )
        ]

    def refresh(self) -> None:
        store = self.session.require_store()
        directory = Directory.load(store)
        t = self.t
        self.summary.controls = self._summary(store, directory)
        entries = timeline(store, self.worker_id)
        if not entries:
            self.entries.controls = [
                empty_state(ft.Icons.TIMELINE, t("worker.empty"), key="timeline-empty")
            ]
            return
        self.entries.controls = [self._entry(e, directory) for e in entries]

    def _summary(self, store: object, directory: Directory) -> list[ft.Control]:
        t = self.t
        if not self.worker:
            return []
        counsellor = self.worker.get("counsellor_name") or t("roster.no_counsellor_short")
        lines: list[ft.Control] = [
            hint(
                t(
                    "worker.header",
                    ref=self.worker.get("ref", ""),
                    team=directory.team_name(self.worker.get("team_id")),
                    counsellor=counsellor,
                )
            )
        ]
        if Role.COORDINATOR in self.session.roles:
            since = now() - timedelta(days=30)
            notes = [
                n
                for n in self.session.require_store().list_entities(
                    EntityType.NOTE, worker_id=self.worker_id
                )
                if n["captured_at"] >= since.isoformat()[:10]
            ]
            summary = worker_summary(notes, self.worker)
            lines.append(
                ft.Text(
                    summary_line(t, summary),
                    key="worker-summary-line",
                )
            )
        return lines

    def _entry(self, entry: TimelineEntry, directory: Directory) -> ft.Control:
        t = self.t
        data = entry.data
        hc = self.ui.high_contrast
        if entry.kind == EntityType.NOTE and entry.view is not None:
            return note_card(
                CardFacts(
                    heading=kind_and_category(t, data),
                    subheading=t(
                        "timeline.note_by",
                        author=data.get("author_name") or t("timeline.me"),
                        when=t.when(entry.at),
                    ),
                    severity=data["severity"],
                    severity_word=t.severity(data["severity"]),
                    text=data.get("text") or "",
                    pills=[(t.status(entry.view.status), entry.view.status)],
                    footer=delivery_footer(t, entry.view),
                ),
                key=f"timeline-note-{data['id']}",
                high_contrast=hc,
                on_click=self._opener(data["id"]),
            )
        if entry.kind == EntityType.FOLLOW_UP:
            note = entry.note or {}
            closing = t("timeline.closed") if data.get("close") else ""
            return note_card(
                CardFacts(
                    heading=t("timeline.follow_up", action=t.action(data["action"])),
                    subheading=t(
                        "timeline.follow_up_by",
                        author=data.get("author_name") or "",
                        when=t.when(entry.at),
                        about=kind_and_category(t, note) if note else "",
                    ),
                    severity=Severity.INFO,
                    severity_word=t("timeline.kind.follow_up"),
                    text=data.get("text") or "",
                    footer=[closing] if closing else [],
                ),
                key=f"timeline-follow-up-{data['id']}",
                high_contrast=hc,
            )
        until = parse_day(data.get("valid_until"))
        return note_card(
            CardFacts(
                heading=t("timeline.heads_up"),
                subheading=t(
                    "timeline.follow_up_by",
                    author=data.get("author_name") or "",
                    when=t.when(entry.at),
                    about=about(t, {"worker_id": data["worker_id"]}, directory),
                ),
                severity=Severity.ATTENTION,
                severity_word=t("timeline.kind.heads_up"),
                text=data["text"],
                footer=[t("headsup.valid_until", day=t.day(until))] if until else [],
            ),
            key=f"timeline-heads-up-{data['id']}",
            high_contrast=hc,
        )

    def _opener(self, note_id: str):  # type: ignore[no-untyped-def]
        from field_app.screens.note_detail import NoteDetailScreen

        def open_note(e: object) -> None:
            self.ui.push(NoteDetailScreen(self.ui, note_id))

        return open_note

    def _new_heads_up(self, e: ft.Event[ft.Button]) -> None:
        from field_app.screens.heads_up import HeadsUpScreen

        self.ui.push(HeadsUpScreen(self.ui, self.worker))
