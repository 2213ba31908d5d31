"""Counsellor inbox: notes routed to them, unhandled first, new (not opened yet) on top, then
urgent before attention before info, then by deadline; a grouped alert shows once with ×N. Updated on every sync."""

from __future__ import annotations

import flet as ft

from field_app import paths
from field_app.components.layout import empty_or_syncing, empty_state, frame, heading
from field_app.components.note_card import note_card
from field_app.screens.context import Screen
from field_app.screens.words import note_facts
from field_app.state.inbox import InboxItem
from field_app.state.records import Directory, LocalStatus, now
from shared_models.vocabulary import DeliveryReason, NoteStatus


class InboxScreen(Screen):
    title_key = "tab.inbox"

    def content(self) -> list[ft.Control]:
        self.items = ft.Column(key="inbox-list", spacing=10)
        self.refresh()
        return [frame(self.items)]

    def refresh(self) -> None:
        directory = self.reads.directory()
        items = self.reads.inbox(now())
        t = self.t
        if not items:
            self.items.controls = [
                empty_or_syncing(
                    self.reads.first_sync_done(),
                    ft.Icons.INBOX_OUTLINED,
                    t("inbox.empty"),
                    t("common.first_sync"),
                    key="inbox-empty",
                )
            ]
            return
        to_handle = [i for i in items if not i.acknowledged]
        handled = [i for i in items if i.acknowledged]
        controls: list[ft.Control] = []
        if to_handle:
            controls.append(heading(t("inbox.to_handle", n=len(to_handle)), level=2))
            controls += [self._card(i, directory) for i in to_handle]
        else:
            controls.append(
                empty_state(ft.Icons.DONE_ALL, t("inbox.all_handled"), key="inbox-done")
            )
        if handled:
            controls.append(heading(t("inbox.in_progress", n=len(handled)), level=2))
            controls += [self._card(i, directory) for i in handled]
        self.items.controls = controls

    def _card(self, item: InboxItem, directory: Directory) -> ft.Control:
        t = self.t
        note = item.note
        pills: list[tuple[str, str]] = []
        if item.group_count > 1:
            pills.append((t("inbox.grouped", n=item.group_count), LocalStatus.SEEN))
        if item.overdue:
            pills.append((t("flag.overdue"), "overdue"))
        if item.acknowledged:
            pills.append((t.status(NoteStatus.ACKNOWLEDGED), NoteStatus.ACKNOWLEDGED))
        elif item.new:
            pills.append((t("inbox.new"), NoteStatus.OPEN))
        footer = [
            t(
                "inbox.from",
                author=note.author_name or "",
                when=t.when(note.captured_at),
            )
        ]
        if item.due_at and not item.acknowledged:
            footer.append(t("inbox.due", when=t.when(item.due_at)))
        if item.delivery.reason != DeliveryReason.REFERENT:
            footer.append(t.reason(item.delivery.reason))
        return note_card(
            note_facts(
                t,
                note,
                directory,
                pills=pills,
                footer=footer,
                max_lines=3,
            ),
            key=f"inbox-{item.note_id}",
            high_contrast=self.ui.high_contrast,
            on_click=self.link(paths.note(item.note_id)),
        )
