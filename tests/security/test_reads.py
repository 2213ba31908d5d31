"""Who reads what, through pull: every login of both organisations pulls everything it may,
and each marker is in its pull exactly when it is one of the marker's readers. Cross-team
(a supervisor of team B, a counsellor of other workers), cross-organisation and admin reads
are rows of one matrix; the raw pages are searched, so that no field of any entity leaks."""

from __future__ import annotations

import pytest

from tests.security.conftest import LOGINS, ORGS, Target


@pytest.mark.parametrize("login", LOGINS)
@pytest.mark.parametrize("org", ORGS)
def test_a_pull_holds_exactly_what_its_reader_may_read(target: Target, org: str, login: str):
    _, pages = target.pull(org, login, fresh=True)
    found = {s.marker for s in target.seeded if s.marker in pages}
    allowed = {s.marker for s in target.seeded if s.org == org and login in s.readers}
    assert found == allowed


@pytest.mark.parametrize("login", ["coord", "admin", "sup_a"])
def test_another_organisations_cursor_reads_nothing_of_it(target: Target, login: str):
    """A cursor names its organisation: handed to another organisation's user it is a stale
    cursor (reset), and what follows is the caller's own organisation only."""
    target.pull("acme", "coord")
    body = {"protocol": 1, "cursor": target.cursor("acme", "coord")}
    response = target.post("rival", login, "/sync/pull", body)
    assert response.status_code == 200, response.text
    assert response.json()["reset"] is True
    acme = [s.marker for s in target.seeded if s.org == "acme"]
    assert [m for m in acme if m in response.text] == []


# Colleagues on need to know: oneself, co-supervisors, the counsellors among counsellors;
# coordinators and admins everyone (None).
COLLEAGUES_SEEN: dict[str, set[str] | None] = {
    "sup_a": {"sup_a", "sup_a2"},
    "sup_a2": {"sup_a", "sup_a2"},
    "sup_b": {"sup_b"},
    "couns_1": {"couns_1", "couns_2"},
    "couns_2": {"couns_1", "couns_2"},
    "coord": None,
    "admin": None,
}


@pytest.mark.parametrize("login", LOGINS)
def test_a_pull_holds_exactly_the_colleagues_its_reader_needs(target: Target, login: str):
    users = target.worlds["acme"].users
    state, _ = target.pull("acme", login, fresh=True)
    seen = {entity_id for entity, entity_id in state if entity == "colleague"}
    wanted = COLLEAGUES_SEEN[login]
    assert seen == {str(users[name]) for name in (users if wanted is None else wanted)}
