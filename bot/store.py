"""The crawl's durable state, in SQLAlchemy 2 Core: a SQLite file by default, PostgreSQL for several workers.

Tables: `repos` (the listing's view of each repo, its lint status and its lease), `lint_results` (every lint
attempt, with its cost), `findings` (each finding's life: first seen, last seen, resolved), `discussions` (at most
one row per repo: the unique key is what stops a second post under any race), `base_facts` (shared by every worker
and run) `runs` (each crawl's start, end, requests by rate-limit bucket, 429s and failures), `discussion_events` (every
status a bot discussion went through) and `acknowledged` (repos whose box an owner ticked on the dashboard issue).
The schema is created on first use and carries a version in `hublint_meta`.

Every change happens in one short transaction, so a process killed at any moment leaves either all of a step or
none of it. Workers claim repos with a lease (`SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite takes the
database's write lock with `BEGIN IMMEDIATE`): a result counts only if its worker still holds the lease.

Times are Unix seconds (float, UTC): the same comparisons in SQL on both databases and no time-zone conversions.
The Hub's own `last_modified` stays the ISO string it sent (it sorts as text).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from hublint.errors import StoreError
from hublint.render.safe import dumps  # strict JSON: other tools read the store too
from hublint.rules.numbers import parse_int

SCHEMA_VERSION = 3
SCHEMA_LOCK = 0x6875626C696E74  # "hublint": one PostgreSQL advisory lock serialises schema creation
CLAIMABLE = ("pending", "retry")
SQLITE_BUSY_SECONDS = 5.0

# Whatever a repo holds reaches these columns (tensor names in messages, card values in errors): a lone surrogate
# (a valid JSON escape) has no UTF-8 form and PostgreSQL refuses NUL, so either would make the write raise. Such a
# string is stored as ESCAPED + its ASCII JSON form and read back as the same Python string; any other is stored as is.
ESCAPED = "\x1a"  # ASCII SUB(stitute): a value that starts with it is escaped too, so reading back is unambiguous
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def escape_text(value: str) -> str:
    return ESCAPED + json.dumps(value) if value.startswith(ESCAPED) or _UNSTORABLE.search(value) else value


def unescape_text(value: str) -> str:
    return json.loads(value[len(ESCAPED) :]) if value.startswith(ESCAPED) else value


class SafeString(sa.types.TypeDecorator[str]):
    """A string column that every Python string round-trips through (see escape_text)."""

    impl = sa.String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: sa.Dialect) -> str | None:
        return escape_text(value) if isinstance(value, str) else value

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> str | None:
        return unescape_text(value) if isinstance(value, str) else value


class SafeText(SafeString):
    impl = sa.Text
    cache_ok = True


metadata = sa.MetaData()

meta = sa.Table(
    "hublint_meta",
    metadata,
    sa.Column("key", SafeString(64), primary_key=True),
    sa.Column("value", SafeText, nullable=False),
)

repos = sa.Table(
    "repos",
    metadata,
    sa.Column("id", SafeString(200), primary_key=True),
    sa.Column("sha", SafeString(64), nullable=False),
    sa.Column("last_modified", SafeString(40)),
    sa.Column("listed_at", sa.Float, nullable=False),
    sa.Column("entry", SafeText),  # the listing entry (files, card) until the repo is linted: any worker can lint it
    # pending: to lint | done: linted at `sha` | retry: failed, again after next_attempt_at | failed: gave up on
    # this sha | parked: failed every attempt at this sha, or in flight at two crashes in a row (shown, not
    # retried) | skipped: not lintable anonymously | gone: deleted from the Hub or private (since `gone_at`)
    sa.Column("status", SafeString(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.Float, nullable=False, default=0.0),
    sa.Column("last_linted_sha", SafeString(64)),
    sa.Column("last_error", SafeText),
    sa.Column("lease_owner", SafeString(200)),
    sa.Column("lease_expires", sa.Float),
    # schema 3: how many crashes in a row found the repo in flight (two: a poison repo, parked); when it went
    sa.Column("crashes", sa.Integer, nullable=False, server_default="0"),
    sa.Column("gone_at", sa.Float),
    sa.Index("repos_claim", "status", "last_modified"),
)

lint_results = sa.Table(
    "lint_results",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("repo", SafeString(200), sa.ForeignKey("repos.id"), nullable=False),
    sa.Column("sha", SafeString(64), nullable=False),
    sa.Column("linted_at", sa.Float, nullable=False),
    sa.Column("worker", SafeString(200), nullable=False),
    sa.Column("requests", sa.Integer, nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("seconds", sa.Float, nullable=False),
    sa.Column("error", SafeText),  # NULL: a complete lint
    sa.Column("findings", sa.Integer, nullable=False, default=0),
    sa.Column("worst", SafeString(8)),  # highest severity found
    sa.Column("result", SafeText),  # the JSON result object of `hublint check --format json`
    sa.Index("lint_results_repo", "repo", "sha"),
)

findings = sa.Table(
    "findings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("repo", SafeString(200), sa.ForeignKey("repos.id"), nullable=False),
    sa.Column("fingerprint", SafeString(64), nullable=False),
    sa.Column("rule", SafeString(16), nullable=False),
    sa.Column("severity", SafeString(8), nullable=False),
    sa.Column("message", SafeText, nullable=False),
    sa.Column("file", SafeText),
    sa.Column("first_seen_sha", SafeString(64), nullable=False),
    sa.Column("first_seen_at", sa.Float, nullable=False),
    sa.Column("last_seen_sha", SafeString(64), nullable=False),
    sa.Column("last_seen_at", sa.Float, nullable=False),
    sa.Column("resolved_sha", SafeString(64)),
    sa.Column("resolved_at", sa.Float),
)
# One open row per finding; a finding that comes back after a fix starts a new row, so the history stays.
sa.Index(
    "findings_open",
    findings.c.repo,
    findings.c.fingerprint,
    unique=True,
    sqlite_where=findings.c.resolved_at.is_(None),
    postgresql_where=findings.c.resolved_at.is_(None),
)

discussions = sa.Table(
    "discussions",
    metadata,
    sa.Column("repo", SafeString(200), primary_key=True),  # one discussion per repo, ever
    sa.Column("num", sa.Integer),
    sa.Column("fingerprint", SafeString(64)),
    sa.Column("status", SafeString(16), nullable=False),  # posting (reserved, not confirmed) | open | closed | ...
    sa.Column("worker", SafeString(200), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

base_facts = sa.Table(
    "base_facts",
    metadata,
    sa.Column("model_id", SafeString(200), primary_key=True),
    sa.Column("revision", SafeString(200), primary_key=True),  # as the adapter asked for it; "" for the default
    sa.Column("sha", SafeString(64), nullable=False),
    sa.Column("facts", SafeText, nullable=False),
    sa.Column("fetched_at", sa.Float, nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("worker", SafeString(200), nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),  # NULL: still running, or killed
    sa.Column("summary", SafeText),
    # schema 2: what the operator's dashboard charts (also inside `summary`, but queryable)
    sa.Column("linted", sa.Integer),
    sa.Column("failures", sa.Integer),
    sa.Column("requests", sa.Integer),
    sa.Column("rate_limited", sa.Integer),  # HTTP 429 answers
    sa.Column("requests_by_bucket", sa.Text),  # JSON {"api": n, "resolvers": n}
)

discussion_events = sa.Table(
    "discussion_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("repo", SafeString(200), nullable=False),
    sa.Column("num", sa.Integer),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("discussion_events_repo", "repo", "at"),
)

acknowledged = sa.Table(
    "acknowledged",
    metadata,
    sa.Column("repo", SafeString(200), primary_key=True),
    sa.Column("sha", SafeString(64)),  # the revision the owner saw when ticking the box
    sa.Column("at", sa.Float, nullable=False),
)


ignored = sa.Table(
    "ignored",
    metadata,
    sa.Column("repo", SafeString(200), primary_key=True),
    sa.Column("rule", SafeString(16), primary_key=True),  # an owner's `@<bot> ignore HLxxx` in the bot's thread
    sa.Column("at", sa.Float, nullable=False),
)


def _schema_1_to_2(connection: Connection) -> None:
    """Runs gain queryable counters (filled from their JSON summary); discussions start their event history."""
    for column in runs.c.linted, runs.c.failures, runs.c.requests, runs.c.rate_limited, runs.c.requests_by_bucket:
        kind = column.type.compile(dialect=connection.dialect)
        connection.execute(sa.text(f"ALTER TABLE runs ADD COLUMN {column.name} {kind}"))
    for run_id, summary in connection.execute(sa.select(runs.c.id, runs.c.summary).where(runs.c.summary.isnot(None))):
        connection.execute(sa.update(runs).where(runs.c.id == run_id).values(_run_counters(json_object(summary))))
    events = sa.select(discussions.c.repo, discussions.c.num, discussions.c.status, discussions.c.updated_at)
    connection.execute(sa.insert(discussion_events).from_select(["repo", "num", "status", "at"], events))


workers = sa.Table(
    "workers",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),  # host:pid:nonce; its threads lease repos as id/n
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("heartbeat_at", sa.Float, nullable=False),  # renewed with its leases: stale means dead
)

leases = sa.Table(
    "leases",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),  # "listing": one worker at a time reads the listing
    sa.Column("owner", sa.String(200)),
    sa.Column("expires", sa.Float),
    sa.Column("completed_at", sa.Float),  # the last time a worker read it to its end
)


def _schema_2_to_3(connection: Connection) -> None:
    """Repos gain their crash count and the date they went from the Hub (new tables come from create_all)."""
    for column in repos.c.crashes, repos.c.gone_at:
        kind = column.type.compile(dialect=connection.dialect)
        default = " NOT NULL DEFAULT 0" if column is repos.c.crashes else ""
        connection.execute(sa.text(f"ALTER TABLE repos ADD COLUMN {column.name} {kind}{default}"))


# Upgrades: MIGRATIONS[n] takes a database from schema n to n + 1. New tables come from create_all beforehand.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _schema_1_to_2, 2: _schema_2_to_3}
POISON_CRASHES = 2  # in flight at this many crashes in a row: the repo itself kills its worker
POISON_MESSAGE = f"in flight when its worker died, {POISON_CRASHES} times in a row: parked"


@dataclass(frozen=True)
class Listing:
    """What the store keeps of one listing entry."""

    repo_id: str
    sha: str
    last_modified: str | None
    entry: str | None  # JSON
    skip: str | None = None  # why it will not be linted


@dataclass(frozen=True)
class Claim:
    repo_id: str
    sha: str
    attempts: int
    entry: str | None


@dataclass(frozen=True)
class FindingRecord:
    fingerprint: str
    rule: str
    severity: str
    message: str
    file: str | None


@dataclass(frozen=True)
class LintRecord:
    """One lint attempt: its cost and either its findings or its error."""

    requests: int
    bytes: int
    seconds: float
    error: str | None = None
    findings: Sequence[FindingRecord] = ()
    worst: str | None = None
    result: str | None = None  # JSON


@dataclass(frozen=True)
class DiscussionRecord:
    repo: str
    num: int | None
    fingerprint: str | None
    status: str


class Store:
    def __init__(self, url: str, *, create: bool = True) -> None:
        """`create=False`: a reader (the report) refuses a SQLite file that does not exist instead of making an
        empty store that would report (and, saved, keep) nothing."""
        try:
            if not create and (path := _sqlite_file(url)) is not None and not path.is_file():
                raise StoreError(f"no crawl store at {path}: `hublint crawl --db` makes one")
            self.engine = _engine(url)
        except (sa.exc.ArgumentError, ImportError, OSError) as exc:
            raise StoreError(f"cannot use database {_redacted(url)}: {_first_line(exc)}") from None
        # SQLite has one writer at a time and makes a waiting one sleep in steps of up to 100 ms: the threads of
        # this process queue on a lock instead. PostgreSQL runs their transactions side by side.
        self._serial: AbstractContextManager[Any] = (
            threading.Lock() if self.engine.dialect.name == "sqlite" else nullcontext()
        )
        self._ensure_schema()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """One transaction; any database failure leaves as a one-line StoreError, never as SQLAlchemy's."""
        try:
            with self._serial, self.engine.begin() as connection:
                yield connection
        except sa.exc.SQLAlchemyError as exc:
            raise StoreError(f"the database failed: {_first_line(exc)}") from None

    def _insert(self) -> Any:
        return postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert

    def _ensure_schema(self) -> None:
        with self._transaction() as connection:
            if self.engine.dialect.name == "postgresql":
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
            found = _schema_version(connection)
            metadata.create_all(connection)
            version = parse_int(found) if found is not None else SCHEMA_VERSION
            if version is None:
                raise StoreError(f"the database's schema version is {found!r}, not a number: not a hublint crawl store")
            if version > SCHEMA_VERSION:
                raise StoreError(f"the database has schema {version}, newer than this hublint's {SCHEMA_VERSION}")
            for step in range(version, SCHEMA_VERSION):
                MIGRATIONS[step](connection)
            values = {"key": "schema_version", "value": str(SCHEMA_VERSION)}
            statement = self._insert()(meta).values(values)
            connection.execute(
                statement.on_conflict_do_update(index_elements=[meta.c.key], set_={"value": values["value"]})
            )

    # -- listing --------------------------------------------------------------------------------------------------

    def note_listed(self, entries: Sequence[Listing], now: float) -> list[str]:
        """Record one listing page (an unchanged sha changes nothing but the time it was listed); returns the ids
        of the page's repos that are due for a lint: new, changed, back from gone, or still waiting."""
        if not entries:
            return []
        ids = [e.repo_id for e in entries]
        with self._transaction() as connection:
            query = sa.select(repos.c.id, repos.c.sha, repos.c.status).where(repos.c.id.in_(ids))
            known = {row.id: row for row in connection.execute(query)}

            def changed_or_back(entry: Listing) -> bool:
                row = known.get(entry.repo_id)
                return row is None or row.sha != entry.sha or row.status == "gone"

            changed = {e.repo_id: e for e in entries if changed_or_back(e)}  # a page may repeat an id
            if changed:
                rows = [_listing_row(e, now) for e in changed.values()]
                statement = self._insert()(repos).values(rows)
                fresh = {name: statement.excluded[name] for name in rows[0] if name != "id"}
                # Another worker may have recorded this sha (and linted it) since we read: then leave the row alone.
                connection.execute(
                    statement.on_conflict_do_update(
                        index_elements=[repos.c.id],
                        set_=fresh,
                        where=sa.or_(repos.c.sha != statement.excluded.sha, repos.c.status == "gone"),
                    )
                )
            unchanged = [repo_id for repo_id in known if repo_id not in changed]
            if unchanged:  # what a complete listing did not touch is gone (see `finish_listing`)
                connection.execute(sa.update(repos).where(repos.c.id.in_(unchanged)).values(listed_at=now))
            due = set(connection.execute(sa.select(repos.c.id).where(repos.c.id.in_(ids), *_due(now))).scalars())
        return [repo_id for repo_id in dict.fromkeys(ids) if repo_id in due]

    def take_listing(self, worker: str, now: float, lease_seconds: float) -> bool:
        """The listing lease: True when this worker may read the listing now (nobody else is, or their lease
        expired). Renewed by `heartbeat`, given back by `finish_listing`."""
        with self._transaction() as connection:
            connection.execute(self._insert()(leases).values(name="listing").on_conflict_do_nothing())
            statement = (
                sa.update(leases)
                .where(
                    leases.c.name == "listing",
                    sa.or_(leases.c.owner.is_(None), leases.c.owner == worker, leases.c.expires < now),
                )
                .values(owner=worker, expires=now + lease_seconds)
            )
            return connection.execute(statement).rowcount == 1

    def listing_taken(self, worker: str, now: float) -> bool:
        """Another worker is reading the listing (and will enqueue more work)."""
        query = sa.select(leases.c.owner).where(
            leases.c.name == "listing", leases.c.owner != worker, leases.c.expires >= now
        )
        with self._transaction() as connection:
            return connection.execute(query).first() is not None

    def finish_listing(self, worker: str, now: float, *, complete_since: float | None) -> list[str]:
        """Give the listing lease back. After a listing read to its end (started at `complete_since`), the repos it
        no longer lists are due once more: linting them finds them gone (401/404, `mark_gone`), or, for a repo that
        changed while the listing was read (it moved ahead of the pages already read), lints it. Returns their ids.
        """
        with self._transaction() as connection:
            done = {"owner": None, "expires": None}
            if complete_since is not None:
                done["completed_at"] = now
            mine = sa.update(leases).where(leases.c.name == "listing", leases.c.owner == worker).values(done)
            connection.execute(mine)
            if complete_since is None:
                return []
            unlisted = sa.and_(repos.c.listed_at < complete_since, repos.c.status.not_in(("gone", "parked")))
            missing = list(connection.execute(sa.select(repos.c.id).where(unlisted)).scalars())
            if missing:
                again = {"status": "pending", "next_attempt_at": 0.0, "attempts": 0, "listed_at": now}
                connection.execute(sa.update(repos).where(repos.c.id.in_(missing)).values(again))
        return missing

    # -- leases ---------------------------------------------------------------------------------------------------

    def claim(self, owner: str, now: float, lease_seconds: float) -> Claim | None:
        """Lease the most recently changed repo that is due (new work before retries), or None when nothing is
        left for this worker.

        One status at a time, ordered by `last_modified` alone: the `repos_claim` index then yields the answer
        without sorting the due repos (with 100,000 pending, a sort per claim made a crawl quadratic).
        """
        with self._transaction() as connection:
            for status in CLAIMABLE:
                query = (
                    sa.select(repos.c.id, repos.c.sha, repos.c.attempts, repos.c.entry)
                    .where(
                        repos.c.status == status,
                        repos.c.next_attempt_at <= now,
                        sa.or_(repos.c.lease_owner.is_(None), repos.c.lease_expires < now),
                    )
                    .order_by(repos.c.last_modified.desc(), repos.c.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
                row = connection.execute(query).first()
                if row is not None:
                    break
            else:
                return None
            connection.execute(
                sa.update(repos)
                .where(repos.c.id == row.id)
                .values(lease_owner=owner, lease_expires=now + lease_seconds)
            )
        return Claim(row.id, row.sha, row.attempts, row.entry)

    def release_claim(self, claim: Claim, owner: str) -> None:
        """Give a repo back untouched (the crawl stopped before it could lint it): claimable again at once."""
        with self._transaction() as connection:
            _release_lease(connection, claim, owner, {})

    def count_due(self, now: float) -> int:
        """Repos a worker could claim now or once their lease expires."""
        with self._transaction() as connection:
            query = sa.select(sa.func.count()).where(*_due(now))
            return int(connection.execute(query).scalar() or 0)

    def register_worker(self, worker: str, now: float) -> None:
        with self._transaction() as connection:
            connection.execute(sa.insert(workers).values(id=worker, started_at=now, heartbeat_at=now))

    def heartbeat(self, worker: str, now: float, lease_seconds: float) -> None:
        """The worker is alive: renew its row, the leases its threads hold and the listing lease if it has it."""
        expires = now + lease_seconds
        with self._transaction() as connection:
            connection.execute(sa.update(workers).where(workers.c.id == worker).values(heartbeat_at=now))
            held = repos.c.lease_owner.startswith(f"{worker}/", autoescape=True)
            connection.execute(sa.update(repos).where(held).values(lease_expires=expires))
            connection.execute(sa.update(leases).where(leases.c.owner == worker).values(expires=expires))

    def unregister_worker(self, worker: str) -> None:
        with self._transaction() as connection:
            connection.execute(sa.delete(workers).where(workers.c.id == worker))

    def workers(self) -> dict[str, float]:
        """Registered workers and their last heartbeat."""
        with self._transaction() as connection:
            return dict(connection.execute(sa.select(workers.c.id, workers.c.heartbeat_at)).all())

    def reclaim(self, worker: str, now: float) -> list[str]:
        """Free what a worker known to be dead held, now rather than when its leases expire: its repos (each one
        more crash in a row; at POISON_CRASHES the repo is parked, it is what kills its workers), its unconfirmed
        discussion reservations (the bot looks on the Hub for its own discussions before it opens one, so none is
        opened twice) and the listing lease. Returns the repos it had in flight."""
        held = repos.c.lease_owner.startswith(f"{worker}/", autoescape=True)
        poison = repos.c.crashes + 1 >= POISON_CRASHES
        with self._transaction() as connection:
            in_flight = list(connection.execute(sa.select(repos.c.id).where(held)).scalars())
            connection.execute(
                sa.update(repos)
                .where(held)
                .values(
                    crashes=repos.c.crashes + 1,
                    status=sa.case((poison, "parked"), else_=repos.c.status),
                    last_error=sa.case((poison, POISON_MESSAGE), else_=repos.c.last_error),
                    lease_owner=None,
                    lease_expires=None,
                )
            )
            connection.execute(_unconfirmed().where(discussions.c.worker.startswith(f"{worker}/", autoescape=True)))
            connection.execute(sa.update(leases).where(leases.c.owner == worker).values(owner=None, expires=None))
            connection.execute(sa.delete(workers).where(workers.c.id == worker))
        return in_flight

    def release_reservations(self, before: float) -> None:
        """Drop discussion reservations that were never confirmed and are older than `before`."""
        with self._transaction() as connection:
            connection.execute(_unconfirmed().where(discussions.c.updated_at < before))

    # -- results --------------------------------------------------------------------------------------------------

    def record_lint(
        self, claim: Claim, owner: str, lint: LintRecord, now: float, *, again_at: float | None = None
    ) -> bool:
        """Store a complete lint and the findings' history; False (nothing stored) if the lease was lost.

        `again_at`: lint the repo once more then (its discussion step could not finish), as an attempt.
        """
        done: dict[str, Any] = {"status": "done", "last_linted_sha": claim.sha, "last_error": None, "entry": None}
        if again_at is not None:
            done.update(status="retry", next_attempt_at=again_at, attempts=claim.attempts + 1, entry=claim.entry)
        with self._transaction() as connection:
            if not _release_lease(connection, claim, owner, done):
                return False
            connection.execute(sa.insert(lint_results).values(_result_row(claim, owner, lint, now)))
            _update_history(connection, claim, lint.findings, now)
        return True

    def record_failure(
        self, claim: Claim, owner: str, lint: LintRecord, *, retry_at: float | None, now: float, park: bool = False
    ) -> bool:
        """Store a failed attempt: retried at `retry_at`; else given up on for this sha, as `failed` (another
        attempt cannot succeed: gated, gone) or, with `park`, as `parked` (it failed every attempt it was given)."""
        given_up = "parked" if park else "failed"
        status = {"status": "retry", "next_attempt_at": retry_at} if retry_at is not None else {"status": given_up}
        with self._transaction() as connection:
            changes = {**status, "attempts": claim.attempts + 1, "last_error": lint.error}
            if not _release_lease(connection, claim, owner, changes):
                return False
            connection.execute(sa.insert(lint_results).values(_result_row(claim, owner, lint, now)))
        return True

    def mark_gone(self, claim: Claim, owner: str, lint: LintRecord, now: float) -> bool:
        """The repo answered that it does not exist (deleted, or private now): gone since `now`, its open findings
        closed, the attempt recorded. A later listing that shows it again brings it back."""
        gone = {"status": "gone", "gone_at": now, "last_error": lint.error, "entry": None}
        with self._transaction() as connection:
            if not _release_lease(connection, claim, owner, gone):
                return False
            connection.execute(sa.insert(lint_results).values(_result_row(claim, owner, lint, now)))
            still_open = sa.and_(findings.c.repo == claim.repo_id, findings.c.resolved_at.is_(None))
            connection.execute(sa.update(findings).where(still_open).values(resolved_at=now))
        return True

    def repo(self, repo_id: str) -> sa.Row[Any] | None:
        with self._transaction() as connection:
            return connection.execute(sa.select(repos).where(repos.c.id == repo_id)).first()

    def results(self, repo_id: str | None = None) -> list[sa.Row[Any]]:
        query = sa.select(lint_results).order_by(lint_results.c.id)
        if repo_id is not None:
            query = query.where(lint_results.c.repo == repo_id)
        with self._transaction() as connection:
            return list(connection.execute(query))

    def finding_history(self, repo_id: str) -> list[sa.Row[Any]]:
        query = sa.select(findings).where(findings.c.repo == repo_id).order_by(findings.c.id)
        with self._transaction() as connection:
            return list(connection.execute(query))

    # -- discussions ----------------------------------------------------------------------------------------------

    def discussion(self, repo_id: str) -> DiscussionRecord | None:
        with self._transaction() as connection:
            row = connection.execute(sa.select(discussions).where(discussions.c.repo == repo_id)).first()
        return DiscussionRecord(row.repo, row.num, row.fingerprint, row.status) if row is not None else None

    def reserve_discussion(self, repo_id: str, fingerprint: str | None, owner: str, now: float) -> bool:
        """Take the repo's one discussion slot before posting; False if any worker, ever, already took it."""
        row = {
            "repo": repo_id,
            "fingerprint": fingerprint,
            "status": "posting",
            "worker": owner,
            "created_at": now,
            "updated_at": now,
        }
        with self._transaction() as connection:
            statement = self._insert()(discussions).values(row).on_conflict_do_nothing(index_elements=["repo"])
            # RETURNING, not rowcount: drivers need not report a row count for INSERT
            return connection.execute(statement.returning(discussions.c.repo)).first() is not None

    def requeue(self, repo_id: str) -> bool:
        """Lint a repo linted at its current sha again on the next claim (its owner asked the bot something)."""
        query = sa.update(repos).where(repos.c.id == repo_id, repos.c.status == "done")
        with self._transaction() as connection:
            changed = connection.execute(query.values(status="pending", attempts=0, next_attempt_at=0.0)).rowcount
        return changed > 0

    def open_discussions(self, limit: int) -> list[DiscussionRecord]:
        """The bot's posted discussions still open on the Hub as last seen, the longest unchecked first."""
        query = (
            sa.select(discussions)
            .where(discussions.c.status.in_(("open", "draft")), discussions.c.num.isnot(None))
            .order_by(discussions.c.updated_at, discussions.c.repo)
            .limit(limit)
        )
        with self._transaction() as connection:
            rows = list(connection.execute(query))
        return [DiscussionRecord(row.repo, row.num, row.fingerprint, row.status) for row in rows]

    def drop_reservation(self, repo_id: str, owner: str) -> None:
        """Give the slot back: the reservation's holder knows that nothing was posted (a cap, a refusal)."""
        with self._transaction() as connection:
            connection.execute(_unconfirmed().where(discussions.c.repo == repo_id, discussions.c.worker == owner))

    def set_ignored(self, repo_id: str, rules: frozenset[str], now: float) -> None:
        """The rules the owner ignores in this repo, as its thread says now (earlier ones keep their date)."""
        with self._transaction() as connection:
            stale = sa.delete(ignored).where(ignored.c.repo == repo_id, ignored.c.rule.not_in(sorted(rules)))
            connection.execute(stale)
            if rules:
                rows = [{"repo": repo_id, "rule": rule, "at": now} for rule in sorted(rules)]
                connection.execute(self._insert()(ignored).values(rows).on_conflict_do_nothing())

    def ignored_rules(self) -> dict[str, frozenset[str]]:
        """repo id -> the rules its owner told the bot to ignore."""
        found: dict[str, set[str]] = {}
        with self._transaction() as connection:
            for repo_id, rule in connection.execute(sa.select(ignored.c.repo, ignored.c.rule)):
                found.setdefault(repo_id, set()).add(rule)
        return {repo_id: frozenset(rules) for repo_id, rules in found.items()}

    def save_discussion(self, discussion: DiscussionRecord, owner: str, now: float) -> None:
        """Record what the Hub says about the repo's discussion (after posting, commenting or finding it there)."""
        values = {"num": discussion.num, "fingerprint": discussion.fingerprint, "status": discussion.status}
        row = {"repo": discussion.repo, **values, "worker": owner, "created_at": now, "updated_at": now}
        with self._transaction() as connection:
            before = connection.execute(
                sa.select(discussions.c.num, discussions.c.status).where(discussions.c.repo == discussion.repo)
            ).first()
            if before is None or tuple(before) != (discussion.num, discussion.status):
                event = {"repo": discussion.repo, "num": discussion.num, "status": discussion.status, "at": now}
                connection.execute(sa.insert(discussion_events).values(event))
            statement = self._insert()(discussions).values(row)
            update = {**values, "updated_at": now}
            connection.execute(statement.on_conflict_do_update(index_elements=["repo"], set_=update))

    # -- base facts -----------------------------------------------------------------------------------------------

    def base_facts(self, model_id: str, revision: str | None, fetched_after: float) -> dict[str, Any] | None:
        query = sa.select(base_facts.c.facts).where(
            base_facts.c.model_id == model_id,
            base_facts.c.revision == (revision or ""),
            base_facts.c.fetched_at > fetched_after,
        )
        with self._transaction() as connection:
            text = connection.execute(query).scalar()
        try:
            data = json.loads(text) if text is not None else None
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def save_base_facts(self, model_id: str, revision: str | None, sha: str, facts: dict[str, Any], now: float) -> None:
        # A cache only hublint reads: Python's JSON, so a base config's NaN comes back as the float a fresh read
        # gives (strict JSON would turn it into a string, and a rule could judge a cached base differently).
        row = {"model_id": model_id, "revision": revision or "", "sha": sha, "facts": json.dumps(facts)}
        with self._transaction() as connection:
            statement = self._insert()(base_facts).values({**row, "fetched_at": now})
            update = {"sha": sha, "facts": row["facts"], "fetched_at": now}
            connection.execute(statement.on_conflict_do_update(index_elements=["model_id", "revision"], set_=update))

    # -- runs -----------------------------------------------------------------------------------------------------

    def start_run(self, owner: str, now: float) -> int:
        with self._transaction() as connection:
            result = connection.execute(sa.insert(runs).values(worker=owner, started_at=now))
            return int(result.inserted_primary_key[0])

    def finish_run(self, run_id: int, summary: dict[str, Any], now: float) -> None:
        with self._transaction() as connection:
            values = {"finished_at": now, "summary": dumps(summary, indent=None), **_run_counters(summary)}
            connection.execute(sa.update(runs).where(runs.c.id == run_id).values(values))

    # -- what the report reads ------------------------------------------------------------------------------------

    def report_repos(self) -> list[sa.Row[Any]]:
        """Every repo with its latest complete lint (the `result` JSON, NULL if none yet) and its discussion."""
        latest = (
            sa.select(lint_results.c.repo, sa.func.max(lint_results.c.id).label("id"))
            .where(lint_results.c.error.is_(None))
            .group_by(lint_results.c.repo)
            .subquery()
        )
        joined = (
            repos.outerjoin(latest, latest.c.repo == repos.c.id)
            .outerjoin(lint_results, lint_results.c.id == latest.c.id)
            .outerjoin(discussions, discussions.c.repo == repos.c.id)
            .outerjoin(acknowledged, acknowledged.c.repo == repos.c.id)
        )
        query = (
            sa.select(
                repos.c.id,
                repos.c.sha,
                repos.c.status,
                repos.c.last_error,
                lint_results.c.sha.label("linted_sha"),
                lint_results.c.result,
                lint_results.c.linted_at,
                discussions.c.num.label("discussion_num"),
                discussions.c.status.label("discussion_status"),
                discussions.c.created_at.label("discussion_opened_at"),
                acknowledged.c.at.label("acknowledged_at"),
            )
            .select_from(joined)
            .order_by(repos.c.id)
        )
        with self._transaction() as connection:
            return list(connection.execute(query))

    def all_findings(self) -> list[sa.Row[Any]]:
        """The life of every finding (first seen, last seen, resolved), oldest first: the trend charts."""
        columns = (findings.c.repo, findings.c.rule, findings.c.severity, findings.c.first_seen_at)
        query = sa.select(*columns, findings.c.resolved_sha, findings.c.resolved_at).order_by(findings.c.id)
        with self._transaction() as connection:
            return list(connection.execute(query))

    def runs(self) -> list[sa.Row[Any]]:
        with self._transaction() as connection:
            return list(connection.execute(sa.select(runs).order_by(runs.c.id)))

    def discussion_events(self) -> list[sa.Row[Any]]:
        query = sa.select(discussion_events).order_by(discussion_events.c.at, discussion_events.c.id)
        with self._transaction() as connection:
            return list(connection.execute(query))

    def acknowledge(self, repo_ids: dict[str, str | None], now: float) -> None:
        """Remember the repos (id -> revision seen) whose box an owner ticked; earlier ticks stay as they were."""
        if not repo_ids:
            return
        rows = [{"repo": repo, "sha": sha, "at": now} for repo, sha in repo_ids.items()]
        with self._transaction() as connection:
            statement = self._insert()(acknowledged).values(rows).on_conflict_do_nothing(index_elements=["repo"])
            connection.execute(statement)

    def unacknowledge(self, repo_ids: Sequence[str]) -> None:
        with self._transaction() as connection:
            connection.execute(sa.delete(acknowledged).where(acknowledged.c.repo.in_(list(repo_ids))))

    def acknowledged(self) -> set[str]:
        with self._transaction() as connection:
            return set(connection.execute(sa.select(acknowledged.c.repo)).scalars())


def _schema_version(connection: Connection) -> str | None:
    if not sa.inspect(connection).has_table(meta.name):
        return None
    return connection.execute(sa.select(meta.c.value).where(meta.c.key == "schema_version")).scalar()


def _run_counters(summary: dict[str, Any]) -> dict[str, Any]:
    def count(key: str) -> int:
        value = summary.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    buckets = summary.get("requests_by_bucket")
    return {
        "linted": count("linted"),
        "failures": count("failed"),
        "requests": count("requests"),
        "rate_limited": count("rate_limited"),
        "requests_by_bucket": dumps(buckets if isinstance(buckets, dict) else {}, indent=None),
    }


def json_object(text: str | None) -> dict[str, Any]:
    """A JSON object from stored text; {} for NULL, malformed or non-object text."""
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def database_url(value: str | None) -> str:
    """--db as given (a URL, or a path to a SQLite file), else HUBLINT_DB, else the default SQLite file."""
    value = value or os.environ.get("HUBLINT_DB") or str(default_path())
    return value if "://" in value else f"sqlite:///{Path(value).expanduser().resolve()}"


def default_path() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(state) / "hublint" / "crawl.db"


def _sqlite_file(url: str) -> Path | None:
    if not url.startswith("sqlite"):
        return None
    database = sa.engine.make_url(url).database
    return Path(database) if database and database != ":memory:" else None


def _redacted(url: str) -> str:
    """The URL as an error may show it: a PostgreSQL password never reaches a log."""
    try:
        return repr(sa.engine.make_url(url).render_as_string(hide_password=True))
    except sa.exc.ArgumentError:
        return "(not a database URL)"


def _engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = _sqlite_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        # Transactions here last milliseconds: a lock held longer is another program's, and waiting a minute for
        # it only delays the error.
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS})
        sa.event.listen(engine, "connect", _sqlite_connect)
        # The write lock at BEGIN, not at the first write: a claim's SELECT and UPDATE then see one state.
        sa.event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    if not url.startswith("postgresql"):
        raise StoreError(f"unsupported database {url.split(':', 1)[0]!r}: use sqlite:///PATH or postgresql+psycopg://")
    return sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def _sqlite_connect(connection: Any, _record: Any) -> None:
    connection.isolation_level = None  # pysqlite would BEGIN lazily (after our SELECT); the "begin" hook does it
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # the dashboard can read while the crawl writes
    # WAL + NORMAL: a commit survives a killed process (not a power cut) without an fsync per claim and result.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _listing_row(entry: Listing, now: float) -> dict[str, Any]:
    return {
        "id": entry.repo_id,
        "sha": entry.sha,
        "last_modified": entry.last_modified,
        "listed_at": now,
        "entry": entry.entry,
        "status": "skipped" if entry.skip else "pending",
        "attempts": 0,
        "next_attempt_at": 0.0,
        "last_error": entry.skip,
        "lease_owner": None,  # a worker still linting the old sha loses its lease, so its result is not stored
        "lease_expires": None,
        "crashes": 0,
        "gone_at": None,
    }


def _due(now: float) -> tuple[sa.ColumnElement[bool], ...]:
    return repos.c.status.in_(CLAIMABLE), repos.c.next_attempt_at <= now


def _unconfirmed() -> sa.Delete:
    return sa.delete(discussions).where(discussions.c.status == "posting")


def _release_lease(connection: Connection, claim: Claim, owner: str, changes: dict[str, Any]) -> bool:
    statement = (
        sa.update(repos)
        .where(repos.c.id == claim.repo_id, repos.c.sha == claim.sha, repos.c.lease_owner == owner)
        .values(**changes, crashes=0, lease_owner=None, lease_expires=None)  # it finished: no crash in a row
    )
    return connection.execute(statement).rowcount == 1


def _result_row(claim: Claim, owner: str, lint: LintRecord, now: float) -> dict[str, Any]:
    return {
        "repo": claim.repo_id,
        "sha": claim.sha,
        "linted_at": now,
        "worker": owner,
        "requests": lint.requests,
        "bytes": lint.bytes,
        "seconds": lint.seconds,
        "error": lint.error,
        "findings": len(lint.findings),
        "worst": lint.worst,
        "result": lint.result,
    }


def _update_history(connection: Connection, claim: Claim, current: Sequence[FindingRecord], now: float) -> None:
    """Findings not open yet start a row; open ones seen again move `last_seen`; open ones now absent resolve."""
    query = sa.select(findings.c.fingerprint, findings.c.id).where(
        findings.c.repo == claim.repo_id, findings.c.resolved_at.is_(None)
    )
    open_rows = dict(connection.execute(query).all())
    by_print = {f.fingerprint: f for f in current}
    seen = {"last_seen_sha": claim.sha, "last_seen_at": now}
    new = [
        {"repo": claim.repo_id, **_finding_values(f), "first_seen_sha": claim.sha, "first_seen_at": now, **seen}
        for fingerprint, f in by_print.items()
        if fingerprint not in open_rows
    ]
    if new:
        connection.execute(sa.insert(findings), new)
    still = [row_id for fingerprint, row_id in open_rows.items() if fingerprint in by_print]
    gone = [row_id for fingerprint, row_id in open_rows.items() if fingerprint not in by_print]
    if still:
        connection.execute(sa.update(findings).where(findings.c.id.in_(still)).values(**seen))
    if gone:
        resolved = {"resolved_sha": claim.sha, "resolved_at": now}
        connection.execute(sa.update(findings).where(findings.c.id.in_(gone)).values(**resolved))


def _finding_values(finding: FindingRecord) -> dict[str, Any]:
    return {
        "fingerprint": finding.fingerprint,
        "rule": finding.rule,
        "severity": finding.severity,
        "message": finding.message,
        "file": finding.file,
    }


def _first_line(exc: Exception) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return (text.strip().splitlines() or [type(exc).__name__])[0]
