"""The supervisor's own notes and where each one is: queued, sent, seen, acknowledged, closed,
or rejected with its reason; a note can be retracted within 24 hours (after a confirmation)."""

from __future__ import annotations

import uuid
from datetime import datetime

import flet as ft

from field_app.components.layout import banner, empty_or_syncing, frame
from field_app.components.note_card import note_card
from field_app.screens.context import Screen
from field_app.screens.words import delivery_footer, note_facts
from field_app.state.notes import can_retract, progress
from field_app.state.records import Directory, LocalStatus, Note, now
from field_app.theme import TAP_TARGET, tone


class MyNotesScreen(Screen):
    title_key = "tab.my_notes"

    def content(self) -> list[ft.Control]:
        self.rejected = ft.Column(key="rejected-list", spacing=8)
        self.notes = ft.Column(key="my-notes-list", spacing=10)
        self.refresh()
        return [frame(self.rejected, self.notes)]

    def refresh(self) -> None:
        directory = self.reads.directory()
        t = self.t
        refusals = self.reads.refusals()
        self.rejected.controls = [
            banner(
                t("mynotes.refused", action=t(f"mutation.{r.type}"), reason=r.message or r.code),
                key=f"refused-{r.id}",
                icon=ft.Icons.ERROR_OUTLINE,
                background=tone(LocalStatus.REJECTED, self.ui.high_contrast).background,
                foreground=tone(LocalStatus.REJECTED, self.ui.high_contrast).foreground,
                actions=[
                    ft.TextButton(
                        t("mynotes.dismiss"),
                        key=f"dismiss-{r.id}",
                        height=TAP_TARGET,
                        on_click=lambda e, r=r: self._dismiss(r.id),
                    )
                ],
            )
            for r in refusals
        ]
        views = self.reads.my_notes()
        if not views:
            self.notes.controls = [
                empty_or_syncing(
                    self.reads.first_sync_done(),
                    ft.Icons.STICKY_NOTE_2_OUTLINED,
                    t("mynotes.empty"),
                    t("common.first_sync"),
                    key="my-notes-empty",
                )
            ]
            return
        moment = now()
        self.notes.controls = [self._card(v, directory, moment) for v in views]

    def _card(self, view: Note, directory: Directory, moment: datetime) -> ft.Control:
        t = self.t
        status = progress(view)
        footer = [t("note.captured", when=t.when(view.captured_at))]
        if status == LocalStatus.REJECTED:
            footer.append(
                t("mynotes.rejected_reason", reason=view.error_message or view.error_code or "")
            )
        elif status == LocalStatus.QUEUED:
            footer.append(t("mynotes.queued_help"))
        footer += delivery_footer(t, view)
        actions: list[ft.Control] = []
        if can_retract(view, self.reads.me, moment):
            actions.append(
                ft.TextButton(
                    t("mynotes.retract"),
                    key=f"retract-{view.id}",
                    height=TAP_TARGET,
                    icon=ft.Icons.UNDO,
                    on_click=lambda e, v=view: self._ask_retract(v),
                )
            )
        return note_card(
            note_facts(
                t,
                view,
                directory,
                pills=[(t.status(status), status)],
                footer=footer,
                actions=actions,
            ),
            key=f"note-{view.id}",
            high_contrast=self.ui.high_contrast,
        )

    def _ask_retract(self, view: Note) -> None:
        t = self.t

        def retract() -> None:
            self.session.retract(view.id)
            self.refresh()
            self.ui.toast(t("mynotes.retracted"))

        self.ui.confirm(
            key="retract-dialog",
            title=t("mynotes.retract.title"),
            text=t("mynotes.retract.text"),
            confirm=t("mynotes.retract.confirm"),
            on_confirm=retract,
        )

    def _dismiss(self, mutation_id: uuid.UUID) -> None:
        self.session.dismiss_rejected(mutation_id)
        self.refresh()
