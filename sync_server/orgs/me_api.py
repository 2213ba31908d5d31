"""`/me`: the caller's own settings, availability (away, stand-in) and notification preferences."""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from fastapi import APIRouter

from shared_models.wire import Availability, AvailabilityRequest, Preferences
from sync_server import policy
from sync_server.database import utcnow
from sync_server.deps import CurrentCaller, DbSession
from sync_server.errors import Forbidden, InvalidBody, documented
from sync_server.orgs import service
from sync_server.orgs.models import User

router = APIRouter(prefix="/me", tags=["me"])


@router.put("/availability", response_model=Availability, responses=documented(401, 403, 413, 422))
def put_availability(
    body: AvailabilityRequest, caller: CurrentCaller, session: DbSession
) -> Availability:
    user = session.get_one(User, caller.user_id)
    now = utcnow()
    viewer = policy.load_viewer(session, user, now)
    stand_in = session.get(User, body.stand_in_id) if body.stand_in_id else None
    if body.stand_in_id and (stand_in is None or not policy.knows_of(viewer, stand_in)):
        raise InvalidBody("stand_in_id: no such colleague")  # the same for other organisations
    if not policy.may_set_availability(viewer, stand_in):
        raise Forbidden(
            "only counsellors set availability, with a counsellor of their organisation as stand-in"
        )
    if body.away and body.until is not None and body.until <= now:
        raise InvalidBody("until: must be in the future")
    service.set_availability(session, user, away=body.away, stand_in=stand_in, until=body.until)
    return Availability(away=user.away, stand_in_id=user.stand_in_id, until=user.away_until)


@router.get("/preferences", response_model=Preferences, responses=documented(401))
def get_preferences(caller: CurrentCaller, session: DbSession) -> Preferences:
    return _preferences(session.get_one(User, caller.user_id))


@router.put("/preferences", response_model=Preferences, responses=documented(401, 413, 422))
def put_preferences(body: Preferences, caller: CurrentCaller, session: DbSession) -> Preferences:
    if not is_time_zone(body.timezone):
        raise InvalidBody("timezone: not a time zone of the tz database (such as Europe/Paris)")
    user = session.get_one(User, caller.user_id)
    for name, value in body.model_dump().items():
        setattr(user, name, value)
    return _preferences(user)


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def is_time_zone(name: str) -> bool:
    """A zone of the tz database: not one of its folders (`Europe`) or other files, which a
    plain lookup may stumble on."""
    if name not in _zone_names():
        return False
    try:
        ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # listed, yet missing or unreadable
        return False
    return True


def _preferences(user: User) -> Preferences:
    return Preferences(
        email_urgent=user.email_urgent,
        email_digest=user.email_digest,
        quiet_start=user.quiet_start,
        quiet_end=user.quiet_end,
        digest_time=user.digest_time,
        timezone=user.timezone,
    )
