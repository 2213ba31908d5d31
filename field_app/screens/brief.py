"""The coordinator's papers, on the meeting screen: the meeting brief (PDF) of a team or a
worker over a period, and a worker's subject-access export (GDPR art. 15, PDF or JSON).

The server writes them (sync_server/desk) and audits each one. The app fetches the file
with its own token and hands the bytes to the device: a download in a browser, the save
dialog on a phone, or the share sheet. No token ever goes into a link.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import flet as ft

from field_app.components.filters import filter_dropdown
from field_app.components.layout import heading, hint
from field_app.screens.context import Screen
from field_app.state.desk import ActionFailed, Download
from field_app.theme import TAP_TARGET

PERIODS = ("7", "30", "90", "custom")
MAX_DAYS = 366  # the server's limit for one brief (docs/protocol.md §15)
MIME = {"pdf": "application/pdf", "json": "application/json"}


def picked_day(value: object) -> date | None:
    """The day a date picker's answer means. The client sends the chosen day's midnight,
    in its own time zone or in UTC: the nearest midnight is that day, either way."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return (value.astimezone(UTC) + timedelta(hours=12)).date()
        return value.date()
    return value if isinstance(value, date) else None


class BriefPanel:
    """Choose a team or a worker and a period, then download or share."""

    def __init__(self, screen: Screen) -> None:
        self.screen = screen
        self.ui = screen.ui
        self.t = screen.t
        self.picker: ft.FilePicker | None = None  # made when needed, then kept referenced
        self.sharer: ft.Share | None = None
        today = date.today()
        self.custom = {"from": today - timedelta(days=29), "to": today}  # a custom period

    def control(self) -> ft.Control:
        t = self.t
        self.subject = filter_dropdown(
            key="brief-subject",
            label=t("brief.subject"),
            all_label="",
            options=[],
            value=None,
            on_change=self._subject_changed,
            include_all=False,
            wide=True,
        )
        self.period = filter_dropdown(
            key="brief-period",
            label=t("filter.period"),
            all_label="",
            options=[(p, t(f"period.{p}")) for p in PERIODS],
            value="7",
            on_change=self._show_range,
            include_all=False,
            wide=True,
        )
        self.range_buttons = {end: self._range_button(end) for end in ("from", "to")}
        self.range_error = ft.Text("", key="brief-range-error", color=ft.Colors.ERROR)
        self.range = ft.Column(
            [ft.Row(list(self.range_buttons.values()), wrap=True), self.range_error],
            key="brief-range",
            spacing=4,
        )
        self._show_range()
        self.sensitive = ft.Checkbox(key="brief-sensitive", label=t("brief.sensitive"))
        self.status = hint("", key="brief-status")
        self.exports = ft.Column(
            key="export-actions",
            spacing=8,
            controls=[
                hint(t("export.help"), key="export-help"),
                ft.Row(
                    wrap=True,
                    controls=[
                        self._button("export-pdf", t("export.pdf"), ft.Icons.PICTURE_AS_PDF, "pdf"),
                        self._button("export-json", t("export.json"), ft.Icons.DATA_OBJECT, "json"),
                    ],
                ),
            ],
        )
        self.refresh()
        return ft.Column(
            key="brief-panel",
            spacing=8,
            controls=[
                heading(t("brief.title")),
                hint(t("brief.help")),
                ft.ResponsiveRow([self.subject, self.period], spacing=8),
                self.range,
                self.sensitive,
                hint(t("brief.sensitive.help")),
                ft.Row(
                    wrap=True,
                    controls=[
                        ft.FilledButton(
                            t("brief.download"),
                            key="brief-download",
                            icon=ft.Icons.DOWNLOAD,
                            height=TAP_TARGET,
                            on_click=lambda e: self._run(self._brief, self._save),
                        ),
                        ft.OutlinedButton(
                            t("brief.share"),
                            key="brief-share",
                            icon=ft.Icons.SHARE,
                            height=TAP_TARGET,
                            on_click=lambda e: self._run(self._brief, self._share),
                        ),
                    ],
                ),
                self.exports,
                self.status,
            ],
        )

    def refresh(self) -> None:
        """The teams and workers of the directory (it fills with the first sync)."""
        t = self.t
        directory = self.screen.reads.directory()
        teams = sorted(directory.teams.values(), key=lambda x: x.name)
        workers = sorted(directory.workers.values(), key=lambda w: w.display_name)
        options = [(f"team:{x.id}", t("brief.team", team=x.name)) for x in teams]
        options += [(f"worker:{w.id}", w.display_name) for w in workers]
        self.subject.options = [ft.DropdownOption(key=k, text=text) for k, text in options]
        if self.subject.value not in {k for k, _ in options}:
            self.subject.value = options[0][0] if options else None
        self._subject_changed()

    def _button(self, key: str, label: str, icon: ft.IconData, fmt: str) -> ft.Control:
        return ft.OutlinedButton(
            label,
            key=key,
            icon=icon,
            height=TAP_TARGET,
            on_click=lambda e: self._run(lambda: self._export(fmt), self._save),
        )

    # A custom period: from and to, each picked on a calendar ---------------------------------

    def _range_button(self, end: str) -> ft.OutlinedButton:
        return ft.OutlinedButton(
            key=f"brief-{end}",
            icon=ft.Icons.CALENDAR_MONTH,
            height=TAP_TARGET,
            on_click=lambda e: self._pick_day(end),
        )

    def _show_range(self) -> None:
        self.range.visible = self.period.value == "custom"
        for end, button in self.range_buttons.items():
            button.content = self.t(f"brief.{end}", day=self.t.day(self.custom[end]))
        problem = self._range_problem(date.today())
        self.range_error.value = self.t(problem) if problem else ""

    def _pick_day(self, end: str) -> None:
        """A calendar up to today: a brief reports what happened, never what will."""
        today = date.today()

        def picked(e: ft.Event[ft.DatePicker]) -> None:
            day = picked_day(e.control.value)
            if day is not None:
                self.custom[end] = day
            self._show_range()

        self.ui.page.show_dialog(
            ft.DatePicker(
                key=f"brief-{end}-picker",
                value=self.custom[end],
                first_date=today - timedelta(days=10 * 365),
                last_date=today,
                help_text=self.t(f"brief.{end}.help"),
                on_change=picked,
            )
        )

    def _range_problem(self, today: date) -> str | None:
        """What is wrong with the custom period (a catalogue key), if anything."""
        start, end = self.custom["from"], self.custom["to"]
        if start > end:
            return "brief.range.order"
        if end > today:
            return "brief.range.future"
        if (end - start).days + 1 > MAX_DAYS:
            return "brief.range.long"
        return None

    def _chosen(self) -> tuple[str, str]:
        kind, _, ident = (self.subject.value or ":").partition(":")
        return kind, ident

    def _subject_changed(self) -> None:
        self.exports.visible = self._chosen()[0] == "worker"

    async def _brief(self) -> Download:
        kind, ident = self._chosen()
        end = await self._today()
        if self.period.value == "custom":
            if problem := self._range_problem(end):
                raise ActionFailed(problem)
            start, end = self.custom["from"], self.custom["to"]
        else:
            start = end - timedelta(days=int(self.period.value or "7") - 1)
        return await self.screen.session.desk.brief(
            start,
            end,
            team_id=ident if kind == "team" else None,
            worker_id=ident if kind == "worker" else None,
            include_sensitive=bool(self.sensitive.value),
        )

    async def _today(self) -> date:
        """Today where the coordinator is (their time zone, as the server reads the period),
        not on this device's clock: near midnight the two days differ."""
        try:
            zone = ZoneInfo((await self.screen.session.preferences()).timezone)
        except Exception:  # offline, or no time zone database here: the device's day
            return date.today()
        return datetime.now(UTC).astimezone(zone).date()

    async def _export(self, fmt: str) -> Download:
        return await self.screen.session.desk.subject_access(self._chosen()[1], fmt)

    def _run(
        self,
        fetch: Callable[[], Awaitable[Download]],
        deliver: Callable[[Download], Awaitable[None]],
    ) -> None:
        async def run() -> None:
            if not self._chosen()[1]:
                return
            self.status.value = self.t("brief.preparing")
            self.ui.page.update()
            try:
                download = await fetch()
            except ActionFailed as failure:
                self.status.value = self.t(failure.message_key)
            else:
                self.status.value = self.t("brief.ready", file=download.filename)
                self.ui.page.update()
                await deliver(download)
            self.ui.page.update()

        self.ui.run(run)

    async def _save(self, download: Download) -> None:
        """A download in a browser; the save dialog on a phone or a desktop."""
        self.picker = self.picker or ft.FilePicker()
        await self.picker.save_file(file_name=download.filename, src_bytes=download.content)

    async def _share(self, download: Download) -> None:
        """The share sheet (e-mail, messaging); a download where there is none."""
        self.sharer = self.sharer or ft.Share()
        kind = download.filename.rsplit(".", 1)[-1]
        await self.sharer.share_files(
            [ft.ShareFile(data=download.content, name=download.filename, mime_type=MIME[kind])],
            subject=download.filename,
        )
