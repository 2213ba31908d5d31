"""Write a heads-up to the supervisors of a worker's team: need-to-know only (500 characters
at most), valid for two weeks unless the author chooses otherwise (and can end it early from
the worker's timeline)."""

from __future__ import annotations

from datetime import date, timedelta

import flet as ft

from field_app.components.chips import ChoiceChips
from field_app.components.layout import frame, heading, hint
from field_app.components.limited_text import LimitedText
from field_app.screens.context import Screen, Ui
from field_app.state.records import now
from shared_models.entities import WorkerData
from shared_models.mutations import HEADS_UP_TEXT_MAX

VALIDITY_DAYS = {"week": 7, "two_weeks": 14, "month": 30, "none": None}
DEFAULT_VALIDITY = "two_weeks"  # a heads-up ends by itself unless its author says otherwise


def valid_until(choice: str | None, today: date) -> date | None:
    days = VALIDITY_DAYS.get(choice or "none")
    return None if days is None else today + timedelta(days=days)


class HeadsUpScreen(Screen):
    title_key = "headsup.title"

    def __init__(self, ui: Ui, worker: WorkerData) -> None:
        super().__init__(ui)
        self.worker = worker
        self.sent = False

    @classmethod
    def for_worker(cls, ui: Ui, worker_id: str) -> HeadsUpScreen | None:
        worker = ui.session.reads.worker(worker_id)
        return cls(ui, worker) if worker else None

    def content(self) -> list[ft.Control]:
        t = self.t
        self.text = LimitedText(
            t,
            key="heads-up-text",
            label=t("headsup.text"),
            hint_text=t("headsup.text.hint"),
            limit=HEADS_UP_TEXT_MAX,
            min_lines=3,
            max_lines=6,
            on_change=self._ready,
        )
        self.validity = ChoiceChips(
            [(k, t(f"headsup.until.{k}")) for k in VALIDITY_DAYS],
            key_prefix="until",
            selected=DEFAULT_VALIDITY,
            on_pick=lambda v: self._show_until(),
        )
        self.until_text = hint("", key="heads-up-until")
        self._show_until()
        self.error = ft.Text("", key="heads-up-error", color=ft.Colors.ERROR, visible=False)
        self.save = ft.FilledButton(
            t("headsup.send"), key="heads-up-send", icon=ft.Icons.SEND, height=52,
            disabled=True, on_click=self._send,
        )  # fmt: skip
        return [
            frame(
                hint(t("headsup.to", worker=self.worker.display_name)),
                hint(t("headsup.privacy")),
                self.text.control,
                heading(t("headsup.until"), level=3),
                self.validity.control,
                self.until_text,
                self.error,
                ft.Row([self.save], alignment=ft.MainAxisAlignment.END),
            )
        ]

    def carry_over(self, previous: HeadsUpScreen) -> None:
        """The words and the validity chosen before."""
        self.text.carry_over(previous.text)
        self.validity.select(previous.validity.value)
        self._show_until()
        self._ready()

    def unsaved(self) -> bool:
        return not self.sent and bool((self.text.value or "").strip())

    def _ready(self) -> None:
        self.save.disabled = not (self.text.value or "").strip()

    def _show_until(self) -> None:
        day = valid_until(self.validity.value, now().astimezone().date())
        self.until_text.value = self.t("headsup.valid_until", day=self.t.day(day)) if day else ""

    def _send(self, e: ft.Event[ft.Button]) -> None:
        text = (self.text.value or "").strip()
        if not text:
            self.error.value = self.t("headsup.error.empty")
            self.error.visible = True
            return
        day = valid_until(self.validity.value, now().astimezone().date())
        self.session.heads_up(str(self.worker.id), text[:HEADS_UP_TEXT_MAX], day)
        self.sent = True
        self.ui.back()
        self.ui.toast(self.t("headsup.sent"))
