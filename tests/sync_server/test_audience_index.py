"""The audience index (who gets poked and who gets `remove`) agrees with the policy's rules."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from sync_server import policy
from sync_server.notes.models import FollowUp, HeadsUp, Note
from sync_server.orgs.models import Team, User, UserRole, Worker

ORG = uuid.UUID(int=1)
TEAMS = [uuid.UUID(int=100 + i) for i in range(3)]
WORKERS = [uuid.UUID(int=200 + i) for i in range(5)]
USERS = [uuid.UUID(int=300 + i) for i in range(7)]
ROLES = ["supervisor", "counsellor", "coordinator", "admin"]

viewers_strategy = st.lists(
    st.builds(
        lambda user_id, roles, teams, workers: policy.Viewer(
            user_id=user_id,
            org_id=ORG,
            roles=frozenset(roles),
            supervised_team_ids=frozenset(teams),
            counselled_worker_ids=frozenset(workers),
        ),
        st.sampled_from(USERS),
        st.sets(st.sampled_from(ROLES), max_size=2),
        st.sets(st.sampled_from(TEAMS), max_size=2),
        st.sets(st.sampled_from(WORKERS), max_size=3),
    ),
    max_size=7,
    unique_by=lambda v: v.user_id,
)


def note(author: uuid.UUID, worker: uuid.UUID | None, status: str) -> Note:
    return Note(
        id=uuid.uuid4(),
        org_id=ORG,
        author_id=author,
        worker_id=worker,
        team_id=TEAMS[0],
        kind="signal",
        category="health",
        severity="info",
        text="",
        status=status,
    )


@settings(max_examples=150, deadline=None)
@given(
    viewers=viewers_strategy,
    author=st.sampled_from(USERS),
    other=st.sampled_from(USERS),
    worker=st.one_of(st.none(), st.sampled_from(WORKERS)),
    team=st.sampled_from(TEAMS),
    status=st.sampled_from(["open", "acknowledged", "closed", "retracted"]),
    disabled=st.booleans(),
    acted=st.frozensets(st.sampled_from(USERS), max_size=3),
    other_roles=st.sets(st.sampled_from(ROLES), max_size=2),
    other_teams=st.frozensets(st.sampled_from(TEAMS), max_size=2),
)
def test_index_equals_asking_everyone(
    viewers, author, other, worker, team, status, disabled, acted, other_roles, other_teams
):
    """`acted`: who acknowledged the note or followed it up (what a retraction leaves them);
    `other_roles`, `other_teams`: the roles of the colleague and the teams they supervise."""
    index = policy.AudienceIndex(viewers)
    the_note = note(author, worker, status)
    worker_id = worker or WORKERS[0]
    facts = policy.Facts(
        worker_team={worker_id: team},
        notes={the_note.id: the_note},
        acted={the_note.id: acted},
        teams_supervised={other: other_teams},
    )
    entities = [
        ("note", the_note),
        (
            "follow_up",
            FollowUp(
                id=uuid.uuid4(),
                org_id=ORG,
                note_id=the_note.id,
                author_id=other,
                action="other",
                close=False,
            ),
        ),
        (
            "heads_up",
            HeadsUp(id=uuid.uuid4(), org_id=ORG, worker_id=worker_id, author_id=other, text="x"),
        ),
        ("worker", Worker(id=worker_id, org_id=ORG, ref="r", display_name="W", team_id=team)),
        ("team", Team(id=team, org_id=ORG, slug="t", name="T")),
        (
            "colleague",
            User(
                id=other,
                org_id=ORG,
                login="l",
                display_name="C",
                password_hash="",
                disabled=disabled,
                roles=[UserRole(user_id=other, role=r) for r in other_roles],
            ),
        ),
    ]
    for entity, obj in entities:
        assert index.of(entity, obj, facts) == policy.audience(viewers, entity, obj, facts), entity
