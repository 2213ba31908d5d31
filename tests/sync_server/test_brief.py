"""The meeting brief (GET /api/v1/briefs, `relais brief`), read back with poppler.

A fictional team's month goes in through the real push endpoint: signals of every sensitive
category, a late one, an old one still open, a closed one, a retracted one, follow-ups, a
heads-up and another team's note. Every person and text is invented.
"""

from __future__ import annotations

import os
import stat
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from relais_testing.command import Relais, assert_clean_failure, assert_ok, output
from relais_testing.factories import World, build_world, login, mutation, note_data, push
from shared_models.vocabulary import CATEGORIES, FollowUpAction, NoteKind, NoteStatus, Severity
from sync_server.audit.models import AuditEvent
from sync_server.audit.service import BRIEF_EXPORT, SENSITIVE_NOTE_READ
from sync_server.database import Database
from sync_server.desk.texts import LANGUAGES, TEXTS, VOCABULARY
from sync_server.orgs.models import Organization
from sync_server.routing.models import Delivery
from tests.pdfs import colour_pixels, read_pdf

PARIS = ZoneInfo("Europe/Paris")
TODAY = datetime.now(PARIS).date()
START = TODAY - timedelta(days=27)
# One unique word per sensitive text: it must never be printed unless asked for.
SENSITIVE_WORDS = {
    "health": "Zorvanthe",
    "addiction": "Quillemor",
    "justice": "Brastigon",
    "family": "Velmouric",
}
FOLLOW_UP_SECRET = "Ombrelune"
ACCENTED = "Arrivé très fatigué ; il a reçu une leçon de sécurité, cœur à l'ouvrage."
FATIGUE_COLOUR = (0x00, 0x72, 0xB2)  # the chart's first colour: the most frequent category
SENSITIVE_COLOUR = (0x6F, 0x4E, 0x7C)


def at_local(day: date, hour: int = 10, minute: int = 0) -> str:
    return datetime.combine(day, time(hour, minute), PARIS).astimezone(UTC).isoformat()


def note(world: World, worker: str | None, day: date, **fields: Any) -> dict[str, Any]:
    hour = fields.pop("hour", 10)
    minute = fields.pop("minute", 0)
    data = note_data(world, worker, **fields)
    data["captured_at"] = at_local(day, hour, minute)
    return data


def follow_up(note_id: str, text: str, close: bool = False) -> dict[str, Any]:
    data = {
        "id": str(uuid.uuid4()),
        "note_id": note_id,
        "action": FollowUpAction.INTERVIEW_PLANNED.value,
        "text": text,
        "close": close,
    }
    return mutation("note.follow_up", data)


class Month:
    """Team A's month, pushed by its supervisor and counsellors."""

    def __init__(self, client: Any, db: Database) -> None:
        self.world = world = build_world(db)
        self.db = db
        sup_a, sup_b = login(client, "sup_a"), login(client, "sup_b")
        couns_1, couns_2 = login(client, "couns_1"), login(client, "couns_2")
        self.coord = login(client, "coord")
        self.sensitive = {
            "health": note(
                world,
                "a1",
                START + timedelta(days=2),
                category="health",
                text=f"{SENSITIVE_WORDS['health']} : parle d'un traitement lourd.",
            ),
            "addiction": note(
                world,
                "a2",
                START + timedelta(days=9),
                category="addiction",
                text=f"{SENSITIVE_WORDS['addiction']} à la pause.",
            ),
            "justice": note(
                world,
                "a3",
                START + timedelta(days=16),
                category="justice",
                text=f"{SENSITIVE_WORDS['justice']} : convocation au tribunal.",
            ),
            "family": note(
                world,
                "a3",
                START + timedelta(days=23),
                category="family",
                text=f"{SENSITIVE_WORDS['family']} : garde des enfants.",
            ),
        }
        self.fatigue = [
            note(world, "a1", START + timedelta(days=d), category="fatigue", text=ACCENTED)
            for d in (1, 3, 8, 15, 22)
        ]
        self.late = note(
            world,
            "a1",
            START + timedelta(days=20),
            category="punctuality",
            severity=Severity.URGENT.value,
            text="Retard répété : Plumebise.",
        )
        self.waiting = note(
            world, "a2", TODAY, category="money", text="Demande d'avance : Grelotin."
        )
        self.closed = note(
            world,
            "a2",
            START + timedelta(days=4),
            category="housing",
            text="Logement trouvé : Cassevent.",
        )
        self.old = note(
            world,
            "a3",
            START - timedelta(days=40),
            category="mobility",
            text="Permis suspendu : Tournevire.",
        )
        self.retracted = note(world, "a3", TODAY, category="conflict", text="Erreur : Friselune.")
        self.observation = note(
            world,
            "a2",
            START + timedelta(days=5),
            kind=NoteKind.OBSERVATION.value,
            category="skill_progress",
            severity=Severity.INFO.value,
            text="Très bon travail sur la haie de l'école : façon soignée, œil précis.",
        )
        self.team_note = note(
            world,
            None,
            START + timedelta(days=6),
            team="A",
            kind=NoteKind.SAFETY.value,
            category="ppe",
            text="Échafaudage sans garde-corps près de la rivière.",
        )
        self.other_team = note(
            world,
            "b1",
            START + timedelta(days=6),
            category="fatigue",
            text="Autre équipe : Pirouflet.",
        )
        mine = [
            *self.sensitive.values(),
            *self.fatigue,
            self.late,
            self.waiting,
            self.closed,
            self.old,
            self.retracted,
            self.observation,
            self.team_note,
        ]
        results = push(client, sup_a, *(mutation("note.create", n) for n in mine))
        assert {r["status"] for r in results} == {"applied"}, results
        push(client, sup_b, mutation("note.create", self.other_team))
        results = push(
            client,
            sup_a,
            mutation("note.retract", {"note_id": self.retracted["id"], "reason": "wrong worker"}),
        )
        assert results[0]["status"] == "applied", results
        results = push(
            client,
            couns_1,
            follow_up(self.sensitive["health"]["id"], f"{FOLLOW_UP_SECRET} : rendez-vous pris."),
            follow_up(self.fatigue[0]["id"], "Entretien jeudi, reçu à l'accueil."),
            follow_up(self.closed["id"], "Bail signé, dossier clôturé.", close=True),
            mutation(
                "heads_up.create",
                {
                    "id": str(uuid.uuid4()),
                    "worker_id": str(world.workers["a1"]),
                    "text": "Ménager Léo cette semaine, je m'en occupe.",
                },
            ),
        )
        assert {r["status"] for r in results} == {"applied"}, results
        results = push(client, couns_2, follow_up(self.sensitive["justice"]["id"], "Vu au bureau."))
        assert {r["status"] for r in results} == {"applied"}, results
        # The urgent signal's deadline passed without anyone acknowledging it.
        with db.unit_of_work() as session:
            session.execute(
                update(Delivery)
                .where(Delivery.note_id == uuid.UUID(self.late["id"]))
                .values(due_at=datetime.now(UTC) - timedelta(hours=1))
            )

    def params(self, **extra: Any) -> dict[str, Any]:
        return {
            "team_id": str(self.world.teams["A"]),
            "from": START.isoformat(),
            "to": TODAY.isoformat(),
            **extra,
        }


def get_brief(client: Any, headers: dict[str, str], params: dict[str, Any]):
    return client.get("/api/v1/briefs", params=params, headers=headers)


def audit_rows(db: Database, action: str) -> list[AuditEvent]:
    with db.reading() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


# --- content ------------------------------------------------------------------------------


def test_brief_is_a_pdf_with_embedded_fonts_and_french_accents(client, db, tmp_path):
    month = Month(client, db)
    response = get_brief(client, month.coord, month.params())
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"].startswith(
        'attachment; filename="relais-brief-a-'
    )
    assert response.headers["cache-control"] == "no-store"
    pdf = read_pdf(response.content, tmp_path)

    assert pdf.fonts and all(f.embedded for f in pdf.fonts), pdf.fonts
    assert {f.name.split("+")[-1] for f in pdf.fonts} == {"DejaVuSans", "DejaVuSans-Bold"}
    for word in (
        "Point de réunion",
        "Équipe : Team A",
        "fatigué",
        "très",
        "reçu",
        "leçon",
        "cœur",
        "façon",
        "œil",
        "Échafaudage",
        "Ménager",
        "Clôturée",
    ):
        assert word in pdf.words, word
    total = len(pdf.pages)
    for number, page in enumerate(pdf.pages, start=1):
        assert f"page {number} / {total}" in page
    assert "Pirouflet" not in pdf.words  # another team's note
    assert "Friselune" not in pdf.words  # retracted


def test_open_and_late_signals_come_first_late_ahead(client, db, tmp_path):
    month = Month(client, db)
    pdf = read_pdf(get_brief(client, month.coord, month.params()).content, tmp_path)
    words = pdf.words
    section = words[words.index("Signalements ouverts et en retard") : words.index("En bref")]
    assert section.index("Plumebise") < section.index("Grelotin")  # late before waiting
    assert "en retard" in section
    assert "Tournevire" in section  # captured before the period, still open
    assert "Cassevent" not in section  # closed
    assert "œil" not in section  # an observation alerts no one
    assert words.index("Signalements ouverts et en retard") < words.index("Par salarié")
    # Then the figures, each worker's notes, follow-ups and heads-ups.
    assert "Cassevent" in words[words.index("Par salarié") :]
    follow_ups = words[words.index("Suites données et infos aux encadrants") :]
    assert "Entretien jeudi, reçu à l'accueil." in follow_ups
    assert "Ménager Léo cette semaine, je m'en occupe." in follow_ups


def test_an_urgent_observation_still_open_is_listed_with_the_signals(client, db, tmp_path):
    """It is routed like a signal (never silent), so it waits for acknowledgement like one:
    listed however old, with its status."""
    month = Month(client, db)
    urgent = note(
        month.world,
        "a2",
        START - timedelta(days=10),
        kind=NoteKind.OBSERVATION.value,
        category="skill_progress",
        severity=Severity.URGENT.value,
        text="Observation urgente : Brumoisel.",
    )
    results = push(client, login(client, "sup_a"), mutation("note.create", urgent))
    assert results[0]["status"] == "applied", results
    pdf = read_pdf(get_brief(client, month.coord, month.params()).content, tmp_path)
    words = pdf.words
    section = words[words.index("Signalements ouverts et en retard") : words.index("En bref")]
    assert "Brumoisel" in section and "œil" not in section
    assert "Progrès technique Urgent Ouverte Observation urgente : Brumoisel." in section


def test_weekly_chart_is_drawn_by_category(client, db, tmp_path):
    month = Month(client, db)
    pdf = read_pdf(get_brief(client, month.coord, month.params()).content, tmp_path)
    page = pdf.page_with("Notes par semaine et par catégorie")
    legend = pdf.pages[page - 1]
    for label in ("Fatigue", "Ponctualité", "Sujet sensible", "Progrès technique"):
        assert label in legend, label
    image = pdf.image(page)
    assert colour_pixels(image, FATIGUE_COLOUR) > 30  # bars, not only the legend's box
    assert colour_pixels(image, SENSITIVE_COLOUR) > 30


def test_sensitive_text_is_left_out_unless_a_coordinator_asks(client, db, tmp_path):
    month = Month(client, db)
    plain = read_pdf(get_brief(client, month.coord, month.params()).content, tmp_path, "plain.pdf")
    for word in [*SENSITIVE_WORDS.values(), FOLLOW_UP_SECRET]:
        assert word not in plain.text, word
    # Not even the exact category: the four read as one "sensitive topic".
    for label in ("Santé", "Assuétudes", "Famille"):
        assert label not in plain.text, label
    assert "Sujet sensible : texte non inclus." in plain.words
    assert not any("confidentiel" in page for page in plain.pages)

    response = get_brief(client, month.coord, month.params(include_sensitive="true"))
    assert response.status_code == 200, response.text
    full = read_pdf(response.content, tmp_path, "full.pdf")
    for word in [*SENSITIVE_WORDS.values(), FOLLOW_UP_SECRET]:
        assert word in full.text, word
    for label in ("Santé", "Assuétudes", "Famille"):
        assert label in full.text, label
    assert "Sujet sensible" not in full.text
    assert len(full.pages) >= 2
    assert all("confidentiel" in page for page in full.pages)


def test_note_text_is_printed_as_written_never_as_markup(client, db, tmp_path):
    world = build_world(db)
    text = "Il a écrit <b>gras</b> & <font size=40>énorme</font> sur le tableau"
    push(
        client,
        login(client, "sup_a"),
        mutation("note.create", note(world, "a1", TODAY, category="behaviour", text=text)),
    )
    response = get_brief(
        client,
        login(client, "coord"),
        {"worker_id": str(world.workers["a1"]), "from": TODAY.isoformat(), "to": TODAY.isoformat()},
    )
    assert response.status_code == 200, response.text
    assert text in read_pdf(response.content, tmp_path).words


def test_a_long_period_prints_each_workers_latest_notes_and_says_how_many_more(
    client, db, tmp_path
):
    """A brief is a summary: per worker, the latest notes of the period and a count of the
    others; a sensitive note that is not printed is not recorded as read either."""
    world = build_world(db)
    sup_a, couns_1 = login(client, "sup_a"), login(client, "couns_1")
    hidden = note(world, "a1", START, category="health", text="Sensiblorg, ancien.")
    words = [f"Jalon{i:02d}" for i in range(1, 14)]
    notes = [
        note(
            world,
            "a1",
            START + timedelta(days=1 + i),
            kind="observation",
            category="autonomy",
            severity="info",
            text=f"{word} : travaille seul sur la tondeuse.",
        )
        for i, word in enumerate(words)
    ]
    before = note(world, "a2", START - timedelta(days=40), category="mobility", text="Vélo volé.")
    push(client, sup_a, *(mutation("note.create", n) for n in (hidden, before, *notes)))
    results = push(
        client,
        couns_1,
        mutation("note.acknowledge", {"note_id": hidden["id"]}),
        follow_up(before["id"], "Suivi tardif : Grisemine."),
    )
    assert {r["status"] for r in results} == {"applied"}, results
    response = get_brief(
        client,
        login(client, "coord"),
        {
            "team_id": str(world.teams["A"]),
            "from": START.isoformat(),
            "to": TODAY.isoformat(),
            "include_sensitive": "true",
        },
    )
    assert response.status_code == 200, response.text
    text = read_pdf(response.content, tmp_path).words
    assert [w for w in words if w in text] == words[-10:]
    # 14 notes in the period for a1: the 10 latest printed, the 13 observations counted.
    assert "14 notes : 1 signalement, 0 note de sécurité, 13 observations" in text
    assert "4 notes plus anciennes de la période ne sont pas reprises ici" in text
    assert "Sensiblorg" not in text
    assert "Suivi tardif : Grisemine." in text  # a follow-up in the period on an older note
    reads = [e for e in audit_rows(db, SENSITIVE_NOTE_READ) if e.detail == BRIEF_EXPORT]
    assert reads == []


def test_the_period_is_whole_local_days(client, db, tmp_path):
    world = build_world(db)
    day = TODAY - timedelta(days=3)
    inside = [
        note(world, "a1", day, hour=0, minute=5, text="Dedans Aubeclair"),
        note(world, "a1", day, hour=23, minute=55, text="Dedans Soirfleur"),
    ]
    outside = [
        note(world, "a1", day - timedelta(days=1), hour=23, minute=55, text="Dehors Veillemont"),
        note(world, "a1", day + timedelta(days=1), hour=0, minute=5, text="Dehors Matinval"),
    ]
    for n in inside + outside:
        n["kind"], n["category"], n["severity"] = "observation", "autonomy", "info"
    push(client, login(client, "sup_a"), *(mutation("note.create", n) for n in inside + outside))
    response = get_brief(
        client,
        login(client, "coord"),
        {"worker_id": str(world.workers["a1"]), "from": day.isoformat(), "to": day.isoformat()},
    )
    words = read_pdf(response.content, tmp_path).words
    assert "Aubeclair" in words and "Soirfleur" in words
    assert "Veillemont" not in words and "Matinval" not in words
    assert "Salarié : Worker A1 (a1)" in words


@pytest.mark.parametrize(
    ("language", "title", "mark"),
    [
        ("en", "Meeting brief", "confidential"),
        ("it", "Sintesi per la riunione", "riservato"),
        ("nl", "Vergaderoverzicht", "vertrouwelijk"),
    ],
)
def test_the_brief_speaks_the_organisations_language(client, db, tmp_path, language, title, mark):
    world = build_world(db)
    with db.unit_of_work() as session:
        session.get_one(Organization, world.org).language = language
    push(
        client,
        login(client, "sup_a"),
        mutation("note.create", note(world, "a1", TODAY, category="health", text="Tisserel")),
    )
    params = {
        "team_id": str(world.teams["A"]),
        "from": TODAY.isoformat(),
        "to": TODAY.isoformat(),
        "include_sensitive": "true",
    }
    pdf = read_pdf(get_brief(client, login(client, "coord"), params).content, tmp_path)
    assert title in pdf.text
    assert all(mark in page for page in pdf.pages)
    assert VOCABULARY[language]["category.health"] in pdf.text
    assert "Point de réunion" not in pdf.text


def test_the_catalogue_is_complete_in_every_language():
    for language in LANGUAGES:
        assert set(TEXTS[language]) == set(TEXTS["fr"]), language
        assert set(VOCABULARY[language]) == set(VOCABULARY["fr"]), language
    wanted = {f"category.{c}" for categories in CATEGORIES.values() for c in categories}
    wanted |= {f"kind.{k.value}" for k in NoteKind} | {f"severity.{s.value}" for s in Severity}
    wanted |= {f"status.{s.value}" for s in NoteStatus}
    wanted |= {f"action.{a.value}" for a in FollowUpAction}
    assert wanted <= set(VOCABULARY["fr"])


def test_no_vocabulary_label_is_split_inside_a_word_in_any_language():
    """Kind, category and severity columns fit each word of their labels at the cell size."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    from sync_server.desk.pdf import AWAITING_WIDTHS, FONT, NOTE_WIDTHS, WIDTH

    padding = 6  # the cells' left and right padding
    columns = {
        "kind": min(NOTE_WIDTHS[1], AWAITING_WIDTHS[2]),
        "category": min(NOTE_WIDTHS[2], AWAITING_WIDTHS[3]),
        "severity": min(NOTE_WIDTHS[3], AWAITING_WIDTHS[4]),
    }
    too_wide = [
        (language, label)
        for language, labels in VOCABULARY.items()
        for key, label in labels.items()
        if key.split(".")[0] in columns
        for word in label.split()
        if stringWidth(word, FONT, 8) + padding > WIDTH * columns[key.split(".")[0]]
    ]
    assert not too_wide


# --- who may, and the audit ---------------------------------------------------------------


def test_only_coordinators_get_a_brief(client, db):
    world = build_world(db)
    other = build_world(db, slug="other", prefix="o_")
    params = {"team_id": str(world.teams["A"]), "from": START.isoformat(), "to": TODAY.isoformat()}
    for name in ("sup_a", "couns_1", "admin"):
        headers = login(client, name)
        for sensitive in ("false", "true"):
            response = get_brief(client, headers, {**params, "include_sensitive": sensitive})
            assert response.status_code == 403, (name, response.text)
            assert response.json()["error"]["code"] == "forbidden"
    # Another organisation's coordinator does not learn that the team exists.
    response = get_brief(client, login(client, "o_coord"), params)
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"
    assert client.get("/api/v1/briefs", params=params).status_code == 401
    assert audit_rows(db, BRIEF_EXPORT) == []
    assert other.org != world.org


def test_bad_queries_get_a_clear_4xx(client, db):
    world = build_world(db)
    other = build_world(db, slug="other", prefix="o_")
    coord = login(client, "coord")
    team, worker = str(world.teams["A"]), str(world.workers["a1"])
    day = TODAY.isoformat()
    cases = [
        ({"from": day, "to": day}, 422, "team_id, worker_id"),
        ({"team_id": team, "worker_id": worker, "from": day, "to": day}, 422, "team_id, worker_id"),
        ({"team_id": team, "from": day, "to": (TODAY - timedelta(days=1)).isoformat()}, 422, "to:"),
        (
            {"team_id": team, "from": (TODAY - timedelta(days=400)).isoformat(), "to": day},
            422,
            "366",
        ),
        ({"team_id": team, "from": "31/12/2025", "to": day}, 422, "from"),
        ({"team_id": "not-a-uuid", "from": day, "to": day}, 422, "team_id"),
        ({"team_id": team, "to": day}, 422, "from"),
        ({"team_id": team, "from": "0001-01-01", "to": "0001-01-02"}, 422, "from, to"),
        ({"team_id": team, "from": "9999-12-30", "to": "9999-12-31"}, 422, "from, to"),
        ({"team_id": str(uuid.uuid4()), "from": day, "to": day}, 404, "no team"),
        ({"worker_id": str(other.workers["a1"]), "from": day, "to": day}, 404, "no worker"),
    ]
    for params, status, words in cases:
        response = get_brief(client, coord, params)
        assert response.status_code == status, (params, response.text)
        assert words in response.json()["error"]["message"], (params, response.text)
    assert audit_rows(db, BRIEF_EXPORT) == []


def test_every_brief_is_audited_with_its_sensitive_reads(client, db):
    month = Month(client, db)
    get_brief(client, month.coord, month.params())
    [plain] = audit_rows(db, BRIEF_EXPORT)
    assert plain.actor_id == month.world.users["coord"]
    assert plain.device_id is not None
    assert (plain.entity, plain.entity_id) == ("team", month.world.teams["A"])
    assert "left out" in (plain.detail or "") and "via app" in (plain.detail or "")
    reads = [e for e in audit_rows(db, SENSITIVE_NOTE_READ) if e.detail == BRIEF_EXPORT]
    assert reads == []

    get_brief(client, month.coord, month.params(include_sensitive="true"))
    exports = audit_rows(db, BRIEF_EXPORT)
    assert len(exports) == 2
    assert any("included" in (e.detail or "") for e in exports)
    reads = [e for e in audit_rows(db, SENSITIVE_NOTE_READ) if e.detail == BRIEF_EXPORT]
    assert {e.entity_id for e in reads} == {uuid.UUID(n["id"]) for n in month.sensitive.values()}
    assert {e.actor_id for e in reads} == {month.world.users["coord"]}


# --- the command line ---------------------------------------------------------------------

BRIEF_ARGS = (
    "brief",
    "--org",
    "acme",
    "--team",
    "a",
    "--from",
    START.isoformat(),
    "--to",
    TODAY.isoformat(),
)


@pytest.fixture
def cli_month(relais: Relais, tmp_path):
    """Month's data on the command's SQLite file, pushed through an in-process server."""
    from fastapi.testclient import TestClient

    from sync_server.app import create_app
    from sync_server.settings import Settings

    db = relais.database()
    app = create_app(Settings(data_dir=tmp_path / "data", escalation_interval=0), db)
    with TestClient(app) as client:
        month = Month(client, db)
    db.dispose()
    return month


@pytest.fixture
def relais(tmp_path) -> Relais:
    return Relais(tmp_path)


@pytest.mark.slow
def test_cli_brief_writes_a_private_pdf_and_audits_it(relais, cli_month, tmp_path):
    target = tmp_path / "brief.pdf"
    target.write_bytes(b"an older, world-readable file")
    target.chmod(0o644)
    result = relais.spawn(*BRIEF_ARGS, "-o", str(target))
    assert_ok(result)
    assert "recorded in the audit log" in result.stdout
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert not list(tmp_path.glob(".brief.pdf.*"))  # no partial file left behind
    pdf = read_pdf(target.read_bytes(), tmp_path, "read.pdf")
    assert "Point de réunion" in pdf.text and "cœur" in pdf.text
    assert not any(word in pdf.text for word in SENSITIVE_WORDS.values())
    db = relais.database()
    try:
        [row] = audit_rows(db, BRIEF_EXPORT)
        assert row.actor_id is None and "via cli" in (row.detail or "")
    finally:
        db.dispose()

    result = relais(*BRIEF_ARGS, "--include-sensitive", "--as", "coord", "-o", str(target))
    assert_ok(result)
    pdf = read_pdf(target.read_bytes(), tmp_path, "full.pdf")
    assert all(word in pdf.text for word in SENSITIVE_WORDS.values())
    assert all("confidentiel" in page for page in pdf.pages)
    db = relais.database()
    try:
        rows = audit_rows(db, BRIEF_EXPORT)
        assert {r.actor_id for r in rows} == {None, cli_month.world.users["coord"]}
    finally:
        db.dispose()


@pytest.mark.slow
def test_cli_brief_refusals_fail_cleanly_and_write_nothing(relais, cli_month, tmp_path):
    target = tmp_path / "refused.pdf"
    cases = [
        ((*BRIEF_ARGS, "--include-sensitive"), "--include-sensitive"),
        ((*BRIEF_ARGS, "--include-sensitive", "--as", "sup_a"), "coordinator"),
        ((*BRIEF_ARGS, "--as", "couns_1"), "coordinators"),
        ((*BRIEF_ARGS, "--as", "nobody"), "--as"),
        (
            ("brief", "--org", "acme", "--from", START.isoformat(), "--to", TODAY.isoformat()),
            "--team",
        ),
        (
            (
                "brief",
                "--org",
                "acme",
                "--team",
                "zz",
                "--from",
                START.isoformat(),
                "--to",
                TODAY.isoformat(),
            ),
            "--team",
        ),
        (
            (
                "brief",
                "--org",
                "nope",
                "--team",
                "a",
                "--from",
                START.isoformat(),
                "--to",
                TODAY.isoformat(),
            ),
            "--org",
        ),
        (
            (
                "brief",
                "--org",
                "acme",
                "--team",
                "a",
                "--from",
                "2026-13-01",
                "--to",
                TODAY.isoformat(),
            ),
            "--from",
        ),
        (
            (
                "brief",
                "--org",
                "acme",
                "--team",
                "a",
                "--from",
                TODAY.isoformat(),
                "--to",
                START.isoformat(),
            ),
            "--to",
        ),
    ]
    for args, words in cases:
        result = relais(*args, "-o", str(target))
        assert_clean_failure(result)
        assert words in output(result), (args, output(result))
        assert not target.exists(), args
    result = relais(*BRIEF_ARGS, "-o", str(tmp_path / "missing-folder" / "b.pdf"))
    assert_clean_failure(result)
    assert "--output" in output(result)
    db = relais.database()
    try:
        assert audit_rows(db, BRIEF_EXPORT) == []
    finally:
        db.dispose()
