"""Supervisor home: heads-ups about their workers on top, then each team's roster with large
rows (initials, name, counsellor); a tap opens the note capture for that worker."""

from __future__ import annotations

import flet as ft

from field_app import paths
from field_app.components.badges import avatar
from field_app.components.layout import banner, empty_or_syncing, frame, heading, hint
from field_app.screens.context import Screen
from field_app.state.records import now
from shared_models.entities import HeadsUpData, TeamData, WorkerData


class RosterScreen(Screen):
    title_key = "tab.team"

    def content(self) -> list[ft.Control]:
        t = self.t
        self.search = ft.TextField(
            key="roster-search",
            label=t("roster.search"),
            prefix_icon=ft.Icons.SEARCH,
            on_change=lambda e: self.refresh(),
            dense=False,
        )
        self.heads_ups = ft.Column(key="roster-heads-ups", spacing=8)
        self.teams = ft.Column(key="roster-teams", spacing=4)
        self.refresh()
        return [frame(self.heads_ups, self.search, self.teams)]

    def refresh(self) -> None:
        rosters = self.reads.roster(self.search.value or "")
        heads_ups = self.reads.current_heads_ups(now().astimezone().date())
        self.heads_ups.controls = [self._heads_up(h.heads_up, h.worker) for h in heads_ups]
        self.told_about = {h.heads_up.worker_id for h in heads_ups}
        controls: list[ft.Control] = []
        if not rosters:
            controls.append(
                empty_or_syncing(
                    self.reads.first_sync_done(),
                    ft.Icons.GROUPS_OUTLINED,
                    self.t("roster.empty"),
                    self.t("common.first_sync"),
                    key="roster-empty",
                )
            )
        for team_roster in rosters:
            team = team_roster.team
            controls.append(
                ft.Container(
                    padding=ft.Padding.only(top=12),
                    content=heading(self.t("roster.team", team=team.name, site=team.site), level=2)
                    if team.site
                    else heading(team.name, level=2),
                )
            )
            controls.append(self._whole_team(team))
            if not team_roster.workers:
                controls.append(hint(self.t("roster.no_match")))
            controls += [self._worker(w, team) for w in team_roster.workers]
        self.teams.controls = controls

    def _heads_up(self, heads_up: HeadsUpData, worker: WorkerData | None) -> ft.Control:
        t = self.t
        name = worker.display_name if worker else ""
        text = t(
            "headsup.banner", author=heads_up.author_name or "", worker=name, text=heads_up.text
        )
        if heads_up.valid_until:
            text = t("headsup.banner_until", text=text, until=t.day(heads_up.valid_until))
        return banner(
            text,
            key=f"heads-up-{heads_up.id}",
            icon=ft.Icons.CAMPAIGN_OUTLINED,
            background=ft.Colors.WHITE if self.ui.high_contrast else "#FFF4D6",
            foreground=ft.Colors.BLACK if self.ui.high_contrast else "#5C3B00",
        )

    def _whole_team(self, team: TeamData) -> ft.Control:
        return ft.ListTile(
            key=f"team-safety-{team.id}",
            leading=ft.Icon(ft.Icons.HEALTH_AND_SAFETY_OUTLINED, color=ft.Colors.PRIMARY),
            title=ft.Text(self.t("roster.whole_team")),
            subtitle=ft.Text(self.t("roster.whole_team.help")),
            min_height=56,
            on_click=self.link(paths.team_capture(team.id)),
        )

    def _trailing(self, worker: WorkerData) -> ft.Control:
        """ "Write a note", after a marker when a heads-up about the worker is current (the
        banner on top says what it is)."""
        write = ft.Icon(ft.Icons.ADD_COMMENT_OUTLINED, semantics_label=self.t("roster.write"))
        if worker.id not in self.told_about:
            return write
        marker = ft.Icon(
            ft.Icons.CAMPAIGN,
            key=f"heads-up-marker-{worker.ref}",
            color=ft.Colors.BLACK if self.ui.high_contrast else "#8A5A00",
            semantics_label=self.t("roster.heads_up_marker"),
            # For a mouse; a screen reader has the label already (it read it twice).
            tooltip=ft.Tooltip(self.t("roster.heads_up_marker"), exclude_from_semantics=True),
        )
        return ft.Row([marker, write], tight=True, spacing=12)

    def _worker(self, worker: WorkerData, team: TeamData) -> ft.Control:
        counsellor = worker.counsellor_name
        return ft.ListTile(
            key=f"worker-{worker.ref}",
            leading=avatar(worker.display_name, high_contrast=self.ui.high_contrast),
            title=ft.Text(worker.display_name, size=17, weight=ft.FontWeight.W_500),
            subtitle=ft.Text(
                self.t("roster.counsellor", name=counsellor)
                if counsellor
                else self.t("roster.no_counsellor")
            ),
            trailing=self._trailing(worker),
            min_height=64,
            on_click=self.link(paths.capture(worker.id)),
        )
