"""Before the team meeting: everything still open, overdue (deadline passed, not
acknowledged) or escalated, most pressing first; and the French staffing rule."""

from __future__ import annotations

import flet as ft

from field_app import paths
from field_app.components.filters import chosen_id, team_filter
from field_app.components.layout import banner, empty_or_syncing, frame, hint
from field_app.components.note_card import note_card
from field_app.screens.brief import BriefPanel
from field_app.screens.context import Screen
from field_app.screens.words import delivery_footer, note_facts
from field_app.state.records import Directory, now
from field_app.state.review import MeetingItem
from field_app.theme import tone
from shared_models.vocabulary import NoteStatus, Severity


def staffing_banners(screen: Screen) -> list[ft.Control]:
    return [
        staffing_banner(
            screen, f"staffing-{w.team.id}", w.team.name, w.active_workers, w.supervisors
        )
        for w in screen.reads.staffing_warnings()
    ]


def staffing_banner(
    screen: Screen, key: str, team: str, workers: int, supervisors: int
) -> ft.Control:
    """A team over the French ACI ratio (the meeting screen's, the admin's overview)."""
    colours = tone(Severity.ATTENTION, screen.ui.high_contrast)
    return banner(
        screen.t("staffing.warning", team=team, workers=workers, n=supervisors),
        key=key,
        icon=ft.Icons.GROUPS,
        background=colours.background,
        foreground=colours.foreground,
    )


class MeetingScreen(Screen):
    title_key = "tab.meeting"

    def content(self) -> list[ft.Control]:
        t = self.t
        directory = self.reads.directory()
        self.team = team_filter(
            t,
            key="meeting-team",
            teams=directory.teams.values(),
            on_change=self.refresh,
        )
        self.team.col = {"xs": 12, "md": 6}
        self.staffing = ft.Column(spacing=8)
        self.count = hint("", key="meeting-count")
        self.list = ft.Column(key="meeting-list", spacing=10)
        self.brief = BriefPanel(self)
        brief = self.brief.control()
        self.refresh()
        return [
            frame(
                ft.ResponsiveRow([self.team]),
                self.staffing,
                hint(t("meeting.help")),
                self.count,
                self.list,
                ft.Divider(),
                brief,
            )
        ]

    def refresh(self) -> None:
        directory = self.reads.directory()
        t = self.t
        self.staffing.controls = staffing_banners(self)
        self.brief.refresh()
        items = self.reads.meeting(now(), chosen_id(self.team))
        self.count.value = t("meeting.count", n=len(items))
        if not items:
            self.list.controls = [
                empty_or_syncing(
                    self.reads.first_sync_done(),
                    ft.Icons.EVENT_AVAILABLE,
                    t("meeting.empty"),
                    t("common.first_sync"),
                    key="meeting-empty",
                )
            ]
            return
        self.list.controls = [self._card(i, directory) for i in items]

    def _card(self, item: MeetingItem, directory: Directory) -> ft.Control:
        t = self.t
        note = item.note
        pills = [(t.status(note.status), note.status)]
        if item.overdue:
            pills.append((t("flag.overdue"), "overdue"))
        if item.escalated:
            pills.append((t("flag.escalated"), "escalated"))
        if item.unacknowledged:
            pills.append((t("flag.unacknowledged"), NoteStatus.OPEN))
        worker_id = note.data.worker_id
        return note_card(
            note_facts(
                t,
                note,
                directory,
                pills=pills,
                footer=[
                    t(
                        "inbox.from",
                        author=note.author_name or "",
                        when=t.when(note.captured_at),
                    ),
                    *delivery_footer(t, note),
                ],
                max_lines=4,
            ),
            key=f"meeting-{note.id}",
            high_contrast=self.ui.high_contrast,
            on_click=self.link(paths.worker(worker_id) if worker_id else None),
        )
