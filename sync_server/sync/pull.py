"""Pull: replay the change log after the caller's cursor, filtered by the access policy.

Only the positions indexed under the caller's keys are read (`change_audience`, see
`policy.index_keys`), so a pull costs what the caller may see, not what the organisation
holds; a coordinator, who may see every entity, reads the log itself. Either way each
change is checked against the policy as it stands now.

Each change is sent with the entity's whole current state as the caller may see it
(`upsert`), or as `remove` when the caller lost sight of it. The cursor is opaque to
clients; it carries the organisation, the caller's sync epoch and the log position, and a
cursor that no longer fits any of them gets `reset`.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from shared_models.vocabulary import is_sensitive
from shared_models.wire import Change, PullResponse
from sync_server import policy
from sync_server.audit.service import record_sensitive_reads
from sync_server.auth.service import Caller
from sync_server.database import Database
from sync_server.orgs.models import User
from sync_server.sync import entities
from sync_server.sync.changelog import current_position
from sync_server.sync.models import ChangeAudience, ChangeLogEntry

_CURSOR_VERSION = "c1"


@dataclass(frozen=True)
class Cursor:
    org_tag: str
    epoch: int
    seq: int

    def encode(self) -> str:
        raw = f"{_CURSOR_VERSION}:{self.org_tag}:{self.epoch}:{self.seq}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def decode(text: str) -> Cursor | None:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            version, org_tag, epoch, seq = raw.split(":")
            if version != _CURSOR_VERSION:
                return None
            return Cursor(org_tag, int(epoch), int(seq))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            return None


def org_tag(org_id: uuid.UUID) -> str:
    return org_id.hex[:12]


def cursor_for(caller: Caller, seq: int) -> str:
    return Cursor(org_tag(caller.org_id), caller.sync_epoch, seq).encode()


@dataclass(frozen=True)
class SensitiveRead:
    note_id: uuid.UUID


def pull(
    session: Session, caller: Caller, cursor: str | None, limit: int, now: datetime
) -> tuple[PullResponse, list[SensitiveRead]]:
    user = session.get_one(User, caller.user_id)
    position = current_position(session, caller.org_id)
    after = 0
    if cursor is not None:
        decoded = Cursor.decode(cursor)
        if (
            decoded is None
            or decoded.org_tag != org_tag(caller.org_id)
            or decoded.epoch != user.sync_epoch
            or not 0 <= decoded.seq <= position
        ):
            reset_to = Cursor(org_tag(caller.org_id), user.sync_epoch, 0).encode()
            return PullResponse(changes=[], cursor=reset_to, has_more=True, reset=True), []
        after = decoded.seq

    viewer = policy.load_viewer(session, user, now)
    rows = _changes_after(session, caller.org_id, policy.viewer_keys(viewer), after, limit)
    loaded = entities.load(session, caller.org_id, ((r.entity, r.entity_id) for r in rows))
    me = str(caller.user_id)
    out: dict[tuple[str, uuid.UUID], Change] = {}
    for row in rows:
        key = (row.entity, row.entity_id)
        obj = loaded.get(*key)
        change: Change | None = None
        if obj is not None and entities.visible(viewer, row.entity, obj, loaded):
            change = Change(entity=row.entity, op="upsert", id=row.entity_id)
        elif me in (row.revoked or ()):
            change = Change(entity=row.entity, op="remove", id=row.entity_id)
        if change is not None:
            out.pop(key, None)  # keep each entity once, at its latest position
            out[key] = change
    reads = []
    for (entity, entity_id), change in out.items():
        if change.op == "upsert":
            obj = loaded.get(entity, entity_id)
            change.data = entities.shape(viewer, entity, obj, loaded)
            if entity == "note" and is_sensitive(obj.category) and obj.author_id != caller.user_id:
                reads.append(SensitiveRead(entity_id))
    last = rows[-1].seq if rows else after
    if len(rows) < limit:
        # Every position up to `position` has committed (see `changelog`): the caller's
        # rows among them were all read, the others are not theirs.
        last = max(last, position)
    return (
        PullResponse(
            changes=list(out.values()),
            cursor=Cursor(org_tag(caller.org_id), user.sync_epoch, last).encode(),
            has_more=last < position,
            reset=False,
        ),
        reads,
    )


def pull_and_record(
    db: Database, caller: Caller, cursor: str | None, limit: int, now: datetime
) -> PullResponse:
    """A pull, then the audit of the sensitive notes it sent to someone other than their
    author: read in a read-only transaction, the audit written in a short one after it."""
    with db.reading() as session:
        response, reads = pull(session, caller, cursor, limit, now)
    if reads:
        with db.unit_of_work() as session:
            record_sensitive_reads(
                session,
                org_id=caller.org_id,
                actor_id=caller.user_id,
                device_id=caller.device_id,
                note_ids=(r.note_id for r in reads),
            )
    return response


def _changes_after(
    session: Session,
    org_id: uuid.UUID,
    keys: frozenset[uuid.UUID] | None,
    after: int,
    limit: int,
) -> Sequence[Row[int, str, uuid.UUID, list[str] | None]]:
    """The next `limit` changes after `after` indexed under `keys` (None: every change)."""
    query = select(
        ChangeLogEntry.seq, ChangeLogEntry.entity, ChangeLogEntry.entity_id, ChangeLogEntry.revoked
    ).where(ChangeLogEntry.org_id == org_id)
    if keys is None:
        query = query.where(ChangeLogEntry.seq > after)
    else:
        positions = (
            select(ChangeAudience.seq)
            .where(
                ChangeAudience.org_id == org_id,
                ChangeAudience.audience.in_(keys),
                ChangeAudience.seq > after,
            )
            .distinct()
            .order_by(ChangeAudience.seq)
            .limit(limit)
        )
        query = query.where(ChangeLogEntry.seq.in_(positions))
    return session.execute(query.order_by(ChangeLogEntry.seq).limit(limit)).all()
