"""Coordinator history: every note of the organisation, filtered by team, worker, period,
kind, category and status, newest first."""

from __future__ import annotations

import flet as ft

from field_app import paths
from field_app.components.filters import chosen, chosen_id, filter_dropdown, team_filter
from field_app.components.layout import empty_or_syncing, frame, hint
from field_app.components.note_card import note_card
from field_app.i18n import Translator
from field_app.screens.context import Screen
from field_app.screens.words import delivery_footer, note_facts
from field_app.state.records import now
from field_app.state.review import PERIODS, HistoryFilter
from shared_models.vocabulary import CATEGORIES, NoteKind, NoteStatus

SHOWN_AT_MOST = 150


def period_options(t: Translator) -> list[tuple[str, str]]:
    return [(str(d or "all"), t(f"period.{d or 'all'}")) for d in PERIODS]


class HistoryScreen(Screen):
    title_key = "tab.history"

    def content(self) -> list[ft.Control]:
        t = self.t
        directory = self.reads.directory()
        workers = sorted(directory.workers.values(), key=lambda w: w.display_name)
        categories = sorted({c for cs in CATEGORIES.values() for c in cs}, key=t.category)
        refresh = self.refresh
        self.team = team_filter(
            t,
            key="filter-team",
            teams=directory.teams.values(),
            on_change=refresh,
        )
        self.worker = filter_dropdown(
            key="filter-worker",
            label=t("filter.worker"),
            all_label=t("filter.all_workers"),
            wide=True,
            options=[(str(w.id), w.display_name) for w in workers],
            value=None,
            on_change=refresh,
        )
        self.period = filter_dropdown(
            key="filter-period",
            label=t("filter.period"),
            all_label="",
            options=period_options(t),
            value="30",
            on_change=refresh,
            include_all=False,
        )
        self.kind = filter_dropdown(
            key="filter-kind",
            label=t("filter.kind"),
            all_label=t("filter.all"),
            options=[(k.value, t.kind(k.value)) for k in NoteKind],
            value=None,
            on_change=refresh,
        )
        self.category = filter_dropdown(
            key="filter-category",
            label=t("filter.category"),
            all_label=t("filter.all"),
            options=[(c, t.category(c)) for c in categories],
            value=None,
            on_change=refresh,
        )
        self.status = filter_dropdown(
            key="filter-status",
            label=t("filter.status"),
            all_label=t("filter.all"),
            options=[(s.value, t.status(s.value)) for s in NoteStatus],
            value=None,
            on_change=refresh,
        )
        self.count = hint("", key="history-count")
        self.list = ft.Column(key="history-list", spacing=10)
        self.refresh()
        filters = ft.ResponsiveRow(
            [self.team, self.worker, self.period, self.kind, self.category, self.status],
            spacing=8,
            run_spacing=8,
        )
        return [frame(filters, self.count, self.list)]

    def current_filter(self) -> HistoryFilter:
        period = chosen(self.period)
        return HistoryFilter(
            team_id=chosen_id(self.team),
            worker_id=chosen_id(self.worker),
            days=int(period) if period else None,
            kind=chosen(self.kind),
            category=chosen(self.category),
            status=chosen(self.status),
        )

    def refresh(self) -> None:
        directory = self.reads.directory()
        views = self.reads.history(self.current_filter(), now())
        t = self.t
        self.count.value = t("history.count", n=len(views))
        if len(views) > SHOWN_AT_MOST:
            self.count.value = t("history.count_capped", n=len(views), shown=SHOWN_AT_MOST)
        if not views:
            self.list.controls = [
                empty_or_syncing(
                    self.reads.first_sync_done(),
                    ft.Icons.SEARCH_OFF,
                    t("history.empty"),
                    t("common.first_sync"),
                    key="history-empty",
                )
            ]
            return
        self.list.controls = [
            note_card(
                note_facts(
                    t,
                    v,
                    directory,
                    pills=[(t.status(v.status), v.status)],
                    footer=[
                        t(
                            "inbox.from",
                            author=v.author_name or "",
                            when=t.when(v.captured_at),
                        ),
                        *delivery_footer(t, v),
                    ],
                    max_lines=4,
                ),
                key=f"history-{v.id}",
                high_contrast=self.ui.high_contrast,
                on_click=self.link(paths.note(v.id)),  # the note; its worker is one tap on
            )
            for v in views[:SHOWN_AT_MOST]
        ]
