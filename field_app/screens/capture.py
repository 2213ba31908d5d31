"""Capture a note: kind, category (always in the same order), severity (preselected), optional
text, save. Without text it is three taps after choosing the worker; it works offline. The
chosen severity shows beside the save button, pinned under the screen; an observation alerts
nobody, so it cannot be urgent (the server would alert for one: docs/protocol.md)."""

from __future__ import annotations

import flet as ft

from field_app.components.badges import pill
from field_app.components.chips import ChoiceChips
from field_app.components.layout import frame, heading, hint
from field_app.components.limited_text import LimitedText
from field_app.screens.context import Screen, Ui
from shared_models.entities import TeamData, WorkerData
from shared_models.mutations import NOTE_TEXT_MAX
from shared_models.vocabulary import (
    NoteKind,
    Severity,
    default_severity,
    is_sensitive,
    severities_for,
)


class CaptureScreen(Screen):
    title_key = "capture.title"

    def __init__(self, ui: Ui, *, team: TeamData, worker: WorkerData | None) -> None:
        super().__init__(ui)
        self.team = team
        self.worker = worker
        self.saved = False

    @classmethod
    def for_worker(cls, ui: Ui, worker_id: str) -> CaptureScreen | None:
        """A note about a worker; None when the worker or their team is not known here."""
        worker = ui.session.reads.worker(worker_id)
        team = ui.session.reads.team(worker.team_id) if worker else None
        return cls(ui, team=team, worker=worker) if team else None

    @classmethod
    def for_team(cls, ui: Ui, team_id: str) -> CaptureScreen | None:
        """A safety note about the whole team; None when the team is not known here."""
        team = ui.session.reads.team(team_id)
        return cls(ui, team=team, worker=None) if team else None

    def title(self) -> str:
        if self.worker is None:
            return self.t("capture.title_team", team=self.team.name)
        # no line break inside the name when the app bar wraps the title on a phone
        name = self.worker.display_name.replace(" ", "\u00a0")
        return self.t("capture.title_worker", name=name)

    def content(self) -> list[ft.Control]:
        t = self.t
        kinds = (
            [NoteKind.SIGNAL, NoteKind.SAFETY, NoteKind.OBSERVATION]
            if self.worker
            else [NoteKind.SAFETY]  # a note about the whole team is a safety note
        )
        self.kind = ChoiceChips(
            [(k, t.kind(k)) for k in kinds],
            key_prefix="kind",
            on_pick=self._kind_picked,
            selected=None if self.worker else NoteKind.SAFETY,
        )
        self.kind_help = hint("", key="kind-help")
        self.kind_help.visible = False  # no empty gap before a kind is chosen
        self.categories = ft.Column(key="category-area", spacing=8, visible=False)
        self.category: ChoiceChips | None = None
        self.sensitive = hint(t("capture.sensitive"), key="sensitive-hint")
        self.sensitive.visible = False
        self.severity = ChoiceChips(
            [(s, t.severity(s)) for s in Severity],
            key_prefix="severity",
            on_pick=lambda value: self._update_save(),
        )
        self.chosen = ft.Container(key="capture-severity-chosen", visible=False)
        self.text = LimitedText(
            t,
            key="capture-text",
            label=t("capture.text"),
            hint_text=t("capture.text.hint"),
            limit=NOTE_TEXT_MAX,
            min_lines=2,
            max_lines=5,
        )
        self.save = ft.FilledButton(
            t("capture.save"),
            key="capture-save",
            icon=ft.Icons.SEND,
            height=56,
            expand=True,
            disabled=True,
            on_click=self._save,
        )
        self.subtitle = hint("", key="capture-recipient")
        self._kind_picked(self.kind.value)
        return [
            frame(
                self.subtitle,
                heading(t("capture.kind"), level=3),
                self.kind.control,
                self.kind_help,
                self.categories,
                self.sensitive,
                heading(t("capture.severity"), level=3),
                self.severity.control,
                self.text.control,
            )
        ]

    def _recipient(self) -> str | None:
        """Who the note goes to now: the stand-in while the counsellor is away (the server
        says so on the worker, re-sent when that changes); the coordinators when none."""
        assert self.worker is not None
        worker = self.session.reads.worker(self.worker.id) or self.worker
        if "recipient_id" not in worker.model_fields_set:  # synced from an older server
            return worker.counsellor_name
        return worker.recipient_name

    def bottom_bar(self) -> ft.Control:
        """Save stays in reach while the category list scrolls, and the severity it will
        send shows beside it: no hunting for either below the fold."""
        return ft.Row([self.chosen, self.save], spacing=8)

    def _passed_on_to(self, kind: str | None) -> str:
        t = self.t
        if kind == NoteKind.OBSERVATION:
            return t("capture.not_passed_on")
        if not self.worker:
            return t("capture.for_team")
        return t(
            "capture.for_worker",
            counsellor=self._recipient() or t("roster.no_counsellor_short"),
        )

    def _kind_picked(self, kind: str | None) -> None:
        t = self.t
        self.subtitle.value = self._passed_on_to(kind)
        allowed = severities_for(kind) if kind else tuple(Severity)
        self.severity.offer(allowed)
        self.save.content = t(
            "capture.save_observation" if kind == NoteKind.OBSERVATION else "capture.save"
        )
        self.category = None
        self.sensitive.visible = False
        self.kind_help.value = t(f"kind.{kind}.help") if kind else ""
        self.kind_help.visible = self.categories.visible = kind is not None
        if kind is None:
            self.categories.controls = []
        else:
            order = self.reads.category_order(kind)
            self.category = ChoiceChips(
                [(c, t.category(c)) for c in order],
                key_prefix="category",
                on_pick=self._category_picked,
            )
            self.categories.controls = [
                heading(t("capture.category"), level=3),
                self.category.control,
            ]
        self._update_save()

    def _category_picked(self, category: str | None) -> None:
        if category and self.kind.value:
            self.severity.select(default_severity(self.kind.value, category).value)
        self.sensitive.visible = bool(category and is_sensitive(category))
        self._update_save()

    def carry_over(self, previous: CaptureScreen) -> None:
        """The kind, topic, severity and words chosen before: the same form, half-filled."""
        self.kind.select(previous.kind.value)
        self._kind_picked(self.kind.value)
        if self.category is not None and previous.category is not None:
            self.category.select(previous.category.value)
            self._category_picked(self.category.value)
        self.severity.select(previous.severity.value)  # perhaps not the topic's default
        self.text.carry_over(previous.text)
        self._update_save()
        # Relaid out while the save was being made durable: the note is sent, once.
        self.saved = previous.saved
        self.save.disabled = self.save.disabled or self.saved

    def unsaved(self) -> bool:
        """Text typed or a topic chosen, not saved yet: leaving asks first."""
        if self.saved:
            return False
        chosen = self.category is not None and self.category.value is not None
        return chosen or bool((self.text.value or "").strip())

    def _update_save(self) -> None:
        severity = self.severity.value
        self.chosen.visible = bool(severity)
        if severity:
            self.chosen.content = pill(self.t.severity(severity), severity, self.ui.high_contrast)
        ready = bool(
            self.kind.value and self.category and self.category.value and self.severity.value
        )
        self.save.disabled = not ready

    async def _save(self, e: ft.Event[ft.Button]) -> None:
        if self.save.disabled or not (
            self.kind.value and self.category and self.category.value and self.severity.value
        ):
            return
        self.save.disabled = True  # one note per tap, however fast the second one comes
        self.saved = True
        self.session.capture_note(
            team_id=str(self.team.id),
            worker_id=str(self.worker.id) if self.worker else None,
            kind=self.kind.value,
            category=self.category.value,
            severity=self.severity.value,
            text=self.text.value or "",
        )
        await self.session.durable()  # "saved on this phone" only once it would survive a close
        self.session.platform.mark("saved_durable")
        self.ui.back()
        self.ui.toast(self.t("capture.saved_offline" if self._offline() else "capture.saved"))
        # While this handler waited, status updates may have drawn the page: Flet then skips
        # the handler's own update, and the screen would stay on the note just saved.
        self.ui.page.update()

    def _offline(self) -> bool:
        """Known to be cut off: the last sync failed, or the live stream has dropped (the
        server went away since the last sync: the note will wait on this device)."""
        status = self.session.status
        if status.state == "offline":
            return True
        return self.session.config.live and status.last_success is not None and not status.live
