"""A fictional organisation of any size, written straight into the database.

Shared by the tests and the benchmarks (which must not import the test suite). Every person
here is invented.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field

from argon2 import PasswordHasher

from sync_server.database import Database

PASSWORD = "fictional-bench-password"
# argon2id with cheap parameters, like relais_testing/factories.py: the benchmarks sign in up to
# thousands of devices and measure sync, not password hashing.
_PASSWORD_HASH = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
FIRST_NAMES = ("Ada", "Bram", "Cleo", "Dario", "Elin", "Faro", "Gwen", "Hugo", "Ilse", "Joss")


@dataclass
class Org:
    id: uuid.UUID
    slug: str
    coordinators: list[uuid.UUID] = field(default_factory=list)
    counsellors: dict[str, uuid.UUID] = field(default_factory=dict)  # login -> id
    supervisors: dict[str, uuid.UUID] = field(default_factory=dict)  # login -> id
    teams_of: dict[str, list[uuid.UUID]] = field(default_factory=dict)  # supervisor -> teams
    workers_of_team: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    counsellor_of: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # worker -> user
    device_of: dict[str, uuid.UUID] = field(default_factory=dict)  # login -> device

    def workers_of(self, supervisor: str) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(worker, team) pairs the supervisor may write about."""
        return [(w, t) for t in self.teams_of[supervisor] for w in self.workers_of_team[t]]

    @property
    def worker_count(self) -> int:
        return sum(len(ws) for ws in self.workers_of_team.values())


def build_org(
    db: Database,
    *,
    counsellors: int,
    teams: int,
    workers_per_team: int,
    supervisors: int,
    coordinators: int = 2,
    slug: str = "bench",
    devices: bool = False,
) -> Org:
    """Direct ORM inserts, as relais_testing/factories.py does, with change-log entries for pull.

    Team t is run by supervisor t % supervisors; worker k (counting across teams) is
    followed by counsellor k % counsellors, so each team mixes several counsellors.
    With `devices`, each supervisor also gets a signed-in device (for in-process pushes).
    """
    from sync_server.auth.models import Device
    from sync_server.auth.passwords import password_stamp
    from sync_server.auth.service import hash_token
    from sync_server.orgs.models import Organization, Team, User, UserRole, Worker
    from sync_server.sync.changelog import record_change

    with db.unit_of_work() as session:
        org_row = Organization(
            id=uuid.uuid4(),
            slug=slug,
            name=f"ACI {slug} (fictional)",
            country="FR",
            language="fr",
        )
        session.add(org_row)
        session.flush()
        record_change(session, org_row.id, "organization", org_row.id)
        org = Org(id=org_row.id, slug=slug)

        def user(login: str, role: str) -> User:
            u = User(
                id=uuid.uuid4(),
                org_id=org.id,
                login=login,
                display_name=f"{random.choice(FIRST_NAMES)} {login[-3:]} (fictional)",
                password_hash=_PASSWORD_HASH,
                language="fr",
                email=f"{login}@example.invalid",
            )
            u.roles = [UserRole(user_id=u.id, role=role)]
            session.add(u)
            record_change(session, org.id, "colleague", u.id)
            return u

        for i in range(coordinators):
            org.coordinators.append(user(f"{slug}-coord-{i:03d}", "coordinator").id)
        counsellor_rows = []
        for i in range(counsellors):
            u = user(f"{slug}-couns-{i:03d}", "counsellor")
            org.counsellors[u.login] = u.id
            counsellor_rows.append(u)
        supervisor_rows = []
        for i in range(supervisors):
            u = user(f"{slug}-sup-{i:03d}", "supervisor")
            org.supervisors[u.login] = u.id
            org.teams_of[u.login] = []
            supervisor_rows.append(u)
        session.flush()
        k = 0
        for t in range(teams):
            sup = supervisor_rows[t % supervisors]
            team = Team(
                id=uuid.uuid4(),
                org_id=org.id,
                slug=f"team-{t:04d}",
                name=f"Team {t} (fictional)",
                site=f"Site {t % 7}",
                supervisors=[sup],
            )
            session.add(team)
            record_change(session, org.id, "team", team.id)
            org.teams_of[sup.login].append(team.id)
            org.workers_of_team[team.id] = []
            session.flush()
            for _ in range(workers_per_team):
                counsellor = counsellor_rows[k % counsellors]
                worker = Worker(
                    id=uuid.uuid4(),
                    org_id=org.id,
                    ref=f"W{k:06d}",
                    display_name=f"{FIRST_NAMES[k % len(FIRST_NAMES)]} {chr(65 + k % 26)}.",
                    team_id=team.id,
                    counsellor_id=counsellor.id,
                    contract_type="CDDI",
                    active=True,
                )
                session.add(worker)
                record_change(session, org.id, "worker", worker.id)
                org.workers_of_team[team.id].append(worker.id)
                org.counsellor_of[worker.id] = counsellor.id
                k += 1
        if devices:
            for sup in supervisor_rows:
                device = Device(
                    id=uuid.uuid4(),
                    user_id=sup.id,
                    name="bench device",
                    token_hash=hash_token(uuid.uuid4().hex),
                    password_stamp=password_stamp(sup.password_hash),
                )
                session.add(device)
                org.device_of[sup.login] = device.id
    return org
