"""Administration in the app, for the organisation's admins (who read no notes): the
overview (accounts, devices, the quarantine, teams over the ACI ratio), accounts (add,
disable, unlock, new password), devices by person (sign one out: the phone wipes itself at
its next contact) and the roster upload, with problems by line and column.

Everything here lives on the server: the screen reads it when opened and after each action,
and says so when the server cannot be reached. The `relais` commands do the same for scripts.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import flet as ft
from pydantic import ValidationError

from field_app.components.layout import banner, frame, heading, hint
from field_app.i18n import Translator
from field_app.screens.context import Screen
from field_app.screens.meeting import staffing_banner
from field_app.state.desk import ActionFailed
from field_app.theme import TAP_TARGET, tone
from shared_models import admin as wire
from shared_models.vocabulary import Role, Severity

ROLES = [Role.SUPERVISOR, Role.COUNSELLOR, Role.COORDINATOR, Role.ADMIN]
ROSTER_EXTENSIONS = ["csv", "txt"]


class AdminScreen(Screen):
    title_key = "tab.admin"

    def content(self) -> list[ft.Control]:
        t = self.t
        self.picker: ft.FilePicker | None = None  # made when needed: a service per use
        self.status = hint(t("admin.loading"), key="admin-status")
        self.overview = ft.Column(key="admin-overview", spacing=8)
        stretch = ft.CrossAxisAlignment.STRETCH
        self.users = ft.Column(key="admin-users", spacing=8, horizontal_alignment=stretch)
        self.devices = ft.Column(key="admin-devices", spacing=8, horizontal_alignment=stretch)
        self.roster = ft.Column(key="admin-roster-report", spacing=6)
        self._users: list[wire.AdminUser] = []
        return [
            frame(
                heading(t("admin.title"), level=1),
                hint(t("admin.privacy")),
                self.status,
                self.overview,
                heading(t("admin.users")),
                ft.Row(
                    [
                        ft.FilledButton(
                            t("admin.add_user"),
                            key="admin-add-user",
                            icon=ft.Icons.PERSON_ADD_ALT,
                            height=TAP_TARGET,
                            on_click=lambda e: self._new_user_dialog(),
                        )
                    ]
                ),
                self.users,
                heading(t("admin.devices")),
                hint(t("admin.devices.help")),
                self.devices,
                heading(t("admin.roster")),
                hint(t("admin.roster.help")),
                ft.Row(
                    [
                        ft.OutlinedButton(
                            t("admin.roster.pick"),
                            key="admin-roster-pick",
                            icon=ft.Icons.UPLOAD_FILE,
                            height=TAP_TARGET,
                            on_click=self._pick_roster,
                        )
                    ]
                ),
                self.roster,
            )
        ]

    def opened(self) -> None:
        self.ui.run(self.load)

    # Reading ------------------------------------------------------------------------------

    async def load(self) -> None:
        desk = self.session.desk
        try:
            overview, users, devices = await asyncio.gather(
                desk.overview(), desk.users(), desk.devices()
            )
        except ActionFailed as failure:
            self.status.value = self.t(failure.message_key)
        else:
            self.status.value = ""
            self._users = users
            self.overview.controls = self._overview(overview)
            self.users.controls = [self._user(u) for u in users]
            self.devices.controls = self._devices(devices)
        self.ui.page.update()

    def _overview(self, o: wire.AdminOverview) -> list[ft.Control]:
        t = self.t
        counts = [
            ("users", t("admin.count.users", n=o.users)),
            ("disabled", t("admin.count.disabled", n=o.disabled_users)),
            ("locked", t("admin.count.locked", n=o.locked_logins)),
            ("devices", t("admin.count.devices", n=o.active_devices)),
            ("workers", t("admin.count.workers", n=o.active_workers)),
            ("quarantine", t("admin.count.quarantine", n=o.quarantined)),
        ]
        controls: list[ft.Control] = [
            ft.ResponsiveRow(
                [
                    ft.Container(
                        ft.Text(text, key=f"admin-count-{name}", size=15),
                        col={"xs": 12, "sm": 6, "md": 4},
                        padding=ft.Padding.symmetric(vertical=4),
                    )
                    for name, text in counts
                ]
            )
        ]
        if o.quarantine:
            controls.append(
                hint(
                    t(
                        "admin.quarantine.codes",
                        codes=", ".join(
                            t("admin.quarantine.code", reason=self._reason(q.code), n=q.count)
                            for q in o.quarantine
                        ),
                    ),
                    key="admin-quarantine-codes",
                )
            )
        return controls + [self._staffing(w) for w in o.staffing]

    def _reason(self, code: str) -> str:
        """Why the server refused changes, in words; a code newer than the app, as is."""
        key = f"admin.quarantine.code.{code}"
        return self.t(key) if self.t.known(key) else code

    def _staffing(self, w: wire.StaffingWarning, key: str = "admin-staffing") -> ft.Control:
        return staffing_banner(self, f"{key}-{w.team_id}", w.team, w.workers, w.supervisors)

    def _user(self, user: wire.AdminUser) -> ft.Control:
        t = self.t
        states = [", ".join(t(f"role.{r}") for r in user.roles)]
        if user.disabled:
            states.append(t("admin.user.disabled"))
        if user.locked:
            states.append(t("admin.user.locked"))
        states.append(t("admin.user.devices", n=user.active_devices))
        actions: list[ft.Control] = []
        if user.locked:
            actions.append(
                self._action(
                    f"user-{user.login}-unlock",
                    t("admin.unlock"),
                    ft.Icons.LOCK_OPEN,
                    lambda e: self.ui.run(self._account, user, "unlock"),
                )
            )
        actions.append(
            self._action(
                f"user-{user.login}-password",
                t("admin.password"),
                ft.Icons.PASSWORD,
                lambda e: self._password_dialog(user),
            )
        )
        if user.disabled:
            actions.append(
                self._action(
                    f"user-{user.login}-enable",
                    t("admin.enable"),
                    ft.Icons.PERSON,
                    lambda e: self.ui.run(self._account, user, "enable"),
                )
            )
        elif user.id != uuid.UUID(self.session.user_id):
            actions.append(
                self._action(
                    f"user-{user.login}-disable",
                    t("admin.disable"),
                    ft.Icons.PERSON_OFF,
                    lambda e: self.ui.confirm(
                        key="confirm-disable",
                        title=t("admin.disable.title", name=user.display_name),
                        text=t("admin.disable.text"),
                        confirm=t("admin.disable"),
                        on_confirm=lambda: self._account(user, "disable"),
                    ),
                )
            )
        return _card(
            f"user-{user.login}",
            [
                ft.Text(user.display_name, weight=ft.FontWeight.W_600, size=16),
                hint(t("admin.user.login_line", login=user.login, email=user.email or "—")),
                ft.Text(" · ".join(states), key=f"user-{user.login}-state", size=14),
                ft.Row(actions, wrap=True, spacing=4),
            ],
        )

    def _devices(self, devices: list[wire.AdminDevice]) -> list[ft.Control]:
        t = self.t
        if not devices:
            return [hint(t("admin.devices.none"), key="admin-devices-none")]
        controls: list[ft.Control] = []
        person = None
        this_device = self.session.device_id  # signing it out is the settings' sign-out
        for device in devices:
            if device.user_id != person:
                person = device.user_id
                controls.append(heading(device.display_name, level=3))
            seen = t.when(device.last_seen_at) if device.last_seen_at else t("admin.device.never")
            row: list[ft.Control] = [
                ft.Text(device.name, weight=ft.FontWeight.W_600, size=15),
                hint(
                    t(
                        "admin.device.seen",
                        when=seen,
                        state=t("admin.device." + device.state.replace(" ", "_")),
                    ),
                    key=f"device-{device.id}-state",
                ),
            ]
            if device.state == "active" and device.id != this_device:
                row.append(
                    ft.Row(
                        [
                            self._action(
                                f"device-{device.id}-revoke",
                                t("admin.revoke"),
                                ft.Icons.PHONELINK_ERASE,
                                self._confirm_revoke(device),
                            )
                        ]
                    )
                )
            controls.append(_card(f"device-{device.id}", row))
        return controls

    def _confirm_revoke(self, device: wire.AdminDevice) -> Callable[[Any], None]:
        def ask(e: Any) -> None:
            self.ui.confirm(
                key="confirm-revoke",
                title=self.t("admin.revoke.title", device=device.name),
                text=self.t("admin.revoke.text", name=device.display_name),
                confirm=self.t("admin.revoke"),
                on_confirm=lambda: self._act(
                    self.session.desk.revoke(device.id), self.t("admin.revoked")
                ),
            )

        return ask

    @staticmethod
    def _action(
        key: str, label: str, icon: ft.IconData, on_click: Callable[[Any], Any]
    ) -> ft.Control:
        return ft.TextButton(label, key=key, icon=icon, height=TAP_TARGET, on_click=on_click)

    # Acting -------------------------------------------------------------------------------

    async def _act(self, action: Awaitable[Any], done: str) -> bool:
        """Run one admin action, say how it went, and read everything again."""
        try:
            await action
        except ActionFailed as failure:
            self.ui.toast(self.t(failure.message_key))
            self.ui.page.update()
            return False
        self.ui.toast(done)
        await self.load()
        return True

    async def _account(self, user: wire.AdminUser, action: str) -> None:
        await self._act(
            self.session.desk.account(user.id, action),
            self.t(f"admin.{action}.done", name=user.display_name),
        )

    def _password_dialog(self, user: wire.AdminUser) -> None:
        t = self.t
        field = ft.TextField(
            key="reset-password-field",
            label=t("admin.password.new"),
            password=True,
            autofocus=True,
        )
        error = ft.Text("", key="reset-password-error", color=ft.Colors.ERROR)

        async def save(e: Any) -> None:
            try:
                password = wire.NewPassword(password=field.value or "").password
            except ValidationError:
                error.value = t("admin.password.short", n=wire.MIN_PASSWORD)
                return
            self.ui.close_dialog(dialog)
            await self._act(
                self.session.desk.reset_password(user.id, password),
                t("admin.password.done", name=user.display_name),
            )

        dialog = self._dialog(
            "reset-password",
            t("admin.password.title", name=user.display_name),
            [hint(t("admin.password.help")), field, error],
            t("admin.password"),
            save,
        )

    def _new_user_dialog(self) -> None:
        t = self.t
        login = ft.TextField(key="new-user-login", label=t("admin.user.login"))
        name = ft.TextField(key="new-user-name", label=t("admin.user.name"))
        email = ft.TextField(key="new-user-email", label=t("admin.user.email"))
        password = ft.TextField(
            key="new-user-password",
            label=t("admin.password.new"),
            password=True,
        )
        roles = {
            role: ft.Checkbox(key=f"new-user-role-{role}", label=t(f"role.{role}"))
            for role in ROLES
        }
        error = ft.Text("", key="new-user-error", color=ft.Colors.ERROR)

        async def save(e: Any) -> None:
            try:
                wanted = wire.NewUser(
                    login=(login.value or "").strip(),
                    display_name=(name.value or "").strip(),
                    email=(email.value or "").strip() or None,
                    password=password.value or "",
                    roles=[r for r, box in roles.items() if box.value],
                    language=self.t.language,
                )
            except ValidationError as exc:
                fields = sorted({str(err["loc"][0]) for err in exc.errors()})
                error.value = t(
                    "admin.user.invalid",
                    fields=", ".join(t(f"admin.field.{f}") for f in fields),
                    n=wire.MIN_PASSWORD,
                )
                return
            try:
                await self.session.desk.add_user(wanted)
            except ActionFailed as failure:
                error.value = t(failure.message_key)
                self.ui.page.update()
                return
            self.ui.close_dialog(dialog)
            self.ui.toast(t("admin.user.added", name=wanted.display_name))
            await self.load()

        dialog = self._dialog(
            "new-user",
            t("admin.add_user"),
            [login, name, email, password, hint(t("admin.user.roles")), *roles.values(), error],
            t("admin.add_user.save"),
            save,
        )

    def _dialog(
        self,
        key: str,
        title: str,
        controls: list[ft.Control],
        confirm: str,
        on_save: Callable[[Any], Awaitable[None]],
    ) -> ft.AlertDialog:
        dialog = ft.AlertDialog(
            key=key,
            modal=True,
            title=ft.Text(title),
            content=ft.Column(controls, tight=True, spacing=8, scroll=ft.ScrollMode.AUTO),
        )
        dialog.actions = [
            ft.TextButton(
                self.t("common.cancel"),
                key=f"{key}-cancel",
                height=TAP_TARGET,
                on_click=lambda e: self.ui.close_dialog(dialog),
            ),
            ft.FilledButton(confirm, key=f"{key}-save", height=TAP_TARGET, on_click=on_save),
        ]
        self.ui.show_dialog(dialog)
        return dialog

    # The roster ---------------------------------------------------------------------------

    async def _pick_roster(self, e: Any) -> None:
        self.picker = self.picker or ft.FilePicker()  # kept: an unreferenced service goes
        files = await self.picker.pick_files(
            dialog_title=self.t("admin.roster.pick"),
            file_type=ft.FilePickerFileType.CUSTOM,
            allowed_extensions=ROSTER_EXTENSIONS,
            with_data=True,
        )
        if not files or files[0].bytes is None:
            return
        self.roster.controls = [hint(self.t("admin.roster.sending", file=files[0].name))]
        self.ui.page.update()
        try:
            report = await self.session.desk.import_roster(files[0].bytes)
        except ActionFailed as failure:
            self.roster.controls = [ft.Text(self.t(failure.message_key), key="roster-summary")]
        else:
            self.roster.controls = self._roster_report(files[0].name, report)
            if report.imported:
                await self.load()
                return
        self.ui.page.update()

    def _roster_report(self, name: str, report: wire.RosterImport) -> list[ft.Control]:
        t = self.t
        controls: list[ft.Control] = []
        if report.encoding:
            separated = t(f"admin.roster.delimiter.{_delimiter_name(report.delimiter)}")
            controls.append(
                hint(
                    t("admin.roster.read_as", encoding=report.encoding, separated=separated),
                    key="roster-read-as",
                )
            )
        if report.imported:
            summary = t(
                "admin.roster.done",
                file=name,
                created=t("admin.roster.created", n=report.created),
                updated=t("admin.roster.updated", n=report.updated),
                unchanged=t("admin.roster.unchanged", n=report.unchanged),
            )
            controls.insert(0, ft.Text(summary, key="roster-summary", size=15))
            controls += [self._staffing(w, key="roster-staffing") for w in report.staffing]
            return controls
        colours = tone(Severity.URGENT, self.ui.high_contrast)
        controls.insert(
            0,
            banner(
                t("admin.roster.refused", file=name, n=len(report.problems)),
                key="roster-summary",
                icon=ft.Icons.ERROR_OUTLINE,
                background=colours.background,
                foreground=colours.foreground,
            ),
        )
        for i, problem in enumerate(report.problems):
            where = t("admin.roster.line", line=problem.line)
            if problem.column:
                where = t("admin.roster.line_column", line=problem.line, column=problem.column)
            text = t("admin.roster.problem", where=where, message=_problem(t, problem))
            controls.append(ft.Text(text, key=f"roster-problem-{i}", size=14))
        return controls


def _problem(t: Translator, problem: wire.RosterProblemItem) -> str:
    """A roster problem in the admin's language; a code newer than the app, in English."""
    key = f"admin.roster.problem.{problem.code}"
    return t(key, **problem.params) if t.known(key) else problem.message


def _delimiter_name(delimiter: str | None) -> str:
    return {";": "semicolons", "\t": "tabs"}.get(delimiter or ",", "commas")


def _card(key: str, controls: list[ft.Control]) -> ft.Control:
    return ft.Card(
        variant=ft.CardVariant.OUTLINED,
        margin=0,
        content=ft.Container(
            key=key,
            padding=12,
            content=ft.Column(controls, tight=True, spacing=4),
        ),
    )
