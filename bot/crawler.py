"""`hublint crawl`: lint the Hub's new and changed PEFT repos into a store, politely, resumably, in parallel.

1. List: page through the PEFT listing, newest change first. Each entry carries its sha and files, so the store
   tells new and changed repos from unchanged ones without any per-repo request.
2. Lint: worker threads claim due repos from the store (leases, so several processes can share one database) and
   lint each from its listing entry: adapter config, weights headers and tokenizer metadata, base facts shared.
   The result, the findings' history and the cost are stored in one transaction. Nothing a repo holds can stop the
   crawl: a lint that raises, or overruns its wall-clock budget (`repo_seconds`), is that repo's failure. A failure
   is retried on a later run with backoff; after `max_attempts` the repo is *parked* (shown, never retried at this
   sha); a repo that cannot be linted at this sha (gated, gone) is not retried.
3. Discussions: an optional step (a callable, see `DiscussionStep`; `BotStep` runs bot/discussions.py) runs for
   each linted repo *before* its result is stored. A crawl killed in between lints the repo again on the next run,
   and the store's one discussion row per repo stops a second post. A step that could not post yet (a per-run
   cap, an error) has the repo linted again on a later run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from hublint.check import AdapterLinter, combined, default_cache_dir
from hublint.discussions import (
    Action,
    DiscussionBot,
    as_owner_configured,
    finding_key,
    repo_wishes,
    root_snapshot,
)
from hublint.errors import BudgetSpent, HubRepoNotFound
from hublint.hub import (
    LISTING_PAGE_SIZE,
    CrawlClients,
    Deadline,
    HubBaseFacts,
    HubClient,
    HubError,
    ListedRepo,
    RateLimitGate,
    Retry,
    facts_from_json,
    facts_to_json,
    list_adapters,
)
from hublint.lint import LintConfig, LintResult, Skipped, Stats
from hublint.policy import Volume
from hublint.render.jsondoc import result_dict
from hublint.render.safe import dumps
from hublint.rules.model import Finding
from hublint.rules.numbers import human_bytes, parse_int
from hublint.rules.snapshot import BaseModelFacts
from hublint.snapshots import RepoReader, UnreadableRepo, adapter_folders
from hublint.store import Claim, DiscussionRecord, FindingRecord, LintRecord, Listing, Store, StoreError

# Errors that another attempt at the same sha cannot fix; a new sha in the listing gets a fresh start.
MAX_RETRY_DELAY = 7 * 86400.0
# The Hub's rate-limit window is 5 minutes: a crawl waits it out rather than failing its repos.
CRAWL_MAX_WAIT = 330.0
LISTING_POLL = 1.0  # seconds between claims while another worker reads the listing
# A discussion reservation never confirmed is dropped after this (a dead worker's at once): longer than any post,
# rate-limit pauses included.
STALE_RESERVATION = 3 * CRAWL_MAX_WAIT


@dataclass(frozen=True)
class CrawlOptions:
    limit: int | None = None  # look at the N most recently changed repos only
    since: datetime | None = None  # ... or at those changed since then
    concurrency: int = 16  # at a 50-100 ms round trip; the RateLimit headers, not this, set the long-run pace
    # A lease lasts this long unless the worker's heartbeat (every quarter of it) renews it: a worker that stopped
    # beating for that long is dead and its repos are taken back (at once when it was on this host).
    lease_seconds: float = 60.0
    max_attempts: int = 5  # then the repo is parked
    # Wall clock for one repo's reads and rules. Its lease is renewed meanwhile, so an overrun is recorded before
    # another worker may claim the repo; over the Hub's 5-minute rate-limit window, which a healthy repo may wait out.
    repo_seconds: float = 480.0
    retry_delay: float = 3600.0  # after a first failure; four times longer after each further one
    base_ttl: float = 6 * 3600.0  # how long stored base facts are trusted for the branch an adapter names
    page_size: int = LISTING_PAGE_SIZE
    author: str | None = None  # one owner's repos only


@dataclass
class CrawlSummary:
    seen: int = 0  # listing entries looked at
    linted: int = 0
    skipped: int = 0  # listed but not due: linted at this sha already, given up on, or not lintable (gated)
    failed: int = 0  # attempts that failed (retried on a later run or given up)
    parked: int = 0  # of those, repos that have now failed every attempt: never retried at this sha
    gone: int = 0  # repos that answered 401/404: deleted from the Hub (or private now)
    reclaimed: int = 0  # repos a dead worker had in flight, taken back
    requests: int = 0
    bytes: int = 0
    seconds: float = 0.0
    due: int = 0  # repos waiting for a lint after the listing: the progress bar's total
    requests_by_bucket: dict[str, int] = field(default_factory=dict)  # the Hub's rate-limit buckets (api, resolvers)
    quotas: dict[str, tuple[int, int]] = field(default_factory=dict)  # bucket -> (requests, window s), from the Hub
    rate_limit_waits: int = 0  # pauses until a bucket's window reset
    rate_limit_seconds: float = 0.0
    rate_limited: int = 0  # 429 answers (the pauses should make them rare)
    budget_spent: bool = False
    timed_out: bool = False
    discussions: Counter[str] = field(default_factory=Counter)
    bot_step: bool = False  # the discussion bot ran (dry or posting): `volume` counts what it did, zeros included
    volume: Volume = field(default_factory=Volume)  # by action and rule: discussions, pull requests, report only

    def quota_text(self) -> str:
        """Requests per bucket, against the quota the Hub announced; the rate-limit pauses and 429s."""
        used = []
        for bucket, count in sorted(self.requests_by_bucket.items()):
            quota = self.quotas.get(bucket)
            used.append(f"{bucket} {count}" + (f" of {quota[0]} per {quota[1]} s" if quota else ""))
        text = "quota used: " + (", ".join(used) or "none")
        if self.rate_limit_waits:
            text += f", {self.rate_limit_waits} rate-limit waits ({self.rate_limit_seconds:.0f} s)"
        return text + (f", {self.rate_limited} answered 429" if self.rate_limited else "")

    @property
    def done(self) -> int:
        """Repos this run has finished with, one way or another."""
        return self.linted + self.failed + self.gone

    def as_dict(self) -> dict[str, object]:
        # not dataclasses.asdict: it would rebuild the Counter from (key, value) pairs, counting the pairs
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)} | {
            "discussions": dict(self.discussions),
            "requests_by_bucket": dict(self.requests_by_bucket),
            "volume": self.volume.as_dict(),
        }

    def line(self) -> str:
        text = (
            f"crawl: {self.seen} repos seen, {self.linted} linted, {self.skipped} skipped, {self.failed} failed; "
            f"{self.requests} requests, {human_bytes(self.bytes)}, {self.seconds:.1f} s"
        )
        if self.gone:
            text += f"; {self.gone} gone from the Hub"
        if self.reclaimed:
            text += f"; {self.reclaimed} taken back from dead workers"
        text += "; " + self.quota_text()
        if self.discussions:
            text += "; discussions: " + ", ".join(f"{n} {action}" for action, n in sorted(self.discussions.items()))
        if self.parked:
            text += f"; {self.parked} parked after failing every attempt"
        if self.volume.by_action:
            text += "; by action and rule: " + "; ".join(self.volume.lines())
        text += "; request budget spent" if self.budget_spent else ""
        return text + ("; --timeout reached" if self.timed_out else "")


@dataclass(frozen=True)
class DiscussionOutcome:
    action: str  # the discussion bot's action (open, comment, skip, nothing, error), "would ..." in a dry run
    again: bool = False  # nothing was posted for now (a per-run cap, an error): run the step on a later run too
    volume: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # kind of action -> rules (policy.Volume)


class DiscussionSlot:
    """A repo's one discussion as the store guards it, across all workers and runs.

    Open a new discussion only after `reserve` returned True; `save` what was posted; `drop` the reservation when
    certainly nothing was posted. A reservation never saved (a crash mid-post) is dropped once its worker is known
    to be dead, or after STALE_RESERVATION: the bot then finds its own discussion on the Hub, if one was posted.
    """

    def __init__(self, store: Store, repo_id: str, owner: str, clock: Callable[[], float]) -> None:
        self.store, self.repo_id, self.owner, self.clock = store, repo_id, owner, clock

    def reserve(self, fingerprint: str | None) -> bool:
        return self.store.reserve_discussion(self.repo_id, fingerprint, self.owner, self.clock())

    def save(self, num: int | None, fingerprint: str | None, status: str) -> None:
        record = DiscussionRecord(self.repo_id, num, fingerprint, status)
        self.store.save_discussion(record, self.owner, self.clock())

    def drop(self) -> None:
        self.store.drop_reservation(self.repo_id, self.owner)

    def ignore(self, rules: frozenset[str]) -> None:
        """The rules the repo's owner told the bot to ignore, as its thread says now: every report shows them so."""
        self.store.set_ignored(self.repo_id, rules, self.clock())


class DiscussionStep(Protocol):
    """Plans or posts one repo's discussion, given the repo as linted and its lint (see `BotStep`)."""

    def __call__(self, repo: RepoReader, adapters: Sequence[LintResult], slot: DiscussionSlot) -> DiscussionOutcome:
        """`adapters`: the repo's adapters as linted, the primary first (one discussion for them all)."""


class BotStep:
    """bot/discussions.py's DiscussionBot as the crawler's discussion step, on a repo the crawler already linted."""

    def __init__(self, bot: DiscussionBot) -> None:
        self.bot = bot

    def __call__(self, repo: RepoReader, adapters: Sequence[LintResult], slot: DiscussionSlot) -> DiscussionOutcome:
        wishes = repo_wishes(repo)
        if wishes.opt_out:
            return DiscussionOutcome(Action.SKIP.value)  # the owner opted out
        findings = [finding for adapter in adapters for finding in adapter.findings]
        state = self.bot.read_threads(slot.repo_id, as_owner_configured(findings, wishes.config))
        slot.ignore(state.ignored)
        report = self.bot.plan(slot.repo_id, state.findings, state.threads)
        opening = self.bot.options.post and report.action is Action.OPEN
        if opening and not slot.reserve(report.fingerprint):
            return DiscussionOutcome(Action.SKIP.value)  # the store holds a discussion for this repo already
        report = self.bot.carry_out(report)
        # The fix pull request and the answers to owner commands: one pull request per repo, found on the Hub.
        outcome = self.bot.follow_up(repo, root_snapshot(adapters), state, report)
        if report.discussion is not None:  # posted, or found up to date on the Hub
            slot.save(report.discussion, report.fingerprint, "open")
        elif opening and report.action is Action.SKIP:
            slot.drop()  # a per-run cap, or the community tab refused: nothing was posted
        # A capped repo waits for a later run; an error may have posted (the reservation stays until it is stale,
        # then the bot looks on the Hub first). Either way the step runs again, up to the crawl's max attempts.
        again = opening and report.action in (Action.SKIP, Action.ERROR)
        dry = not self.bot.options.post and report.action is not Action.NOTHING
        action = f"would {report.action.value}" if dry else report.action.value
        return DiscussionOutcome(action, again, outcome.volume())


def crawl_clients(
    endpoint: str | None,
    token: str | bool | None,
    concurrency: int,
    timeout: float | None = None,
    budget: Mapping[str, int] | None = None,
) -> CrawlClients:
    """One client per worker thread, all pausing together on the Hub's RateLimit headers and sharing one deadline.

    The reserve: one request in flight per worker, and the listing's.
    """
    retry = Retry(max_wait=CRAWL_MAX_WAIT)
    return CrawlClients(
        endpoint, token, reserve=concurrency + 1, retry=retry, deadline=Deadline(timeout), budget=budget
    )


def worker_id() -> str:
    """host:pid:nonce — a later run on the same host can tell that this process has died."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


def parse_time(text: str) -> datetime:
    """An ISO 8601 date or time (the Hub's `...Z` included); UTC when it names no zone. ValueError otherwise."""
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


class SharedBaseFacts:
    """Base-model facts for all worker threads: memory, then the store (shared by workers and runs), then the Hub.

    One lock per base, so the threads linting adapters of a base nobody has read yet wait for a single fetch.
    """

    def __init__(self, store: Store, hub: HubBaseFacts, ttl: float, clock: Callable[[], float]) -> None:
        self.store, self.hub, self.ttl, self.clock = store, hub, ttl, clock
        self._guard = threading.Lock()
        self._locks: dict[tuple[str, str | None], threading.Lock] = {}
        self._memory: dict[tuple[str, str | None], BaseModelFacts] = {}

    def facts(self, model_id: str, revision: str | None) -> BaseModelFacts:
        key = (model_id, revision)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._memory:
                self._memory[key] = self._load(model_id, revision)
            return self._memory[key]

    def _load(self, model_id: str, revision: str | None) -> BaseModelFacts:
        stored = self.store.base_facts(model_id, revision, fetched_after=self.clock() - self.ttl)
        if stored is not None:
            try:
                return facts_from_json(stored)
            except (ValueError, TypeError, KeyError):
                pass  # written by another hublint version, or damaged: fetch again
        facts = self.hub.facts(model_id, revision)
        if facts.available and facts.revision:
            self.store.save_base_facts(model_id, revision, facts.revision, facts_to_json(facts), self.clock())
        return facts


class Crawler:
    def __init__(
        self,
        store: Store,
        clients: Callable[[], HubClient],
        config: LintConfig,
        options: CrawlOptions | None = None,
        *,
        discuss: DiscussionStep | None = None,
        progress: Callable[[CrawlSummary], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.config, self.discuss, self.progress, self.clock = store, config, discuss, progress, clock
        self.options = options or CrawlOptions()
        self.worker = worker_id()
        self.summary = CrawlSummary(bot_step=discuss is not None)
        self._new_client = clients
        self._clients: list[HubClient] = []
        self._lock = threading.Lock()  # the summary and the client list
        self._discussion_lock = threading.Lock()  # one discussion at a time: the step's per-run caps stay exact
        self._stop = threading.Event()
        self._beating = threading.Event()  # set: the heartbeat stops
        self._listing = threading.Condition()  # a page stored, or the listing over: idle workers claim again
        self._pages = 0
        self._listing_done = False
        self._listed: set[str] = set()  # repo ids this run has seen in the listing
        self._claimed: set[str] = set()  # ... and claimed: a later page listing one again does not skip it
        self.bases = SharedBaseFacts(
            store, HubBaseFacts(self._client(), default_cache_dir()), self.options.base_ttl, clock
        )
        self.linter = AdapterLinter.for_config(config, self.bases)

    def run(self) -> CrawlSummary:
        """List and lint at once: the workers start on the first page while the next ones arrive.

        One worker at a time reads the listing (a lease in the store); the others only lint what it enqueues, until
        it is done. A HubError from the listing stops the workers after their current repo and is raised; the
        summary (and the store) keep what was done.
        """
        started = time.monotonic()
        run_id = self.store.start_run(self.worker, self.clock())
        self.store.register_worker(self.worker, self.clock())
        heartbeat = threading.Thread(target=self._beat, name="hublint-heartbeat", daemon=True)
        heartbeat.start()
        try:
            self.store.release_reservations(before=self.clock() - STALE_RESERVATION)
            self._reclaim_dead()
            lister = self.store.take_listing(self.worker, self.clock(), self.options.lease_seconds)
            self._count_due()
            with ThreadPoolExecutor(self.options.concurrency, thread_name_prefix="hublint-crawl") as pool:
                futures = [pool.submit(self._work, f"{self.worker}/{n}") for n in range(self.options.concurrency)]
                try:
                    if lister:
                        self._list_under_lease()
                except BaseException:
                    self._stop.set()  # an error or Ctrl-C: the workers finish their current repo and stop
                    raise
                finally:
                    self._page_listed(last=True)
                    self._join(futures)
        finally:
            self._beating.set()
            heartbeat.join()
            self.summary.seconds = time.monotonic() - started
            self._count_traffic()
            for client in self._clients:
                client.close()
            self.store.unregister_worker(self.worker)
            self.store.finish_run(run_id, self.summary.as_dict(), self.clock())
        return self.summary

    def _beat(self) -> None:
        """Renew this worker's leases (and its row) every quarter lease, until the run ends."""
        while not self._beating.wait(self.options.lease_seconds / 4):
            try:
                self.store.heartbeat(self.worker, self.clock(), self.options.lease_seconds)
            except Exception:  # a database hiccup: the next beat tries again; this thread must live on
                continue

    # -- listing --------------------------------------------------------------------------------------------------

    def _list_under_lease(self) -> None:
        """Read the listing, then give the lease back; after a complete listing, what it no longer shows is due."""
        listing_started = self.clock()
        complete = False
        try:
            complete = self._list()
        finally:
            unlisted = self.store.finish_listing(
                self.worker, self.clock(), complete_since=listing_started if complete else None
            )
        if unlisted:
            self._count_due()

    def _list(self) -> bool:
        """Enqueue the listing's new and changed repos; True when it was read to its end (every repo seen)."""
        page_size = min(self.options.page_size, self.options.limit or self.options.page_size)
        pages = list_adapters(self._client(), page_size=page_size, author=self.options.author)
        while True:
            try:
                page = next(pages, None)
            except BudgetSpent:
                return False
            if page is None:
                break
            wanted = self._wanted(page)
            due = set(self.store.note_listed([_listing(e) for e in wanted], self.clock()))
            with self._lock:
                # A repo counts once: a page may repeat one the listing shifted, and a resumed crawl may have linted
                # a repo left over from an earlier run before its page arrived.
                new = {e.repo_id for e in wanted} - self._listed
                self._listed |= new
                self.summary.seen += len(new)
                self.summary.skipped += len(new - due - self._claimed)
            self._count_due()
            self._page_listed()
            full = self.options.limit is not None and self.summary.seen >= self.options.limit
            if full or len(wanted) < len(page) or self._budget_spent() or self._out_of_time():
                return False  # the rest is beyond --limit or older than --since: not one more page
        return self.options.limit is None and self.options.since is None

    def _page_listed(self, *, last: bool = False) -> None:
        with self._listing:
            self._pages += 1
            self._listing_done = self._listing_done or last
            self._listing.notify_all()

    def _count_due(self) -> None:
        due = self.store.count_due(self.clock())
        with self._lock:
            self.summary.due = self.summary.done + due
        self._report()

    def _wanted(self, page: list[ListedRepo]) -> list[ListedRepo]:
        """The page's entries within --limit and --since (the listing is newest first: the rest are older)."""
        room = None if self.options.limit is None else max(0, self.options.limit - self.summary.seen)
        wanted = page[:room]
        since = self.options.since
        if since is not None:
            older = next(
                (i for i, e in enumerate(wanted) if e.last_modified and parse_time(e.last_modified) < since), None
            )
            wanted = wanted[:older]
        return wanted

    def _reclaim_dead(self) -> float | None:
        """Take back what dead workers held; returns how long to wait for a worker that missed its heartbeats but
        is not known to be dead yet (None: nobody to wait for). Dead: a process gone on this host, or silent for
        a whole lease anywhere."""
        now, lease = self.clock(), self.options.lease_seconds
        dying: list[float] = []
        for worker, beat in self.store.workers().items():
            silent = now - beat
            if worker != self.worker and (_process_gone(worker) or silent > lease):
                reclaimed = self.store.reclaim(worker, now)
                with self._lock:
                    self.summary.reclaimed += len(reclaimed)
            elif worker != self.worker and silent > lease / 2:  # two heartbeats missed
                dying.append(lease - silent)
        return min(dying) if dying else None

    # -- linting --------------------------------------------------------------------------------------------------

    def _work(self, owner: str) -> None:
        client = self._client()
        while not self._stop.is_set() and not self._budget_spent() and not self._out_of_time():
            pages = self._pages
            claim = self.store.claim(owner, self.clock(), self.options.lease_seconds)
            if claim is None:
                if not self._await_work(pages):
                    return
                continue
            with self._lock:
                self._claimed.add(claim.repo_id)
            if not self._process(client, owner, claim):
                client = self._client()  # the overrunning lint keeps the old one

    def _await_work(self, pages: int) -> bool:
        """After an empty claim: wait until there may be more to claim; False when there is nothing left to wait
        for (the listing is over here and elsewhere, and no dying worker's repos are about to come free)."""
        if self._next_page(pages):
            return True
        if self.store.listing_taken(self.worker, self.clock()):
            return not self._stop.wait(LISTING_POLL)  # another worker lists: more repos may come
        before = self.summary.reclaimed
        wait = self._reclaim_dead()
        if wait is not None:
            return not self._stop.wait(min(wait, self.options.lease_seconds))
        return self.summary.reclaimed > before

    def _next_page(self, seen: int) -> bool:
        """After an empty claim: True once another page is stored (claim again), False when the listing is over."""
        with self._listing:
            self._listing.wait_for(lambda: self._pages != seen or self._listing_done)
            return self._pages != seen

    def _join(self, futures: list[Future[None]]) -> None:
        try:
            for future in futures:
                future.result()
        finally:
            self._stop.set()

    def _process(self, client: HubClient, owner: str, claim: Claim) -> bool:
        """Lint, discuss and store one repo; False when its lint overran the budget and still runs (with `client`)."""
        before = Stats(client.stats.http_requests, client.stats.bytes_downloaded)
        started = time.monotonic()
        linted = self._lint_within_budget(client, claim)
        cost = Stats(
            client.stats.http_requests - before.http_requests, client.stats.bytes_downloaded - before.bytes_downloaded
        )
        seconds = time.monotonic() - started
        if linted.unfinished:
            self.store.release_claim(claim, owner)  # not an attempt: the next run lints it
            return True
        if linted.result is not None and linted.repo is not None:
            linted.result.stats = cost
            again = self._discussion(linted.repo, linted.adapters, claim, owner)
            again_at = self._retry_at(claim.attempts + 1) if again else None
            try:
                stored = self.store.record_lint(
                    claim, owner, _lint_record(linted.result, seconds), self.clock(), again_at=again_at
                )
                counted = ["linted"]
            except StoreError as exc:  # the database refused this repo's data; if it is down, so will the next write
                linted = _Linted(error=f"its result could not be stored: {_one_line(exc)}")
        elif linted.gone:
            record = LintRecord(cost.http_requests, cost.bytes_downloaded, seconds, error=linted.error)
            stored = self.store.mark_gone(claim, owner, record, self.clock())
            counted = ["gone"]
        if linted.result is None and not linted.gone:
            record = LintRecord(cost.http_requests, cost.bytes_downloaded, seconds, error=linted.error)
            retry_at = None if linted.permanent else self._retry_at(claim.attempts + 1)
            park = retry_at is None and not linted.permanent
            stored = self.store.record_failure(claim, owner, record, retry_at=retry_at, now=self.clock(), park=park)
            counted = ["failed", "parked"] if park else ["failed"]
        with self._lock:
            for counter in counted if stored else ():  # else another worker took the repo over (lease lost)
                setattr(self.summary, counter, getattr(self.summary, counter) + 1)
        self._report()
        return not linted.overran

    def _lint_within_budget(self, client: HubClient, claim: Claim) -> _Linted:
        """`_lint` in a thread of its own, abandoned (with `client`) once it overruns `repo_seconds`.

        A Python thread cannot be killed, but an abandoned one stores nothing: only this worker writes the repo's
        row. What could hold the GIL for long is bounded at its source (RE2 for the config's patterns, size caps
        on every file read), so the wait below always wakes.
        """
        outcome: Future[_Linted] = Future()
        # Past half the budget no further adapter of the repo is started (the ones linted are kept); past the whole
        # budget the abandoned thread starts none either, so it spends no more requests.
        soft_deadline = time.monotonic() + self.options.repo_seconds / 2
        abandoned = threading.Event()

        def keep_going() -> bool:
            return not abandoned.is_set() and time.monotonic() < soft_deadline

        def lint() -> None:
            outcome.set_result(self._lint(client, claim, keep_going))  # _lint returns every exception as a failure

        threading.Thread(target=lint, name=f"hublint-lint {claim.repo_id}", daemon=True).start()
        try:
            return outcome.result(timeout=self.options.repo_seconds)
        except FutureTimeout:
            abandoned.set()
            budget = self.options.repo_seconds
            return _Linted(error=f"stopped after {budget:g} s, the per-repo time budget", overran=True)

    def _lint(self, client: HubClient, claim: Claim, keep_going: Callable[[], bool]) -> _Linted:
        try:
            repo = self._reader(client, claim)
            last_attempt = claim.attempts + 1 >= self.options.max_attempts
            adapters, notes = self._lint_adapters(repo, keep_going, last_attempt=last_attempt)
            return _Linted(repo, combined(adapters, notes), adapters=adapters)
        except BudgetSpent as exc:
            return _Linted(error=str(exc), unfinished=True)
        except HubError as exc:
            return _Linted(error=str(exc), permanent=exc.permanent, gone=isinstance(exc, HubRepoNotFound))
        except UnreadableRepo as exc:
            return _Linted(error=str(exc), permanent=True)
        except Exception as exc:  # a bug on one repo's odd content must not stop the worker: record, retry later
            return _Linted(error=f"internal error: {type(exc).__name__}: {_one_line(exc)}", permanent=False)

    def _lint_adapters(
        self, repo: RepoReader, keep_going: Callable[[], bool], *, last_attempt: bool
    ) -> tuple[list[LintResult], list[Skipped]]:
        """The repo's primary adapter (whose failure is the repo's), then its other folders (`checkpoint-500/`,
        `adapters/<name>/`) while time remains: one that cannot be read for good, or is not reached in time, is a
        note (`"rule": "*"`) and the others' findings stand; a passing failure (5xx, 429) fails the repo, which is
        retried, except on its last attempt: a checkpoint that keeps failing does not cost the root's verdict."""
        primary, *others = adapter_folders(repo.files)
        adapters = [self.linter.lint(repo, primary, primary=True)]
        notes = []
        for folder in others:
            if not keep_going():
                notes.append(Skipped("*", f"{folder}/: not linted, the per-repo time budget ran short"))
                continue
            try:
                adapters.append(self.linter.lint(repo, folder, primary=False))
            except (HubError, UnreadableRepo) as exc:
                passing = isinstance(exc, HubError) and not exc.permanent
                if isinstance(exc, BudgetSpent) or (passing and not last_attempt):
                    raise
                notes.append(Skipped("*", f"{folder}/: could not be linted: {_one_line(exc)}"))
        return adapters, notes

    @staticmethod
    def _reader(client: HubClient, claim: Claim) -> RepoReader:
        """From the stored listing entry (no request); a repo listed by an older hublint costs one model_info."""
        try:
            listed = ListedRepo.from_entry(json.loads(claim.entry)) if claim.entry else None
        except ValueError:
            listed = None
        if listed is not None and listed.sha == claim.sha:
            return listed.open(client)
        return client.open_repo(claim.repo_id, claim.sha)

    def _retry_at(self, attempts: int) -> float | None:
        if attempts >= self.options.max_attempts:
            return None
        delay = min(MAX_RETRY_DELAY, self.options.retry_delay * 4 ** (attempts - 1))
        return self.clock() + delay * random.uniform(0.8, 1.2)  # jitter: failures of one outage spread out

    def _discussion(self, repo: RepoReader, adapters: Sequence[LintResult], claim: Claim, owner: str) -> bool:
        """Run the discussion step; True when it asks to be run again for this repo on a later run."""
        if self.discuss is None:
            return False
        with self._discussion_lock:
            try:
                outcome = self.discuss(repo, adapters, DiscussionSlot(self.store, claim.repo_id, owner, self.clock))
            except HubError:  # the lint stands; the step runs again on a later run
                outcome = DiscussionOutcome(Action.ERROR.value, again=True)
        with self._lock:
            self.summary.volume.add_repo(outcome.volume)
            if outcome.action != Action.NOTHING.value:
                self.summary.discussions[outcome.action] += 1
        return outcome.again

    # -- accounting -----------------------------------------------------------------------------------------------

    def _client(self) -> HubClient:
        client = self._new_client()
        with self._lock:
            self._clients.append(client)
        return client

    def _gates(self) -> list[RateLimitGate]:
        """The rate-limit gates of this crawl's clients (one, shared, unless a caller made its own clients)."""
        with self._lock:
            return list({id(c.gate): c.gate for c in self._clients}.values())

    def _count_traffic(self) -> None:
        """Every request through the gates (the discussion bot's too, when it shares the crawl's), by bucket."""
        gates = self._gates()
        with self._lock:
            buckets = sum((gate.sent for gate in gates), Counter())
            summary = self.summary
            summary.requests, summary.requests_by_bucket = sum(buckets.values()), dict(buckets)
            summary.bytes = sum(c.stats.bytes_downloaded for c in self._clients)
            summary.quotas = {bucket: q for gate in gates for bucket, q in gate.quotas.items()}
            summary.rate_limit_waits = sum(gate.paused for gate in gates)
            summary.rate_limit_seconds = sum(gate.paused_seconds for gate in gates)
            summary.rate_limited = sum(gate.refused for gate in gates)

    def _budget_spent(self) -> bool:
        if any(gate.spent for gate in self._gates()):
            self.summary.budget_spent = True
        return self.summary.budget_spent

    def _out_of_time(self) -> bool:
        """The command's --timeout (shared by every client): start no new page or repo after it."""
        with self._lock:
            clients = list(self._clients)
        if any(client.deadline.remaining() <= 0 for client in clients):
            self.summary.timed_out = True
        return self.summary.timed_out

    def _report(self) -> None:
        if self.progress is not None:
            self._count_traffic()
            self.progress(dataclasses.replace(self.summary, discussions=Counter(self.summary.discussions)))


@dataclass(frozen=True)
class _Linted:
    repo: RepoReader | None = None
    result: LintResult | None = None  # the repo's adapters combined: what the store keeps
    adapters: Sequence[LintResult] = ()  # each adapter's own result, the primary first
    error: str | None = None  # one line
    permanent: bool = False  # another attempt at this sha cannot succeed
    overran: bool = False  # the lint outlived its time budget and still runs in its abandoned thread
    gone: bool = False  # the repo does not exist (any more), or is private
    unfinished: bool = False  # stopped by the request budget: not an attempt, the repo waits for the next run


def _skip_reason(entry: ListedRepo) -> str | None:
    if entry.disabled:
        return "disabled on the Hub"
    if entry.gated:
        return "gated: its files need an accepted access request"
    return None


def _listing(entry: ListedRepo) -> Listing:
    skip = _skip_reason(entry)
    return Listing(entry.repo_id, entry.sha, entry.last_modified, None if skip else json.dumps(entry.entry), skip)


def _lint_record(result: LintResult, seconds: float) -> LintRecord:
    worst = result.worst()
    return LintRecord(
        requests=result.stats.http_requests,
        bytes=result.stats.bytes_downloaded,
        seconds=seconds,
        findings=_finding_records(result.findings),
        worst=worst.value if worst is not None else None,
        result=dumps(result_dict(result), indent=None),  # strict: the same JSON `check --format json` prints
    )


def _finding_records(found: Iterable[Finding]) -> list[FindingRecord]:
    # The discussion bot's finding keys: the history and the bot's posts name the same findings the same way.
    return [FindingRecord(finding_key(f), f.rule, f.severity.value, f.message, f.file) for f in found]


def _process_gone(worker: str) -> bool:
    """A worker id (host:pid:nonce) of this host whose process has exited."""
    host, _, rest = worker.partition(":")
    pid = parse_int(rest.partition(":")[0])
    if host != socket.gethostname() or pid is None or pid == os.getpid():
        return False
    return not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:500]
