"""Settings: language, high contrast, a counsellor's absence and stand-in, and sign-out
(with a warning when notes are still waiting to be sent)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import flet as ft

from field_app.components.chips import ChoiceChips
from field_app.components.layout import frame, heading, hint, switch_line
from field_app.i18n import LANGUAGES
from field_app.screens.context import Screen
from field_app.state.records import now
from field_app.state.session import ActionFailed
from shared_models.entities import ColleagueData
from shared_models.vocabulary import Role
from shared_models.wire import Preferences

AWAY_DAYS = {"tomorrow": 1, "week": 7, "two_weeks": 14, "open": None}
DIGEST_TIMES = ("06:00", "06:30", "07:00", "07:30", "08:00", "08:30", "09:00", "12:00", "17:00")
NO_QUIET = "none"
QUIET_HOURS = (("19:00", "07:00"), ("20:00", "07:00"), ("21:00", "08:00"), ("22:00", "07:00"))


def _hhmm(moment: time | None) -> str:
    return moment.strftime("%H:%M") if moment else ""


def _offer(dropdown: ft.Dropdown, key: str, text: str | None = None) -> str:
    """Select `key`, adding it as a choice first if it was set elsewhere (say, the API)."""
    if all(option.key != key for option in dropdown.options or []):
        dropdown.options = [*(dropdown.options or []), ft.DropdownOption(key=key, text=text or key)]
    return key


def away_until(choice: str | None, moment: datetime) -> datetime | None:
    """The end of the absence: the evening of the chosen day, in local time."""
    days = AWAY_DAYS.get(choice or "open")
    if days is None:
        return None
    day = moment.astimezone().date() + timedelta(days=days)
    return datetime.combine(day, time(hour=8), tzinfo=moment.astimezone().tzinfo).astimezone(UTC)


class SettingsScreen(Screen):
    title_key = "tab.settings"
    _preferences = Preferences()  # replaced by the server's once loaded

    def content(self) -> list[ft.Control]:
        t = self.t
        user = self.session.user
        roles = ", ".join(t.role(r) for r in sorted(self.session.roles))
        self.languages = ChoiceChips(
            [(code, t(f"language.{code}")) for code in LANGUAGES],
            key_prefix="lang",
            selected=t.language,
            on_pick=self._pick_language,
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
        if Role.COUNSELLOR in self.session.roles:
            controls += self._availability()
        if self.session.roles & {Role.COUNSELLOR, Role.COORDINATOR}:
            controls += self._notifications()
        self.sign_out = ft.OutlinedButton(
            t("settings.sign_out"), key="sign-out", icon=ft.Icons.LOGOUT, height=48,
            on_click=self._ask_sign_out,
        )  # fmt: skip
        controls += [ft.Divider(), self.sign_out]
        return [frame(*controls)]

    def _pick_language(self, language: str | None) -> None:
        if language:
            self.ui.set_language(language)

    # Absence -------------------------------------------------------------------------------

    def _me(self) -> ColleagueData | None:
        return self.reads.colleague(self.reads.me)

    def _availability(self) -> list[ft.Control]:
        t = self.t
        me = self._me()
        self.away = ft.Switch(
            key="away", label=t("away.switch"), value=bool(me and me.away),
            on_change=lambda e: self._show_away(),
        )  # fmt: skip
        self.stand_in = ft.Dropdown(
            key="stand-in",
            label=t("away.stand_in"),
            value=str(me.stand_in_id) if me and me.stand_in_id else "none",
            options=[
                ft.DropdownOption(key="none", text=t("away.nobody")),
                *[
                    ft.DropdownOption(key=str(c.id), text=c.display_name)
                    for c in self.reads.stand_ins()
                ],
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
        me = self._me()
        self.away_details.visible = bool(self.away.value)
        if me and me.away:
            stand_in = self.reads.colleague(me.stand_in_id) if me.stand_in_id else None
            until = me.away_until
            self.away_state.value = t(
                "away.state.away",
                stand_in=stand_in.display_name if stand_in else t("away.nobody"),
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

    # E-mail notifications ------------------------------------------------------------------

    def _notifications(self) -> list[ft.Control]:
        t = self.t
        self.email_urgent = ft.Switch(key="notify-urgent", value=True)
        self.email_digest = ft.Switch(key="notify-digest", value=True)
        self.digest_time = ft.Dropdown(
            key="notify-digest-time", label=t("notify.digest_time"), value=DIGEST_TIMES[3],
            options=[ft.DropdownOption(key=v, text=v) for v in DIGEST_TIMES], expand=True,
        )  # fmt: skip
        self.quiet = ft.Dropdown(
            key="notify-quiet",
            label=t("notify.quiet"),
            value=NO_QUIET,
            options=[
                ft.DropdownOption(key=NO_QUIET, text=t("notify.quiet.none")),
                *[
                    ft.DropdownOption(key=f"{a}-{b}", text=t("notify.quiet.range", start=a, end=b))
                    for a, b in QUIET_HOURS
                ],
            ],
            expand=True,
        )
        self.notify_state = hint(t("notify.loading"), key="notify-state")
        self.notify_save = ft.FilledButton(
            t("notify.save"), key="notify-save", icon=ft.Icons.SAVE, height=48, disabled=True,
            on_click=self._save_notifications,
        )  # fmt: skip
        return [
            ft.Divider(),
            heading(t("notify.title"), level=3),
            hint(t("notify.privacy")),
            switch_line(self.email_urgent, t("notify.urgent")),
            switch_line(self.email_digest, t("notify.digest")),
            self.digest_time,
            self.quiet,
            self.notify_state,
            ft.Row([self.notify_save], alignment=ft.MainAxisAlignment.END),
        ]

    def opened(self) -> None:
        if self.session.roles & {Role.COUNSELLOR, Role.COORDINATOR}:
            self.ui.page.run_task(self._load_notifications)

    async def _load_notifications(self) -> None:
        try:
            current = await self.session.preferences()
        except ActionFailed as failure:
            self.notify_state.value = self.t(failure.message_key)
        else:
            self._preferences = current
            self.email_urgent.value = current.email_urgent
            self.email_digest.value = current.email_digest
            self.digest_time.value = _offer(self.digest_time, _hhmm(current.digest_time))
            if current.quiet_start and current.quiet_end:
                start, end = _hhmm(current.quiet_start), _hhmm(current.quiet_end)
                text = self.t("notify.quiet.range", start=start, end=end)
                self.quiet.value = _offer(self.quiet, f"{start}-{end}", text)
            else:
                self.quiet.value = NO_QUIET
            self.notify_state.value = ""
            self.notify_save.disabled = False
        self.ui.page.update()

    async def _save_notifications(self, e: ft.Event[ft.Button]) -> None:
        quiet = self.quiet.value if self.quiet.value not in (None, NO_QUIET) else None
        start, end = quiet.split("-") if quiet else (None, None)
        wanted = self._preferences.model_copy(
            update={
                "email_urgent": bool(self.email_urgent.value),
                "email_digest": bool(self.email_digest.value),
                "digest_time": time.fromisoformat(self.digest_time.value or DIGEST_TIMES[3]),
                "quiet_start": time.fromisoformat(start) if start else None,
                "quiet_end": time.fromisoformat(end) if end else None,
            }
        )
        self.notify_save.disabled = True
        self.ui.page.update()
        try:
            self._preferences = await self.session.save_preferences(wanted)
        except ActionFailed as failure:
            self.notify_state.value = self.t(failure.message_key)
        else:
            self.notify_state.value = ""
            self.ui.toast(self.t("notify.saved"))
        finally:
            self.notify_save.disabled = False
            self.ui.page.update()  # update() was called above: no automatic one

    def refresh(self) -> None:
        if Role.COUNSELLOR in self.session.roles:
            self._show_away()

    # Sign-out ------------------------------------------------------------------------------

    def _ask_sign_out(self, e: ft.Event[ft.OutlinedButton]) -> None:
        t = self.t
        queued = self.session.status.queued or self.reads.queued_count()
        self.ui.confirm(
            key="sign-out-dialog",
            title=t("signout.title"),
            text=t("signout.queued", n=queued) if queued else t("signout.text"),
            confirm=t("settings.sign_out"),
            on_confirm=self.ui.sign_out,
        )
