"""Administration in the app against a real server (issue 11, item 5): the overview with the
ACI ratio warning and the quarantine in counts, adding and disabling accounts, a new
password, unlocking a login, signing a phone out (which then wipes itself), and a French
Excel roster with its problems by line and column. Every person here is invented."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest

from field_app.i18n import Translator
from field_app.screens import admin
from field_app.store import LocalStore
from relais_testing.factories import PASSWORD, build_world, mutation
from relais_testing.serving import server_thread
from relais_testing.ui_harness import (
    app_of,
    open_app,
    session_of,
    sign_in,
    small_tap_targets,
    synced,
)
from shared_models import admin as wire
from sync_server.orgs import roster
from sync_server.orgs.models import Worker
from sync_server.sync.changelog import record_change

NEW_PASSWORD = "fictional-new-password"
LOGIN = "/api/v1/auth/login"


@pytest.fixture
def world_url(db, settings):
    world = build_world(db)
    with db.unit_of_work() as session:  # team A: 13 active workers for one supervisor
        for n in range(10):
            worker = Worker(
                id=uuid.uuid4(),
                org_id=world.org,
                ref=f"x{n}",
                display_name=f"Extra Worker {n}",
                team_id=world.teams["A"],
                counsellor_id=None,
                active=True,
            )
            session.add(worker)
            session.flush()
            record_change(session, world.org, "worker", worker.id)
    with server_thread(db, settings) as url:
        yield world, url, settings


def attempt(url: str, login: str, password: str) -> httpx.Response:
    body = {"login": login, "password": password, "device_name": "script"}
    return httpx.post(url + LOGIN, json=body, timeout=60)


def state(h, login: str) -> str:
    return h.find(key=f"user-{login}-state").value


async def closed(h, key: str) -> None:
    """The dialog was closed by the app; the client then says so (and it leaves the page)."""
    assert not h.exists(key) or h.find(key=key).open is False
    await h.dismiss(key)
    assert not h.exists(key)


def pick(h, name: str, data: bytes) -> None:
    """What the browser's file dialog answers when the user chooses `name`."""
    h.conn.method_handlers["FilePicker.pick_files"] = lambda args: [
        {"id": 0, "name": name, "size": len(data), "bytes": data}
    ]


def test_admin_manages_accounts_devices_and_the_roster(world_url, tmp_path):
    world, url, settings = world_url

    async def scenario() -> None:
        # A supervisor's phone, with a note on it; a refused change in the quarantine.
        phone = await open_app(url, tmp_path)
        await sign_in(phone, "sup_a", PASSWORD)
        await synced(phone)
        session_of(phone).capture_note(
            team_id=str(world.teams["A"]),
            worker_id=str(world.workers["a1"]),
            kind="signal",
            category="housing",
            severity="attention",
            text="Fictional housing worry.",
        )
        await synced(phone)
        token = attempt(url, "sup_b", PASSWORD).json()["token"]
        refused = httpx.post(
            url + "/api/v1/sync/push",
            json={"protocol": 1, "mutations": [mutation("note.create", {"worker_id": "x"})]},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        assert refused.json()["results"][0]["status"] == "rejected"
        for _ in range(settings.login_max_failures):  # sup_b's login gets blocked
            assert attempt(url, "sup_b", "wrong-password").status_code == 401

        h = await open_app(url, tmp_path)
        await sign_in(h, "admin", PASSWORD)
        assert [d.label for d in h.find(key="nav").destinations] == ["Admin", "Réglages"]
        await h.wait_until(lambda: h.exists("user-sup_a"))
        assert h.find(key="admin-count-users").value == "Comptes actifs : 6"
        assert h.find(key="admin-count-quarantine").value.endswith(": 1")
        reasons = h.find(key="admin-quarantine-codes").value  # in words, not codes
        assert reasons == "Par motif : données non valides (1)"
        assert h.find(key="admin-count-locked").value.endswith(": 1")
        assert h.find(key="admin-count-workers").value.endswith(": 15")
        assert h.exists(f"admin-staffing-{world.teams['A']}")
        assert not h.exists(f"admin-staffing-{world.teams['B']}")
        assert "Team A : 13 salariés actifs pour 1 encadrant. La règle" in h.text()
        assert "Fictional housing worry." not in h.text()  # an admin reads no notes
        assert "connexion bloquée" in state(h, "sup_b")
        assert not h.exists("user-admin-disable")  # never one's own account
        own_device = session_of(h).require_store().credentials().device_id
        assert h.exists(f"device-{own_device}") and not h.exists(f"device-{own_device}-revoke")
        assert small_tap_targets(h) == []

        # Unlock sup_b.
        await h.click("user-sup_b-unlock")
        await h.wait_until(lambda: "bloquée" not in state(h, "sup_b"))
        assert attempt(url, "sup_b", PASSWORD).status_code == 200

        # Add an account: refused while incomplete, then created; the login is unique.
        await h.click("admin-add-user")
        assert small_tap_targets(h) == []
        await h.click("new-user-save")
        error = h.find(key="new-user-error").value
        assert error.startswith("À compléter :") and "identifiant" in error and "rôle" in error
        await h.type("new-user-login", "sup_c")
        await h.type("new-user-name", "Chloé Encadrante (test)")
        await h.type("new-user-password", NEW_PASSWORD)
        await h.switch("new-user-role-supervisor", True)
        await h.click("new-user-save")
        await h.wait_until(lambda: h.exists("user-sup_c"))
        await closed(h, "new-user")
        assert "encadrant technique" in state(h, "sup_c")
        assert attempt(url, "sup_c", NEW_PASSWORD).status_code == 200
        await h.click("admin-add-user")
        await h.type("new-user-login", "sup_c")
        await h.type("new-user-name", "Someone Else")
        await h.type("new-user-password", NEW_PASSWORD)
        await h.switch("new-user-role-counsellor", True)
        await h.click("new-user-save")
        await h.wait_until(lambda: h.find(key="new-user-error").value)
        assert h.find(key="new-user-error").value == "Cet identifiant est déjà pris."
        await h.click("new-user-cancel")
        await closed(h, "new-user")

        # A new password for couns_1: the old one stops working.
        await h.click("user-couns_1-password")
        await h.type("reset-password-field", "short")
        await h.click("reset-password-save")
        assert h.find(key="reset-password-error").value == "8 caractères au moins."
        await h.type("reset-password-field", NEW_PASSWORD)
        app_of(h).toast("Synchronisé")  # a message while the dialog is open: not the one closed
        await h.click("reset-password-save")
        await h.wait_until(lambda: h.has_text("Mot de passe de Couns 1 (test) changé"))
        await closed(h, "reset-password")
        assert attempt(url, "couns_1", PASSWORD).status_code == 401
        assert attempt(url, "couns_1", NEW_PASSWORD).status_code == 200

        # Sign out sup_a's phone: at its next contact it wipes what it holds.
        store = session_of(phone).require_store()
        assert store.count_entities("note") == 1
        device_id = session_of(phone).require_store().credentials().device_id
        assert "connecté" in h.find(key=f"device-{device_id}-state").value
        await h.click(f"device-{device_id}-revoke")
        await h.click("confirm-revoke-confirm")
        await closed(h, "confirm-revoke")
        await h.wait_until(lambda: "déconnecté" in h.find(key=f"device-{device_id}-state").value)
        assert not h.exists(f"device-{device_id}-revoke")
        session_of(phone).request_sync()
        await phone.wait_until(lambda: phone.exists("signin-login"))
        with LocalStore(store.path) as wiped:  # what is left on the phone
            assert wiped.count_entities("note") == 0 and wiped.count_entities("worker") == 0
            assert wiped.credentials() is None
            assert wiped.signed_out_reason() == "token_revoked"

        # Disable couns_2.
        await h.click("user-couns_2-disable")
        await h.click("confirm-disable-confirm")
        await closed(h, "confirm-disable")
        await h.wait_until(lambda: "désactivé" in state(h, "couns_2"))
        assert attempt(url, "couns_2", PASSWORD).status_code == 401
        assert h.find(key="admin-count-disabled").value.endswith(": 1")

        # A roster saved by French Excel: semicolons, Windows-1252.
        header = "ref;name;team;counsellor;contract_type;start;end\r\n"
        bad = (header + "r1;Zoé Étienne;a;couns_1;CDDI;05/01/2026;\r\n").encode("cp1252")
        pick(h, "salariés.csv", bad)
        await h.click("admin-roster-pick")
        await h.wait_until(lambda: h.exists("roster-problem-0"))
        assert h.find(key="roster-problem-0").value == (
            "Ligne 2, colonne « start » : « 05/01/2026 » n'est pas une date au format "
            "AAAA-MM-JJ (par exemple 2026-01-05)"
        )
        assert "salariés.csv n'a pas été importé (1 problème) : rien n'a été modifié" in h.text()
        read_as = h.find(key="roster-read-as").value
        assert "Windows-1252" in read_as and "points-virgules" in read_as
        good = (header + "r1;Zoé Étienne;a;couns_1;CDDI;2026-01-05;\r\n").encode("cp1252")
        pick(h, "salariés.csv", good)
        await h.click("admin-roster-pick")
        await h.wait_until(lambda: h.exists("roster-summary") and not h.exists("roster-problem-0"))
        summary = h.find(key="roster-summary").value
        assert summary == "salariés.csv importé : 1 créé, 0 modifié, 0 inchangé."
        assert h.exists(f"roster-staffing-{world.teams['A']}")  # 14 workers, 1 supervisor
        await h.wait_until(lambda: h.find(key="admin-count-workers").value.endswith(": 16"))
        assert not h.errors()
        for app in (h, phone):
            await app.close()

    asyncio.run(scenario())


def test_a_coordinator_gets_no_administration(world_url, tmp_path):
    _world, url, _settings = world_url

    async def scenario() -> None:
        h = await open_app(url, tmp_path)
        await sign_in(h, "coord", PASSWORD)
        assert "Admin" not in [d.label for d in h.find(key="nav").destinations]
        await h.close()

    asyncio.run(scenario())


def test_roster_problems_and_refusal_reasons_are_said_in_the_admins_language():
    """The server sends codes and values; the app words them (a code newer than the app
    keeps the server's English)."""
    problems = [
        wire.RosterProblemItem(
            line=4, column="team", code="unknown_team", params={"value": "bat"}, message="x"
        ),
        wire.RosterProblemItem(
            line=1, column=None, code="a_future_code", message="unknown team 'bat'"
        ),
    ]
    said = {
        language: [admin._problem(Translator(language), p) for p in problems]
        for language in ("fr", "en", "nl")
    }
    assert said["fr"][0] == "équipe « bat » inconnue dans l'organisation"
    assert said["en"][0] == "no team 'bat' in the organisation"
    assert said["nl"][0] == "geen ploeg 'bat' in de organisatie"
    assert {s[1] for s in said.values()} == {"unknown team 'bat'"}
    for code in (*roster.ROW_CODES, "required", "too_long", "duplicate_ref", "unknown_counsellor"):
        assert Translator("nl").known(f"admin.roster.problem.{code}"), code


def test_counts_take_the_languages_plural():
    fr, en, nl = Translator("fr"), Translator("en"), Translator("nl")
    staffing = {"team": "Team A", "workers": 26}
    assert "26 salariés actifs pour 1 encadrant." in fr("staffing.warning", n=1, **staffing)
    assert "26 salariés actifs pour 2 encadrants." in fr("staffing.warning", n=2, **staffing)
    assert "for 1 supervisor." in en("staffing.warning", n=1, **staffing)
    assert "voor 2 werkleiders." in nl("staffing.warning", n=2, **staffing)
    assert "(1 problème)" in fr("admin.roster.refused", file="f.csv", n=1)
    assert "(3 problèmes)" in fr("admin.roster.refused", file="f.csv", n=3)
    assert "(1 problem)" in en("admin.roster.refused", file="f.csv", n=1)
    assert "(1 probleem)" in nl("admin.roster.refused", file="f.csv", n=1)
    created = [fr("admin.roster.created", n=n) for n in (0, 1, 2)]
    assert created == ["0 créé", "1 créé", "2 créés"]
