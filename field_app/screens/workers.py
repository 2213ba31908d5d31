"""The counsellor's workers (their own first, then those they cover as stand-in), with a
search; a tap opens the worker's timeline."""

from __future__ import annotations

import flet as ft

from field_app import paths
from field_app.components.badges import avatar
from field_app.components.layout import empty_or_syncing, frame
from field_app.screens.context import Screen
from field_app.state.records import Directory, folded
from shared_models.entities import WorkerData


class WorkersScreen(Screen):
    title_key = "tab.workers"

    def content(self) -> list[ft.Control]:
        self.search = ft.TextField(
            key="workers-search",
            label=self.t("roster.search"),
            prefix_icon=ft.Icons.SEARCH,
            on_change=lambda e: self.refresh(),
        )
        self.list = ft.Column(key="workers-list", spacing=2)
        self.refresh()
        return [frame(self.search, self.list)]

    def refresh(self) -> None:
        directory = self.reads.directory()
        wanted = folded(self.search.value or "")
        workers = [
            w
            for w in self.reads.counselled_workers()
            if not wanted or wanted in folded(w.display_name) or wanted in folded(w.ref)
        ]
        if not workers:
            self.list.controls = [
                empty_or_syncing(
                    self.reads.first_sync_done(),
                    ft.Icons.PEOPLE_OUTLINE,
                    self.t("workers.empty"),
                    self.t("common.first_sync"),
                    key="workers-empty",
                )
            ]
            return
        self.list.controls = [self._row(w, directory) for w in workers]

    def _row(self, worker: WorkerData, directory: Directory) -> ft.Control:
        t = self.t
        mine = worker.counsellor_id == self.reads.me
        subtitle = t("workers.team", team=directory.team_name(worker.team_id))
        if not mine and worker.counsellor_name:
            subtitle = t("workers.covering", name=worker.counsellor_name, team=subtitle)
        return ft.ListTile(
            key=f"worker-{worker.ref}",
            leading=avatar(worker.display_name, high_contrast=self.ui.high_contrast),
            title=ft.Text(worker.display_name, size=17, weight=ft.FontWeight.W_500),
            subtitle=ft.Text(subtitle),
            trailing=ft.Icon(ft.Icons.CHEVRON_RIGHT, semantics_label=t("workers.open")),
            min_height=64,
            on_click=self.link(paths.worker(worker.id)),
        )
