"""The v1 domain vocabulary: the single source of the values the protocol allows.

The app, the server and the docs all read these; nothing else spells them out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum


class Role(StrEnum):
    SUPERVISOR = "supervisor"
    COUNSELLOR = "counsellor"
    COORDINATOR = "coordinator"
    ADMIN = "admin"


class Language(StrEnum):
    """Languages an organisation and a user may choose (an app may ship fewer catalogs)."""

    FR = "fr"
    EN = "en"
    IT = "it"
    NL = "nl"


class EntityType(StrEnum):
    """The `entity` of a pulled change: what the synced copy on a phone is a copy of."""

    ORGANIZATION = "organization"
    TEAM = "team"
    WORKER = "worker"
    COLLEAGUE = "colleague"
    NOTE = "note"
    FOLLOW_UP = "follow_up"
    HEADS_UP = "heads_up"


class MutationType(StrEnum):
    """The `type` of a pushed mutation."""

    NOTE_CREATE = "note.create"
    NOTE_RETRACT = "note.retract"
    NOTE_ACKNOWLEDGE = "note.acknowledge"
    NOTE_FOLLOW_UP = "note.follow_up"
    HEADS_UP_CREATE = "heads_up.create"
    HEADS_UP_END = "heads_up.end"
    DELIVERY_SEEN = "delivery.seen"


class NoteKind(StrEnum):
    OBSERVATION = "observation"
    SAFETY = "safety"
    SIGNAL = "signal"


class Severity(StrEnum):
    INFO = "info"
    ATTENTION = "attention"
    URGENT = "urgent"


class NoteStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    CLOSED = "closed"
    RETRACTED = "retracted"


class FollowUpAction(StrEnum):
    INTERVIEW_PLANNED = "interview_planned"
    REFERRED_TO_PARTNER = "referred_to_partner"
    WORK_ADAPTED = "work_adapted"
    NO_ACTION_NEEDED = "no_action_needed"
    OTHER = "other"


class DeliveryReason(StrEnum):
    REFERENT = "referent"
    STAND_IN = "stand_in"
    URGENT = "urgent"
    UNASSIGNED = "unassigned"
    ESCALATION = "escalation"


CATEGORIES: dict[NoteKind, tuple[str, ...]] = {
    NoteKind.SIGNAL: (
        "health",
        "fatigue",
        "addiction",
        "housing",
        "money",
        "mobility",
        "childcare",
        "family",
        "administrative",
        "justice",
        "digital",
        "language",
        "punctuality",
        "absence",
        "conflict",
        "behaviour",
        "motivation",
        "other",
    ),
    NoteKind.SAFETY: (
        "ppe",
        "near_miss",
        "injury",
        "equipment",
        "ergonomics",
        "hygiene",
        "unsafe_practice",
        "other",
    ),
    NoteKind.OBSERVATION: (
        "skill_progress",
        "autonomy",
        "teamwork",
        "quality",
        "initiative",
        "difficulty",
        "other",
    ),
}

SENSITIVE_CATEGORIES: frozenset[str] = frozenset({"health", "addiction", "justice", "family"})

# Severity a capture screen preselects, so that the usual case costs no tap.
DEFAULT_SEVERITY: dict[tuple[NoteKind, str], Severity] = {
    (NoteKind.SAFETY, "injury"): Severity.URGENT,
    (NoteKind.SAFETY, "near_miss"): Severity.ATTENTION,
    (NoteKind.SAFETY, "unsafe_practice"): Severity.ATTENTION,
    (NoteKind.SAFETY, "equipment"): Severity.ATTENTION,
    (NoteKind.SIGNAL, "health"): Severity.ATTENTION,
    (NoteKind.SIGNAL, "addiction"): Severity.ATTENTION,
    (NoteKind.SIGNAL, "housing"): Severity.ATTENTION,
    (NoteKind.SIGNAL, "money"): Severity.ATTENTION,
    (NoteKind.SIGNAL, "conflict"): Severity.ATTENTION,
    (NoteKind.SIGNAL, "justice"): Severity.ATTENTION,
    (NoteKind.SIGNAL, "absence"): Severity.ATTENTION,
}

# Acknowledgement deadlines in seconds, per severity (overridable per organisation).
DEFAULT_DEADLINES: dict[Severity, int] = {
    Severity.URGENT: 2 * 3600,
    Severity.ATTENTION: 24 * 3600,
    Severity.INFO: 72 * 3600,
}

SEVERITY_RANK: dict[Severity, int] = {Severity.URGENT: 0, Severity.ATTENTION: 1, Severity.INFO: 2}

# The author may retract a note for this long after it reached the server (its
# `received_at`), judged by the server's clock; the phone applies the same rule.
RETRACT_WINDOW = timedelta(hours=24)

# The French ACI rule: one technical supervisor for at most 12 workers.
MAX_WORKERS_PER_SUPERVISOR_FR = 12


def is_sensitive(category: str) -> bool:
    return category in SENSITIVE_CATEGORIES


def default_severity(kind: NoteKind | str, category: str) -> Severity:
    return DEFAULT_SEVERITY.get((NoteKind(kind), category), Severity.INFO)


def severities_for(kind: NoteKind | str) -> tuple[Severity, ...]:
    """What a note of `kind` may be: an observation alerts nobody, so it is never urgent."""
    if NoteKind(kind) is NoteKind.OBSERVATION:
        return (Severity.INFO, Severity.ATTENTION)
    return tuple(Severity)


def alerts_someone(kind: NoteKind | str, severity: Severity | str) -> bool:
    """Whether a note is routed (and so awaits acknowledgement): every signal and safety
    note, and an observation that says it is urgent (the app never offers that, but a note
    that says "urgent" is never silent)."""
    return kind != NoteKind.OBSERVATION or severity == Severity.URGENT


def categories_for(kind: NoteKind | str) -> tuple[str, ...]:
    return CATEGORIES[NoteKind(kind)]


def within_retract_window(received_at: datetime, moment: datetime) -> bool:
    """Whether a note that reached the server at `received_at` may still be retracted at
    `moment`. The window's last instant is outside it: one rule, on the phone and the server."""
    return moment - received_at < RETRACT_WINDOW
