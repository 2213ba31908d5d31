"""Periodic work every server process does: expired absences, escalations, notifications,
the retention purge, and forgetting login attempts that no longer count.

Each step is safe to run in several processes at once (row claims), and `relais escalate
--once` runs one sweep for cron.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from sync_server.auth import throttle
from sync_server.database import Database, utcnow
from sync_server.metrics import ESCALATIONS, SWEEP_SECONDS
from sync_server.orgs.models import Organization
from sync_server.orgs.service import end_expired_absences
from sync_server.retention import PurgeReport, count_expired, purge_expired
from sync_server.routing.service import escalate_overdue
from sync_server.settings import Settings

log = logging.getLogger(__name__)
ATTEMPTS_BATCH = 5000


@dataclass(frozen=True)
class SweepReport:
    absences_ended: int
    escalated: int
    emails_sent: int
    purged: PurgeReport
    login_attempts_purged: int = 0


def purge_all_expired(db: Database, now: datetime) -> PurgeReport:
    """Every organisation's workers past retention, batch by batch. Read first: most sweeps
    find nothing, and need not take the write lock for it."""
    total = PurgeReport()
    with db.reading() as session:
        org_ids = [
            org.id
            for org in session.scalars(select(Organization))
            if count_expired(session, org, now.date())
        ]
    for org_id in org_ids:
        while True:
            with db.unit_of_work() as session:
                org = session.get_one(Organization, org_id)
                batch = purge_expired(session, org, now.date())
            total.add(batch)
            if not batch.workers:
                break
    return total


def purge_login_attempts(db: Database, settings: Settings, now: datetime) -> int:
    """Login attempts older than the throttling window no longer count: delete them, in
    short batches (a flood leaves many). Read first: most sweeps find none."""
    before = now - settings.login_window
    with db.reading() as session:
        if not throttle.has_attempts_before(session, before):
            return 0
    total = 0
    while True:
        with db.unit_of_work() as session:
            count = throttle.purge_attempts(session, before=before, batch=ATTEMPTS_BATCH)
        total += count
        if count < ATTEMPTS_BATCH:
            return total


def sweep_once(db: Database, settings: Settings, now: datetime | None = None) -> SweepReport:
    now = now or utcnow()
    with db.unit_of_work() as session:
        ended = end_expired_absences(session, now)
    escalated = 0
    while True:
        with db.unit_of_work() as session:
            count = escalate_overdue(session, now, batch=settings.escalation_batch)
        escalated += count
        if count < settings.escalation_batch:
            break
    sent = 0
    if settings.smtp_host:
        from sync_server.notify.service import send_due_notifications

        sent = send_due_notifications(db, settings, now)
    return SweepReport(
        ended, escalated, sent, purge_all_expired(db, now), purge_login_attempts(db, settings, now)
    )


async def run_sweeps(db: Database, settings: Settings) -> None:
    while True:
        try:
            with SWEEP_SECONDS.time():
                report = await asyncio.to_thread(sweep_once, db, settings)
            ESCALATIONS.inc(report.escalated)
            if report.escalated or report.emails_sent or report.purged.workers:
                log.info(
                    "sweep: %d escalated, %d e-mails sent, %d workers past retention purged",
                    report.escalated,
                    report.emails_sent,
                    report.purged.workers,
                )
        except Exception as exc:  # keep sweeping; the next run retries
            log.warning("sweep failed: %s", type(exc).__name__)
        await asyncio.sleep(settings.escalation_interval)
