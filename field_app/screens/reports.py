"""Coordinator reports for a period and a team: notes by category per week (chart and text),
and per-worker figures: notes by category, open and unacknowledged items, median time to
acknowledge."""

from __future__ import annotations

from datetime import timedelta

import flet as ft

from field_app import paths
from field_app.components.category_chart import category_chart
from field_app.components.filters import chosen, chosen_id, filter_dropdown, team_filter
from field_app.components.layout import empty_state, frame, heading, hint
from field_app.screens.context import Screen
from field_app.screens.history import period_options
from field_app.screens.meeting import staffing_banners
from field_app.screens.words import summary_line
from field_app.state.records import now
from field_app.state.review import WorkerSummary


class ReportsScreen(Screen):
    title_key = "tab.reports"

    def content(self) -> list[ft.Control]:
        t = self.t
        directory = self.reads.directory()
        self.team = team_filter(
            t,
            key="report-team",
            teams=directory.teams.values(),
            on_change=self.refresh,
        )
        self.period = filter_dropdown(
            key="report-period",
            wide=True,
            label=t("filter.period"),
            all_label="",
            options=period_options(t),
            value="30",
            on_change=self.refresh,
            include_all=False,
        )
        self.staffing = ft.Column(spacing=8)
        self.chart = ft.Column(key="chart-area")
        self.workers = ft.Column(key="summaries", spacing=8)
        self.refresh()
        return [
            frame(
                ft.ResponsiveRow([self.team, self.period], spacing=8),
                self.staffing,
                heading(t("reports.chart"), level=2),
                self.chart,
                heading(t("reports.workers"), level=2),
                hint(t("reports.workers.help")),
                self.workers,
            )
        ]

    def refresh(self) -> None:
        t = self.t
        moment = now()
        team_id = chosen_id(self.team)
        period = chosen(self.period)
        days = int(period) if period else None
        self.staffing.controls = staffing_banners(self)
        weekly = self.reads.weekly_categories(moment, weeks=6, team_id=team_id)
        if not any(weekly.total(w) for w in weekly.weeks):
            self.chart.controls = [
                empty_state(ft.Icons.INSIGHTS_OUTLINED, t("reports.chart.empty"), key="chart-empty")
            ]
        else:
            self.chart.controls = [category_chart(weekly, t, high_contrast=self.ui.high_contrast)]
        since = None if days is None else moment - timedelta(days=days)
        summaries = self.reads.worker_summaries(since, team_id)
        if not summaries:
            self.workers.controls = [
                empty_state(ft.Icons.PEOPLE_OUTLINE, t("reports.workers.empty"))
            ]
        else:
            self.workers.controls = [self._summary(s) for s in summaries]

    def _summary(self, summary: WorkerSummary) -> ft.Control:
        t = self.t
        worker = summary.worker
        categories = ", ".join(
            t("reports.category_count", category=t.category(c), n=n)
            for c, n in summary.by_category.most_common()
        )
        return ft.Card(
            variant=ft.CardVariant.OUTLINED,
            margin=0,
            content=ft.Container(
                key=f"summary-{worker.ref}",
                padding=12,
                ink=True,
                border_radius=12,
                on_click=self.link(paths.worker(worker.id)),
                content=ft.Column(
                    tight=True,
                    spacing=4,
                    controls=[
                        ft.Text(worker.display_name, weight=ft.FontWeight.W_600, size=16),
                        ft.Text(
                            summary_line(t, summary),
                            key=f"summary-line-{worker.ref}",
                        ),
                        hint(categories or t("reports.no_notes")),
                    ],
                ),
            ),
        )
