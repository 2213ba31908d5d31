"""Provisioning files: create, re-apply (idempotent), update, and refuse bad files whole.

Every organisation, person and place here is invented.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from sqlalchemy import inspect, select

from relais_testing.factories import build_world, login, pull_all
from sync_server.auth.models import Device
from sync_server.database import Base, Database
from sync_server.orgs import provisioning, roster, service
from sync_server.orgs.models import (
    AccountSource,
    Organization,
    Team,
    TeamSupervisor,
    User,
    Worker,
)
from sync_server.orgs.provisioning import ProvisioningError
from sync_server.sync.changelog import current_position
from sync_server.sync.models import ChangeLogEntry

PASSWORD = "fictional-pass-1"

BASE: dict[str, Any] = {
    "organization": {
        "slug": "jardins-test",
        "name": "ACI Les Jardins d'Essai (fictional)",
        "country": "FR",
        "language": "fr",
    },
    "users": [
        {"login": "p_sup", "name": "Alix Vernet", "roles": ["supervisor"], "password": PASSWORD},
        {
            "login": "p_couns1",
            "name": "Basile Ormont",
            "roles": ["counsellor"],
            "password": PASSWORD,
            "email": "basile@example.invalid",
        },
        {
            "login": "p_couns2",
            "name": "Clarisse Dumay",
            "roles": ["counsellor"],
            "password": PASSWORD,
            "language": "en",
        },
        {
            "login": "p_coord",
            "name": "Dorian Lasalle",
            "roles": ["coordinator"],
            "password": PASSWORD,
        },
    ],
    "teams": [
        {
            "slug": "espaces-verts",
            "name": "Espaces verts",
            "site": "Parc des Glycines (fictional)",
            "supervisors": ["p_sup"],
        },
        {"slug": "menuiserie", "name": "Menuiserie", "supervisors": ["p_sup"]},
    ],
    "workers": [
        {
            "ref": "W01",
            "name": "Elio R.",
            "team": "espaces-verts",
            "counsellor": "p_couns1",
            "contract": {"type": "CDDI", "start": date(2026, 3, 2), "end": date(2027, 3, 1)},
        },
        {"ref": "W02", "name": "Fanny S.", "team": "espaces-verts", "counsellor": "p_couns2"},
        {
            "ref": "W03",
            "name": "Gaspard T.",
            "team": "menuiserie",
            "counsellor": "p_couns1",
            "contract": {"type": "CDDI", "start": date(2026, 1, 12)},
        },
        {"ref": "W04", "name": "Hana U.", "team": "menuiserie"},
    ],
    "routing": {"deadlines": {"urgent": 3600, "attention": 43200, "info": 172800}},
}


def render(change: Callable[[dict[str, Any]], object] | None = None) -> str:
    """The base file as YAML text, after `change` edited a deep copy of it."""
    spec = copy.deepcopy(BASE)
    if change is not None:
        change(spec)
    return yaml.safe_dump(spec, allow_unicode=True, sort_keys=False)


def provision(db: Database, text: str) -> tuple[Organization, int]:
    """What `relais provision` does: parse, then apply in one unit of work."""
    spec = provisioning.parse(text)
    with db.unit_of_work() as session:
        org, changes = provisioning.apply(session, spec)
        return org, len(changes)


def dump(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order."""
    with db.reading() as session:
        return {
            table.name: sorted((tuple(row) for row in session.execute(select(table))), key=repr)
            for table in Base.metadata.sorted_tables
        }


def positions(db: Database) -> dict[Any, int]:
    with db.reading() as session:
        return {
            org_id: current_position(session, org_id)
            for org_id in session.scalars(select(Organization.id))
        }


def snapshot(obj: Any, **extra: Any) -> SimpleNamespace:
    """A row's column values, usable after its session is gone."""
    columns = {attr.key: getattr(obj, attr.key) for attr in inspect(obj).mapper.column_attrs}
    return SimpleNamespace(**columns, **extra)


def workers_by_ref(db: Database, org_id: Any) -> dict[str, SimpleNamespace]:
    with db.reading() as session:
        query = select(Worker).where(Worker.org_id == org_id)
        return {w.ref: snapshot(w) for w in session.scalars(query)}


def users_by_login(db: Database, org_id: Any) -> dict[str, SimpleNamespace]:
    with db.reading() as session:
        query = select(User).where(User.org_id == org_id)
        return {u.login: snapshot(u, role_names=u.role_names) for u in session.scalars(query)}


def org_row(db: Database, org_id: Any) -> SimpleNamespace:
    with db.reading() as session:
        return snapshot(session.get_one(Organization, org_id))


def teams_by_slug(db: Database, org_id: Any) -> dict[str, SimpleNamespace]:
    with db.reading() as session:
        query = select(Team).where(Team.org_id == org_id)
        return {t.slug: snapshot(t) for t in session.scalars(query)}


def test_valid_file_creates_organisation_users_teams_and_workers(db):
    org, changes = provision(db, render())
    assert changes > 0
    stored = org_row(db, org.id)
    assert (stored.slug, stored.name, stored.country, stored.language) == (
        "jardins-test",
        "ACI Les Jardins d'Essai (fictional)",
        "FR",
        "fr",
    )
    teams = teams_by_slug(db, org.id)
    with db.reading() as session:
        pairs = set(session.execute(select(TeamSupervisor.team_id, TeamSupervisor.user_id)))

    users = users_by_login(db, org.id)
    assert {login: sorted(u.role_names) for login, u in users.items()} == {
        "p_sup": ["supervisor"],
        "p_couns1": ["counsellor"],
        "p_couns2": ["counsellor"],
        "p_coord": ["coordinator"],
    }
    assert users["p_couns1"].email == "basile@example.invalid"
    assert users["p_couns1"].language == "fr"  # the organisation's language by default
    assert users["p_couns2"].language == "en"
    assert not any(u.disabled for u in users.values())
    assert users["p_sup"].password_hash != PASSWORD  # stored as a hash only

    assert {slug: (t.name, t.site) for slug, t in teams.items()} == {
        "espaces-verts": ("Espaces verts", "Parc des Glycines (fictional)"),
        "menuiserie": ("Menuiserie", None),
    }
    assert pairs == {
        (teams["espaces-verts"].id, users["p_sup"].id),
        (teams["menuiserie"].id, users["p_sup"].id),
    }

    workers = workers_by_ref(db, org.id)
    assert {
        ref: (
            w.display_name,
            w.team_id,
            w.counsellor_id,
            w.contract_type,
            w.contract_start,
            w.contract_end,
            w.active,
        )
        for ref, w in workers.items()
    } == {
        "W01": (
            "Elio R.",
            teams["espaces-verts"].id,
            users["p_couns1"].id,
            "CDDI",
            date(2026, 3, 2),
            date(2027, 3, 1),
            True,
        ),
        "W02": (
            "Fanny S.",
            teams["espaces-verts"].id,
            users["p_couns2"].id,
            None,
            None,
            None,
            True,
        ),
        "W03": (
            "Gaspard T.",
            teams["menuiserie"].id,
            users["p_couns1"].id,
            "CDDI",
            date(2026, 1, 12),
            None,
            True,
        ),
        "W04": ("Hana U.", teams["menuiserie"].id, None, None, None, None, True),
    }
    assert positions(db)[org.id] > 0  # what was created is in the change log for pull


def test_routing_deadlines_are_stored(db):
    org, _ = provision(db, render())
    stored = org_row(db, org.id)
    assert (stored.deadline_urgent, stored.deadline_attention, stored.deadline_info) == (
        3600,
        43200,
        172800,
    )


def test_routing_deadlines_default_when_the_file_has_none(db):
    minimal = {
        "organization": {
            "slug": "petit",
            "name": "Petit ACI (fictional)",
            "country": "BE",
            "language": "nl",
        },
        "users": [
            {"login": "m_sup", "name": "Ines V.", "roles": ["supervisor"], "password": PASSWORD}
        ],
        "teams": [{"slug": "t1", "name": "Team 1", "supervisors": ["m_sup"]}],
    }
    org, _ = provision(db, yaml.safe_dump(minimal))
    stored = org_row(db, org.id)
    assert (stored.deadline_urgent, stored.deadline_attention, stored.deadline_info) == (
        7200,
        86400,
        259200,
    )
    assert (stored.country, stored.language) == ("BE", "nl")


def test_applying_the_same_file_twice_changes_nothing(db):
    text = render()
    org, first = provision(db, text)
    assert first > 0
    before, position = dump(db), positions(db)

    again, second = provision(db, text)

    assert again.id == org.id
    assert second == 0
    assert positions(db) == position
    assert dump(db) == before


def test_changed_file_updates_the_organisation(db, client):
    org, _ = provision(db, render())
    users = users_by_login(db, org.id)
    old = workers_by_ref(db, org.id)
    couns1 = login(client, "p_couns1", PASSWORD)
    coord = login(client, "p_coord", PASSWORD)  # a device that must be signed out
    state, _, cursor = pull_all(client, couns1)
    assert ("worker", str(old["W01"].id)) in state

    def change(spec: dict[str, Any]) -> None:
        spec["organization"]["name"] = "ACI Les Jardins Partagés (fictional)"
        spec["teams"][1]["name"] = "Menuiserie et ébénisterie"
        spec["workers"][0]["counsellor"] = "p_couns2"  # W01 moves to another counsellor
        spec["workers"][1]["name"] = "Fanny S.-L."
        spec["workers"][1]["team"] = "menuiserie"
        spec["users"] = [u for u in spec["users"] if u["login"] != "p_coord"]
        spec["workers"] = [w for w in spec["workers"] if w["ref"] != "W04"]
        spec["routing"]["deadlines"]["urgent"] = 1800

    _, changes = provision(db, render(change))
    assert changes > 0

    stored = org_row(db, org.id)
    assert stored.name == "ACI Les Jardins Partagés (fictional)"
    assert stored.deadline_urgent == 1800
    teams = teams_by_slug(db, org.id)
    assert teams["menuiserie"].name == "Menuiserie et ébénisterie"
    with db.reading() as session:
        revoked_w01 = [
            set(revoked or [])
            for revoked in session.scalars(
                select(ChangeLogEntry.revoked).where(
                    ChangeLogEntry.entity == "worker", ChangeLogEntry.entity_id == old["W01"].id
                )
            )
        ]
        revoked_at = list(
            session.scalars(select(Device.revoked_at).where(Device.user_id == users["p_coord"].id))
        )
    workers = workers_by_ref(db, org.id)
    assert workers["W01"].counsellor_id == users["p_couns2"].id
    assert (workers["W02"].display_name, workers["W02"].team_id) == (
        "Fanny S.-L.",
        teams["menuiserie"].id,
    )
    assert workers["W04"].active is False
    assert all(w.active for ref, w in workers.items() if ref != "W04")
    after_users = users_by_login(db, org.id)
    assert after_users["p_coord"].disabled is True
    assert not any(u.disabled for login_, u in after_users.items() if login_ != "p_coord")
    assert revoked_at and all(at is not None for at in revoked_at)

    # Moving W01 is a reassignment: its old counsellor is told to drop it.
    assert any(str(users["p_couns1"].id) in revoked for revoked in revoked_w01)
    _, changes_1, _ = pull_all(client, couns1, cursor)
    assert {"entity": "worker", "op": "remove", "id": str(old["W01"].id), "data": None} in changes_1
    couns2 = login(client, "p_couns2", PASSWORD)
    state_2, _, _ = pull_all(client, couns2)
    assert state_2[("worker", str(old["W01"].id))]["counsellor_id"] == str(users["p_couns2"].id)
    # The disabled coordinator's token no longer works.
    response = client.post("/api/v1/sync/pull", json={"protocol": 1, "cursor": None}, headers=coord)
    assert response.status_code == 401


def test_putting_people_back_in_the_file_brings_them_back(db):
    org, _ = provision(db, render())

    def shrink(spec: dict[str, Any]) -> None:
        spec["users"] = [u for u in spec["users"] if u["login"] != "p_coord"]
        spec["workers"] = [w for w in spec["workers"] if w["ref"] != "W04"]

    provision(db, render(shrink))
    assert users_by_login(db, org.id)["p_coord"].disabled is True
    assert workers_by_ref(db, org.id)["W04"].active is False

    _, changes = provision(db, render())
    assert changes > 0
    assert users_by_login(db, org.id)["p_coord"].disabled is False
    assert workers_by_ref(db, org.id)["W04"].active is True


# (change to the base file, or raw YAML text) -> fragments the error must contain
BAD_FILES: list[tuple[str, Callable[[dict[str, Any]], object] | str, list[str]]] = [
    (
        "unknown team",
        lambda s: s["workers"][3].update(team="batiment"),
        ["workers[3].team: unknown team 'batiment'"],
    ),
    (
        "unknown supervisor login",
        lambda s: s["teams"][0].update(supervisors=["p_ghost"]),
        ["teams[0].supervisors[0]: unknown user 'p_ghost'"],
    ),
    (
        "supervisor without the supervisor role",
        lambda s: s["teams"][1].update(supervisors=["p_sup", "p_couns1"]),
        ["teams[1].supervisors[1]: 'p_couns1' is not a supervisor"],
    ),
    (
        "counsellor without the counsellor role",
        lambda s: s["workers"][1].update(counsellor="p_sup"),
        ["workers[1].counsellor: 'p_sup' is not a counsellor"],
    ),
    (
        "unknown counsellor login",
        lambda s: s["workers"][2].update(counsellor="p_nobody"),
        ["workers[2].counsellor: unknown user 'p_nobody'"],
    ),
    (
        "duplicate login",
        lambda s: s["users"][3].update(login="p_couns1"),
        ["users[3].login: 'p_couns1' appears twice"],
    ),
    (
        "duplicate team slug",
        lambda s: s["teams"][1].update(slug="espaces-verts"),
        ["teams[1].slug: 'espaces-verts' appears twice"],
    ),
    (
        "duplicate worker ref",
        lambda s: s["workers"][2].update(ref="W01"),
        ["workers[2].ref: 'W01' appears twice"],
    ),
    (
        "bad country",
        lambda s: s["organization"].update(country="DE"),
        ["organization.country: "],
    ),
    (
        "bad language",
        lambda s: s["organization"].update(language="de"),
        ["organization.language: "],
    ),
    ("missing organization", lambda s: s.pop("organization"), ["organization: Field required"]),
    ("unknown role", lambda s: s["users"][2].update(roles=["boss"]), ["users[2].roles[0]: "]),
    ("short password", lambda s: s["users"][0].update(password="short"), ["users[0].password: "]),
    ("bad e-mail", lambda s: s["users"][1].update(email="not-an-address"), ["users[1].email: "]),
    (
        # The column holds 320 characters (the longest valid address): longer is a bad field.
        "e-mail too long",
        lambda s: s["users"][1].update(email="b" * 400 + "@example.invalid"),
        ["users[1].email: "],
    ),
    ("unknown field", lambda s: s["teams"][0].update(colour="green"), ["teams[0].colour: "]),
    (
        "bad date",
        lambda s: s["workers"][0]["contract"].update(start="2026-02-30"),
        ["workers[0].contract.start: "],
    ),
    (
        "contract ends before it starts",
        lambda s: s["workers"][2]["contract"].update(end=date(2025, 12, 31)),
        ["workers[2].contract.end: ends before it starts"],
    ),
    (
        "bad YAML",
        "organization:\n  slug: jardins-test\n bad: indent\nusers: []\n",
        ["line 3, column 2: not valid YAML"],
    ),
    ("not a mapping", "- just\n- a list\n", ["(file): expected a mapping"]),
    ("empty file", "", ["(file): expected a mapping"]),
    (
        "login used by another organisation",
        lambda s: s["users"].append(
            {
                "login": "sup_a",
                "name": "Someone Else",
                "roles": ["supervisor"],
                "password": PASSWORD,
            }
        ),
        ["users[4].login: 'sup_a' is already used in another organisation"],
    ),
]


@pytest.mark.parametrize(
    ("bad", "expected"),
    [pytest.param(bad, expected, id=name) for name, bad, expected in BAD_FILES],
)
def test_bad_file_changes_nothing_and_names_the_field(db, bad, expected):
    build_world(db)  # another organisation already lives in this database (login 'sup_a', ...)
    before, position = dump(db), positions(db)
    text = bad if isinstance(bad, str) else render(bad)

    with pytest.raises(ProvisioningError) as caught:
        provision(db, text)

    message = "\n".join(caught.value.problems)
    for fragment in expected:
        assert fragment in message
    assert positions(db) == position
    assert dump(db) == before


def test_bad_update_of_an_existing_organisation_changes_nothing(db):
    build_world(db)
    provision(db, render())
    before, position = dump(db), positions(db)

    def change(spec: dict[str, Any]) -> None:
        spec["organization"]["name"] = "Renamed (fictional)"  # valid on its own
        spec["routing"]["deadlines"]["info"] = 600
        spec["users"][3]["login"] = "coord"  # taken by the other organisation

    with pytest.raises(ProvisioningError) as caught:
        provision(db, render(change))

    assert caught.value.problems == [
        "users[3].login: 'coord' is already used in another organisation"
    ]
    assert positions(db) == position
    assert dump(db) == before


# --- who owns a worker: the provisioning file or a roster import ------------------------

ROSTER_HEADER = "ref,name,team,counsellor,contract_type,start,end"


def import_roster(db: Database, *lines: str, slug: str = "jardins-test") -> Any:
    """What `relais roster import` does, in one unit of work."""
    rows = roster.read_rows("\n".join([ROSTER_HEADER, *lines]) + "\n")
    with db.unit_of_work() as session:
        org = session.scalars(select(Organization).where(Organization.slug == slug)).one()
        return roster.import_rows(session, org, rows)


def active_refs(db: Database, org_id: Any) -> set[str]:
    return {ref for ref, w in workers_by_ref(db, org_id).items() if w.active}


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(None, id="same file"),
        pytest.param(lambda s: s["workers"].pop(3), id="file drops one of its own workers"),
        pytest.param(lambda s: s["organization"].update(name="Renamed (fictional)"), id="rename"),
        pytest.param(lambda s: s.update(workers=[]), id="file lists no worker any more"),
    ],
)
def test_reprovisioning_keeps_the_workers_added_by_roster_import(db, edit):
    org, _ = provision(db, render())
    import_roster(
        db, "R01,Léa Dupré,espaces-verts,p_couns1,CDDI,2026-02-02,", "R02,Zoé M.,menuiserie,,,,"
    )
    listed = {w["ref"] for w in yaml.safe_load(render(edit))["workers"]}

    provision(db, render(edit))

    # The file's own workers follow the file; the roster's are left as they are.
    assert active_refs(db, org.id) == listed | {"R01", "R02"}
    stored = workers_by_ref(db, org.id)
    assert (stored["R01"].display_name, stored["R01"].contract_type) == ("Léa Dupré", "CDDI")


def test_applying_the_same_file_after_a_roster_import_changes_nothing(db):
    provision(db, render())
    import_roster(db, "R01,Léa Dupré,espaces-verts,p_couns1,,,")
    before, position = dump(db), positions(db)

    _, changes = provision(db, render())

    assert changes == 0
    assert (dump(db), positions(db)) == (before, position)


def test_the_last_one_to_list_a_worker_owns_it(db):
    """A roster import takes over a worker the file listed; listing it again takes it back."""
    org, _ = provision(db, render())
    result = import_roster(db, "W02,Fanny S.,espaces-verts,p_couns1,,,")  # moved by the roster
    assert result.taken_over == ["W02"]
    assert workers_by_ref(db, org.id)["W02"].source == "roster"

    # Now the roster's: the file dropping it leaves it alone.
    provision(db, render(lambda s: s["workers"].pop(1)))
    assert "W02" in active_refs(db, org.id)

    # Listing it again makes it the file's, with the file's values.
    spec = provisioning.parse(render())
    with db.unit_of_work() as session:
        changes = provisioning.apply(session, spec)[1]
    assert ("worker", "W02", "take over") in {(c.part, c.key, c.action.value) for c in changes}
    stored = workers_by_ref(db, org.id)["W02"]
    assert stored.source == "provisioning"
    assert stored.counsellor_id == users_by_login(db, org.id)["p_couns2"].id
    # ... so that dropping it from the file now deactivates it.
    provision(db, render(lambda s: s["workers"].pop(1)))
    assert "W02" not in active_refs(db, org.id)


def test_workers_of_unrecorded_origin_are_kept_and_adopted_when_listed(db):
    """Workers from before sources were recorded are never deactivated by a file that omits them."""
    org, _ = provision(db, render())
    with db.unit_of_work() as session:
        for worker in session.scalars(select(Worker).where(Worker.org_id == org.id)):
            worker.source = None  # as after the upgrade that added the column

    provision(db, render(lambda s: s["workers"].pop(3)))

    stored = workers_by_ref(db, org.id)
    assert stored["W04"].active and stored["W04"].source is None
    assert {ref for ref, w in stored.items() if w.source == "provisioning"} == {"W01", "W02", "W03"}


def test_accounts_an_administrator_added_are_kept_and_adopted_when_listed(db):
    """An account added in the app survives a file that never heard of it; once the file lists
    it, it is the file's, so that dropping it from the file disables it."""
    org, _ = provision(db, render())
    with db.unit_of_work() as session:
        service.create_user(
            session,
            org=session.get_one(Organization, org.id),
            login="p_new",
            name="Inès Vallon",
            roles=["counsellor"],
            password=PASSWORD,
            language="fr",
            source=AccountSource.ADMIN,
        )

    spec = provisioning.parse(render())
    with db.unit_of_work() as session:
        changes = provisioning.apply(session, spec)[1]
    assert len(changes) == 0
    assert changes.summary(planned=False)[-1] == (
        "1 account(s) added by an administrator are not in the file: left as they are"
    )
    assert users_by_login(db, org.id)["p_new"].disabled is False

    def listed(spec: dict[str, Any]) -> None:
        new = {"login": "p_new", "name": "Inès Vallon", "roles": ["counsellor"]}
        spec["users"].append(new | {"password": PASSWORD})

    spec = provisioning.parse(render(listed))
    with db.unit_of_work() as session:
        changes = provisioning.apply(session, spec)[1]
    assert described(changes) == [
        ("user", "p_new", "take over", "it was added by an administrator")
    ]
    assert users_by_login(db, org.id)["p_new"].source == "provisioning"

    provision(db, render())
    assert users_by_login(db, org.id)["p_new"].disabled is True


def described(changes: Any) -> list[tuple[str, str, str, str]]:
    return [(c.part, c.key, c.action.value, c.reason) for c in changes]


def test_changes_name_what_was_deactivated_or_disabled_and_why(db):
    provision(db, render())
    import_roster(db, "R01,Léa Dupré,espaces-verts,,,,")

    def shrink(spec: dict[str, Any]) -> None:
        spec["users"] = [u for u in spec["users"] if u["login"] != "p_coord"]
        spec["workers"] = [w for w in spec["workers"] if w["ref"] != "W04"]
        spec["workers"][1]["name"] = "Fanny S.-L."

    spec = provisioning.parse(render(shrink))
    with db.unit_of_work() as session:
        _, changes = provisioning.apply(session, spec)

    assert described(changes) == [
        ("user", "p_coord", "disable", "no longer in the provisioning file"),
        ("worker", "W02", "update", "name"),
        ("worker", "W04", "deactivate", "no longer in the provisioning file"),
    ]
    assert changes.kept == {"roster": 1}
    assert len(changes) == 3


# A series of files, each applied after the previous one: the plan of each must be exactly
# what applying it then does, and must change nothing by itself.
SERIES: list[Callable[[dict[str, Any]], object] | None] = [
    None,
    lambda s: s["workers"].pop(3),
    lambda s: (
        s["workers"][0].update(counsellor="p_couns2", name="Elio R.-B."),
        s["users"].pop(3),
        s["teams"][1].update(name="Menuiserie et ébénisterie", supervisors=[]),
        s["routing"]["deadlines"].update(urgent=1800),
        s["users"].append(
            {"login": "p_new", "name": "Iris N.", "roles": ["counsellor"], "password": PASSWORD}
        ),
    ),
    None,
]


def test_dry_run_plans_exactly_what_applying_then_does_and_changes_nothing(db):
    build_world(db)  # another organisation in the same database stays untouched too
    for step, edit in enumerate(SERIES):
        spec = provisioning.parse(render(edit))
        if step == 2:
            import_roster(db, "R01,Léa Dupré,espaces-verts,,,,", "W03,Gaspard T.,menuiserie,,,,")
        before, position = dump(db), positions(db)
        with db.unit_of_work() as session:
            plan = provisioning.plan(session, spec)
        assert (dump(db), positions(db)) == (before, position), step

        with db.unit_of_work() as session:
            _, done = provisioning.apply(session, spec)
        assert described(plan) == described(done), step
        assert plan.kept == done.kept
        assert (dump(db) == before) == (len(done) == 0), step
