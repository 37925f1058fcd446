"""The crawl store on a real SQLite file and on the local PostgreSQL (127.0.0.1:5432), one fresh database per test."""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from hublint.store import (
    SCHEMA_VERSION,
    Claim,
    DiscussionRecord,
    FindingRecord,
    LintRecord,
    Listing,
    Store,
    StoreError,
    database_url,
    meta,
    runs,
)

POSTGRES = os.environ.get("HUBLINT_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
NOW = 1_750_000_000.0


@contextmanager
def postgres_database() -> Iterator[str]:
    """A new database on the local server, dropped afterwards; skips when no server listens."""
    admin = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    name = f"hublint_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        if os.environ.get("CI"):  # CI starts PostgreSQL (.ci/run): there, a missing server is a failure
            raise
        pytest.skip(f"no PostgreSQL at {POSTGRES}: {str(exc).splitlines()[0]}")
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state' / 'crawl.db'}"
    else:
        with postgres_database() as database:
            yield database


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    with Store(url) as opened:
        yield opened


def listing(repo_id: str, sha: str = "a" * 40, modified: str = "2025-01-01T00:00:00.000Z") -> Listing:
    return Listing(repo_id, sha, modified, entry=None)


def claim_all(store: Store, owner: str, now: float = NOW) -> list[Claim]:
    claims = []
    while (claim := store.claim(owner, now, lease_seconds=60)) is not None:
        claims.append(claim)
    return claims


def clean_lint(*found: FindingRecord) -> LintRecord:
    return LintRecord(requests=3, bytes=1000, seconds=0.1, findings=found)


def finding(fingerprint: str, rule: str = "HL101") -> FindingRecord:
    return FindingRecord(fingerprint, rule, "error", f"{rule} fired", "adapter_model.safetensors")


def test_the_schema_is_created_once_and_carries_its_version(url: str) -> None:
    with Store(url) as first, Store(url) as second:  # a second worker opens the same database
        with first.engine.connect() as connection:
            version = connection.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
        assert version == str(SCHEMA_VERSION)
        assert second.claim("w", NOW, 60) is None


def test_a_database_from_a_newer_hublint_is_refused(url: str) -> None:
    with Store(url) as store, store.engine.begin() as connection:
        connection.execute(sa.update(meta).values(value=str(SCHEMA_VERSION + 1)))
    with pytest.raises(StoreError, match="newer"):
        Store(url)


def test_the_default_database_is_a_sqlite_file_under_the_state_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("HUBLINT_DB", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert database_url(None) == f"sqlite:///{tmp_path}/hublint/crawl.db"
    monkeypatch.setenv("HUBLINT_DB", "postgresql+psycopg://db/crawl")
    assert database_url(None) == "postgresql+psycopg://db/crawl"
    assert database_url(str(tmp_path / "x.db")) == f"sqlite:///{tmp_path}/x.db"
    with pytest.raises(StoreError, match="unsupported"):
        Store("mysql://db/crawl")


def test_only_new_and_changed_repos_become_due(store: Store) -> None:
    assert store.note_listed([listing("a/one"), listing("a/two")], NOW) == ["a/one", "a/two"]
    for claim in claim_all(store, "w"):
        assert store.record_lint(claim, "w", clean_lint(), NOW)
    assert store.note_listed([listing("a/one"), listing("a/two", sha="b" * 40)], NOW + 1) == ["a/two"]
    assert [c.repo_id for c in claim_all(store, "w", NOW + 1)] == ["a/two"]


def test_claims_go_newest_first_and_a_lease_keeps_others_away(store: Store) -> None:
    store.note_listed(
        [listing("a/old", modified="2024-01-01T00:00:00.000Z"), listing("a/new", modified="2025-06-01T00:00:00.000Z")],
        NOW,
    )
    first = store.claim("w1", NOW, lease_seconds=60)
    assert first is not None and first.repo_id == "a/new"
    assert [c.repo_id for c in claim_all(store, "w2")] == ["a/old"]
    assert store.count_due(NOW) == 2  # leased, not linted yet


def test_an_expired_lease_is_claimed_again_and_the_late_result_is_discarded(store: Store) -> None:
    store.note_listed([listing("a/slow")], NOW)
    dead = store.claim("dead", NOW, lease_seconds=60)
    assert dead is not None and store.claim("live", NOW + 59, 60) is None
    live = store.claim("live", NOW + 61, 60)
    assert live is not None
    assert not store.record_lint(dead, "dead", clean_lint(), NOW + 62)  # the first worker lost its lease
    assert store.record_lint(live, "live", clean_lint(), NOW + 62)
    assert [r.worker for r in store.results()] == ["live"]
    assert store.repo("a/slow").status == "done"


def test_a_dead_workers_leases_and_reservations_are_released(store: Store) -> None:
    store.note_listed([listing("a/one"), listing("a/two")], NOW)
    store.register_worker("host:1:x", NOW)
    assert store.claim("host:1:x/0", NOW, 600) is not None
    assert store.reserve_discussion("a/one", "f" * 64, "host:1:x/0", NOW)
    assert store.take_listing("host:1:x", NOW, 600)
    assert store.workers() == {"host:1:x": NOW}
    assert store.reclaim("host:1:x", NOW) == ["a/one"]
    assert store.workers() == {} and store.discussion("a/one") is None
    assert store.take_listing("next", NOW, 600)  # the listing lease went with it
    assert len(claim_all(store, "next")) == 2


def test_a_heartbeat_keeps_a_workers_leases_and_a_silent_one_loses_them(store: Store) -> None:
    store.note_listed([listing("a/one"), listing("a/two")], NOW)
    store.register_worker("w", NOW)
    assert store.claim("w/0", NOW, 60) is not None
    assert store.take_listing("w", NOW, 60)
    store.heartbeat("w", NOW + 50, 60)
    assert store.workers() == {"w": NOW + 50}
    assert [c.repo_id for c in claim_all(store, "other", NOW + 100)] == ["a/two"]  # a/one: renewed to NOW + 110
    assert not store.take_listing("other", NOW + 100, 60) and store.listing_taken("other", NOW + 100)
    assert [c.repo_id for c in claim_all(store, "other", NOW + 111)] == ["a/one"]  # no beat since: expired
    assert store.take_listing("other", NOW + 111, 60) and not store.listing_taken("other", NOW + 111)


def test_a_repo_in_flight_at_two_crashes_in_a_row_is_parked_and_one_crash_costs_nothing(store: Store) -> None:
    store.note_listed([listing("a/poison"), listing("a/fine")], NOW)
    for crash in range(2):
        store.register_worker(f"w{crash}", NOW)
        claims = {c.repo_id: c for c in claim_all(store, f"w{crash}/0")}
        if crash == 0:
            assert store.record_lint(claims.pop("a/fine"), "w0/0", clean_lint(), NOW)  # it finished before the kill
        assert list(claims) == ["a/poison"] and store.reclaim(f"w{crash}", NOW) == ["a/poison"]
        row = store.repo("a/poison")
        assert (row.crashes, row.attempts) == (crash + 1, 0)
    assert (row.status, row.last_error) == ("parked", "in flight when its worker died, 2 times in a row: parked")
    assert claim_all(store, "w2/0") == []
    store.note_listed([listing("a/poison", sha="e" * 40)], NOW)  # a new commit: a fresh start
    fresh = store.claim("w2/0", NOW, 60)
    assert fresh is not None and store.repo("a/poison").crashes == 0
    assert store.record_lint(fresh, "w2/0", clean_lint(), NOW)


def test_a_complete_listing_requeues_what_it_no_longer_shows_and_a_401_marks_it_gone(store: Store) -> None:
    store.note_listed([listing("a/kept"), listing("a/deleted")], NOW)
    for claim in claim_all(store, "w/0"):
        assert store.record_lint(claim, "w/0", clean_lint(finding("p101")), NOW)
    assert store.take_listing("w", NOW + 10, 60)
    assert store.note_listed([listing("a/kept")], NOW + 11) == []
    assert store.finish_listing("w", NOW + 12, complete_since=NOW + 10) == ["a/deleted"]
    [claim] = claim_all(store, "w/0", NOW + 12)
    error = LintRecord(requests=1, bytes=0, seconds=0.1, error="repository not found, or private (HTTP 401)")
    assert claim.repo_id == "a/deleted" and store.mark_gone(claim, "w/0", error, NOW + 13)
    row = store.repo("a/deleted")
    assert (row.status, row.gone_at) == ("gone", NOW + 13)
    assert [r.resolved_at for r in store.finding_history("a/deleted")] == [NOW + 13]
    assert [r.resolved_at for r in store.finding_history("a/kept")] == [None]
    assert store.take_listing("w", NOW + 20, 60)
    assert store.finish_listing("w", NOW + 21, complete_since=NOW + 20) == ["a/kept"]  # unlisted: due again
    assert store.note_listed([listing("a/deleted")], NOW + 30) == ["a/deleted"]  # back on the Hub: due again


def test_an_incomplete_listing_marks_nothing(store: Store) -> None:
    store.note_listed([listing("a/one")], NOW)
    assert store.take_listing("w", NOW + 10, 60)
    assert store.finish_listing("w", NOW + 11, complete_since=None) == []
    assert store.repo("a/one").status == "pending" and not store.listing_taken("x", NOW + 11)


def test_a_database_of_schema_2_gains_the_crash_count_and_the_gone_date(url: str) -> None:
    with Store(url) as store:  # today's schema, taken back to schema 2 by hand
        store.note_listed([listing("a/old")], NOW)
        with store.engine.begin() as connection:
            for column in ("crashes", "gone_at"):
                connection.execute(sa.text(f"ALTER TABLE repos DROP COLUMN {column}"))
            connection.execute(sa.text("DROP TABLE workers"))
            connection.execute(sa.text("DROP TABLE leases"))
            connection.execute(sa.update(meta).values(value="2"))
    with Store(url) as store:
        assert (store.repo("a/old").crashes, store.repo("a/old").gone_at) == (0, None)
        store.register_worker("w", NOW)
        assert [c.repo_id for c in claim_all(store, "w/0")] == ["a/old"]
        assert store.reclaim("w", NOW) == ["a/old"] and store.repo("a/old").crashes == 1


def test_a_new_sha_takes_the_repo_from_the_worker_linting_the_old_one(store: Store) -> None:
    store.note_listed([listing("a/one")], NOW)
    stale = store.claim("w", NOW, 60)
    assert stale is not None
    store.note_listed([listing("a/one", sha="c" * 40)], NOW + 1)
    assert not store.record_lint(stale, "w", clean_lint(), NOW + 2)
    fresh = store.claim("w", NOW + 2, 60)
    assert fresh is not None and fresh.sha == "c" * 40


def test_failures_wait_for_their_retry_time_then_give_up(store: Store) -> None:
    store.note_listed([listing("a/flaky")], NOW)
    failed = LintRecord(requests=2, bytes=0, seconds=0.5, error="HTTP 503")
    first = store.claim("w", NOW, 60)
    assert first is not None and store.record_failure(first, "w", failed, retry_at=NOW + 3600, now=NOW)
    assert store.claim("w", NOW + 3599, 60) is None
    second = store.claim("w", NOW + 3600, 60)
    assert second is not None and second.attempts == 1
    assert store.record_failure(second, "w", failed, retry_at=None, now=NOW + 3600)
    row = store.repo("a/flaky")
    assert (row.status, row.attempts, row.last_error) == ("failed", 2, "HTTP 503")
    assert store.claim("w", NOW + 10**6, 60) is None
    assert [r.error for r in store.results()] == ["HTTP 503", "HTTP 503"]
    store.note_listed([listing("a/flaky", sha="d" * 40)], NOW + 10**6)  # a new commit: a fresh start
    fresh = store.claim("w", NOW + 10**6, 60)
    assert fresh is not None and fresh.attempts == 0


def test_findings_history_records_appearance_fix_and_return(store: Store) -> None:
    shas = ["1" * 40, "2" * 40, "3" * 40]
    lints = [
        clean_lint(finding("p101"), finding("p201", "HL201")),
        clean_lint(finding("p201", "HL201")),
        clean_lint(finding("p101"), finding("p201", "HL201")),
    ]
    for step, (sha, lint) in enumerate(zip(shas, lints, strict=True)):
        store.note_listed([listing("a/repo", sha=sha)], NOW + step)
        claim = store.claim("w", NOW + step, 60)
        assert claim is not None and store.record_lint(claim, "w", lint, NOW + step)
    history = [
        (r.fingerprint, r.first_seen_sha, r.last_seen_sha, r.resolved_sha, r.resolved_at)
        for r in store.finding_history("a/repo")
    ]
    assert history == [
        ("p101", shas[0], shas[0], shas[1], NOW + 1),  # fixed by the second commit
        ("p201", shas[0], shas[2], None, None),  # seen on every commit
        ("p101", shas[2], shas[2], None, None),  # back again: a new row, the first one's fix stays on record
    ]


def test_one_discussion_per_repo_even_when_many_workers_race(url: str) -> None:
    stores = [Store(url) for _ in range(2)]
    try:
        stores[0].note_listed([listing("a/repo")], NOW)
        barrier = threading.Barrier(8)
        won: list[bool] = []

        def race(n: int) -> None:
            barrier.wait()
            won.append(stores[n % 2].reserve_discussion("a/repo", "f" * 64, f"w{n}", NOW))

        threads = [threading.Thread(target=race, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(won) == [False] * 7 + [True]
        stores[1].save_discussion(DiscussionRecord("a/repo", 3, "f" * 64, "open"), "w0", NOW)
        assert stores[0].discussion("a/repo") == DiscussionRecord("a/repo", 3, "f" * 64, "open")
        assert not stores[0].reserve_discussion("a/repo", "e" * 64, "w9", NOW + 10**6)  # ever
    finally:
        for store in stores:
            store.close()


def test_unconfirmed_reservations_go_stale_and_dropped_ones_free_the_slot(store: Store) -> None:
    store.note_listed([listing("a/one"), listing("a/two")], NOW)
    assert store.reserve_discussion("a/one", None, "w", NOW)
    assert store.reserve_discussion("a/two", None, "w", NOW)
    store.drop_reservation("a/one", "w")
    store.release_reservations(before=NOW - 1)
    assert store.discussion("a/two") is not None
    store.release_reservations(before=NOW + 1)
    assert store.discussion("a/one") is None and store.discussion("a/two") is None


def test_concurrent_workers_never_claim_the_same_repo(url: str) -> None:
    stores = [Store(url) for _ in range(2)]
    try:
        stores[0].note_listed([listing(f"a/repo-{n:03d}") for n in range(60)], NOW)
        claimed: list[str] = []

        def work(n: int) -> None:
            claimed.extend(c.repo_id for c in claim_all(stores[n % 2], f"w{n}"))

        threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(claimed) == [f"a/repo-{n:03d}" for n in range(60)]
    finally:
        for store in stores:
            store.close()


def test_base_facts_are_shared_until_they_go_stale(store: Store) -> None:
    facts = {"model_id": "base/m", "revision": "9" * 40, "config": {"vocab_size": 320}}
    store.save_base_facts("base/m", None, "9" * 40, facts, NOW)
    assert store.base_facts("base/m", None, fetched_after=NOW - 1) == facts
    assert store.base_facts("base/m", None, fetched_after=NOW) is None
    assert store.base_facts("base/m", "v2", fetched_after=0) is None


def test_runs_are_recorded_with_their_summary(store: Store) -> None:
    run = store.start_run("w", NOW)
    store.finish_run(run, {"seen": 3}, NOW + 5)
    with store.engine.connect() as connection:
        row = connection.execute(sa.text("SELECT started_at, finished_at, summary FROM runs")).one()
    assert (row.started_at, row.finished_at, row.summary) == (NOW, NOW + 5, '{"seen": 3}')


def test_run_summaries_are_strict_json_and_base_facts_come_back_as_a_fresh_read_gives_them(store: Store) -> None:
    run = store.start_run("w", 1.0)
    store.finish_run(run, {"linted": 1, "seconds": float("nan"), "requests_by_bucket": {"api": 2}}, 2.0)
    with store.engine.connect() as connection:
        text = connection.execute(sa.select(runs.c.summary)).scalar()

    def refuse(name: str) -> None:
        raise AssertionError(f"non-strict JSON: {name}")

    assert json.loads(text, parse_constant=refuse)["seconds"] == "NaN"  # other tools read the runs
    facts = {"config": {"rope_theta": float("inf"), "name": "x\ud800"}, "shapes": {"w": [2, 3]}}
    store.save_base_facts("org/base", None, "a" * 40, facts, 3.0)
    assert store.base_facts("org/base", None, 2.0) == facts  # a cache: what a fresh read of the base gives
