"""One routed note, for its recipient: opening it sends `delivery.seen` once; acknowledge;
follow up with an action, optional text and "close"; see the worker's timeline."""

from __future__ import annotations

import flet as ft

from field_app import paths
from field_app.components.chips import ChoiceChips
from field_app.components.layout import empty_state, frame, heading
from field_app.components.note_card import note_card
from field_app.screens.context import Screen, Ui
from field_app.screens.words import delivery_footer, note_facts
from field_app.state.records import LocalStatus, Note
from shared_models.mutations import NOTE_TEXT_MAX
from shared_models.vocabulary import FollowUpAction, MutationType, NoteStatus


class NoteDetailScreen(Screen):
    title_key = "note.title"

    def __init__(self, ui: Ui, note_id: str) -> None:
        super().__init__(ui)
        self.note_id = note_id
        self.note: Note | None = None  # read by refresh()
        self._shown = False  # on the page: opening it counts as seeing it
        self._closing = False  # a closing follow-up is queued

    def content(self) -> list[ft.Control]:
        t = self.t
        self.card = ft.Column(key="note-detail", spacing=10)
        self.ack = ft.FilledButton(
            t("note.acknowledge"), key="acknowledge", icon=ft.Icons.DONE_ALL, height=52,
            on_click=self._acknowledge,
        )  # fmt: skip
        self.action = ChoiceChips(
            [(a.value, t.action(a.value)) for a in FollowUpAction],
            key_prefix="action",
            on_pick=lambda v: self._ready(),
        )
        self.follow_text = ft.TextField(
            key="follow-up-text",
            label=t("followup.text"),
            multiline=True,
            min_lines=2,
            max_lines=5,
            max_length=NOTE_TEXT_MAX,
        )
        self.close = ft.Switch(key="follow-up-close", label=t("followup.close"), value=False)
        self.follow_save = ft.FilledButton(
            t("followup.save"), key="follow-up-save", icon=ft.Icons.SEND, height=52,
            disabled=True, on_click=self._follow_up,
        )  # fmt: skip
        self.timeline = ft.OutlinedButton(
            t("note.timeline"), key="open-timeline", icon=ft.Icons.TIMELINE, height=48,
            on_click=self._open_timeline,
        )  # fmt: skip
        self.follow_area = ft.Column(
            spacing=10,
            horizontal_alignment=ft.CrossAxisAlignment.STRETCH,  # the comment, column-wide
            controls=[
                heading(t("followup.title"), level=2),
                self.action.control,
                self.follow_text,
                self.close,
                ft.Row([self.follow_save], alignment=ft.MainAxisAlignment.END),
            ],
        )
        self.refresh()
        return [frame(self.card, ft.Row([self.ack, self.timeline], wrap=True), self.follow_area)]

    def opened(self) -> None:
        self._shown = True
        if self.note is not None:  # as content() has just read it
            self.session.mark_seen(self.note)

    def refresh(self) -> None:
        t = self.t
        self.note = view = self.reads.note(self.note_id)
        if view is not None and self._shown:  # opened by a link before it was synced
            self.session.mark_seen(view)
        if view is None:
            self.card.controls = [
                empty_state(ft.Icons.HIDE_SOURCE, t("note.gone"), key="note-gone")
            ]
            self.ack.visible = self.follow_area.visible = self.timeline.visible = False
            return
        directory = self.reads.directory()
        delivery = view.delivery_to(self.reads.me)
        acknowledging = MutationType.NOTE_ACKNOWLEDGE in view.pending
        acknowledged = bool(
            (delivery and delivery.acknowledged_at)
            or acknowledging
            or view.status in (NoteStatus.ACKNOWLEDGED, NoteStatus.CLOSED)
        )
        # A retracted note kept as a record takes no more follow-ups (the server refuses them).
        closed = view.status in (NoteStatus.CLOSED, NoteStatus.RETRACTED) or self._closing
        pills = [(t.status(view.status), view.status)]
        if acknowledging or MutationType.NOTE_FOLLOW_UP in view.pending:
            pills.append((t("note.sending"), LocalStatus.QUEUED))
        self.card.controls = [
            note_card(
                note_facts(
                    t,
                    view,
                    directory,
                    text=view.data.text or t("note.no_text"),
                    pills=pills,
                    footer=[
                        t(
                            "inbox.from",
                            author=view.author_name or "",
                            when=t.when(view.captured_at),
                        ),
                        *delivery_footer(t, view),
                    ],
                ),
                key="note-card",
                high_contrast=self.ui.high_contrast,
            )
        ]
        self.ack.visible = delivery is not None and not acknowledged
        self.follow_area.visible = not closed
        self.timeline.visible = bool(view.data.worker_id)

    def carry_over(self, previous: NoteDetailScreen) -> None:
        """The follow-up begun before (action, words, "close"), and a closing one queued."""
        self.action.select(previous.action.value)
        self.follow_text.value = previous.follow_text.value
        self.close.value = previous.close.value
        self._closing = previous._closing
        self._ready()
        self.follow_area.visible = self.follow_area.visible and not self._closing

    def unsaved(self) -> bool:
        """A follow-up begun (an action chosen or words typed), not saved yet."""
        if self.note is None or not self.follow_area.visible:
            return False
        return self.action.value is not None or bool((self.follow_text.value or "").strip())

    def _ready(self) -> None:
        self.follow_save.disabled = self.action.value is None

    def _acknowledge(self, e: ft.Event[ft.Button]) -> None:
        self.session.acknowledge(self.note_id)
        self.refresh()
        self.ui.toast(self.t("note.acknowledged"))

    def _follow_up(self, e: ft.Event[ft.Button]) -> None:
        if self.action.value is None:
            return
        self.session.follow_up(
            self.note_id, self.action.value, self.follow_text.value or "", bool(self.close.value)
        )
        self._closing = self._closing or bool(self.close.value)
        self.follow_text.value = ""
        self.action.select(None)
        self._ready()
        self.refresh()
        self.ui.toast(self.t("followup.saved"))

    def _open_timeline(self, e: ft.Event[ft.OutlinedButton]) -> None:
        if self.note is not None and self.note.data.worker_id:
            self.ui.go(paths.worker(self.note.data.worker_id))
