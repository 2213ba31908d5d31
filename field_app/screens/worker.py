"""One worker's timeline: notes, follow-ups and heads-ups in one list, newest first; a
coordinator also sees the summary of the last 30 days; counsellors can send a heads-up."""

from __future__ import annotations

import flet as ft

from field_app import paths
from field_app.components.layout import empty_state, frame, heading, hint
from field_app.components.note_card import CardFacts, note_card
from field_app.screens.context import Screen, Ui
from field_app.screens.words import about, delivery_footer, kind_and_category, summary_line
from field_app.state.inbox import TimelineEntry
from field_app.state.records import Directory, Note, as_id, now
from field_app.theme import TAP_TARGET
from shared_models.entities import FollowUpData, HeadsUpData
from shared_models.vocabulary import Role, Severity


class WorkerScreen(Screen):
    title_key = "worker.title"

    def __init__(self, ui: Ui, worker_id: str) -> None:
        super().__init__(ui)
        self.worker_id = as_id(worker_id)
        self.worker = self.reads.worker(worker_id)

    def title(self) -> str:
        return self.worker.display_name if self.worker else self.t("worker.title")

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
        directory = self.reads.directory()
        t = self.t
        self.summary.controls = self._summary(directory)
        entries = self.reads.timeline(self.worker_id) if self.worker_id else []
        if not entries:
            self.entries.controls = [
                empty_state(ft.Icons.TIMELINE, t("worker.empty"), key="timeline-empty")
            ]
            return
        self.entries.controls = [self._entry(e, directory) for e in entries]

    def _summary(self, directory: Directory) -> list[ft.Control]:
        t = self.t
        worker = self.worker
        if not worker:
            return []
        counsellor = worker.counsellor_name or t("roster.no_counsellor_short")
        lines: list[ft.Control] = [
            hint(
                t(
                    "worker.header",
                    ref=worker.ref,
                    team=directory.team_name(worker.team_id),
                    counsellor=counsellor,
                )
            )
        ]
        if Role.COORDINATOR in self.session.roles:
            summary = self.reads.worker_summary(worker, now())
            lines.append(
                ft.Text(
                    summary_line(t, summary),
                    key="worker-summary-line",
                )
            )
        return lines

    def _entry(self, entry: TimelineEntry, directory: Directory) -> ft.Control:
        t = self.t
        item = entry.item
        hc = self.ui.high_contrast
        if isinstance(item, Note):
            return note_card(
                CardFacts(
                    heading=kind_and_category(t, item),
                    subheading=t(
                        "timeline.note_by",
                        author=item.author_name or t("timeline.me"),
                        when=t.when(entry.at),
                    ),
                    severity=item.data.severity,
                    severity_word=t.severity(item.data.severity),
                    text=item.data.text or "",
                    pills=[(t.status(item.status), item.status)],
                    footer=delivery_footer(t, item),
                ),
                key=f"timeline-note-{item.id}",
                high_contrast=hc,
                on_click=self.link(paths.note(item.id)),
            )
        if isinstance(item, FollowUpData):
            closing = t("timeline.closed") if item.close else ""
            return note_card(
                CardFacts(
                    heading=t("timeline.follow_up", action=t.action(item.action)),
                    subheading=t(
                        "timeline.follow_up_by",
                        author=item.author_name or "",
                        when=t.when(entry.at),
                        about=kind_and_category(t, entry.answers) if entry.answers else "",
                    ),
                    severity=Severity.INFO,
                    severity_word=t("timeline.kind.follow_up"),
                    text=item.text or "",
                    footer=[closing] if closing else [],
                ),
                key=f"timeline-follow-up-{item.id}",
                high_contrast=hc,
            )
        until = item.valid_until
        today = now().astimezone().date()
        ended = until is not None and until < today
        footer = []
        if until:
            footer.append(t("headsup.ended" if ended else "headsup.valid_until", day=t.day(until)))
        actions: list[ft.Control] = []
        if item.author_id == self.reads.me and not ended:
            actions.append(
                ft.TextButton(
                    t("headsup.end"),
                    key=f"end-heads-up-{item.id}",
                    icon=ft.Icons.CANCEL_OUTLINED,
                    height=TAP_TARGET,
                    on_click=lambda e, h=item: self._ask_end(h),
                )
            )
        return note_card(
            CardFacts(
                heading=t("timeline.heads_up"),
                subheading=t(
                    "timeline.follow_up_by",
                    author=item.author_name or "",
                    when=t.when(entry.at),
                    about=about(t, directory, item.worker_id, None),
                ),
                severity=Severity.INFO if ended else Severity.ATTENTION,
                severity_word=t("timeline.kind.heads_up"),
                text=item.text,
                footer=footer,
                actions=actions,
            ),
            key=f"timeline-heads-up-{item.id}",
            high_contrast=hc,
        )

    def _ask_end(self, heads_up: HeadsUpData) -> None:
        t = self.t

        def end() -> None:
            self.session.end_heads_up(str(heads_up.id))
            self.refresh()
            self.ui.page.update()  # closing the dialog has updated the page: no automatic one

        self.ui.confirm(
            key="end-heads-up-dialog",
            title=t("headsup.end.title"),
            text=t("headsup.end.text"),
            confirm=t("headsup.end"),
            on_confirm=end,
        )

    def _new_heads_up(self, e: ft.Event[ft.Button]) -> None:
        if self.worker is not None:
            self.ui.go(paths.heads_up(self.worker.id))
