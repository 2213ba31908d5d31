"""How long the meeting brief of a 60-worker team over 6 months takes, and how many pages.

    python benchmarks/brief.py [--quick] [--backends sqlite,postgres] [--weeks 26]

A fictional organisation (3 teams of 60 workers, 3 supervisors, 6 counsellors, 2
coordinators) gets `--weeks` weeks of history: two notes per worker per week (the usual
mix: half observations, signals, some safety notes, a tenth urgent), their deliveries (most
acknowledged, some late), a follow-up on half the signals and safety notes, a heads-up
per worker per month. Set-up rows are bulk-inserted and not timed.

Timed, for team 0 (60 workers) over the whole period:
- load: `desk.service.load_brief` in a read transaction (the queries and their assembly);
- render: `desk.pdf.render_brief` (reportlab), with the page count and size;
- export: `desk.exports.export_brief` end to end, as `GET /api/v1/briefs` runs it (load,
  render, audit row committed), without and with the sensitive text;
- the subject-access export of one worker, JSON and PDF.
Reference in the same run: the plain SELECTs the brief needs (same filters, columns only,
no ORM objects, no assembly), best of 3. `--quick` uses 8 weeks. Every person is invented.
"""

from __future__ import annotations

import random
import re
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import common
from sqlalchemy import insert, select

from sync_server.database import Database
from sync_server.desk import exports as desk_exports
from sync_server.desk import service
from sync_server.desk.pdf import render_brief
from sync_server.notes.models import FollowUp, HeadsUp, Note
from sync_server.orgs.models import Organization, Team, User, Worker
from sync_server.routing.models import Delivery

ZONE = ZoneInfo("Europe/Paris")
ACTIONS = ("interview_planned", "referred_to_partner", "work_adapted", "no_action_needed")


def populate(db: Database, org: common.Org, weeks: int, seed: int = 2026) -> tuple[int, datetime]:
    """Bulk-insert `weeks` of history for every worker; returns (notes, period start)."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    start = now - timedelta(weeks=weeks)
    supervisor_of_team = {t: sup for sup, teams in org.teams_of.items() for t in teams}
    notes, deliveries, follow_ups, heads_ups = [], [], [], []
    n = 0
    for team_id, workers in org.workers_of_team.items():
        author = org.supervisors[supervisor_of_team[team_id]]
        for worker_id in workers:
            counsellor = org.counsellor_of[worker_id]
            for week in range(weeks):
                for _ in range(2):
                    kind, category, severity = common.note_kind(rng)
                    captured = start + timedelta(weeks=week, hours=rng.uniform(0, 7 * 24 - 1))
                    note_id = uuid.uuid4()
                    routed = kind != "observation"
                    recent = now - captured < timedelta(days=14)
                    acknowledged = routed and rng.random() < (0.6 if recent else 0.98)
                    closed = acknowledged and rng.random() < 0.4
                    status = "closed" if closed else "acknowledged" if acknowledged else "open"
                    notes.append(
                        dict(
                            id=note_id,
                            org_id=org.id,
                            author_id=author,
                            worker_id=worker_id,
                            team_id=team_id,
                            kind=kind,
                            category=category,
                            severity=severity,
                            text=common.TEXTS[n % len(common.TEXTS)].format(n=n + 1),
                            captured_at=captured,
                            received_at=captured,
                            status=status,
                        )
                    )
                    n += 1
                    if not routed:
                        continue
                    due = captured + timedelta(
                        hours={"urgent": 2, "attention": 24}.get(severity, 72)
                    )
                    ack = captured + timedelta(hours=rng.uniform(0.2, 90)) if acknowledged else None
                    if ack is not None and ack > now:
                        ack = now
                    recipients = [(counsellor, "referent")]
                    if severity == "urgent":
                        recipients += [(c, "urgent") for c in org.coordinators]
                    for recipient, reason in recipients:
                        deliveries.append(
                            dict(
                                id=uuid.uuid4(),
                                note_id=note_id,
                                recipient_id=recipient,
                                reason=reason,
                                delivered_at=captured,
                                due_at=due,
                                seen_at=ack,
                                acknowledged_at=ack if reason == "referent" else None,
                            )
                        )
                    if acknowledged and rng.random() < 0.5:
                        follow_ups.append(
                            dict(
                                id=uuid.uuid4(),
                                org_id=org.id,
                                note_id=note_id,
                                author_id=counsellor,
                                action=rng.choice(ACTIONS),
                                text=f"Bench follow-up {n}: appointment made, see next week.",
                                close=closed,
                                created_at=ack,
                            )
                        )
            for month in range(0, weeks, 4):
                created = start + timedelta(weeks=month, hours=rng.uniform(0, 100))
                heads_ups.append(
                    dict(
                        id=uuid.uuid4(),
                        org_id=org.id,
                        worker_id=worker_id,
                        author_id=counsellor,
                        text="Bench heads-up: go easy on heavy lifting this fortnight.",
                        valid_until=(created + timedelta(days=14)).date(),
                        created_at=created,
                    )
                )
    with db.unit_of_work() as session:
        for model, rows in (
            (Note, notes),
            (Delivery, deliveries),
            (FollowUp, follow_ups),
            (HeadsUp, heads_ups),
        ):
            for i in range(0, len(rows), 2000):
                session.execute(insert(model), rows[i : i + 2000])
    print(
        f"  history: {len(notes)} notes, {len(deliveries)} deliveries, {len(follow_ups)} "
        f"follow-ups, {len(heads_ups)} heads-ups over {weeks} weeks "
        f"({org.worker_count} workers in {len(org.workers_of_team)} teams)"
    )
    return len(notes), start


def plain_selects(db: Database, org_id: uuid.UUID, team: Team, period: service.Period) -> int:
    """What the brief reads, as bare column SELECTs: the floor for `load`."""
    wanted = service.brief_notes_filter(org_id, team, period)
    ids = select(Note.id).where(wanted)
    rows = 0
    with db.reading() as session:
        for statement in (
            select(User.id, User.display_name).where(User.org_id == org_id),
            select(*Note.__table__.columns).where(wanted),
            select(
                Delivery.note_id, Delivery.delivered_at, Delivery.due_at, Delivery.acknowledged_at
            ).where(Delivery.note_id.in_(ids)),
            select(*FollowUp.__table__.columns).where(FollowUp.note_id.in_(ids)),
            select(*Worker.__table__.columns).where(Worker.team_id == team.id),
            select(*HeadsUp.__table__.columns).where(
                HeadsUp.worker_id.in_(select(Worker.id).where(Worker.team_id == team.id))
            ),
        ):
            rows += len(session.execute(statement).all())
    return rows


def best_of(runs: int, func):  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - started)
    return times, result


def pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?!s)", pdf))


def run(backend: str, url: str, weeks: int) -> None:
    print(f"\n== {backend}")
    db = Database(url)
    try:
        org = common.build_org(db, counsellors=6, teams=3, workers_per_team=60, supervisors=3)
        populate(db, org, weeks)
        team_id = next(iter(org.workers_of_team))
        today = datetime.now(ZONE).date()
        first = today - timedelta(weeks=weeks)
        period = service.make_period(first, today, ZONE)
        with db.reading() as session:
            organisation = session.get_one(Organization, org.id)
            team = session.get_one(Team, team_id)
            session.expunge_all()

        def load() -> service.Brief:
            with db.reading() as session:
                return service.load_brief(
                    session,
                    org=organisation,
                    scope=team,
                    period=period,
                    include_sensitive=False,
                    now=datetime.now(UTC),
                    requested_by="Bench coordinator",
                )

        reference, rows = best_of(3, lambda: plain_selects(db, org.id, team, period))
        loads, brief = best_of(3, load)
        assert brief is not None
        renders, pdf = best_of(3, lambda: render_brief(brief))
        assert pdf is not None
        requester = desk_exports.Requester(org.coordinators[0], None, "cli")

        def export(sensitive: bool) -> desk_exports.Export:
            return desk_exports.export_brief(
                db,
                org_id=org.id,
                requester=requester,
                team=team_id,
                worker=None,
                start=first,
                end=today,
                include_sensitive=sensitive,
            )

        exports, _ = best_of(3, lambda: export(False))
        sensitive_exports, full = best_of(3, lambda: export(True))
        assert full is not None
        ref = min(reference)
        print(
            f"  brief of team 0: {len(brief.workers)} workers, {brief.figures.notes} notes in the "
            f"period, {len(brief.awaiting)} awaiting acknowledgement, {len(brief.follow_ups)} follow-ups, "
            f"{len(brief.heads_ups)} heads-ups, {len(brief.weeks)} weeks in the chart"
        )
        print(
            f"  load (queries + assembly): best {min(loads) * 1000:7.0f} ms, first {loads[0] * 1000:.0f} ms"
        )
        print(
            f"  render (reportlab):        best {min(renders) * 1000:7.0f} ms, "
            f"{pages(pdf)} pages, {len(pdf) / 1024:.0f} KiB"
        )
        print(
            f"  export end to end:         best {min(exports) * 1000:7.0f} ms without sensitive text, "
            f"{min(sensitive_exports) * 1000:.0f} ms with it ({pages(full.content)} pages)"
        )
        print(
            f"  reference, the plain SELECTs it needs ({rows} rows): best {ref * 1000:.0f} ms "
            f"(median {statistics.median(reference) * 1000:.0f} ms); load is "
            f"{min(loads) / ref:.1f}x that, the whole export {min(exports) / ref:.1f}x"
        )
        worker_id = org.workers_of_team[team_id][0]
        for fmt in ("json", "pdf"):
            times, result = best_of(
                3,
                lambda fmt=fmt: desk_exports.export_subject_access(
                    db, org_id=org.id, requester=requester, worker=worker_id, fmt=fmt
                ),
            )
            assert result is not None
            extra = f", {pages(result.content)} pages" if fmt == "pdf" else ""
            print(
                f"  subject-access export of one worker, {fmt}: best {min(times) * 1000:.0f} ms"
                f" ({len(result.content) / 1024:.0f} KiB{extra})"
            )
    finally:
        db.dispose()


def main() -> None:
    parser = common.base_parser(__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, default=None, help="history length (default 26)")
    args = parser.parse_args()
    weeks = args.weeks or (8 if args.quick else 26)
    print(common.machine_line())
    with common.temp_folder("relais-bench-brief-") as folder:
        for backend in common.backends(args):
            if backend == "postgres" and not common.postgres_reachable(args.postgres_url):
                continue
            with common.scratch_database(backend, folder, args.postgres_url) as url:
                run(backend, url, weeks)


if __name__ == "__main__":
    main()
