"""Settings: language, high contrast, a counsellor's absence and stand-in, and sign-out
(with a warning when notes are still waiting to be sent)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import flet as ft

from field_app.components.chips import ChoiceChips
from field_app.components.layout import frame, heading, hint
from field_app.i18n import LANGUAGES
from field_app.screens.context import Screen
from field_app.state.records import Entity, now, parse_time
from field_app.state.session import ActionFailed

AWAY_DAYS = {"tomorrow": 1, "week": 7, "two_weeks": 14, "open": None}


def away_until(choice: str | None, moment: datetime) -> datetime | None:
    """The end of the absence: the evening of the chosen day, in local time."""
    days = AWAY_DAYS.get(choice or "open")
    if days is None:
        return None
    day = moment.astimezone().date() + timedelta(days=days)
    return datetime.combine(day, time(hour=8), tzinfo=moment.astimezone().tzinfo).astimezone(UTC)


class SettingsScreen(Screen):
    key = "settings"
    title_key = "tab.settings"

    def content(self) -> list[ft.Control]:
        t = self.t
        user = self.session.user
        roles = ", ".join(t.role(r) for r in sorted(self.session.roles))
        self.languages = ChoiceChips(
            [(code, t(f"language.{code}")) for code in LANGUAGES],
            key_prefix="lang",
            selected=t.language,
            on_pick=lambda v: v and self.ui.set_language(v),
        )
        self.contrast = ft.Switch(
            key="high-contrast",
            label=t("settings.high_contrast"),
            value=self.ui.high_contrast,
            on_change=lambda e: self.ui.set_high_contrast(bool(e.control.value)),
        )
        controls: list[ft.Control] = [
            heading(user.display_name if user else "", level=2, key="settings-user"),
            hint(t("settings.roles", roles=roles)),
            heading(t("settings.language"), level=3),
            self.languages.control,
            self.contrast,
        ]
        if "counsellor" in self.session.roles:
            controls += self._availability()
        self.sign_out = ft.OutlinedButton(
            t("settings.sign_out"), key="sign-out", icon=ft.Icons.LOGOUT, height=48,
            on_click=self._ask_sign_out,
        )  # fmt: skip
        controls += [ft.Divider(), self.sign_out]
        return [frame(*controls)]

    # Absence -------------------------------------------------------------------------------

    def _me(self) -> Entity | None:
        return self.session.require_store().get_entity("colleague", self.session.user_id)

    def _availability(self) -> list[ft.Control]:
        t = self.t
        store = self.session.require_store()
        me = self._me() or {}
        colleagues = sorted(
            (
                c
                for c in store.list_entities("colleague")
                if "counsellor" in c.get("roles", []) and c["id"] != self.session.user_id
            ),
            key=lambda c: c["display_name"],
        )
        self.away = ft.Switch(
            key="away", label=t("away.switch"), value=bool(me.get("away")),
            on_change=lambda e: self._show_away(),
        )  # fmt: skip
        self.stand_in = ft.Dropdown(
            key="stand-in",
            label=t("away.stand_in"),
            value=me.get("stand_in_id") or "none",
            options=[
                ft.DropdownOption(key="none", text=t("away.nobody")),
                *[ft.DropdownOption(key=c["id"], text=c["display_name"]) for c in colleagues],
            ],
            expand=True,
        )
        self.until = ChoiceChips(
            [(k, t(f"away.until.{k}")) for k in AWAY_DAYS], key_prefix="away-until", selected="week"
        )
        self.away_state = hint("", key="away-state")
        self.away_error = ft.Text("", key="away-error", color=ft.Colors.ERROR, visible=False)
        self.away_save = ft.FilledButton(
            t("away.save"), key="away-save", icon=ft.Icons.SAVE, height=48,
            on_click=self._save_away,
        )  # fmt: skip
        self.away_details = ft.Column(
            [self.stand_in, hint(t("away.until")), self.until.control], spacing=8
        )
        self._show_away()
        return [
            ft.Divider(),
            heading(t("away.title"), level=3),
            self.away_state,
            self.away,
            self.away_details,
            self.away_error,
            ft.Row([self.away_save], alignment=ft.MainAxisAlignment.END),
        ]

    def _show_away(self) -> None:
        t = self.t
        me = self._me() or {}
        self.away_details.visible = bool(self.away.value)
        if me.get("away"):
            name = self.session.require_store().get_entity("colleague", me.get("stand_in_id") or "")
            until = parse_time(me.get("away_until"))
            self.away_state.value = t(
                "away.state.away",
                stand_in=name["display_name"] if name else t("away.nobody"),
                until=t.when(until) if until else t("away.until.open"),
            )
        else:
            self.away_state.value = t("away.state.present")

    async def _save_away(self, e: ft.Event[ft.Button]) -> None:
        away = bool(self.away.value)
        stand_in = self.stand_in.value if self.stand_in.value not in (None, "none") else None
        until = away_until(self.until.value, now()) if away else None
        self.away_save.disabled = True
        self.away_error.visible = False
        self.ui.page.update()
        try:
            await self.session.set_availability(away, stand_in, until)
        except ActionFailed as failure:
            self.away_error.value = self.t(failure.message_key)
            self.away_error.visible = True
        else:
            self.ui.toast(self.t("away.saved" if away else "away.back"))
        finally:
            self.away_save.disabled = False
            self.ui.page.update()  # update() was called above: no automatic one

    def refresh(self) -> None:
        if "counsellor" in self.session.roles:
            self._show_away()

    # Sign-out ------------------------------------------------------------------------------

    def _ask_sign_out(self, e: ft.Event[ft.Button]) -> None:
        t = self.t
        queued = self.session.status.queued or self.session.require_store().counts().queued
        self.ui.confirm(
            key="sign-out-dialog",
            title=t("signout.title"),
            text=t("signout.queued", n=queued) if queued else t("signout.text"),
            confirm=t("settings.sign_out"),
            on_confirm=self.ui.sign_out,
        )
