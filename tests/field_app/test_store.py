"""The local store: validation before queuing, one transaction per operation, crash safety."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from field_app.store import InvalidMutation, LocalStore, StoreBelongsToAnotherUser
from shared_models.wire import Change, LoginResponse, MutationResult

TEAM = str(uuid.uuid4())
WORKER = str(uuid.uuid4())


def note(captured_at: datetime | None = None, **fields: object) -> dict[str, object]:
    data: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "worker_id": WORKER,
        "team_id": TEAM,
        "kind": "signal",
        "category": "fatigue",
        "severity": "attention",
        "text": "Fictional: sat down three times this morning.",
        "captured_at": (captured_at or datetime.now(UTC)).isoformat(),
    }
    data.update(fields)
    return data


def synced_note(data: dict[str, object], status: str = "open") -> Change:
    return Change(
        entity="note",
        op="upsert",
        id=uuid.UUID(str(data["id"])),
        data=dict(
            data, status=status, author_id=str(uuid.uuid4()), received_at=data["captured_at"]
        ),
    )


def worker_change(worker_id: str | None = None, **fields: object) -> Change:
    worker_id = worker_id or str(uuid.uuid4())
    data = {"id": worker_id, "ref": "w", "display_name": "W", "team_id": TEAM, "active": True}
    data.update(fields)
    return Change(entity="worker", op="upsert", id=uuid.UUID(worker_id), data=data)


def session_for(user_id: uuid.UUID | None = None) -> LoginResponse:
    return LoginResponse.model_validate(
        {
            "token": f"token-{uuid.uuid4()}",
            "device_id": str(uuid.uuid4()),
            "user": {
                "id": str(user_id or uuid.uuid4()),
                "display_name": "Sup (test)",
                "roles": ["supervisor"],
                "org_id": str(uuid.uuid4()),
                "language": "fr",
            },
        }
    )


@pytest.fixture
def store(tmp_path: Path):
    with LocalStore(tmp_path / "device.sqlite3") as local:
        yield local


def result(mutation_id: uuid.UUID, status: str, code: str | None = None) -> MutationResult:
    error = {"code": code, "message": f"refused: {code}"} if code else None
    return MutationResult.model_validate({"id": mutation_id, "status": status, "error": error})


def test_queue_validates_with_the_shared_rules_before_queuing(store):
    with pytest.raises(InvalidMutation, match="category: category_of_other_kind"):
        store.queue("note.create", note(category="ppe"))  # not a signal category
    with pytest.raises(InvalidMutation, match="unknown mutation type"):
        store.queue("note.teleport", {})
    with pytest.raises(InvalidMutation, match="text"):
        store.queue("note.create", note(text="x" * 2001))
    assert store.pending() == []

    first = store.queue("note.create", note())
    second = store.queue("note.acknowledge", {"note_id": uuid.uuid4()})
    queued = store.pending()
    assert [m.id for m in queued] == [first, second]
    assert isinstance(queued[1].data["note_id"], str)  # stored as JSON, ready for the wire
    assert datetime.fromisoformat(queued[0].client_time).tzinfo is not None
    assert store.counts().queued == 2


def test_push_results_settle_the_outbox_in_one_transaction(store, tmp_path):
    applied = store.queue("note.create", note())
    refused = store.queue("note.create", note())
    # Make the second half of the operation fail, as a full disk would.
    with sqlite3.connect(tmp_path / "device.sqlite3") as side:
        side.execute(
            "CREATE TRIGGER disk_full BEFORE INSERT ON rejected BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    with pytest.raises(sqlite3.IntegrityError, match="disk full"):
        store.apply_push_results(
            [result(applied, "applied"), result(refused, "rejected", "forbidden")]
        )
    assert [m.id for m in store.pending()] == [applied, refused]  # nothing half-done
    assert store.sent_watermark() == 0

    with sqlite3.connect(tmp_path / "device.sqlite3") as side:
        side.execute("DROP TRIGGER disk_full")
    outcome = store.apply_push_results(
        [
            result(applied, "applied"),
            result(refused, "rejected", "forbidden"),
            result(uuid.uuid4(), "applied"),  # not ours (a late duplicate answer): ignored
        ]
    )
    assert (outcome.applied, outcome.rejected, outcome.settled) == (1, 1, 2)
    assert store.pending() == []
    [rejected] = store.rejected_mutations()
    assert (rejected.id, rejected.code) == (refused, "forbidden")


def test_a_pulled_page_and_its_cursor_commit_together(store):
    store.apply_pull([worker_change()], "cursor-1")
    kept = store.list_entities("worker")

    broken_page = [worker_change(), worker_change(), worker_change(ref={"not", "json"})]
    with pytest.raises(TypeError):
        store.apply_pull(broken_page, "cursor-2")
    assert store.cursor() == "cursor-1"
    assert store.list_entities("worker") == kept


def test_a_late_page_changes_nothing(store):
    store.sign_in("http://relais.invalid", session_for())
    token = store.credentials().token
    assert store.apply_pull([worker_change()], "cursor-1", since=None, token=token)
    # Asked from null, answered after another pull already moved on: ignored.
    assert not store.apply_pull(
        [worker_change(), worker_change()], "cursor-0", since=None, token=token
    )
    assert not store.apply_pull([worker_change()], "cursor-2", since="cursor-1", token="old token")
    assert store.cursor() == "cursor-1"
    assert store.count_entities("worker") == 1


def test_reset_drops_synced_copies_and_keeps_outbox_and_rejected(store):
    worker_id = str(uuid.uuid4())
    store.apply_pull([worker_change(worker_id), synced_note(note())], "cursor-9")
    queued = store.queue("note.create", note())
    refused = store.queue("note.create", note())
    store.apply_push_results([result(refused, "rejected", "not_found")])

    store.apply_pull([], "ignored", reset=True)

    assert store.cursor() is None
    assert store.get_entity("worker", worker_id) is None
    assert store.count_entities("note") == 0
    assert [m.id for m in store.pending()] == [queued]
    assert [r.id for r in store.rejected_mutations()] == [refused]


def test_rejected_mutations_are_kept_shown_and_never_pending_again(tmp_path):
    path = tmp_path / "device.sqlite3"
    with LocalStore(path) as store:
        data = note()
        refused = store.queue("note.create", data)
        store.apply_push_results([result(refused, "rejected", "forbidden")])
    with LocalStore(path) as store:  # after a restart too
        assert store.pending() == []
        assert store.counts().rejected == 1
        [view] = store.notes_view()
        assert (view.id, view.status, view.error_code) == (data["id"], "rejected", "forbidden")
        assert store.dismiss_rejected(refused)
        assert store.counts().rejected == 0


def test_notes_view_merges_synced_sent_queued_and_rejected_newest_first(store):
    now = datetime.now(UTC)
    on_server = note(now - timedelta(hours=3))
    sent = note(now - timedelta(hours=2))
    queued = note(now - timedelta(minutes=5), worker_id=str(uuid.uuid4()))
    # Written with another UTC offset: sorted by the instant, not by the text.
    rejected = note((now - timedelta(hours=1)).astimezone(timezone(timedelta(hours=-5))))

    store.apply_pull([synced_note(on_server, "acknowledged")], "c1")
    for data in (sent, queued, rejected):
        store.queue("note.create", data)
    sent_id, _, rejected_id = (m.id for m in store.pending())
    store.apply_push_results(
        [result(sent_id, "applied"), result(rejected_id, "rejected", "forbidden")]
    )
    store.queue("delivery.seen", {"note_id": on_server["id"]})

    views = store.notes_view()
    assert [(v.id, v.status) for v in views] == [
        (queued["id"], "queued"),
        (rejected["id"], "rejected"),
        (sent["id"], "sent"),
        (on_server["id"], "acknowledged"),
    ]
    assert views[-1].pending == ("delivery.seen",)
    assert [v.id for v in store.notes_view(worker_id=WORKER)] == [
        rejected["id"],
        sent["id"],
        on_server["id"],
    ]

    # Once a complete pull has brought it, the synced copy speaks for the sent note.
    watermark = store.sent_watermark()
    store.apply_pull([synced_note(sent)], "c2")
    store.forget_sent(watermark)
    assert {v.id: v.status for v in store.notes_view()}[sent["id"]] == "open"


def test_one_note_reads_as_in_the_list_without_reading_the_others(store):
    now = datetime.now(UTC)
    on_server, sent, queued, rejected, both = (note(now - timedelta(hours=h)) for h in range(5))
    store.apply_pull([synced_note(on_server, "acknowledged")], "c1")
    for data in (sent, queued, rejected, both):
        store.queue("note.create", data)
    sent_id, _, rejected_id, both_id = (m.id for m in store.pending())
    store.apply_push_results(
        [
            result(sent_id, "applied"),
            result(rejected_id, "rejected", "forbidden"),
            result(both_id, "applied"),
        ]
    )
    store.apply_pull([synced_note(both)], "c2")  # synced, and still in the sent table
    store.queue("delivery.seen", {"note_id": on_server["id"]})
    store.queue("note.retract", {"note_id": queued["id"]})

    views = store.notes_view()
    assert {v.status for v in views} == {"acknowledged", "sent", "queued", "rejected", "open"}
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    for view in views:
        assert store.note_view(view.id) == view
        assert store.note_view(uuid.UUID(view.id)) == view
    assert store.note_view(uuid.uuid4()) is None
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert reads and all("id = '" in s for s in reads), reads  # never a scan of every note


def test_the_file_is_private_and_bound_to_its_first_user(tmp_path):
    path = tmp_path / "device.sqlite3"
    owner = uuid.uuid4()
    with LocalStore(path) as store:
        store.sign_in("http://relais.invalid", session_for(owner))
        store.apply_pull([worker_change()], "c1")
        queued = store.queue("note.create", note())
        with pytest.raises(StoreBelongsToAnotherUser):
            store.sign_in("http://relais.invalid", session_for())
        assert store.credentials().user.id == owner

        assert store.sign_out("token_revoked", token="some older token") is False
        assert store.sign_out("token_revoked") is True
        assert store.credentials() is None
        assert store.signed_out_reason() == "token_revoked"
        assert store.count_entities("worker") == 0 and store.cursor() is None
        assert [m.id for m in store.pending()] == [queued]

        store.sign_in("http://relais.invalid", session_for(owner))  # the same user again
        assert store.credentials() is not None and store.signed_out_reason() is None
    for file in path.parent.iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name


KILL_MID_TRANSACTION = textwrap.dedent(
    """
    import os, signal, sys, uuid
    from field_app.store import LocalStore
    from shared_models.wire import Change, MutationResult

    store = LocalStore(sys.argv[1])

    def then_die(items):
        yield from items
        os.kill(os.getpid(), signal.SIGKILL)  # inside the open transaction

    if sys.argv[2] == "pull":
        changes = [
            Change(entity="worker", op="upsert", id=uuid.uuid4(), data={"n": n}) for n in range(100)
        ]
        store.apply_pull(then_die(changes), "cursor-after-kill")
    else:
        results = [MutationResult(id=m.id, status="applied") for m in store.pending()]
        store.apply_push_results(then_die(results))
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("operation", ["pull", "push"])
def test_killed_inside_a_transaction_the_file_reopens_consistent(tmp_path, operation):
    path = tmp_path / "device.sqlite3"
    with LocalStore(path) as store:
        store.apply_pull([worker_change()], "cursor-before")
        queued = [store.queue("note.create", note()) for _ in range(3)]

    died = subprocess.run(
        [sys.executable, "-c", KILL_MID_TRANSACTION, str(path), operation],
        capture_output=True,
        timeout=30,
    )
    assert died.returncode == -9, died.stderr.decode()

    with sqlite3.connect(path) as check:
        assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with LocalStore(path) as store:
        assert store.cursor() == "cursor-before"
        assert store.count_entities("worker") == 1
        assert [m.id for m in store.pending()] == queued
        assert store.sent_watermark() == 0
