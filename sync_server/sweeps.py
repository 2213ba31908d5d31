"""Periodic work every server process does: expired absences, escalations, notifications.

Each step is safe to run in several processes at once (row claims), and `relais escalate
--once` runs one sweep for cron.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime

from sync_server.database import Database, utcnow
from sync_server.orgs.service import end_expired_absences
from sync_server.routing.service import escalate_overdue
from sync_server.settings import Settings

log = logging.getLogger(__name__)
BATCH = 500


@dataclass(frozen=True)
class SweepReport:
    absences_ended: int
    escalated: int
    emails_sent: int


def sweep_once(db: Database, settings: Settings, now: datetime | None = None) -> SweepReport:
    now = now or utcnow()
    with db.unit_of_work() as session:
        ended = end_expired_absences(session, now)
    escalated = 0
    while True:
        with db.unit_of_work() as session:
            count = escalate_overdue(session, now, batch=BATCH)
        escalated += count
        if count < BATCH:
            break
    sent = 0
    if settings.smtp_host:
        from sync_server.notify.service import send_due_notifications

        sent = send_due_notifications(db, settings, now)
    return SweepReport(ended, escalated, sent)


async def run_sweeps(db: Database, settings: Settings) -> None:
    while True:
        try:
            report = await asyncio.to_thread(sweep_once, db, settings)
            if report.escalated or report.emails_sent:
                log.info(
                    "sweep: %d escalated, %d e-mails sent", report.escalated, report.emails_sent
                )
        except Exception as exc:  # keep sweeping; the next run retries
            log.warning("sweep failed: %s", type(exc).__name__)
        await asyncio.sleep(settings.escalation_interval)
