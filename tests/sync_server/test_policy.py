"""The access policy as a matrix: role × entity × action, against sync_server.policy itself.

A fictional organisation (relais_testing/factories.py) plus stand-ins, a second organisation and a
few notes, follow-ups and heads-ups is stored in a real database; viewers are built by the
policy's own builders. Each table row says who may see or do what (docs/design.md, "Who sees
what"; docs/protocol.md §4.3, mutation types).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from field_app.state.notes import can_retract
from field_app.state.records import Note as PhoneNote
from field_app.store import NoteView
from relais_testing.factories import add_user, build_world
from shared_models.vocabulary import CATEGORIES, SENSITIVE_CATEGORIES, NoteKind, NoteStatus
from sync_server import policy
from sync_server.database import Database
from sync_server.notes.models import FollowUp, HeadsUp, Note
from sync_server.orgs.models import Organization, Team, TeamSupervisor, User, UserRole, Worker
from sync_server.routing.models import Delivery

NOW = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)

ACME = (
    "sup_a",
    "sup_b",
    "couns_1",
    "couns_2",
    "coord",
    "admin",
    "admin_coord",
    "standin_live",
    "standin_old",
)
OTHER = ("o_sup_a", "o_couns_1", "o_coord", "o_admin")
EVERYONE = ACME + OTHER


@dataclass
class Scene:
    """Every object of the matrix by short name, and a viewer per login (built at NOW)."""

    session: Session
    objects: dict[tuple[str, str], Any] = field(default_factory=dict)
    viewers: dict[str, policy.Viewer] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    facts: policy.Facts = field(default_factory=policy.Facts)

    def visible_to(self, entity: str, name: str) -> set[str]:
        obj = self.objects[(entity, name)]
        return {
            login
            for login, viewer in self.viewers.items()
            if policy.can_see(viewer, entity, obj, self.facts)
        }


def _note(
    session: Session,
    org_id: uuid.UUID,
    author: uuid.UUID,
    worker: Worker | None,
    team_id: uuid.UUID,
    category: str,
    kind: str = "signal",
    status: str = "open",
    captured_at: datetime = NOW - timedelta(hours=1),
) -> Note:
    note = Note(
        id=uuid.uuid4(),
        org_id=org_id,
        author_id=author,
        worker_id=worker.id if worker else None,
        team_id=team_id,
        kind=kind,
        category=category,
        severity="attention",
        text=f"Fictional {category} note.",
        captured_at=captured_at,
        received_at=captured_at,
        status=status,
        retracted_at=NOW if status == NoteStatus.RETRACTED else None,
    )
    session.add(note)
    return note


@pytest.fixture
def scene(db: Database):
    world = build_world(db)
    other = build_world(db, slug="other", prefix="o_")
    add_user(db, world, "admin_coord", ("admin", "coordinator"))
    add_user(db, world, "standin_live", ("counsellor",))
    add_user(db, world, "standin_old", ("counsellor",))
    add_user(db, world, "gone", ("counsellor",))
    with db.unit_of_work() as session:
        users = {u.login: u for u in session.scalars(select(User))}
        workers = {
            ("o_" if w.org_id == other.org else "") + w.ref: w
            for w in session.scalars(select(Worker))
        }
        # couns_1 is away and covered until the day after tomorrow; couns_2's cover expired.
        users["couns_1"].away = True
        users["couns_1"].stand_in_id = users["standin_live"].id
        users["couns_1"].away_until = NOW + timedelta(days=2)
        users["couns_2"].away = True
        users["couns_2"].stand_in_id = users["standin_old"].id
        users["couns_2"].away_until = NOW - timedelta(hours=1)
        users["gone"].disabled = True
        uid = {login: u.id for login, u in users.items()}
        ta, tb, ota = world.teams["A"], world.teams["B"], other.teams["A"]
        notes = {
            "a1_fatigue": _note(session, world.org, uid["sup_a"], workers["a1"], ta, "fatigue"),
            "a1_health": _note(session, world.org, uid["sup_a"], workers["a1"], ta, "health"),
            "a3_addiction": _note(session, world.org, uid["sup_a"], workers["a3"], ta, "addiction"),
            "b1_justice": _note(session, world.org, uid["sup_b"], workers["b1"], tb, "justice"),
            "b2_family": _note(session, world.org, uid["sup_b"], workers["b2"], tb, "family"),
            "a2_retracted": _note(
                session,
                world.org,
                uid["sup_a"],
                workers["a2"],
                ta,
                "housing",
                status=NoteStatus.RETRACTED,
            ),
            "a1_retracted_acknowledged": _note(
                session,
                world.org,
                uid["sup_a"],
                workers["a1"],
                ta,
                "health",
                status=NoteStatus.RETRACTED,
            ),
            "a1_retracted_untouched": _note(
                session,
                world.org,
                uid["sup_a"],
                workers["a1"],
                ta,
                "health",
                status=NoteStatus.RETRACTED,
            ),
            "a1_by_counsellor": _note(
                session, world.org, uid["couns_1"], workers["a1"], ta, "family"
            ),
            "team_a_safety": _note(
                session, world.org, uid["sup_a"], None, ta, "ppe", kind="safety"
            ),
            "other_a1": _note(session, other.org, uid["o_sup_a"], workers["o_a1"], ota, "health"),
        }
        session.flush()
        # Routed while couns_1 is away: to her stand-in, who acknowledged one of the two.
        for name, acknowledged in (
            ("a1_retracted_acknowledged", NOW - timedelta(minutes=30)),
            ("a1_retracted_untouched", None),
        ):
            session.add(
                Delivery(
                    note_id=notes[name].id,
                    recipient_id=uid["standin_live"],
                    reason="stand_in",
                    delivered_at=NOW - timedelta(hours=1),
                    seen_at=acknowledged,
                    acknowledged_at=acknowledged,
                )
            )

        def follow_up(note: str, author: str, org: uuid.UUID) -> FollowUp:
            fu = FollowUp(
                id=uuid.uuid4(),
                org_id=org,
                note_id=notes[note].id,
                author_id=uid[author],
                action="interview_planned",
                text="Interview planned (fictional).",
                close=False,
                created_at=NOW,
            )
            session.add(fu)
            return fu

        def heads_up(worker: str, author: str, org: uuid.UUID) -> HeadsUp:
            hu = HeadsUp(
                id=uuid.uuid4(),
                org_id=org,
                worker_id=workers[worker].id,
                author_id=uid[author],
                text="Adapt expectations this week.",
                created_at=NOW,
            )
            session.add(hu)
            return hu

        follow_ups = {
            "on_a1_fatigue": follow_up("a1_fatigue", "couns_1", world.org),
            "on_b1_justice": follow_up("b1_justice", "couns_2", world.org),
            "on_a2_retracted": follow_up("a2_retracted", "couns_1", world.org),
            "other_on_a1": follow_up("other_a1", "o_couns_1", other.org),
        }
        heads_ups = {
            "about_a1": heads_up("a1", "couns_1", world.org),
            "about_b1": heads_up("b1", "couns_2", world.org),
            "other_about_a1": heads_up("o_a1", "o_couns_1", other.org),
        }
        ids = {
            **{("note", k): v.id for k, v in notes.items()},
            **{("follow_up", k): v.id for k, v in follow_ups.items()},
            **{("heads_up", k): v.id for k, v in heads_ups.items()},
        }

    with db.reading() as session:
        s = Scene(session=session)
        models = {"note": Note, "follow_up": FollowUp, "heads_up": HeadsUp}
        for (entity, name), obj_id in ids.items():
            s.objects[(entity, name)] = session.get_one(models[entity], obj_id)
        for w in session.scalars(select(Worker)):
            s.objects[("worker", ("o_" if w.org_id == other.org else "") + w.ref)] = w
        for t in session.scalars(select(Team)):
            s.objects[("team", ("o_" if t.org_id == other.org else "") + t.slug.upper())] = t
        for u in session.scalars(select(User)):
            s.users[u.login] = u
            s.objects[("colleague", u.login)] = u
        s.objects[("organization", "acme")] = session.get_one(Organization, world.org)
        s.objects[("organization", "other")] = session.get_one(Organization, other.org)
        s.viewers = {login: policy.load_viewer(session, s.users[login], NOW) for login in EVERYONE}
        all_notes = list(session.scalars(select(Note)))
        s.facts = policy.Facts(
            worker_team={w.id: w.team_id for w in session.scalars(select(Worker))},
            notes={n.id: n for n in all_notes},
            acted=policy.load_acted(session, all_notes),
            teams_supervised=teams_supervised(session),
        )
        yield s


def teams_supervised(session: Session) -> dict[uuid.UUID, set[uuid.UUID]]:
    teams: dict[uuid.UUID, set[uuid.UUID]] = {}
    for row in session.scalars(select(TeamSupervisor)):
        teams.setdefault(row.user_id, set()).add(row.team_id)
    return teams


def _check(scene: Scene, table: dict[tuple[str, str], set[str]]) -> None:
    wrong = []
    for key, expected in table.items():
        actual = scene.visible_to(*key)
        if actual != expected:
            wrong.append(
                f"{key}: also seen by {sorted(actual - expected)}, "
                f"not seen by {sorted(expected - actual)}"
            )
    assert not wrong, "\n".join(wrong)


COORDS = {"coord", "admin_coord"}
NOTE_VISIBILITY = {
    # Sensitive and not: author, the worker's counsellor, their ACTIVE stand-in, coordinators.
    ("note", "a1_fatigue"): {"sup_a", "couns_1", "standin_live", *COORDS},
    ("note", "a1_health"): {"sup_a", "couns_1", "standin_live", *COORDS},
    # couns_2's absence is over: standin_old no longer sees a3 and b1.
    ("note", "a3_addiction"): {"sup_a", "couns_2", *COORDS},
    ("note", "b1_justice"): {"sup_b", "couns_2", *COORDS},
    ("note", "b2_family"): {"sup_b", *COORDS},  # no counsellor
    # Retracted: its author, coordinators, and whoever acted on it (acknowledged it or wrote
    # a follow-up) among those who would see it otherwise; nobody else.
    ("note", "a2_retracted"): {"sup_a", "couns_1", *COORDS},  # couns_1 followed it up
    ("note", "a1_retracted_acknowledged"): {"sup_a", "standin_live", *COORDS},
    ("note", "a1_retracted_untouched"): {"sup_a", *COORDS},
    ("note", "a1_by_counsellor"): {"couns_1", "standin_live", *COORDS},
    ("note", "team_a_safety"): {"sup_a", *COORDS},
    ("note", "other_a1"): {"o_sup_a", "o_couns_1", "o_coord"},
}
FOLLOW_UP_VISIBILITY = {
    # Never a supervisor, even the note's author.
    ("follow_up", "on_a1_fatigue"): {"couns_1", "standin_live", *COORDS},
    ("follow_up", "on_b1_justice"): {"couns_2", *COORDS},
    # A follow-up goes wherever its note goes; on a retracted note, only to its own author
    # (and coordinators).
    ("follow_up", "on_a2_retracted"): {"couns_1", *COORDS},
    ("follow_up", "other_on_a1"): {"o_couns_1", "o_coord"},
}
HEADS_UP_VISIBILITY = {
    # The supervisors of the worker's team, the counsellor side, coordinators.
    ("heads_up", "about_a1"): {"sup_a", "couns_1", "standin_live", *COORDS},
    ("heads_up", "about_b1"): {"sup_b", "couns_2", *COORDS},
    ("heads_up", "other_about_a1"): {"o_sup_a", "o_couns_1", "o_coord"},
}
ALL_CONFIG = {*COORDS, "admin"}
CONFIG_VISIBILITY = {
    ("worker", "a1"): {"sup_a", "couns_1", "standin_live", *ALL_CONFIG},
    ("worker", "a2"): {"sup_a", "couns_1", "standin_live", *ALL_CONFIG},
    ("worker", "a3"): {"sup_a", "couns_2", *ALL_CONFIG},
    ("worker", "b1"): {"sup_b", "couns_2", *ALL_CONFIG},
    ("worker", "b2"): {"sup_b", *ALL_CONFIG},
    ("worker", "o_a1"): {"o_sup_a", "o_couns_1", "o_coord", "o_admin"},
    ("team", "A"): set(ACME) - {"sup_b"},
    ("team", "B"): set(ACME) - {"sup_a"},
    ("team", "o_A"): {"o_sup_a", "o_couns_1", "o_coord", "o_admin"},
    # Need to know: oneself, coordinators and admins; the counsellors see the counsellors
    # (stand-ins), supervisors the co-supervisors of their teams (none here).
    ("colleague", "sup_a"): {"sup_a", *ALL_CONFIG},
    ("colleague", "couns_1"): {"couns_1", "couns_2", "standin_live", "standin_old", *ALL_CONFIG},
    ("colleague", "admin"): ALL_CONFIG,
    ("colleague", "coord"): ALL_CONFIG,
    ("colleague", "gone"): set(),  # disabled
    ("colleague", "o_coord"): {"o_coord", "o_admin"},
    ("organization", "acme"): set(ACME),
    ("organization", "other"): set(OTHER),
}


@pytest.mark.parametrize(
    "table",
    [NOTE_VISIBILITY, FOLLOW_UP_VISIBILITY, HEADS_UP_VISIBILITY, CONFIG_VISIBILITY],
    ids=["note", "follow_up", "heads_up", "configuration"],
)
def test_visibility_matrix(scene, table):
    _check(scene, table)


def test_named_rules(scene):
    """The rules the matrix encodes, spelled out one by one."""
    notes = [k for k in scene.objects if k[0] == "note"]
    team_a_notes = [k for k in notes if scene.objects[k].team_id == scene.objects[("team", "A")].id]
    assert team_a_notes
    for key in team_a_notes:
        assert "sup_b" not in scene.visible_to(*key), f"team B's supervisor sees {key}"
    for key in [k for k in scene.objects if k[0] in ("note", "follow_up", "heads_up")]:
        assert "admin" not in scene.visible_to(*key), f"an admin alone sees {key}"
        assert "o_coord" not in scene.visible_to(*key) or key[1].startswith("other")
    for key in [k for k in scene.objects if k[0] == "follow_up"]:
        assert not {"sup_a", "sup_b", "o_sup_a"} & scene.visible_to(*key)
        note_id = scene.objects[key].note_id
        note_key = next(k for k, o in scene.objects.items() if k[0] == "note" and o.id == note_id)
        assert scene.visible_to(*key) <= scene.visible_to(*note_key), "a follow-up without its note"
    # A sensitive note: its author, the worker's counsellor, that counsellor's active
    # stand-in and the coordinators; nobody else.
    by_id = {u.id: login for login, u in scene.users.items()}
    sensitive = [k for k in notes if scene.objects[k].category in SENSITIVE_CATEGORIES]
    assert len(sensitive) >= 5
    for key in sensitive:
        note = scene.objects[key]
        allowed = {by_id[note.author_id], "coord", "admin_coord", "o_coord"}
        worker = next(
            (w for k, w in scene.objects.items() if k[0] == "worker" and w.id == note.worker_id),
            None,
        )
        if worker is not None and worker.counsellor_id is not None:
            counsellor = scene.users[by_id[worker.counsellor_id]]
            allowed.add(counsellor.login)
            if counsellor.is_away(NOW) and counsellor.stand_in_id:
                allowed.add(by_id[counsellor.stand_in_id])
        assert scene.visible_to(*key) <= allowed, key
        assert "standin_old" not in scene.visible_to(*key)


# --- the stand-in, in detail ---------------------------------------------------------------

ABSENCES = {
    "away, open-ended": (True, None, True),
    "away until tomorrow": (True, NOW + timedelta(days=1), True),
    "absence expired an hour ago": (True, NOW - timedelta(hours=1), False),
    "absence ends exactly now": (True, NOW, False),
    "back (not away), stand-in still set": (False, None, False),
}


@pytest.mark.parametrize("absence", list(ABSENCES), ids=list(ABSENCES))
def test_sensitive_notes_reach_only_an_active_stand_in(db, absence):
    away, until, covered = ABSENCES[absence]
    world = build_world(db)
    add_user(db, world, "standin", ("counsellor",))
    with db.unit_of_work() as session:
        couns_1 = session.get_one(User, world.users["couns_1"])
        couns_1.away, couns_1.away_until = away, until
        couns_1.stand_in_id = world.users["standin"]
        a1 = session.get_one(Worker, world.workers["a1"])
        ids = [
            _note(session, world.org, world.users["sup_a"], a1, world.teams["A"], c).id
            for c in sorted(SENSITIVE_CATEGORIES)
        ]
    with db.reading() as session:
        users = {u.login: u for u in session.scalars(select(User))}
        viewers = {login: policy.load_viewer(session, u, NOW) for login, u in users.items()}
        for note_id in ids:
            note = session.get_one(Note, note_id)
            seen = {login for login, v in viewers.items() if policy.can_see_note(v, note)}
            expected = {"sup_a", "couns_1", "coord"} | ({"standin"} if covered else set())
            assert seen == expected, (note.category, seen)
        a1_worker = session.get_one(Worker, world.workers["a1"])
        assert policy.can_see_worker(viewers["standin"], a1_worker) is covered
        assert policy.may_follow_up(viewers["standin"], session.get_one(Note, ids[0])) is covered


def test_disabled_counsellor_is_covered_by_nobody(db):
    world = build_world(db)
    add_user(db, world, "standin", ("counsellor",))
    with db.unit_of_work() as session:
        couns_1 = session.get_one(User, world.users["couns_1"])
        couns_1.away, couns_1.stand_in_id, couns_1.disabled = True, world.users["standin"], True
    with db.reading() as session:
        standin = session.get_one(User, world.users["standin"])
        assert policy.load_viewer(session, standin, NOW).counselled_worker_ids == frozenset()


# --- actions -----------------------------------------------------------------------------

WRITE_NOTE = [
    # (login, worker or None for team level, team, allowed)
    ("sup_a", "a1", "A", True),
    ("sup_a", None, "A", True),
    ("sup_a", "b1", "B", False),
    ("sup_a", None, "B", False),
    ("sup_a", "a1", "B", False),  # the worker is not in that team
    ("sup_b", "a1", "A", False),
    ("sup_b", "b2", "B", True),
    ("couns_1", "a1", "A", True),
    ("couns_1", "a3", "A", False),
    ("couns_1", "b1", "B", False),
    ("couns_1", None, "A", False),
    ("standin_live", "a2", "A", True),
    ("standin_old", "a3", "A", False),
    ("couns_2", "a3", "A", True),
    ("coord", "b2", "B", True),
    ("coord", None, "A", True),
    ("coord", "a1", "B", False),
    ("admin", "a1", "A", False),
    ("admin", None, "A", False),
    ("o_coord", "a1", "A", False),
    ("o_sup_a", "a1", "A", False),
]


def test_may_write_note(scene):
    wrong = []
    for login, worker, team, allowed in WRITE_NOTE:
        w = scene.objects[("worker", worker)] if worker else None
        t = scene.objects[("team", team)]
        if policy.may_write_note(scene.viewers[login], w, t.id) is not allowed:
            wrong.append((login, worker, team, allowed))
    assert not wrong


def test_may_follow_up_and_send_heads_up(scene):
    follow_up = [
        ("couns_1", "a1_fatigue", True),
        ("standin_live", "a1_health", True),
        ("couns_2", "a1_fatigue", False),
        ("couns_2", "a3_addiction", True),
        ("standin_old", "a3_addiction", False),
        ("coord", "b2_family", True),
        ("coord", "team_a_safety", True),
        ("couns_1", "team_a_safety", False),
        ("sup_a", "a1_fatigue", False),  # the author is a supervisor
        ("admin", "a1_fatigue", False),
        ("o_coord", "a1_fatigue", False),
    ]
    heads_up = [
        ("couns_1", "a1", True),
        ("standin_live", "a2", True),
        ("couns_1", "a3", False),
        ("couns_2", "b1", True),
        ("standin_old", "a3", False),
        ("coord", "b2", True),
        ("sup_a", "a1", False),
        ("admin", "a1", False),
        ("o_coord", "a1", False),
        ("o_couns_1", "a1", False),
    ]
    wrong = [
        ("follow_up", login, note, allowed)
        for login, note, allowed in follow_up
        if policy.may_follow_up(scene.viewers[login], scene.objects[("note", note)]) is not allowed
    ] + [
        ("heads_up", login, worker, allowed)
        for login, worker, allowed in heads_up
        if policy.may_send_heads_up(scene.viewers[login], scene.objects[("worker", worker)])
        is not allowed
    ]
    assert not wrong


def test_may_set_availability(scene):
    table = [
        ("couns_1", None, True),
        ("couns_1", "couns_2", True),
        ("couns_1", "standin_live", True),
        ("couns_1", "couns_1", False),  # oneself
        ("couns_1", "sup_a", False),  # not a counsellor
        ("couns_1", "coord", False),
        ("couns_1", "gone", False),  # disabled
        ("couns_1", "o_couns_1", False),  # another organisation
        ("sup_a", None, False),
        ("coord", None, False),
        ("admin", "couns_2", False),
    ]
    wrong = [
        (login, stand_in, allowed)
        for login, stand_in, allowed in table
        if policy.may_set_availability(
            scene.viewers[login], scene.users[stand_in] if stand_in else None
        )
        is not allowed
    ]
    assert not wrong


def test_may_acknowledge_and_read_deliveries_only_as_recipient_author_or_coordinator(scene):
    note = scene.objects[("note", "a1_fatigue")]
    recipients = [scene.users["couns_1"].id]
    v = scene.viewers
    assert policy.may_acknowledge(v["couns_1"], recipients)
    for login in ("sup_a", "coord", "standin_live", "couns_2", "admin"):
        assert not policy.may_acknowledge(v[login], recipients), login
    assert not policy.may_acknowledge(v["couns_1"], [])
    readers = {
        login for login in EVERYONE if policy.can_read_deliveries(v[login], note, recipients)
    }
    assert readers == {"sup_a", "couns_1", *COORDS}
    assert "standin_live" not in readers  # sees the note, but was not a recipient


def test_may_review_organisation(scene):
    reviewers = {
        login for login in EVERYONE if policy.may_review_organisation(scene.viewers[login])
    }
    assert reviewers == {"coord", "admin_coord", "o_coord"}


def test_desk_exports_are_for_coordinators_of_the_organisation(scene):
    """The meeting brief (with or without sensitive text) and the subject-access export:
    only coordinators, only of their own organisation; a counsellor who reads a worker's
    notes still may not export them."""
    acme = scene.objects[("organization", "acme")].id
    other = scene.objects[("organization", "other")].id
    table = [
        # (organisation of the scope, include sensitive text, who may)
        (acme, False, {"coord", "admin_coord"}),
        (acme, True, {"coord", "admin_coord"}),
        (other, False, {"o_coord"}),
        (other, True, {"o_coord"}),
    ]
    for org_id, sensitive, allowed in table:
        may = {
            login
            for login in EVERYONE
            if policy.may_export_brief(scene.viewers[login], org_id, include_sensitive=sensitive)
        }
        assert may == allowed, (org_id == acme, sensitive)
    for worker, allowed in (
        ("a1", {"coord", "admin_coord"}),
        ("b2", {"coord", "admin_coord"}),
        ("o_a1", {"o_coord"}),
    ):
        may = {
            login
            for login in EVERYONE
            if policy.may_export_subject_access(
                scene.viewers[login], scene.objects[("worker", worker)]
            )
        }
        assert may == allowed, worker
    readers = {
        login for login in EVERYONE if policy.may_read_every_sensitive_note(scene.viewers[login])
    }
    assert readers == {"coord", "admin_coord", "o_coord"}


def _plain_viewer(user_id: uuid.UUID, org_id: uuid.UUID, *roles: str) -> policy.Viewer:
    return policy.Viewer(user_id=user_id, org_id=org_id, roles=frozenset(roles))


RETRACT_MOMENTS = [
    (timedelta(0), True),
    (timedelta(hours=23, minutes=59, seconds=59, microseconds=999999), True),
    (timedelta(hours=24), False),  # the window's end is outside it, on the phone as here
    (timedelta(hours=24, seconds=1), False),
    (timedelta(days=3), False),
]


@pytest.mark.parametrize(("elapsed", "allowed"), RETRACT_MOMENTS)
def test_may_retract_within_24_hours_of_reaching_the_server(elapsed, allowed):
    """Counted from `received_at`, never from the phone's `captured_at` (three days earlier)."""
    org, author = uuid.uuid4(), uuid.uuid4()
    note = Note(
        id=uuid.uuid4(),
        org_id=org,
        author_id=author,
        captured_at=NOW - timedelta(days=3),
        received_at=NOW,
    )
    assert policy.may_retract(_plain_viewer(author, org, "supervisor"), note, NOW + elapsed) is (
        allowed
    )


@pytest.mark.parametrize(("elapsed", "allowed"), RETRACT_MOMENTS)
@pytest.mark.parametrize("offline", [timedelta(0), timedelta(hours=2)], ids=["online", "offline"])
def test_the_phone_offers_retraction_exactly_when_the_server_allows_it(elapsed, allowed, offline):
    """The app's check and the server's are the same rule: no button that is then refused,
    and no refusal the button did not warn about (`offline`: how long the note waited on
    the phone before reaching the server)."""
    org, author = uuid.uuid4(), uuid.uuid4()
    note = Note(
        id=uuid.uuid4(),
        org_id=org,
        author_id=author,
        captured_at=NOW - offline,
        received_at=NOW,
    )
    synced = PhoneNote.from_view(
        NoteView(
            id=str(note.id),
            status="open",
            data={
                "id": str(note.id),
                "author_id": str(author),
                "team_id": str(uuid.uuid4()),
                "kind": "signal",
                "category": "fatigue",
                "severity": "info",
                "text": "Fictional.",
                "captured_at": note.captured_at.isoformat(),
                "received_at": NOW.isoformat(),
                "status": "open",
            },
            captured_at=note.captured_at,
        )
    )
    on_phone = can_retract(synced, author, NOW + elapsed)
    on_server = policy.may_retract(_plain_viewer(author, org, "supervisor"), note, NOW + elapsed)
    assert on_phone is on_server is allowed


def test_only_the_author_may_retract():
    org, author = uuid.uuid4(), uuid.uuid4()
    note = Note(id=uuid.uuid4(), org_id=org, author_id=author, captured_at=NOW, received_at=NOW)
    soon = NOW + timedelta(minutes=5)
    for roles in (("coordinator",), ("counsellor",), ("supervisor",), ("admin",)):
        assert not policy.may_retract(_plain_viewer(uuid.uuid4(), org, *roles), note, soon)
    assert policy.may_retract(_plain_viewer(author, org, "counsellor"), note, soon)


# --- the batch viewer builder agrees with the single-user one ----------------------------

ROLE_SETS = [
    ("supervisor",),
    ("counsellor",),
    ("coordinator",),
    ("admin",),
    ("supervisor", "counsellor"),
    ("admin", "coordinator"),
]


@st.composite
def organisations(draw: st.DrawFn) -> dict[str, Any]:
    n_users = draw(st.integers(min_value=2, max_value=7))
    users = []
    for _ in range(n_users):
        users.append(
            {
                "roles": draw(st.sampled_from(ROLE_SETS)),
                "disabled": draw(st.sampled_from([False, False, False, True])),
                "away": draw(st.booleans()),
                "until": draw(st.sampled_from(["none", "past", "future"])),
                "stand_in": draw(st.integers(min_value=0, max_value=n_users)),  # n = nobody
            }
        )
    teams = [draw(st.sets(st.integers(0, n_users - 1), max_size=3)) for _ in range(2)]
    workers = [
        {
            "team": draw(st.integers(0, 1)),
            "counsellor": draw(st.integers(min_value=0, max_value=n_users)),
        }
        for _ in range(draw(st.integers(min_value=1, max_value=5)))
    ]
    n_workers = len(workers)
    notes = []
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        worker = draw(st.integers(min_value=0, max_value=n_workers))  # n = team-level
        kind = NoteKind.SAFETY if worker == n_workers else draw(st.sampled_from(list(NoteKind)))
        notes.append(
            {
                "author": draw(st.integers(0, n_users - 1)),
                "worker": worker,
                "team": draw(st.integers(0, 1)),
                "kind": kind,
                "category": draw(st.sampled_from(CATEGORIES[kind])),
                "status": draw(st.sampled_from(list(NoteStatus))),
                # recipient -> whether they acknowledged it
                "deliveries": draw(
                    st.dictionaries(st.integers(0, n_users - 1), st.booleans(), max_size=3)
                ),
            }
        )
    follow_ups = [
        {"note": draw(st.integers(0, len(notes) - 1)), "author": draw(st.integers(0, n_users - 1))}
        for _ in range(draw(st.integers(0, 3)))
    ]
    heads_ups = [
        {
            "worker": draw(st.integers(0, n_workers - 1)),
            "author": draw(st.integers(0, n_users - 1)),
        }
        for _ in range(draw(st.integers(0, 3)))
    ]
    return {
        "users": users,
        "teams": teams,
        "workers": workers,
        "notes": notes,
        "follow_ups": follow_ups,
        "heads_ups": heads_ups,
    }


def _materialise(session: Session, plan: dict[str, Any]) -> tuple[uuid.UUID, User]:
    """Store the plan (plus a second organisation's coordinator); nothing is committed."""
    org = Organization(
        id=uuid.uuid4(), slug="prop", name="Prop (fictional)", country="FR", language="fr"
    )
    stranger_org = Organization(
        id=uuid.uuid4(), slug="stranger", name="Stranger (fictional)", country="BE", language="fr"
    )
    session.add_all([org, stranger_org])
    session.flush()
    users = []
    for i, spec in enumerate(plan["users"]):
        user = User(
            id=uuid.uuid4(),
            org_id=org.id,
            login=f"prop_{i}",
            display_name=f"Prop {i}",
            password_hash="-",
            disabled=spec["disabled"],
            away=spec["away"],
            away_until={
                "none": None,
                "past": NOW - timedelta(hours=1),
                "future": NOW + timedelta(hours=1),
            }[spec["until"]],
        )
        user.roles = [UserRole(user_id=user.id, role=r) for r in spec["roles"]]
        users.append(user)
    stranger = User(
        id=uuid.uuid4(),
        org_id=stranger_org.id,
        login="stranger",
        display_name="Stranger",
        password_hash="-",
    )
    stranger.roles = [UserRole(user_id=stranger.id, role="coordinator")]
    session.add_all([*users, stranger])
    session.flush()
    counsellors = [u for u in users if u.has_role("counsellor")]
    for i, spec in enumerate(plan["users"]):
        # Stand-ins are other counsellors (may_set_availability); index n means nobody.
        candidates = [c for c in counsellors if c is not users[i]]
        if candidates and spec["stand_in"] < len(users):
            users[i].stand_in_id = candidates[spec["stand_in"] % len(candidates)].id
    teams = []
    for i, members in enumerate(plan["teams"]):
        team = Team(
            id=uuid.uuid4(),
            org_id=org.id,
            slug=f"t{i}",
            name=f"Team {i}",
            supervisors=[users[m] for m in sorted(members) if users[m].has_role("supervisor")],
        )
        teams.append(team)
    session.add_all(teams)
    session.flush()
    workers = []
    for i, spec in enumerate(plan["workers"]):
        counsellor = (
            counsellors[spec["counsellor"] % len(counsellors)]
            if counsellors and spec["counsellor"] < len(users)
            else None
        )
        workers.append(
            Worker(
                id=uuid.uuid4(),
                org_id=org.id,
                ref=f"w{i}",
                display_name=f"Worker {i}",
                team_id=teams[spec["team"]].id,
                counsellor_id=counsellor.id if counsellor else None,
            )
        )
    session.add_all(workers)
    session.flush()
    notes = []
    for spec in plan["notes"]:
        worker = workers[spec["worker"]] if spec["worker"] < len(workers) else None
        note = _note(
            session,
            org.id,
            users[spec["author"]].id,
            worker,
            worker.team_id if worker else teams[spec["team"]].id,
            spec["category"],
            kind=spec["kind"].value,
            status=spec["status"].value,
        )
        notes.append(note)
        for recipient, acknowledged in spec["deliveries"].items():
            session.add(
                Delivery(
                    note_id=note.id,
                    recipient_id=users[recipient].id,
                    reason="referent",
                    delivered_at=NOW - timedelta(hours=1),
                    acknowledged_at=NOW if acknowledged else None,
                )
            )
    session.flush()
    for spec in plan["follow_ups"]:
        session.add(
            FollowUp(
                id=uuid.uuid4(),
                org_id=org.id,
                note_id=notes[spec["note"]].id,
                author_id=users[spec["author"]].id,
                action="other",
                close=False,
                created_at=NOW,
            )
        )
    for spec in plan["heads_ups"]:
        session.add(
            HeadsUp(
                id=uuid.uuid4(),
                org_id=org.id,
                worker_id=workers[spec["worker"]].id,
                author_id=users[spec["author"]].id,
                text="Heads-up (fictional).",
                created_at=NOW,
            )
        )
    session.flush()
    return org.id, stranger


def _spec_sees_note(
    user: User,
    note: Note,
    by_id: dict[uuid.UUID, User],
    worker: Worker | None,
    session: Session,
) -> bool:
    """The rule on retraction (docs/design.md, docs/protocol.md §4.3), written independently of the
    policy module."""
    if note.author_id == user.id or user.has_role("coordinator"):
        return True
    if worker is None or worker.counsellor_id is None:
        return False
    if note.status == NoteStatus.RETRACTED:
        acknowledged = session.scalar(
            select(Delivery.id).where(
                Delivery.note_id == note.id,
                Delivery.recipient_id == user.id,
                Delivery.acknowledged_at.is_not(None),
            )
        )
        followed_up = session.scalar(
            select(FollowUp.id).where(FollowUp.note_id == note.id, FollowUp.author_id == user.id)
        )
        if acknowledged is None and followed_up is None:
            return False
    counsellor = by_id[worker.counsellor_id]
    if counsellor.id == user.id:
        return True
    return not counsellor.disabled and counsellor.stand_in_id == user.id and counsellor.is_away(NOW)


@given(plan=organisations())
@settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_batch_viewers_agree_with_single_viewers(db, plan):
    with Session(db.engine) as session:
        try:
            org_id, stranger = _materialise(session, plan)
            batch = policy.load_org_viewers(session, org_id, NOW)
            users = list(session.scalars(select(User).where(User.org_id == org_id)))
            enabled = [u for u in users if not u.disabled]
            assert {v.user_id for v in batch} == {u.id for u in enabled}
            single = {u.id: policy.load_viewer(session, u, NOW) for u in enabled}
            for v in batch:
                assert v == single[v.user_id]
            stranger_view = policy.load_viewer(session, stranger, NOW)

            by_id = {u.id: u for u in users}
            workers = {
                w.id: w for w in session.scalars(select(Worker).where(Worker.org_id == org_id))
            }
            notes = {n.id: n for n in session.scalars(select(Note).where(Note.org_id == org_id))}
            facts = policy.Facts(
                worker_team={w.id: w.team_id for w in workers.values()},
                notes=notes,
                acted=policy.load_acted(session, notes.values()),
                teams_supervised=teams_supervised(session),
            )
            objects: list[tuple[str, Any]] = [("note", n) for n in notes.values()]
            objects += [("worker", w) for w in workers.values()]
            objects += [("colleague", u) for u in users]
            objects += [
                (e, o)
                for e, model in (("follow_up", FollowUp), ("heads_up", HeadsUp), ("team", Team))
                for o in session.scalars(select(model).where(model.org_id == org_id))
            ]
            for entity, obj in objects:
                expected = {
                    u_id for u_id, v in single.items() if policy.can_see(v, entity, obj, facts)
                }
                assert policy.audience(batch, entity, obj, facts) == expected, (entity, obj.id)
                assert not policy.can_see(stranger_view, entity, obj, facts), (entity, obj.id)
            for note in notes.values():
                worker = workers.get(note.worker_id) if note.worker_id else None
                expected = {
                    u.id for u in enabled if _spec_sees_note(u, note, by_id, worker, session)
                }
                assert policy.audience(batch, "note", note, facts) == expected, note.category
        finally:
            session.rollback()
