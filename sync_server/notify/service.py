"""E-mail for what cannot wait (urgent deliveries, escalations, late deliveries) and a daily
digest of the rest.

An e-mail never carries note text or category: only that there is something to open in
Relais, and about whom by initials ("new urgent signal about L. M."). Quiet hours defer
mail; they never drop it. On PostgreSQL an advisory lock lets one process send at a time.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiosmtplib
from sqlalchemy import func, or_, select, text, update
from sqlalchemy.orm import Session, aliased

from shared_models.vocabulary import (
    DeliveryReason,
    Language,
    NoteKind,
    NoteStatus,
    Role,
    Severity,
)
from sync_server.database import Database
from sync_server.notes.models import Note
from sync_server.orgs.models import User, UserRole, Worker
from sync_server.routing.models import Delivery
from sync_server.settings import Settings

log = logging.getLogger(__name__)
_ADVISORY_KEY = 0x52454C41  # "RELA"


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str
    delivery_ids: tuple[uuid.UUID, ...] = ()
    digest_user: uuid.UUID | None = None
    digest_day: date | None = None


def initials(display_name: str) -> str:
    """'Léa M.' -> 'L. M.': enough to know whom it is about, little if misdelivered."""
    parts = [p for p in display_name.replace(".", " ").split() if p]
    return " ".join(f"{p[0].upper()}." for p in parts[:3]) or "?"


def local_now(user: User, now: datetime) -> datetime:
    try:
        return now.astimezone(ZoneInfo(user.timezone))
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder such as 'Europe'
        return now.astimezone(ZoneInfo("UTC"))


def in_quiet_hours(user: User, now: datetime) -> bool:
    start, end = user.quiet_start, user.quiet_end
    if start is None or end is None or start == end:
        return False
    moment = local_now(user, now).time()
    return start <= moment < end if start < end else moment >= start or moment < end


TEXTS: dict[str, dict[str, str]] = {
    Language.FR: {
        "urgent_subject": "Relais : signal urgent concernant {who}",
        "urgent_body": "Un signal urgent concernant {who} vous attend dans Relais.",
        "reminder_subject": "Relais : signal en retard concernant {who}",
        "reminder_body": (
            "Un signal concernant {who} attend votre accusé de réception au-delà du délai prévu."
        ),
        "escalation_subject": "Relais : signal en attente concernant {who}",
        "escalation_body": (
            "Un signal concernant {who} n'a pas été pris en compte dans le délai prévu "
            "et vous est transmis."
        ),
        "digest_subject": "Relais : votre résumé du {day}",
        "digest_body": "Depuis votre dernier résumé : {new}, {waiting}.",
        "new_one": "{n} nouvel élément",
        "new_other": "{n} nouveaux éléments",
        "waiting_one": "{n} en attente d'accusé de réception",
        "waiting_other": "{n} en attente d'accusé de réception",
        "day": "%d/%m/%Y",
        "open": "Ouvrez Relais pour le consulter{where}. Ce message ne contient volontairement aucun détail.",
    },
    Language.EN: {
        "urgent_subject": "Relais: urgent signal about {who}",
        "urgent_body": "An urgent signal about {who} is waiting for you in Relais.",
        "reminder_subject": "Relais: signal overdue about {who}",
        "reminder_body": "A signal about {who} is still waiting for your acknowledgement, past its deadline.",
        "escalation_subject": "Relais: signal waiting about {who}",
        "escalation_body": "A signal about {who} was not acknowledged in time and is passed on to you.",
        "digest_subject": "Relais: your summary for {day}",
        "digest_body": "Since your last summary: {new}, {waiting}.",
        "new_one": "{n} new item",
        "new_other": "{n} new items",
        "waiting_one": "{n} waiting for acknowledgement",
        "waiting_other": "{n} waiting for acknowledgement",
        "day": "%Y-%m-%d",
        "open": "Open Relais to read it{where}. This message deliberately contains no details.",
    },
    Language.IT: {
        "urgent_subject": "Relais: segnalazione urgente su {who}",
        "urgent_body": "Una segnalazione urgente su {who} ti aspetta in Relais.",
        "reminder_subject": "Relais: segnalazione scaduta su {who}",
        "reminder_body": "Una segnalazione su {who} attende ancora la tua conferma, oltre il termine previsto.",
        "escalation_subject": "Relais: segnalazione in attesa su {who}",
        "escalation_body": "Una segnalazione su {who} non è stata presa in carico in tempo e ti viene trasmessa.",
        "digest_subject": "Relais: il tuo riepilogo del {day}",
        "digest_body": "Dall'ultimo riepilogo: {new}, {waiting}.",
        "new_one": "{n} nuovo elemento",
        "new_other": "{n} nuovi elementi",
        "waiting_one": "{n} in attesa di conferma",
        "waiting_other": "{n} in attesa di conferma",
        "day": "%d/%m/%Y",
        "open": "Apri Relais per leggerla{where}. Questo messaggio non contiene volutamente dettagli.",
    },
    Language.NL: {
        "urgent_subject": "Relais: dringend signaal over {who}",
        "urgent_body": "Een dringend signaal over {who} wacht op u in Relais.",
        "reminder_subject": "Relais: signaal over {who} te laat",
        "reminder_body": "Een signaal over {who} wacht na de termijn nog op uw ontvangstbevestiging.",
        "escalation_subject": "Relais: signaal over {who} wacht",
        "escalation_body": "Een signaal over {who} werd niet op tijd bevestigd en wordt aan u doorgegeven.",
        "digest_subject": "Relais: uw overzicht van {day}",
        "digest_body": "Sinds uw vorige overzicht: {new}, {waiting}.",
        "new_one": "{n} nieuw item",
        "new_other": "{n} nieuwe items",
        "waiting_one": "{n} wacht op ontvangstbevestiging",
        "waiting_other": "{n} wachten op ontvangstbevestiging",
        "day": "%d-%m-%Y",
        "open": "Open Relais om het te lezen{where}. Dit bericht bevat bewust geen details.",
    },
}


def _count(t: dict[str, str], key: str, n: int, language: str) -> str:
    """`n` with its noun in the language's form: French says "0 nouvel élément"."""
    one = n in (0, 1) if language == Language.FR else n == 1
    return t[f"{key}_one" if one else f"{key}_other"].format(n=n)


def _texts(user: User) -> dict[str, str]:
    return TEXTS.get(user.language, TEXTS[Language.EN])


def _where(settings: Settings) -> str:
    return f" ({settings.public_url})" if settings.public_url else ""


def alert_mails(session: Session, settings: Settings, now: datetime) -> list[Mail]:
    """What cannot wait, for recipients who want mail now: urgent deliveries and
    escalations not yet mailed, and coordinators' own deliveries gone past their deadline
    (escalation ends with them: they are reminded). One e-mail per alert: a repeat signal
    is not mailed when its alert was, and signals of one alert due together go as one."""
    lead, lead_note = aliased(Delivery), aliased(Note)
    alert_mailed = (
        select(lead.id)
        .join(lead_note, lead_note.id == lead.note_id)
        .where(
            lead.id == Delivery.grouped_into_id,
            lead.notified_at.is_not(None),
            lead_note.status
            != NoteStatus.RETRACTED,  # its group was released (kept for older data)
        )
        .exists()
    )
    is_coordinator = (
        select(UserRole.user_id)
        .where(UserRole.user_id == User.id, UserRole.role == Role.COORDINATOR.value)
        .exists()
    )
    urgent = or_(
        Note.severity == Severity.URGENT.value,
        Delivery.reason == DeliveryReason.ESCALATION.value,
        (Note.kind == NoteKind.SAFETY.value) & (Note.category == "injury"),
    )
    late = Delivery.escalated_at.is_not(None) & or_(
        Delivery.notified_at.is_(None), Delivery.notified_at < Delivery.escalated_at
    )
    rows = session.execute(
        select(Delivery, Worker.display_name, User)
        .join(Note, Note.id == Delivery.note_id)
        .join(User, User.id == Delivery.recipient_id)
        .outerjoin(Worker, Worker.id == Note.worker_id)
        .where(
            Delivery.acknowledged_at.is_(None),
            Note.status == NoteStatus.OPEN.value,
            or_(
                Delivery.notified_at.is_(None) & urgent & ~alert_mailed,
                late & is_coordinator,
            ),
            User.email.is_not(None),
            User.email_urgent.is_(True),
            User.disabled.is_(False),
        )
        .order_by(Delivery.delivered_at)
        .limit(500)
    ).all()
    alerts: dict[tuple[uuid.UUID, uuid.UUID], Mail] = {}
    for delivery, worker_name, user in rows:
        if in_quiet_hours(user, now):
            continue
        alert = (user.id, delivery.grouped_into_id or delivery.id)
        if alert in alerts:  # the same alert, due in the same sweep: one e-mail
            mail = alerts[alert]
            alerts[alert] = replace(mail, delivery_ids=(*mail.delivery_ids, delivery.id))
            continue
        t = _texts(user)
        who = initials(worker_name) if worker_name else "—"
        if delivery.reason == DeliveryReason.ESCALATION:
            key = "escalation"
        elif delivery.escalated_at is not None:
            key = "reminder"
        else:
            key = "urgent"
        alerts[alert] = Mail(
            to=user.email or "",
            subject=t[f"{key}_subject"].format(who=who),
            body=t[f"{key}_body"].format(who=who)
            + "\n\n"
            + t["open"].format(where=_where(settings)),
            delivery_ids=(delivery.id,),
        )
    return list(alerts.values())


def digest_mails(session: Session, settings: Settings, now: datetime) -> list[Mail]:
    """Once a day, at each user's digest time: counts of what arrived, never contents."""
    users = session.scalars(
        select(User).where(
            User.email.is_not(None), User.email_digest.is_(True), User.disabled.is_(False)
        )
    ).all()
    mails = []
    for user in users:
        local = local_now(user, now)
        if local.time() < user.digest_time or user.last_digest_on == local.date():
            continue
        if in_quiet_hours(user, now):
            continue
        since = now - timedelta(days=1)
        new = (
            session.scalar(
                select(func.count())
                .select_from(Delivery)
                .where(
                    Delivery.recipient_id == user.id,
                    Delivery.delivered_at >= since,
                    Delivery.notified_at.is_(None),
                )
            )
            or 0
        )
        waiting = (
            session.scalar(
                select(func.count())
                .select_from(Delivery)
                .join(Note, Note.id == Delivery.note_id)
                .where(
                    Delivery.recipient_id == user.id,
                    Delivery.acknowledged_at.is_(None),
                    Note.status == NoteStatus.OPEN.value,
                )
            )
            or 0
        )
        observations = (
            session.scalar(
                select(func.count())
                .select_from(Note)
                .join(Worker, Worker.id == Note.worker_id)
                .where(
                    Worker.counsellor_id == user.id,
                    Note.kind == NoteKind.OBSERVATION.value,
                    Note.received_at >= since,
                )
            )
            or 0
        )
        if not (new or waiting or observations):
            continue
        t = _texts(user)
        mails.append(
            Mail(
                to=user.email or "",
                subject=t["digest_subject"].format(day=local.date().strftime(t["day"])),
                body=t["digest_body"].format(
                    new=_count(t, "new", new + observations, user.language),
                    waiting=_count(t, "waiting", waiting, user.language),
                )
                + "\n\n"
                + t["open"].format(where=_where(settings)),
                digest_user=user.id,
                digest_day=local.date(),
            )
        )
    return mails


async def _send_all(settings: Settings, mails: Sequence[Mail]) -> list[Mail]:
    """Send over one SMTP connection; returns the mails that went out."""
    sent: list[Mail] = []
    if not mails or not settings.smtp_host:
        return sent
    smtp = aiosmtplib.SMTP(
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        start_tls=settings.smtp_starttls,
        timeout=15,
    )
    async with smtp:
        if settings.smtp_username:
            await smtp.login(settings.smtp_username, settings.smtp_password or "")
        for mail in mails:
            message = EmailMessage()
            message["From"] = settings.smtp_from
            message["To"] = mail.to
            message["Subject"] = mail.subject
            message.set_content(mail.body)
            try:
                await smtp.send_message(message)
            except aiosmtplib.SMTPException as exc:
                log.warning("an e-mail was refused (%s); it will be retried", type(exc).__name__)
                continue
            sent.append(mail)
    return sent


@contextmanager
def _sending_turn(db: Database) -> Iterator[bool]:
    """On PostgreSQL, one server process sends at a time (a session advisory lock)."""
    if db.is_sqlite:
        yield True
        return
    with db.engine.connect() as conn:
        got = bool(
            conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _ADVISORY_KEY}).scalar()
        )
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _ADVISORY_KEY})
            conn.commit()


def send_due_notifications(db: Database, settings: Settings, now: datetime) -> int:
    """Mail what is due, then mark it, so each delivery and daily digest goes out once.

    Mail is composed in a read transaction and marked in a short write one: the SMTP
    conversation never holds the database's write lock.
    """
    with _sending_turn(db) as mine:
        if not mine:
            return 0
        with db.reading() as session:
            mails = alert_mails(session, settings, now) + digest_mails(session, settings, now)
        if not mails:
            return 0
        try:
            sent = asyncio.run(_send_all(settings, mails))
        except (OSError, aiosmtplib.SMTPException) as exc:
            log.warning("mail server unreachable (%s); will retry", type(exc).__name__)
            return 0
        with db.unit_of_work() as session:
            delivered = [d for m in sent for d in m.delivery_ids]
            if delivered:
                session.execute(
                    update(Delivery).where(Delivery.id.in_(delivered)).values(notified_at=now)
                )
            for mail in sent:
                if mail.digest_user:
                    session.execute(
                        update(User)
                        .where(User.id == mail.digest_user)
                        .values(last_digest_on=mail.digest_day)
                    )
    return len(sent)
