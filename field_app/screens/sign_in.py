"""Sign-in: server address, login, password and device name, in French, English or Italian.

Errors say what to do (check the password, check the network), never a status code."""

from __future__ import annotations

import flet as ft

from field_app.components.chips import ChoiceChips
from field_app.components.layout import frame, heading, hint
from field_app.i18n import LANGUAGES
from field_app.screens.context import Screen, Ui
from field_app.state.session import SignInFailed


class SignInScreen(Screen):
    title_key = "signin.title"

    def __init__(
        self,
        ui: Ui,
        *,
        server: str,
        device_name: str,
        server_fixed: bool = False,
        message_key: str = "",
    ) -> None:
        super().__init__(ui)
        t = self.t
        # Served by the sync server (the PWA): its own address, never another one.
        self.server = ft.TextField(
            key="signin-server",
            label=t("signin.server"),
            value=server,
            keyboard_type=ft.KeyboardType.URL,
            autocorrect=False,
            visible=not server_fixed,
        )
        self.login = ft.TextField(
            key="signin-login",
            label=t("signin.login"),
            autofocus=True,
            autocorrect=False,
            autofill_hints=ft.AutofillHint.USERNAME,
        )
        self.password = ft.TextField(
            key="signin-password",
            label=t("signin.password"),
            password=True,
            on_submit=self._submit,
            autofill_hints=ft.AutofillHint.PASSWORD,
        )
        # Flet's own reveal icon has no label for screen readers: this one says what it does.
        self.reveal = ft.IconButton(
            key="signin-reveal", icon=ft.Icons.VISIBILITY, on_click=self._toggle_reveal
        )
        self._show_reveal_state()
        self.password.suffix_icon = self.reveal
        self.device_name = ft.TextField(
            key="signin-device",
            label=t("signin.device"),
            value=device_name,
            helper=t("signin.device.help"),
        )
        self.error = ft.Text(
            t(message_key) if message_key else "",
            key="signin-error",
            color=ft.Colors.ERROR,
            visible=bool(message_key),
        )
        self.progress = ft.ProgressRing(width=20, height=20, visible=False)
        self.button = ft.FilledButton(
            t("signin.submit"),
            key="signin-submit",
            icon=ft.Icons.LOGIN,
            on_click=self._submit,
            height=52,
            expand=True,
        )
        self.languages = ChoiceChips(
            [(code, t(f"language.{code}")) for code in LANGUAGES],
            key_prefix="lang",
            selected=t.language,
            on_pick=self._language,
        )

    def carry_over(self, previous: SignInScreen) -> None:
        """Keep what was typed when the language changes."""
        for name in ("server", "login", "password", "device_name"):
            getattr(self, name).value = getattr(previous, name).value

    def content(self) -> list[ft.Control]:
        t = self.t
        return [
            frame(
                ft.Container(height=12),
                ft.Row(
                    [
                        ft.Icon(ft.Icons.SWAP_HORIZ, size=36, color=ft.Colors.PRIMARY),
                        heading(t("app.name"), level=1, key="app-title"),
                    ]
                ),
                hint(t("signin.tagline")),
                self.login,
                self.password,
                self.error,
                ft.Row([self.button, self.progress]),
                ft.ExpansionTile(
                    key="signin-more",
                    title=ft.Text(t("signin.more")),
                    # Apart, and below the tile's title: a floating label is drawn above its
                    # field's box, and ran into the field or the title above it.
                    controls_padding=ft.Padding.only(top=12, bottom=8),
                    controls=[
                        ft.Column(
                            [self.server, self.device_name],
                            spacing=20,
                            tight=True,
                            horizontal_alignment=ft.CrossAxisAlignment.STRETCH,
                        )
                    ],
                    expanded=not self.server.value and self.server.visible,
                ),
                ft.Text(t("signin.language"), weight=ft.FontWeight.W_600),
                self.languages.control,
                key="sign-in-frame",
            )
        ]

    def _language(self, language: str | None) -> None:
        if language:
            self.ui.set_language(language)

    def _fail(self, key: str) -> None:
        self.error.value = self.t(key)
        self.error.visible = True

    def _toggle_reveal(self, e: ft.Event[ft.IconButton]) -> None:
        self.password.password = not self.password.password
        self._show_reveal_state()

    def _show_reveal_state(self) -> None:
        hidden = bool(self.password.password)
        label = self.t("signin.password.show" if hidden else "signin.password.hide")
        icon = ft.Icons.VISIBILITY if hidden else ft.Icons.VISIBILITY_OFF
        self.reveal.icon = ft.Icon(icon, semantics_label=label)  # what screen readers say
        self.reveal.tooltip = label

    async def _submit(self, e: ft.Event[ft.TextField] | ft.Event[ft.Button]) -> None:
        login = (self.login.value or "").strip()
        password = self.password.value or ""
        server = (self.server.value or "").strip()
        device = (self.device_name.value or "").strip() or self.t("signin.device.default")
        if not server:
            self._fail("signin.error.server")
            return
        if not login or not password:
            self._fail("signin.error.missing")
            return
        self.error.visible = False
        self.button.disabled = True
        self.progress.visible = True
        self.ui.page.update()
        try:
            await self.session.sign_in(server, login, password, device)
        except SignInFailed as failure:
            self._fail(failure.message_key)
            self.password.value = ""
            return
        finally:
            # update() was called above, so this handler gets no automatic update.
            self.button.disabled = False
            self.progress.visible = False
            self.ui.page.update()
        await self.ui.signed_in()
