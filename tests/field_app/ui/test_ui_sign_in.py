"""Sign-in against a real sync server: refused password, each role's home, language, the
administration, sign-out, and reopening signed in (offline-capable) in the same browser."""

from __future__ import annotations

import asyncio

import flet as ft
import pytest

from field_app.platform import Platform
from relais_testing.factories import PASSWORD, build_world
from relais_testing.serving import server_thread
from relais_testing.ui_harness import app_of, open_app, session_of, sign_in
from sync_server.orgs.models import User


@pytest.fixture
def server_url(db, settings):
    build_world(db)
    with server_thread(db, settings) as url:
        yield url


def test_a_wrong_password_says_so_and_a_good_one_lands_on_the_role_home(server_url, tmp_path):
    async def scenario() -> None:
        h = await open_app(server_url, tmp_path)
        assert h.find(key="signin-server").value == server_url
        assert h.has_text("Connexion") or h.find(key="signin-submit")
        await sign_in(h, "sup_a", "wrong-password")
        error = h.find(key="signin-error")
        assert error.visible and "mot de passe incorrect" in error.value
        assert not h.exists("nav")

        await sign_in(h, "sup_a", PASSWORD)
        nav = h.find(key="nav")
        assert [d.label for d in nav.destinations] == ["Équipe", "Mes notes", "Réglages"]
        assert (h.exists("worker-a1") and h.exists("worker-a2")) or await h.wait_until(
            lambda: h.exists("worker-a1")
        )
        assert not h.exists("worker-b1")  # another team's worker
        assert h.errors() == []
        await h.close()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("login", "tabs"),
    [
        ("couns_1", ["À traiter", "Salariés", "Réglages"]),
        ("coord", ["Réunion", "Historique", "Bilans", "Réglages"]),
        ("admin", ["Admin", "Réglages"]),
    ],
)
def test_each_role_gets_its_sections(server_url, tmp_path, login, tabs):
    async def scenario() -> None:
        h = await open_app(server_url, tmp_path)
        await sign_in(h, login, PASSWORD)
        assert [d.label for d in h.find(key="nav").destinations] == tabs
        if login == "admin":
            await h.wait_until(lambda: h.exists("user-sup_a"))  # administration, online
            await asyncio.sleep(0.5)
            assert session_of(h).require_store().count_entities("note") == 0
        await h.close()

    asyncio.run(scenario())


def test_language_switch_changes_the_visible_texts(server_url, tmp_path):
    async def scenario() -> None:
        h = await open_app(server_url, tmp_path)
        assert h.find(key="signin-submit").content == "Se connecter"
        await h.type("signin-login", "sup_a")
        await h.select("lang-en", True)
        assert h.find(key="signin-submit").content == "Sign in"
        assert h.find(key="signin-login").label == "Login"
        assert h.find(key="signin-login").value == "sup_a"  # what was typed stays
        await h.select("lang-it", True)
        assert h.find(key="signin-submit").content == "Accedi"

        await h.type("signin-password", PASSWORD)
        await h.click("signin-submit")
        await h.wait_until(lambda: h.exists("nav"))
        assert h.find(key="nav").destinations[0].label == "Squadra"
        await h.nav("nav", 2)
        await h.select("lang-fr", True)
        assert h.find(key="nav").destinations[0].label == "Équipe"
        assert h.find(key="home-title").value == "Réglages"
        assert h.page.locale_configuration.current_locale.language_code == "fr"

        await h.switch("high-contrast", True)  # black on white, kept for this device
        assert h.page.theme.color_scheme.primary == "black"
        assert session_of(h).device.settings().high_contrast is True
        await h.close()

    asyncio.run(scenario())


def test_the_same_browser_reopens_signed_in_and_sign_out_forgets_it(server_url, tmp_path):
    async def scenario() -> None:
        browser: dict = {}
        first = await open_app(server_url, tmp_path, prefs=browser)
        await sign_in(first, "sup_a", PASSWORD)
        await first.disconnect()
        await first.close()

        again = await open_app(server_url, tmp_path, prefs=browser)
        assert again.exists("nav")  # no password needed: opens from the local store
        await again.nav("nav", 2)
        await again.click("sign-out")
        await again.click("sign-out-dialog-confirm")
        await again.wait_until(lambda: again.exists("signin-submit"))
        await again.close()

        third = await open_app(server_url, tmp_path, prefs=browser)
        assert third.exists("signin-submit") and not third.exists("nav")
        other_browser = await open_app(server_url, tmp_path)
        assert other_browser.exists("signin-submit")
        await third.close()
        await other_browser.close()

    asyncio.run(scenario())


def test_the_password_can_be_shown_with_a_labelled_button(server_url, tmp_path):
    async def scenario() -> None:
        h = await open_app(server_url, tmp_path)
        await h.type("signin-password", PASSWORD)
        field, reveal = h.find(key="signin-password"), h.find(key="signin-reveal")

        def said() -> tuple[str, str]:
            return reveal.icon.semantics_label, reveal.tooltip

        assert field.password is True and said() == ("Afficher le mot de passe",) * 2
        await h.click("signin-reveal")
        assert field.password is False and said() == ("Masquer le mot de passe",) * 2
        assert field.value == PASSWORD  # showing it keeps what was typed
        await h.click("signin-reveal")
        assert field.password is True and said() == ("Afficher le mot de passe",) * 2
        await h.close()

    asyncio.run(scenario())


def test_a_dutch_speaking_user_gets_the_app_in_dutch(db, settings, tmp_path):
    """Provisioning accepts `nl` (Belgium): the app has its catalogue and Belgium's locale."""
    world = build_world(db)
    with db.unit_of_work() as session:
        session.get_one(User, world.users["sup_a"]).language = "nl"

    async def scenario(url: str) -> None:
        h = await open_app(url, tmp_path)
        await sign_in(h, "sup_a", PASSWORD)
        assert [d.label for d in h.find(key="nav").destinations] == [
            "Ploeg",
            "Mijn notities",
            "Instellingen",
        ]
        assert h.page.locale_configuration.current_locale.language_code == "nl"
        assert h.page.locale_configuration.current_locale.country_code == "BE"
        await h.wait_until(lambda: h.exists("worker-a1"))
        await h.click("worker-a1")
        assert h.find(key="capture-save").content == "Doorgeven"
        await h.click("back")
        await h.nav("nav", 2)
        assert h.find(key="lang-nl").selected
        await h.select("lang-fr", True)
        assert h.find(key="nav").destinations[0].label == "Équipe"
        await h.select("lang-nl", True)
        assert h.find(key="home-title").value == "Instellingen"
        await h.close()

    with server_thread(db, settings) as url:
        asyncio.run(scenario(url))


def open_dialogs(h) -> list[str]:
    """The keys of the dialogs still open on the page (toasts aside)."""
    return [d.key for d in h.page._dialogs.controls if d.open and not isinstance(d, ft.SnackBar)]


def test_signing_out_closes_its_dialog_even_under_a_toast(server_url, tmp_path):
    """A toast shown while the sign-out dialog was open was the dialog `pop_dialog` closed:
    the confirmation then stayed open over the sign-in screen, its buttons dead."""

    async def scenario() -> None:
        h = await open_app(server_url, tmp_path)
        await sign_in(h, "sup_a", PASSWORD)
        await h.nav("nav", 2)
        await h.click("sign-out")
        assert open_dialogs(h) == ["sign-out-dialog"]
        app_of(h).toast("Synchronisé")  # a sync finishing meanwhile
        await h.click("sign-out-dialog-confirm")
        await h.wait_until(lambda: h.exists("signin-submit") and session_of(h).user is None)
        assert open_dialogs(h) == []
        assert not h.exists("nav")
        assert h.errors() == []
        await h.close()

    asyncio.run(scenario())


def test_a_confirmation_acts_once_however_often_it_is_tapped(server_url, tmp_path):
    async def scenario() -> None:
        h = await open_app(server_url, tmp_path)
        done: list[int] = []
        for answer, acted in (("confirm", [1]), ("cancel", [])):
            done.clear()
            app_of(h).confirm(
                key=answer, title="?", text="?", confirm="Oui", on_confirm=lambda: done.append(1)
            )
            button = h.find(key=f"{answer}-{answer}")
            taps = [  # a double tap, before the client says the dialog has gone
                asyncio.ensure_future(h.session.dispatch_event(button._i, "click", None))
                for _ in range(2)
            ]
            await h.settle()
            assert open_dialogs(h) == [] and done == []  # acting waits for the dialog to go
            await h.dismiss(answer)
            await asyncio.gather(*taps)
            assert done == acted
        assert h.errors() == []
        await h.close()

    asyncio.run(scenario())


class CachedWebApp(Platform):
    """The PWA in a browser whose offline cache is full: the first visit says so."""

    cached_web_app = True


def test_works_offline_is_said_once_in_its_own_room_and_can_be_closed(server_url, tmp_path):
    """The message sat over the foot of the lists, screen after screen: now it takes the
    top of the screen it appears on, closes with a tap and goes with that screen."""

    async def scenario() -> None:
        browser: dict = {}
        h = await open_app(server_url, tmp_path, prefs=browser, platform=CachedWebApp())
        await h.wait_until(lambda: h.exists("offline-ready"), 30)
        banner = h.find(key="offline-ready")
        assert h.page.views[-1].controls[0] is banner  # in the page's flow, not over it
        assert not h.page._dialogs.controls and not h.page.overlay
        await h.click("offline-ready-close")
        assert not h.exists("offline-ready")
        await h.disconnect()
        await h.close()

        again = await open_app(server_url, tmp_path, prefs=browser, platform=CachedWebApp())
        await sign_in(again, "sup_a", PASSWORD)
        assert not again.exists("offline-ready")  # said once per device
        await again.close()

        other = await open_app(server_url, tmp_path, platform=CachedWebApp())
        await other.wait_until(lambda: other.exists("offline-ready"), 30)
        await sign_in(other, "sup_a", PASSWORD)
        assert not other.exists("offline-ready")  # seen: the next screen is clear
        assert other.errors() == []
        await other.close()

    asyncio.run(scenario())
