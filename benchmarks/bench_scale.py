"""The crawler at the Hub's scale: 100,000 PEFT repos, measured, and a projection for the real Hub.

The emulator runs in a process of its own (the crawler's CPU is measured alone) and serves `ScaledRepos`: the
repos are generated entries over twelve shared file sets on three small bases (hublint.emulator.synthetic), with a
listing of names only and 50 ms of latency on every request. Measured, in one run:

1. a first crawl into an empty SQLite store: wall time, requests per adapter by rate-limit bucket (api, resolvers),
   the shared base facts' cost, peak RSS of the crawling process, the database's size on disk;
2. a day's changes (`--changed`, 1 % of the repos by default: new commits, newest in the listing), crawled again:
   the incremental cost;
3. the same rows in PostgreSQL (copied table by table), for its size (`--postgres URL`; skipped when unreachable).

From the measured costs, the projected time of a first full crawl and of a daily incremental crawl of the real Hub
under the free tier's quota (hub.md §3: per 5-minute window, 1,000 API and 5,000 resolver requests), with the
assumptions printed beside them (`--hub-repos`, `--hub-bases`, `--hub-changes`).

Run: python benchmarks/bench_scale.py [--repos 100000] [--concurrency 32]   (about 15-30 min at 100k on 2 cores;
not part of CI: `--repos 2000` is a quick check)
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("HF_HUB_DISABLE_IMPLICIT_TOKEN", "1")
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("HUBLINT_NO_CACHE", "1")  # base facts come from the crawl's store

from bench_crawl import LATENCY, RESOLVER_KINDS  # noqa: E402

WINDOW_SECONDS = 300.0
FREE_TIER = {"api": 1000, "resolvers": 5000}  # per 5-minute window (hub.md §3, "as of September '25")
POSTGRES = os.environ.get("HUBLINT_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@dataclass
class Crawled:
    seconds: float
    linted: int
    failed: int
    requests: dict[str, int]  # by the emulator's request kind
    adapter_requests: int  # what the adapters' own lints cost (the store's per-repo counts)

    def bucket(self, name: str) -> int:
        resolvers = sum(self.requests.get(kind, 0) for kind in RESOLVER_KINDS)
        return resolvers if name == "resolvers" else sum(self.requests.values()) - resolvers


# -- the emulator, in its own process -------------------------------------------------------------------------------


def serve(root: Path, count: int, latency: float, commands: Connection) -> None:
    """Serve `count` generated repos until told to stop; `("commit", [n...])` gives those repos a new commit."""
    from hublint.emulator.server import Emulator, Faults
    from hublint.emulator.synthetic import ScaledRepos

    repos = ScaledRepos(root, count)
    with Emulator(root, faults=Faults(latency=latency), repos=repos) as emulator:
        commands.send(emulator.url)
        while (command := commands.recv())[0] != "stop":
            now = datetime.now(timezone.utc)
            for offset, n in enumerate(command[1]):
                repos.commit(n, now + timedelta(milliseconds=offset))
            commands.send("ok")


class EmulatorProcess:
    def __init__(self, root: Path, count: int, latency: float) -> None:
        self._commands, theirs = multiprocessing.Pipe()
        self._process = multiprocessing.get_context("spawn").Process(
            target=serve, args=(root, count, latency, theirs), daemon=True
        )
        self._process.start()
        self.url: str = self._commands.recv()

    def commit(self, repos: list[int]) -> None:
        self._commands.send(("commit", repos))
        self._commands.recv()

    def stats(self) -> dict[str, Any]:
        import httpx2

        return httpx2.get(f"{self.url}/_emulator/stats").json()

    def reset_stats(self) -> None:
        import httpx2

        httpx2.post(f"{self.url}/_emulator/reset-stats")

    def stop(self) -> None:
        self._commands.send(("stop",))
        self._process.join(timeout=30)


# -- crawls ---------------------------------------------------------------------------------------------------------


def crawl(emulator: EmulatorProcess, database: str, concurrency: int, log_every: int) -> Crawled:
    from hublint.config import FileConfig, merge
    from hublint.crawler import Crawler, CrawlOptions, CrawlSummary, crawl_clients
    from hublint.store import Store

    emulator.reset_stats()
    options = CrawlOptions(concurrency=concurrency)
    next_line = [log_every]

    def progress(summary: CrawlSummary) -> None:
        done = summary.linted + summary.failed
        if done >= next_line[0]:
            next_line[0] += log_every
            print(f"  {done} linted, {summary.seen} listed, {summary.requests} requests", file=sys.stderr, flush=True)

    with Store(database) as store:
        clients = crawl_clients(emulator.url, False, concurrency)
        crawler = Crawler(store, clients, merge(FileConfig()), options, progress=progress)
        started = time.perf_counter()
        summary = crawler.run()
        seconds = time.perf_counter() - started
        with store.engine.connect() as connection:
            import sqlalchemy as sa

            from hublint.store import lint_results

            total = connection.execute(sa.select(sa.func.sum(lint_results.c.requests))).scalar() or 0
    return Crawled(seconds, summary.linted, summary.failed, emulator.stats()["requests"], int(total))


def sqlite_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def postgres_bytes(sqlite_url: str, server: str) -> int | None:
    """The crawl's rows copied into a fresh PostgreSQL database: its size (None when no server answers)."""
    import uuid

    import sqlalchemy as sa

    from hublint.store import Store, metadata

    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"hublint_bench_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError:
        admin.dispose()
        return None
    try:
        url = admin.url.set(database=name).render_as_string(hide_password=False)
        with Store(url) as target, Store(sqlite_url) as source, source.engine.connect() as reading:
            with target.engine.begin() as writing:
                for table in metadata.sorted_tables:
                    writing.execute(sa.delete(table))
                    rows = reading.execute(sa.select(table)).mappings()
                    while batch := [dict(row) for row in rows.fetchmany(5000)]:
                        writing.execute(sa.insert(table), batch)
            with target.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(sa.text("VACUUM ANALYZE"))
                return int(connection.execute(sa.text("SELECT pg_database_size(current_database())")).scalar())
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- the projection -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Costs:
    """Requests per bucket: per adapter linted, per distinct base read, per listing page."""

    adapter: dict[str, float]
    base: dict[str, float]
    page_entries: int


def project(costs: Costs, repos: int, bases: int, changed: int, rate: float) -> dict[str, float]:
    """Hours for a first full crawl and a daily incremental one: the slower of the quota and the measured rate."""

    def hours(adapters: int, new_bases: int) -> float:
        pages = math.ceil(repos / costs.page_entries)  # every crawl reads the whole listing
        windows = max(
            (costs.adapter[b] * adapters + costs.base[b] * new_bases + (pages if b == "api" else 0)) / quota
            for b, quota in FREE_TIER.items()
        )
        return max(windows * WINDOW_SECONDS, adapters / rate) / 3600

    # A day's changed adapters bring new base revisions at the Hub's own ratio of bases to adapters.
    return {"first": hours(repos, bases), "daily": hours(changed, math.ceil(changed * bases / repos))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=100_000)
    parser.add_argument("--changed", type=float, default=0.01, help="share of repos changed before the re-crawl")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--postgres", default=POSTGRES, help="server for the PostgreSQL size ('' to skip)")
    parser.add_argument("--hub-repos", type=int, default=200_000, help="assumed PEFT repos on the real Hub")
    parser.add_argument("--hub-bases", type=int, default=5_000, help="assumed distinct base revisions among them")
    parser.add_argument("--hub-changes", type=int, default=3_000, help="assumed new or changed PEFT repos a day")
    args = parser.parse_args(argv)
    from hublint.emulator.synthetic import BASES, write_templates
    from hublint.hub import LISTING_PAGE_SIZE

    with tempfile.TemporaryDirectory(prefix="hublint-bench-scale-") as scratch:
        root, database = Path(scratch) / "hub", Path(scratch) / "crawl.db"
        write_templates(root)
        started = time.perf_counter()
        emulator = EmulatorProcess(root, args.repos, LATENCY)
        print(f"emulator up with {args.repos} repos in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        url = f"sqlite:///{database}"
        try:
            first = crawl(emulator, url, args.concurrency, max(1000, args.repos // 20))
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            size = sqlite_bytes(database)
            changed = list(range(0, args.repos, round(1 / args.changed))) if args.changed else []
            emulator.commit(changed)
            daily = crawl(emulator, url, args.concurrency, max(1000, args.repos // 20))
        finally:
            emulator.stop()
        pg_size = postgres_bytes(url, args.postgres) if args.postgres else None
        size_after = sqlite_bytes(database)

    pages = math.ceil(args.repos / LISTING_PAGE_SIZE)
    base_cost = {b: (first.bucket(b) - (pages if b == "api" else 0)) for b in FREE_TIER}
    base_cost["resolvers"] -= first.adapter_requests  # an adapter's own reads are all resolvers
    costs = Costs(
        adapter={"api": 0.0, "resolvers": first.adapter_requests / max(1, first.linted)},
        base={b: n / len(BASES) for b, n in base_cost.items()},
        page_entries=LISTING_PAGE_SIZE,
    )
    rate = first.linted / first.seconds
    projection = project(costs, args.hub_repos, args.hub_bases, args.hub_changes, rate)

    print(f"\n{args.repos} PEFT repos on {len(BASES)} bases, {LATENCY * 1000:.0f} ms latency, listing names only,")
    print(f"concurrency {args.concurrency}, SQLite store\n")
    for label, run in (("first crawl, empty store", first), (f"after {len(changed)} commits", daily)):
        per = {b: (run.bucket(b) / max(1, run.linted)) for b in FREE_TIER}
        print(
            f"{label:28} {run.seconds:8.1f} s  {run.linted:>7} linted  {run.failed} failed  "
            f"{run.linted / run.seconds:6.1f} adapters/s  requests {run.requests}"
        )
        print(f"{'':28} per linted adapter: api {per['api']:.3f}, resolvers {per['resolvers']:.3f}")
    print(f"\nper adapter (own reads): {costs.adapter['resolvers']:.2f} resolver requests")
    print(f"per base (facts, shared): api {costs.base['api']:.1f}, resolvers {costs.base['resolvers']:.1f}")
    print(f"listing: {pages} API requests for {args.repos} repos")
    print(f"peak RSS of the crawling process: {rss / 1e6:.0f} MB")
    print(f"database: SQLite {size / 1e6:.1f} MB after the first crawl, {size_after / 1e6:.1f} MB after the second")
    print(f"          PostgreSQL {pg_size / 1e6:.1f} MB (same rows)" if pg_size else "          PostgreSQL: skipped")
    print(
        f"\nprojection for the real Hub, free tier ({FREE_TIER['api']} API + {FREE_TIER['resolvers']} resolver "
        f"requests / 5 min), assuming {args.hub_repos} PEFT repos on {args.hub_bases} base revisions and "
        f"{args.hub_changes} new or changed repos a day:"
    )
    print(f"  first full crawl:      {projection['first']:.1f} h")
    print(f"  daily incremental:     {projection['daily'] * 60:.0f} min")
    ok = first.linted == args.repos and first.failed == 0 and daily.linted == len(changed)
    print(f"\n{'ok  ' if ok else 'MISS'} every repo linted once, every changed repo again")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
