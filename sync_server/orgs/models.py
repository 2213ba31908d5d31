"""Organisations and the people in them: staff users, teams, and the workers they support."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Integer,
    String,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shared_models.vocabulary import Language
from sync_server.database import Base, utcnow


class TeamSupervisor(Base):
    """Which supervisors run which team (a team may have several)."""

    __tablename__ = "team_supervisor"

    team_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("team.id", ondelete="CASCADE"), primary_key=True
    )
    # Indexed apart too: which teams one user supervises is asked at every pull.
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Organization(Base):
    __tablename__ = "organization"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(8))
    language: Mapped[str] = mapped_column(String(8))
    deadline_urgent: Mapped[int] = mapped_column(Integer, default=7200)
    deadline_attention: Mapped[int] = mapped_column(Integer, default=86400)
    deadline_info: Mapped[int] = mapped_column(Integer, default=259200)
    # Signals about one worker and category within this many seconds page once.
    group_window: Mapped[int] = mapped_column(Integer, default=4 * 3600)
    # What is held about a worker is deleted this many days after their contract ends.
    retention_days: Mapped[int] = mapped_column(Integer, default=730, server_default="730")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AccountSource(StrEnum):
    """Who added an account: re-provisioning disables only the file's own accounts."""

    PROVISIONING = "provisioning"
    ADMIN = "admin"  # an administrator, in the app or through the admin API


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), index=True)
    login: Mapped[str] = mapped_column(String(200), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(255))
    language: Mapped[str] = mapped_column(String(8), default=Language.FR.value)
    email: Mapped[str | None] = mapped_column(String(320))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # An AccountSource: the provisioning file leaves alone the accounts it did not add.
    source: Mapped[str] = mapped_column(
        String(16), default=AccountSource.PROVISIONING.value, server_default="provisioning"
    )
    # Bumped when what the user may see changes wholesale (roles, teams): forces a reset.
    sync_epoch: Mapped[int] = mapped_column(Integer, default=0)
    # Availability: while away, new deliveries go to the stand-in.
    away: Mapped[bool] = mapped_column(Boolean, default=False)
    away_until: Mapped[datetime | None]
    stand_in_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="SET NULL"), index=True
    )
    # Notification preferences.
    email_urgent: Mapped[bool] = mapped_column(Boolean, default=True)
    email_digest: Mapped[bool] = mapped_column(Boolean, default=True)
    quiet_start: Mapped[time | None] = mapped_column(Time)
    quiet_end: Mapped[time | None] = mapped_column(Time)
    digest_time: Mapped[time] = mapped_column(Time, default=time(7, 30))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    last_digest_on: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    roles: Mapped[list[UserRole]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="UserRole.role"
    )

    @property
    def role_names(self) -> frozenset[str]:
        return frozenset(r.role for r in self.roles)

    def has_role(self, role: str) -> bool:
        return role in self.role_names

    def is_away(self, at: datetime) -> bool:
        return self.away and (self.away_until is None or self.away_until > at)


class UserRole(Base):
    __tablename__ = "user_role"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(32), primary_key=True)


class Team(Base):
    __tablename__ = "team"
    __table_args__ = (UniqueConstraint("org_id", "slug"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), index=True)
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    site: Mapped[str | None] = mapped_column(String(200))

    supervisors: Mapped[list[User]] = relationship(
        secondary="team_supervisor", lazy="raise", viewonly=False
    )


class WorkerSource(StrEnum):
    """Who last listed a worker, and so owns them: re-provisioning deactivates only its own."""

    PROVISIONING = "provisioning"
    ROSTER = "roster"


class Worker(Base):
    """A person in an integration contract. Not a user: the notes are about them."""

    __tablename__ = "worker"
    __table_args__ = (UniqueConstraint("org_id", "ref"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    org_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("organization.id"), index=True)
    ref: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200))
    team_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("team.id"), index=True)
    counsellor_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("user_account.id"), index=True
    )
    contract_type: Mapped[str | None] = mapped_column(String(64))
    contract_start: Mapped[date | None]
    contract_end: Mapped[date | None]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A WorkerSource; None for workers stored before sources were recorded (revision 0003).
    source: Mapped[str | None] = mapped_column(String(16))

    team: Mapped[Team] = relationship(lazy="raise")
    counsellor: Mapped[User | None] = relationship(lazy="raise")
