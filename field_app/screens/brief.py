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

PERIODS = ("7", "30", "90")
MIME = {"pdf": "application/pdf", "json": "application/json"}


class BriefPanel:
    """Choose a team or a worker and a period, then download or share."""

    def __init__(self, screen: Screen) -> None:
        self.screen = screen
        self.ui = screen.ui
        self.t = screen.t
        self.picker: ft.FilePicker | None = None  # made when needed, then kept referenced
        self.sharer: ft.Share | None = None

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
            on_change=lambda: None,
            include_all=False,
            wide=True,
        )
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

    def _chosen(self) -> tuple[str, str]:
        kind, _, ident = (self.subject.value or ":").partition(":")
        return kind, ident

    def _subject_changed(self) -> None:
        self.exports.visible = self._chosen()[0] == "worker"

    async def _brief(self) -> Download:
        kind, ident = self._chosen()
        end = await self._today()
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
