"""The fictional demo organisation and a few weeks of plausible, invented notes.

Notes go through the real services (routing, acknowledgements, follow-ups, escalation) at
back-dated times, so that every screen has a believable history to show.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from shared_models import mutations as m
from shared_models.vocabulary import FollowUpAction, NoteKind, default_severity
from sync_server import policy
from sync_server.database import Database, utcnow
from sync_server.notes import service as notes
from sync_server.notes.models import Note
from sync_server.orgs import provisioning
from sync_server.orgs.models import Organization, TeamSupervisor, User, Worker
from sync_server.routing.models import Delivery
from sync_server.routing.service import escalate_overdue

ORG_FILE = Path(__file__).with_name("organisation.yaml")
PASSWORD = "relais-demo"
DAYS = 21

# Factual, behaviour-based wording: "describe what you saw, not the person".
TEMPLATES: dict[tuple[NoteKind, str], list[str]] = {
    (NoteKind.SIGNAL, "punctuality"): [
        "Arrivée à 9 h 20 ce matin, deuxième retard cette semaine.",
        "Arrivé à 8 h 50, dit avoir raté le bus de 8 h.",
    ],
    (NoteKind.SIGNAL, "fatigue"): [
        "S'est assis plusieurs fois pendant le débroussaillage, dit mal dormir en ce moment.",
        "Somnolent après la pause de midi, a demandé à changer de poste.",
    ],
    (NoteKind.SIGNAL, "money"): [
        "A demandé à la pause s'il était possible d'avoir une avance sur salaire.",
        "N'a pas mangé à midi, dit ne plus avoir de quoi faire les courses avant le 5.",
    ],
    (NoteKind.SIGNAL, "housing"): [
        "Dit devoir quitter son logement à la fin du mois, ne sait pas où aller.",
    ],
    (NoteKind.SIGNAL, "mobility"): [
        "Son scooter est en panne, vient à pied (environ une heure de trajet).",
    ],
    (NoteKind.SIGNAL, "childcare"): [
        "Doit partir à 16 h le mercredi, n'a plus de solution de garde.",
    ],
    (NoteKind.SIGNAL, "health"): [
        "Boite depuis lundi, dit avoir mal au genou mais ne veut pas consulter.",
    ],
    (NoteKind.SIGNAL, "conflict"): [
        "Échange vif avec un collègue au sujet du partage des outils, calmé au bout de 10 minutes.",
    ],
    (NoteKind.SIGNAL, "administrative"): [
        "N'a pas reçu sa carte Vitale, ne sait pas qui contacter.",
    ],
    (NoteKind.SIGNAL, "absence"): [
        "Absent ce matin sans prévenir, téléphone sur messagerie.",
    ],
    (NoteKind.SIGNAL, "motivation"): [
        "Demande s'il pourrait essayer la maçonnerie la semaine prochaine.",
    ],
    (NoteKind.SAFETY, "ppe"): [
        "Travaillait sans gants ni lunettes sur la débroussailleuse, rappel fait.",
    ],
    (NoteKind.SAFETY, "near_miss"): [
        "Échelle mal calée sur le palier, rattrapée de justesse.",
    ],
    (NoteKind.SAFETY, "injury"): [
        "Coupure à la main avec un sécateur, soins sur place, pas d'arrêt.",
    ],
    (NoteKind.SAFETY, "equipment"): [
        "Chaîne de la tronçonneuse émoussée, machine mise de côté.",
    ],
    (NoteKind.OBSERVATION, "skill_progress"): [
        "A réglé la tondeuse seul pour la première fois, sans erreur.",
        "Pose de plinthes propre et régulière sur toute la pièce.",
    ],
    (NoteKind.OBSERVATION, "autonomy"): [
        "A organisé seule le chantier de taille de la matinée.",
    ],
    (NoteKind.OBSERVATION, "teamwork"): [
        "A montré le bon geste de ponçage à un nouvel arrivant.",
    ],
    (NoteKind.OBSERVATION, "quality"): [
        "Joints de carrelage très réguliers, le client l'a remarqué.",
    ],
}

HEADS_UPS = [
    "Période compliquée pour lui en ce moment, je suis dessus : merci d'adapter les attentes cette semaine.",
    "Rendez-vous important jeudi matin, elle arrivera vers 10 h.",
    "Démarches en cours, pas besoin d'en reparler avec elle sur le chantier.",
]


@dataclass(frozen=True)
class DemoLogin:
    login: str
    name: str
    roles: str


def ensure_demo(db: Database) -> tuple[Organization, list[DemoLogin], bool]:
    """Create the demo organisation and its history, or reuse them. Returns (org, logins, created)."""
    spec = provisioning.load_file(ORG_FILE)
    with db.unit_of_work() as session:
        org, _ = provisioning.apply(session, spec)
        has_notes = session.scalar(
            select(func.count()).select_from(Note).where(Note.org_id == org.id)
        )
        created = not has_notes
        if created:
            seed_history(session, org, utcnow())
        logins = [
            DemoLogin(u.login, u.name, ", ".join(r.value for r in u.roles)) for u in spec.users
        ]
    return org, logins, created


def seed_history(session: Session, org: Organization, now: datetime, days: int = DAYS) -> int:
    """Three weeks of notes, acknowledgements, follow-ups, heads-ups and a few escalations."""
    rng = random.Random(20261126)
    supervisor_of: dict[uuid.UUID, User] = {}
    for team_id, user_id in session.execute(select(TeamSupervisor.team_id, TeamSupervisor.user_id)):
        supervisor_of[team_id] = session.get_one(User, user_id)
    workers = list(
        session.scalars(select(Worker).where(Worker.org_id == org.id).order_by(Worker.ref))
    )
    templates = list(TEMPLATES.items())
    weights = [1 if kind is NoteKind.SAFETY else 3 for (kind, _c), _t in templates]
    start = now - timedelta(days=days)
    count = 0
    for day in range(days):
        date = start + timedelta(days=day)
        if date.weekday() >= 5:
            continue
        for _ in range(rng.randint(2, 4)):
            (kind, category), texts = rng.choices(templates, weights)[0]
            worker = rng.choice(workers)
            author = supervisor_of[worker.team_id]
            captured = date.replace(hour=rng.randint(8, 15), minute=rng.choice((5, 20, 35, 50)))
            received = captured + timedelta(minutes=rng.choice((1, 3, 40, 90)))
            severity = default_severity(kind, category)
            note_id = uuid.uuid4()
            notes.create_note(
                session,
                viewer=_viewer(session, author, received),
                data=m.NoteCreate(
                    id=note_id,
                    worker_id=worker.id,
                    team_id=worker.team_id,
                    kind=kind,
                    category=category,
                    severity=severity,
                    text=rng.choice(texts),
                    captured_at=captured,
                ),
                now=received,
            )
            count += 1
            _answer(session, rng, note_id, received, now)
        if day % 4 == 1:
            worker = rng.choice([w for w in workers if w.counsellor_id])
            counsellor = session.get_one(User, worker.counsellor_id)
            notes.create_heads_up(
                session,
                viewer=_viewer(session, counsellor, date),
                data=m.HeadsUpCreate(
                    id=uuid.uuid4(),
                    worker_id=worker.id,
                    text=rng.choice(HEADS_UPS),
                    valid_until=(date + timedelta(days=7)).date(),
                ),
                now=date.replace(hour=17),
            )
    # Catch up on the deadlines that passed while the history was written.
    escalate_overdue(session, now, batch=10_000)
    session.flush()
    return count


def _viewer(session: Session, user: User, at: datetime) -> policy.Viewer:
    return policy.load_viewer(session, user, at)


def _answer(
    session: Session, rng: random.Random, note_id: uuid.UUID, received: datetime, now: datetime
) -> None:
    """Most alerts are seen and acknowledged within hours, by the counsellor or, for a worker
    without one, a coordinator; some get a follow-up; a few wait (and are late)."""
    deliveries = session.scalars(
        select(Delivery).where(
            Delivery.note_id == note_id,
            Delivery.reason.in_(("referent", "stand_in", "unassigned")),
        )
    ).all()
    for delivery in deliveries:
        recipient = session.get_one(User, delivery.recipient_id)
        roll = rng.random()
        if roll < 0.12:
            continue  # left waiting: escalated later if overdue
        seen = received + timedelta(minutes=rng.randint(5, 240))
        if seen >= now:
            continue
        viewer = _viewer(session, recipient, seen)
        notes.mark_seen(session, viewer=viewer, data=m.DeliverySeen(note_id=note_id), now=seen)
        if roll < 0.2:
            continue  # seen, not yet acknowledged
        acknowledged = seen + timedelta(minutes=rng.randint(1, 90))
        if acknowledged >= now:
            continue
        notes.acknowledge_note(
            session, viewer=viewer, data=m.NoteAcknowledge(note_id=note_id), now=acknowledged
        )
        if roll < 0.6:
            later = acknowledged + timedelta(hours=rng.randint(2, 48))
            if later < now:
                notes.follow_up(
                    session,
                    viewer=viewer,
                    data=m.NoteFollowUp(
                        id=uuid.uuid4(),
                        note_id=note_id,
                        action=rng.choice(list(FollowUpAction)),
                        text="Entretien fait, point prévu dans 15 jours.",
                        close=rng.random() < 0.5,
                    ),
                    now=later,
                )
