"""The sync badge in the app bar: queued / sending / offline / up to date, in words, and a tap
to sync now."""

from __future__ import annotations

from collections.abc import Callable

import flet as ft

from field_app.i18n import Translator
from field_app.sync import SyncStatus
from field_app.theme import TAP_TARGET


def describe(status: SyncStatus, t: Translator) -> tuple[str, str, ft.IconData]:
    """(short text, full accessible label, icon) for a status."""
    queued = status.queued
    if status.state == "signed_out":
        return t("sync.signed_out"), t("sync.signed_out.long"), ft.Icons.LOCK_OUTLINE
    if status.state == "update_required":
        return t("sync.update"), t("sync.update.long"), ft.Icons.SYSTEM_UPDATE
    if status.state == "offline":
        short = t("sync.offline_queued", n=queued) if queued else t("sync.offline")
        return short, t("sync.offline.long", n=queued), ft.Icons.CLOUD_OFF
    if status.state == "sending":
        return t("sync.sending"), t("sync.sending.long", n=queued), ft.Icons.SYNC
    if queued:
        return t("sync.queued", n=queued), t("sync.queued.long", n=queued), ft.Icons.CLOUD_UPLOAD
    return t("sync.ok"), t("sync.ok.long"), ft.Icons.CLOUD_DONE_OUTLINED


class SyncBadge:
    def __init__(self, t: Translator, on_tap: Callable[[], None]) -> None:
        self.t = t
        self._on_tap = on_tap
        self._icon = ft.Icon(ft.Icons.CLOUD_DONE_OUTLINED, size=18)
        self._text = ft.Text("", size=13, key="sync-badge-text")
        self.control = ft.Semantics(
            key="sync-badge-semantics",
            button=True,
            live_region=True,
            content=ft.TextButton(
                key="sync-badge",
                height=TAP_TARGET,
                content=ft.Row([self._icon, self._text], tight=True, spacing=4),
                on_click=lambda e: self._on_tap(),
                style=ft.ButtonStyle(padding=ft.Padding.symmetric(horizontal=10)),
            ),
        )

    def show(self, status: SyncStatus) -> None:
        short, label, icon = describe(status, self.t)
        self._text.value = short
        self._icon.icon = icon
        self.control.label = label
