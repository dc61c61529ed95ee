"""Storage of the triage service: migrations, cases, reviews, outbox, credentials, model registry (blobs: test_blobs.py).

Every test gets its own tiny SQLite database and blob folder under pytest's tmp_path. To run the same
tests on PostgreSQL, point QUAYSCAN_TEST_DB_URL at an empty, disposable database (its public schema is
dropped before each test), e.g. ``QUAYSCAN_TEST_DB_URL=postgresql+psycopg://qs@/quayscan_test?host=/tmp``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, inspect, select

from quayscan.serve import storage
from quayscan.serve.storage import cases as cases_module
from quayscan.serve.storage import security
from quayscan.serve.storage.models import Case, OutboxEvent

T0 = datetime(2026, 11, 22, 8, 30, tzinfo=timezone.utc)
TEST_DB_URL = os.environ.get("QUAYSCAN_TEST_DB_URL")
sqlite_only = pytest.mark.skipif(bool(TEST_DB_URL), reason="checks SQLite specifics")


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    if not TEST_DB_URL:
        return f"sqlite:///{tmp_path / 'var' / 'quayscan.db'}"
    engine = create_engine(TEST_DB_URL)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    engine.dispose()
    return TEST_DB_URL


@pytest.fixture
def engine(db_url: str):
    storage.migrate(db_url)
    engine = storage.make_engine(db_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine):
    return storage.make_session_factory(engine)


@pytest.fixture
def session(sessions):
    with sessions() as session:
        yield session


def new_case(session, **overrides) -> tuple[Case, bool]:
    """A case with plausible defaults; any field can be overridden."""
    fields = dict(
        scanner_id="gate-3", container_id="MSKU1234565", high_blob_key="scans/x_high.png",
        pitch_mm=(5.0, 7.5), declared=[{"hs_code": "390120", "description": "PE PELLETS"}],
        declared_commodity="plastic_pellets", width_px=2440, height_px=520,
    )
    fields.update(overrides)
    return storage.create_case(session, **fields)


def decided_case(session, decision: str = "inspect", **overrides) -> Case:
    case, _ = new_case(session, **overrides)
    reasons = ["anomaly_score"] if decision == "inspect" else []
    return storage.decide_case(session, case.id, decision=decision, reasons=reasons, score=0.9,
                               threshold=0.5, model_version="m1")


# --- database and migrations ---------------------------------------------------------------------------

def test_migrate_creates_every_table_at_head(db_url):
    assert storage.migrate(db_url) == storage.head_revision()
    engine = storage.make_engine(db_url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert {"cases", "reviews", "users", "api_keys", "outbox", "models", "alembic_version"} <= tables
        assert storage.current_revision(engine) == storage.head_revision()
    finally:
        engine.dispose()


def test_migrating_twice_is_a_no_op(db_url, engine, sessions):
    def schema() -> list[tuple]:
        found = inspect(engine)
        return [
            (table, [(c["name"], str(c["type"]), c["nullable"]) for c in found.get_columns(table)],
             sorted((i["name"], tuple(i["column_names"]), i["unique"]) for i in found.get_indexes(table)),
             sorted((u["name"], tuple(u["column_names"])) for u in found.get_unique_constraints(table)))
            for table in sorted(found.get_table_names())
        ]

    before = schema()
    with sessions() as session:
        new_case(session, idempotency_key="k1")
    assert storage.migrate(db_url) == storage.head_revision()
    assert schema() == before
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 1


@pytest.mark.slow
def test_processes_starting_together_migrate_once(db_url):
    code = "import sys; from quayscan.serve.storage import migrate; print(migrate(sys.argv[1]))"
    procs = [subprocess.Popen([sys.executable, "-c", code, db_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outputs]
    assert [out.strip() for out, _ in outputs] == [storage.head_revision()] * 3


def test_models_match_the_migrated_schema(engine, tmp_path):
    assert storage.schema_differences(engine) == []
    # The comparison is not vacuous: an empty database differs from the models.
    empty = storage.make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        assert storage.schema_differences(empty)
    finally:
        empty.dispose()


@sqlite_only
def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(engine):
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL


@sqlite_only
def test_make_engine_creates_the_folder_and_importing_connects_nothing(tmp_path):
    code = (
        "import sys, pathlib; import quayscan.serve.storage as s; "
        "assert 'torch' not in sys.modules, 'storage imported torch'; "
        "assert not pathlib.Path('var').exists(), 'import touched the disk'; "
        "s.make_engine(s.DEFAULT_DB_URL).dispose(); assert pathlib.Path('var').is_dir()"
    )
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, timeout=60)


def test_timestamps_are_stored_in_utc_and_naive_ones_refused(session):
    paris = timezone(timedelta(hours=1))
    case, _ = new_case(session, scanned_at=datetime(2026, 11, 22, 10, 0, tzinfo=paris), now=T0)
    session.expunge_all()
    stored = storage.get_case(session, case.id)
    assert stored.scanned_at == datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)
    assert stored.scanned_at.tzinfo == timezone.utc and stored.created_at == T0
    with pytest.raises(storage.InvalidValueError, match="scanned_at must be a timezone-aware"):
        new_case(session, scanned_at=datetime(2026, 11, 22, 10, 0))


def test_new_ids_sort_by_creation_time():
    first = storage.new_id()
    ids = [storage.new_id() for _ in range(50)]
    assert len(set(ids)) == 50 and all(len(i) == 26 for i in ids)
    assert first[:10] <= min(i[:10] for i in ids)  # the first 10 characters are the millisecond clock


# --- cases ---------------------------------------------------------------------------------------------

def test_same_idempotency_key_returns_the_same_case(session):
    first, created = new_case(session, idempotency_key="scan-42", request_sha256="a" * 64)
    again, created_again = new_case(session, idempotency_key="scan-42", request_sha256="a" * 64)
    assert created and not created_again and again.id == first.id
    assert session.scalar(select(func.count()).select_from(Case)) == 1
    with pytest.raises(storage.IdempotencyKeyReusedError, match="scan-42"):
        new_case(session, idempotency_key="scan-42", request_sha256="b" * 64)


def test_racing_threads_with_one_idempotency_key_make_one_case(sessions):
    n = 6
    barrier = threading.Barrier(n)
    results: list[tuple[str, bool]] = []
    errors: list[BaseException] = []

    def post() -> None:
        try:
            with sessions() as session:
                barrier.wait()
                case, created = new_case(session, idempotency_key="race")
                results.append((case.id, created))
        except BaseException as exc:  # collected and re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=post) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len({case_id for case_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 1


def test_the_unique_constraint_settles_a_race_the_lookup_missed(session, monkeypatch):
    first, _ = new_case(session, idempotency_key="late")
    real = cases_module._by_key
    calls = []

    def miss_once(s, key):
        calls.append(key)
        return None if len(calls) == 1 else real(s, key)  # as if the other insert landed just after

    monkeypatch.setattr(cases_module, "_by_key", miss_once)
    again, created = new_case(session, idempotency_key="late")
    assert (again.id, created) == (first.id, False) and len(calls) == 2


def test_the_first_decision_wins_and_a_release_queues_its_event(session):
    case, _ = new_case(session)
    decided = storage.decide_case(session, case.id, decision="release", reasons=[], score=0.1,
                                  threshold=0.5, model_version="m1", latency_ms=31.5)
    assert (decided.status, decided.decision, decided.decided_at is not None) == ("decided", "release", True)
    later = storage.decide_case(session, case.id, decision="inspect", reasons=["model_unavailable"])
    assert later.decision == "release"
    events = session.scalars(select(OutboxEvent)).all()
    assert [(e.kind, e.case_id) for e in events] == [("case.released", case.id)]
    assert events[0].payload["event_id"] == events[0].event_id and events[0].payload["decision"] == "release"
    flagged = decided_case(session, "inspect")
    assert flagged.reasons == ["anomaly_score"]
    assert session.scalar(select(func.count()).select_from(OutboxEvent)) == 1  # inspect is not final
    with pytest.raises(storage.InvalidValueError, match="maybe"):
        storage.decide_case(session, flagged.id, decision="maybe", reasons=[])
    with pytest.raises(storage.NotFoundError):
        storage.decide_case(session, "nope", decision="inspect", reasons=[])


def test_undecided_cases_are_listed_oldest_first_for_recovery(session):
    late, _ = new_case(session, now=T0 + timedelta(seconds=30))
    early, _ = new_case(session, now=T0)
    decided_case(session, "inspect")
    assert [c.id for c in storage.undecided_cases(session)] == [early.id, late.id]
    assert [c.id for c in storage.undecided_cases(session, older_than=T0 + timedelta(seconds=10))] == [early.id]
    storage.decide_case(session, early.id, decision="inspect", reasons=["model_unavailable"])
    assert [c.id for c in storage.undecided_cases(session)] == [late.id]


def test_list_cases_filters_orders_and_pages(session):
    made = []
    for i, (decision, scanner, score) in enumerate(
        [("inspect", "gate-1", 0.9), ("release", "gate-1", 0.1), ("inspect", "gate-2", 0.6), ("inspect", "gate-1", 0.7)]
    ):
        case, _ = new_case(session, scanner_id=scanner, now=T0 + timedelta(minutes=i))
        reasons = ["anomaly_score", "commodity_mismatch"][: i % 2 + 1] if decision == "inspect" else []
        made.append(storage.decide_case(session, case.id, decision=decision, reasons=reasons, score=score))
    ids = [c.id for c in made]

    page = storage.list_cases(session, storage.CaseFilters(decision="inspect"), limit=2)
    assert page.total == 3 and [c.id for c in page.items] == [ids[0], ids[2]]
    assert [c.id for c in storage.list_cases(session, storage.CaseFilters(decision="inspect"), limit=2,
                                              offset=2).items] == [ids[3]]
    by_score = storage.list_cases(session, order="score").items
    assert [c.score for c in by_score] == [0.9, 0.7, 0.6, 0.1]
    assert storage.list_cases(session, storage.CaseFilters(scanner_id="gate-2")).total == 1
    assert storage.list_cases(session, storage.CaseFilters(reason="commodity_mismatch")).total == 1
    assert storage.list_cases(session, storage.CaseFilters(reason="commodity")).total == 0  # whole codes only
    window = storage.CaseFilters(since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3))
    assert [c.id for c in storage.list_cases(session, window).items] == ids[1:3]
    assert storage.list_cases(session, storage.CaseFilters(status=["decided", "cleared"])).total == 4

    storage.append_review(session, ids[0], user="alice", action="clear", expected_status="decided")
    assert storage.list_cases(session, storage.CaseFilters(reviewed=True)).total == 1
    assert [c.id for c in storage.review_queue(session).items] == [ids[2], ids[3]]
    with pytest.raises(storage.InvalidValueError, match="limit"):
        storage.list_cases(session, limit=10_000)


# --- reviews ---------------------------------------------------------------------------------------------

def test_reviews_are_an_append_only_trail_in_order(session):
    case = decided_case(session)
    storage.append_review(session, case.id, user="alice", action="inspect", note="dense block", box=[10, 20, 60, 90])
    storage.append_review(session, case.id, user="bob", action="clear", note="correction: it is a pump")
    storage.append_review(session, case.id, user="bob", action="comment", note="checked with the agent")
    trail = storage.reviews_for_case(session, case.id)
    assert [(r.user_name, r.action, r.from_status, r.to_status) for r in trail] == [
        ("alice", "inspect", "decided", "inspection"),
        ("bob", "clear", "inspection", "cleared"),
        ("bob", "comment", "cleared", "cleared"),
    ]
    assert trail[0].box == [10.0, 20.0, 60.0, 90.0] and all(r.model_version == "m1" for r in trail)
    assert [r.id for r in storage.audit_log(session, user="bob")] == [trail[2].id, trail[1].id]

    trail[0].note = "rewritten"
    with pytest.raises(PermissionError, match="audit trail"):
        session.commit()
    session.rollback()
    session.delete(trail[1])
    with pytest.raises(PermissionError):
        session.commit()
    session.rollback()
    assert [r.note for r in storage.reviews_for_case(session, case.id)][0] == "dense block"


def test_a_second_officer_cannot_silently_decide_again(session):
    case = decided_case(session)
    storage.append_review(session, case.id, user="alice", action="clear", expected_status="decided")
    with pytest.raises(storage.ReviewConflictError, match="cleared by alice") as info:
        storage.append_review(session, case.id, user="bob", action="inspect", expected_status="decided")
    assert (info.value.status, info.value.by) == ("cleared", "alice")
    assert len(storage.reviews_for_case(session, case.id)) == 1


def test_physical_inspection_outcome_closes_the_case_and_every_final_decision_is_announced(session):
    case = decided_case(session)
    with pytest.raises(storage.ReviewConflictError):
        storage.append_review(session, case.id, user="carol", action="no_finding")  # nothing ordered yet
    storage.append_review(session, case.id, user="alice", action="inspect")
    with pytest.raises(storage.InvalidValueError, match="category"):
        storage.append_review(session, case.id, user="carol", action="finding")
    storage.append_review(session, case.id, user="carol", action="finding", category="dense_concealment")
    closed = storage.get_case(session, case.id)
    assert (closed.status, closed.outcome, closed.outcome_category) == ("closed", "finding", "dense_concealment")
    kinds = [e.kind for e in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))]
    assert kinds == ["case.inspection_ordered", "case.inspection_completed"]
    received, _ = new_case(session)
    with pytest.raises(storage.ReviewConflictError, match="received"):
        storage.append_review(session, received.id, user="alice", action="clear")


@pytest.mark.parametrize("box", [[0, 0, 10], [5, 5, 5, 9], [0, 0, 3000, 10], ["a", 0, 1, 1], [-1, 0, 4, 4]])
def test_malformed_boxes_are_refused(session, box):
    case = decided_case(session)
    with pytest.raises(storage.InvalidValueError, match="box"):
        storage.append_review(session, case.id, user="alice", action="inspect", box=box)


def test_claims_tell_a_second_officer_who_has_the_case(session):
    case = decided_case(session)
    storage.claim_case(session, case.id, "alice", now=T0)
    storage.claim_case(session, case.id, "alice", now=T0 + timedelta(minutes=1))  # renewing is fine
    with pytest.raises(storage.ReviewConflictError, match="reviewed by alice"):
        storage.claim_case(session, case.id, "bob", now=T0 + timedelta(minutes=5))
    assert storage.claim_case(session, case.id, "bob", now=T0 + timedelta(minutes=20)).claimed_by == "bob"
    storage.release_claim(session, case.id, "bob")
    assert storage.get_case(session, case.id).claimed_by is None


# --- outbox -----------------------------------------------------------------------------------------------

def test_backoff_doubles_up_to_a_cap():
    assert [storage.backoff_delay(n) for n in range(0, 6)] == [0.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    assert storage.backoff_delay(40) == 600.0 and storage.backoff_delay(10_000) == 600.0


def test_outbox_leases_retries_with_backoff_and_stops_when_delivered(session):
    case, _ = new_case(session)
    storage.decide_case(session, case.id, decision="release", reasons=[], now=T0)
    [event] = storage.due_events(session, now=T0)
    assert storage.due_events(session, now=T0 + timedelta(seconds=30)) == []  # leased to the first taker
    assert [e.event_id for e in storage.due_events(session, now=T0 + timedelta(seconds=61))] == [event.event_id]

    t1 = T0 + timedelta(seconds=62)
    failed = storage.mark_failed(session, event.event_id, "connection refused", now=t1,
                                 delivered_to=["http://a.example/hook"])
    assert (failed.attempts, failed.next_attempt_at, failed.last_error) == (1, t1 + timedelta(seconds=2),
                                                                            "connection refused")
    assert storage.due_events(session, now=t1 + timedelta(seconds=1.9)) == []
    assert len(storage.due_events(session, now=t1 + timedelta(seconds=2))) == 1
    t2 = t1 + timedelta(seconds=3)
    assert storage.mark_failed(session, event.event_id, "502", now=t2).next_attempt_at == t2 + timedelta(seconds=4)
    summary = storage.outbox_summary(session)
    assert (summary["pending"], summary["failing"], summary["oldest_pending_at"]) == (1, 1, T0)

    done = storage.mark_delivered(session, event.event_id, delivered_to=["http://b.example/hook"], now=t2)
    assert done.delivered_to == ["http://a.example/hook", "http://b.example/hook"] and done.attempts == 3
    assert storage.due_events(session, now=t2 + timedelta(days=1)) == []
    assert storage.outbox_summary(session)["delivered"] == 1
    storage.redeliver(session, event.event_id, now=t2)
    assert len(storage.due_events(session, now=t2)) == 1


# --- passwords, API keys, users -------------------------------------------------------------------------

def test_password_hashes_verify_right_and_refuse_wrong():
    hashed = security.hash_password("correct horse battery")
    assert hashed.startswith("$argon2id$") and "correct" not in hashed
    assert security.verify_password(hashed, "correct horse battery")
    assert not security.verify_password(hashed, "correct horse battery!")
    assert not security.verify_password(None, "anything")
    assert not security.verify_password("not a hash", "anything")
    assert not security.password_needs_rehash(hashed)


def test_api_keys_verify_right_and_refuse_wrong():
    new = security.generate_api_key()
    assert new.token.startswith(f"qsk_{new.prefix}_") and new.key_hash != new.token
    assert security.api_key_prefix(new.token) == new.prefix
    assert security.verify_api_key(new.token, new.key_hash)
    assert not security.verify_api_key(new.token[:-1] + ("A" if new.token[-1] != "A" else "B"), new.key_hash)
    for bad in ["", "Bearer x", "qsk_short_x", f"xyz_{new.prefix}_{'a' * 43}"]:
        assert security.api_key_prefix(bad) is None
    assert security.generate_api_key().token != new.token


def test_users_log_in_with_the_right_password_only(session):
    storage.create_user(session, "alice", "officer", "s3cret-enough")
    assert storage.authenticate_user(session, "alice", "s3cret-enough").role == "officer"
    assert storage.authenticate_user(session, "alice", "wrong-password") is None
    assert storage.authenticate_user(session, "mallory", "s3cret-enough") is None
    with pytest.raises(storage.ConflictError, match="alice"):
        storage.create_user(session, "alice", "admin", "another-password")
    with pytest.raises(storage.InvalidValueError, match="scanner"):
        storage.create_user(session, "bob", "scanner", "long-enough-pw")
    with pytest.raises(storage.InvalidValueError, match="at least"):
        storage.create_user(session, "bob", "officer", "short")
    storage.set_user_disabled(session, "alice")
    assert storage.authenticate_user(session, "alice", "s3cret-enough") is None


def test_api_keys_authenticate_until_revoked(session, sessions):
    key, token = storage.create_api_key(session, "gate-3", "scanner")
    assert token.split("_")[1] == key.prefix and token not in (key.key_hash, key.prefix)
    found = storage.authenticate_api_key(session, token)
    assert found is not None and (found.id, found.role) == (key.id, "scanner")
    assert storage.authenticate_api_key(session, token[:-2] + "xx") is None
    assert storage.authenticate_api_key(session, "qsk_unknownprefx_" + "a" * 43) is None
    with sessions() as long_lived:  # e.g. a worker's session that already holds the key's row
        assert storage.authenticate_api_key(long_lived, token) is not None
        revoked = storage.revoke_api_key(session, key.prefix)
        assert revoked.revoked_at is not None
        assert storage.authenticate_api_key(long_lived, token) is None
    assert storage.revoke_api_key(session, key.id).revoked_at == revoked.revoked_at  # the first time stays
    assert storage.list_api_keys(session) == [] and len(storage.list_api_keys(session, include_revoked=True)) == 1
    with pytest.raises(storage.InvalidValueError, match="role"):
        storage.create_api_key(session, "robot", "root")


# --- model registry -------------------------------------------------------------------------------------

def test_model_registry_keeps_one_current_and_the_previous_for_rollback(session):
    storage.register_model(session, "m1", "models/m1.onnx", card={"classes": 12}, registered_by="admin")
    storage.register_model(session, "m2", "models/m2.onnx")
    assert storage.current_model(session) is None
    storage.promote_model(session, "m1", now=T0)
    storage.set_shadow_model(session, "m2")
    assert (storage.current_model(session).version, storage.shadow_model(session).version) == ("m1", "m2")
    storage.promote_model(session, "m2", now=T0 + timedelta(days=1))
    assert storage.current_model(session).version == "m2" and storage.shadow_model(session) is None
    assert [m.version for m in storage.list_models(session)] == ["m2", "m1"]
    assert storage.get_model(session, "m1").card == {"classes": 12}
    with pytest.raises(storage.ConflictError):
        storage.register_model(session, "m1", "elsewhere.onnx")
    with pytest.raises(storage.ConflictError, match="current"):
        storage.set_shadow_model(session, "m2")
    with pytest.raises(storage.NotFoundError):
        storage.promote_model(session, "m9")
