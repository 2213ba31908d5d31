"""The subject-access export (GDPR art. 15): GET /api/v1/workers/{id}/export and
`relais export worker`, as JSON (a versioned shape) and as a PDF read back with poppler.

One fictional worker gets every kind of record, including a sensitive note read by three
people; another worker's and another organisation's records must stay out.
"""

from __future__ import annotations

import json
import os
import stat
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from relais_testing.command import Relais, assert_clean_failure, assert_ok, output
from relais_testing.factories import (
    add_user,
    build_world,
    login,
    mutation,
    note_data,
    pull_all,
    push,
)
from sync_server.audit.service import BRIEF_EXPORT, SENSITIVE_NOTE_READ, SUBJECT_ACCESS_EXPORT
from sync_server.database import Database
from sync_server.desk.schemas import SubjectAccessExport
from sync_server.notes.models import Note
from sync_server.routing.models import Delivery
from tests.pdfs import read_pdf
from tests.sync_server.test_brief import TODAY, audit_rows

HEALTH = "Dit avoir un suivi médical : Lunebrisée, cœur fragile."
VALID_UNTIL = TODAY + timedelta(days=14)


class Subject:
    """Worker a1 with every kind of record held about them, and neighbours that must not leak."""

    def __init__(self, client: Any, db: Database) -> None:
        self.world = world = build_world(db)
        self.other = other = build_world(db, slug="other", prefix="o_")
        add_user(db, world, "coord2", ("coordinator",))
        self.db = db
        sup_a, couns_1 = login(client, "sup_a"), login(client, "couns_1")
        self.coord, self.coord2 = login(client, "coord"), login(client, "coord2")
        self.health = note_data(world, "a1", category="health", text=HEALTH)
        self.observation = note_data(
            world,
            "a1",
            kind="observation",
            category="teamwork",
            severity="info",
            text="Aide spontanément ses collègues ; très apprécié de l'équipe.",
        )
        self.injury = note_data(
            world,
            "a1",
            kind="safety",
            category="injury",
            severity="urgent",
            text="Coupure légère à la main, soignée sur place : Ferblanc.",
        )
        self.retracted = note_data(
            world, "a1", category="conflict", text="Mauvais salarié : Givrelle."
        )
        self.by_counsellor = note_data(
            world, "a1", category="administrative", text="Dossier de logement déposé : Papyrin."
        )
        self.neighbour = note_data(world, "a2", category="money", text="Autre salarié : Nuagelin.")
        results = push(
            client,
            sup_a,
            *(
                mutation("note.create", n)
                for n in (
                    self.health,
                    self.observation,
                    self.injury,
                    self.retracted,
                    self.neighbour,
                )
            ),
            mutation(
                "note.retract", {"note_id": self.retracted["id"], "reason": "mauvais salarié"}
            ),
        )
        assert {r["status"] for r in results} == {"applied"}, results
        self.follow_ups = [str(uuid.uuid4()), str(uuid.uuid4())]
        self.heads_up = str(uuid.uuid4())
        results = push(
            client,
            couns_1,
            mutation("note.create", self.by_counsellor),
            mutation("delivery.seen", {"note_id": self.health["id"]}),
            mutation(
                "note.follow_up",
                {
                    "id": self.follow_ups[0],
                    "note_id": self.health["id"],
                    "action": "referred_to_partner",
                    "text": "Orienté vers le centre de santé : Pivoinette.",
                },
            ),
            mutation(
                "note.follow_up",
                {
                    "id": self.follow_ups[1],
                    "note_id": self.injury["id"],
                    "action": "work_adapted",
                    "text": "Gants fournis.",
                    "close": True,
                },
            ),
            mutation(
                "heads_up.create",
                {
                    "id": self.heads_up,
                    "worker_id": str(world.workers["a1"]),
                    "text": "Éviter les outils coupants cette quinzaine.",
                    "valid_until": VALID_UNTIL.isoformat(),
                },
            ),
            mutation(
                "heads_up.create",
                {
                    "id": str(uuid.uuid4()),
                    "worker_id": str(world.workers["a2"]),
                    "text": "Autre salarié : Brumeline.",
                },
            ),
        )
        assert {r["status"] for r in results} == {"applied"}, results
        # Two submissions the server refused, kept for inspection; both name a1's records.
        self.refused = [str(uuid.uuid4()), str(uuid.uuid4())]
        results = push(
            client,
            sup_a,
            mutation(
                "note.follow_up",
                {
                    "id": str(uuid.uuid4()),
                    "note_id": self.health["id"],
                    "action": "other",
                    "text": "Pas mon rôle : Chardonnet.",
                },
                mutation_id=uuid.UUID(self.refused[0]),
            ),
            mutation(
                "note.create",
                {**note_data(world, "a1"), "category": "astrology"},
                mutation_id=uuid.UUID(self.refused[1]),
            ),
        )
        assert [r["status"] for r in results] == ["rejected", "rejected"], results
        # Three people read the sensitive note: its counsellor and a coordinator in the app,
        # a second coordinator in a printed brief about a1.
        pull_all(client, couns_1)
        pull_all(client, self.coord)
        response = client.get(
            "/api/v1/briefs",
            headers=self.coord2,
            params={
                "worker_id": str(world.workers["a1"]),
                "from": TODAY.isoformat(),
                "to": TODAY.isoformat(),
                "include_sensitive": "true",
            },
        )
        assert response.status_code == 200, response.text
        # Another organisation's worker with the same reference.
        push(
            client,
            login(client, "o_sup_a"),
            mutation("note.create", note_data(other, "a1", text="Autre organisation : Sablefin.")),
        )

    @property
    def url(self) -> str:
        return f"/api/v1/workers/{self.world.workers['a1']}/export"

    def note_ids(self) -> set[str]:
        return {
            n["id"]
            for n in (
                self.health,
                self.observation,
                self.injury,
                self.retracted,
                self.by_counsellor,
            )
        }


LEAKS = ("Nuagelin", "Brumeline", "Sablefin")


def test_json_export_holds_everything_about_the_worker_and_nothing_else(client, db):
    s = Subject(client, db)
    response = client.get(s.url, params={"format": "json"}, headers=s.coord)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"].startswith(
        'attachment; filename="relais-worker-a1-'
    )
    export = SubjectAccessExport.model_validate_json(response.content)
    body = response.json()
    assert (body["format"], body["version"]) == ("relais.subject_access", 1)
    for leak in LEAKS:
        assert leak not in response.text, leak

    worker = export.worker
    assert (worker.ref, worker.display_name, worker.team.slug) == ("a1", "Worker A1", "a")
    assert worker.counsellor == "Couns 1 (test)" and worker.active
    assert export.organisation.slug == "acme"

    notes = {str(n.id): n for n in export.notes}
    assert set(notes) == s.note_ids()
    assert notes[s.health["id"]].text == HEALTH and notes[s.health["id"]].sensitive
    assert [n.sensitive for k, n in notes.items() if k != s.health["id"]] == [False] * 4
    retracted = notes[s.retracted["id"]]
    assert retracted.status == "retracted" and retracted.retract_reason == "mauvais salarié"
    assert retracted.retracted_at is not None
    assert notes[s.by_counsellor["id"]].author == "Couns 1 (test)"

    follow_ups = {str(f.id): f for f in export.follow_ups}
    assert set(follow_ups) == set(s.follow_ups)  # written in one push: same time, any order
    closing = follow_ups[s.follow_ups[1]]
    assert closing.close and closing.action == "work_adapted"
    assert str(closing.note_id) == s.injury["id"]
    [heads_up] = export.heads_ups
    assert (str(heads_up.id), heads_up.valid_until) == (s.heads_up, VALID_UNTIL)

    with db.reading() as session:
        held = {
            str(d.id): d
            for d in session.scalars(
                select(Delivery)
                .join(Note, Note.id == Delivery.note_id)
                .where(Note.worker_id == s.world.workers["a1"])
            )
        }
    assert {str(d.id) for d in export.deliveries} == set(held) and held
    reasons = {(str(d.note_id), d.recipient, d.reason) for d in export.deliveries}
    assert (s.injury["id"], "Coord (test)", "urgent") in reasons
    health_delivery = next(d for d in export.deliveries if str(d.note_id) == s.health["id"])
    assert health_delivery.seen_at is not None and health_delivery.acknowledged_at is not None

    reads = [r for r in export.sensitive_note_reads if str(r.note_id) == s.health["id"]]
    assert sorted((r.reader, r.how) for r in reads) == [
        ("Coord (test)", "app"),
        ("Couns 1 (test)", "app"),
        ("coord2", "meeting_brief"),
    ]
    assert [(e.what, e.by) for e in export.exports] == [("meeting_brief", "coord2")]
    assert {str(r.id) for r in export.refused_submissions} == set(s.refused)
    assert all(r.content for r in export.refused_submissions)
    assert "Chardonnet" in response.text


def test_pdf_export_is_readable_and_marked_confidential(client, db, tmp_path):
    s = Subject(client, db)
    response = client.get(s.url, params={"format": "pdf"}, headers=s.coord)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    pdf = read_pdf(response.content, tmp_path)
    assert pdf.fonts and all(f.embedded for f in pdf.fonts)
    words = pdf.words
    for expected in (
        "Données détenues sur Worker A1",
        "Droit d'accès (RGPD, article 15)",
        "Lunebrisée",
        "cœur",
        "très apprécié",
        "Ferblanc",
        "Givrelle",
        "Retirée le",
        "Papyrin",
        "Pivoinette",
        "Gants fournis.",
        "Éviter les outils coupants cette quinzaine.",
        "Chardonnet",
        "Couns 1 (test)",
        "Coord (test)",
        "coord2",
        "point de réunion imprimé",
        "Santé (sensible)",
        "Urgent : copie aux coordinateurs",
    ):
        assert expected in words, expected
    for leak in LEAKS:
        assert leak not in words, leak
    total = len(pdf.pages)
    for number, page in enumerate(pdf.pages, start=1):
        assert "confidentiel" in page and f"page {number} / {total}" in page


def test_only_coordinators_export_a_worker(client, db):
    s = Subject(client, db)
    before = len(audit_rows(db, SUBJECT_ACCESS_EXPORT))
    # The worker's own counsellor reads their notes, but exports are for coordinators.
    for name in ("sup_a", "couns_1", "admin"):
        response = client.get(s.url, params={"format": "json"}, headers=login(client, name))
        assert response.status_code == 403, (name, response.text)
        assert response.json()["error"]["code"] == "forbidden"
    response = client.get(s.url, headers=login(client, "o_coord"))
    assert response.status_code == 404, response.text
    assert client.get(s.url).status_code == 401
    cases = [
        (s.url, {"format": "docx"}, 422, "format"),
        ("/api/v1/workers/not-a-uuid/export", {}, 422, "worker_id"),
        (f"/api/v1/workers/{uuid.uuid4()}/export", {}, 404, "no worker"),
        (f"/api/v1/workers/{s.other.workers['a1']}/export", {}, 404, "no worker"),
    ]
    for url, params, status, words in cases:
        response = client.get(url, params=params, headers=s.coord)
        assert response.status_code == status, (url, response.text)
        assert words in response.json()["error"]["message"], (url, response.text)
    assert len(audit_rows(db, SUBJECT_ACCESS_EXPORT)) == before == 0


def test_every_export_is_audited_and_shows_in_the_next_one(client, db):
    s = Subject(client, db)
    client.get(s.url, params={"format": "json"}, headers=s.coord)
    [row] = audit_rows(db, SUBJECT_ACCESS_EXPORT)
    assert (row.actor_id, row.entity, row.entity_id) == (
        s.world.users["coord"],
        "worker",
        s.world.workers["a1"],
    )
    assert row.device_id is not None and "json" in (row.detail or "")
    reads = [e for e in audit_rows(db, SENSITIVE_NOTE_READ) if e.detail == SUBJECT_ACCESS_EXPORT]
    assert [(e.entity_id, e.actor_id) for e in reads] == [
        (uuid.UUID(s.health["id"]), s.world.users["coord"])
    ]

    second = SubjectAccessExport.model_validate_json(
        client.get(s.url, params={"format": "json"}, headers=s.coord2).content
    )
    assert [(e.what, e.by) for e in second.exports] == [
        ("meeting_brief", "coord2"),
        ("subject_access", "Coord (test)"),
    ]
    assert ("Coord (test)", "subject_access") in {
        (r.reader, r.how) for r in second.sensitive_note_reads
    }
    assert len(audit_rows(db, BRIEF_EXPORT)) == 1


# --- the command line ---------------------------------------------------------------------


@pytest.fixture
def relais(tmp_path) -> Relais:
    return Relais(tmp_path)


@pytest.fixture
def cli_subject(relais: Relais, tmp_path) -> Subject:
    from fastapi.testclient import TestClient

    from sync_server.app import create_app
    from sync_server.settings import Settings

    db = relais.database()
    app = create_app(Settings(data_dir=tmp_path / "data", escalation_interval=0), db)
    with TestClient(app) as client:
        subject = Subject(client, db)
    db.dispose()
    return subject


@pytest.mark.slow
def test_cli_export_writes_private_json_and_pdf_and_audits_them(relais, cli_subject, tmp_path):
    target = tmp_path / "a1.json"
    result = relais.spawn(
        "export", "worker", "a1", "--org", "acme", "--format", "json", "-o", str(target)
    )
    assert_ok(result)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    export = SubjectAccessExport.model_validate_json(target.read_bytes())
    assert {str(n.id) for n in export.notes} == cli_subject.note_ids()
    assert json.loads(target.read_text())["version"] == 1

    pdf_target = tmp_path / "a1.pdf"
    result = relais(
        "export",
        "worker",
        "a1",
        "--org",
        "acme",
        "--format",
        "pdf",
        "--as",
        "coord",
        "-o",
        str(pdf_target),
    )
    assert_ok(result)
    assert stat.S_IMODE(os.stat(pdf_target).st_mode) == 0o600
    assert "Lunebrisée" in read_pdf(pdf_target.read_bytes(), tmp_path, "read.pdf").words
    db = relais.database()
    try:
        rows = audit_rows(db, SUBJECT_ACCESS_EXPORT)
        assert sorted((r.actor_id is None, "via cli" in (r.detail or "")) for r in rows) == [
            (False, True),
            (True, True),
        ]
    finally:
        db.dispose()


@pytest.mark.slow
def test_cli_export_refusals_fail_cleanly(relais, cli_subject, tmp_path):
    target = tmp_path / "refused.json"
    cases = [
        (("export", "worker", "zz9", "--org", "acme"), "REF"),
        (("export", "worker", "a1", "--org", "nope"), "--org"),
        (("export", "worker", "a1", "--org", "acme", "--as", "couns_1"), "coordinators"),
        (("export", "worker", "a1", "--org", "acme", "--as", "o_coord"), "--as"),
        (("export", "worker", "a1", "--org", "acme", "--format", "docx"), "docx"),
    ]
    for args, words in cases:
        result = relais(*args, "-o", str(target))
        assert_clean_failure(result)
        assert words in output(result), (args, output(result))
        assert not target.exists(), args
    db = relais.database()
    try:
        assert audit_rows(db, SUBJECT_ACCESS_EXPORT) == []
    finally:
        db.dispose()
