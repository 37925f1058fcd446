"""`hublint crawl`: the scheduled crawl of the Hub's PEFT repos (bot/crawler.py), from the command line."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

from hublint.cli import CRAWL_TIMEOUT, EXIT_OK, UsageError, _fail, _hub_arguments, bot_policy
from hublint.rules.numbers import parse_int

if TYPE_CHECKING:
    from hublint.crawler import CrawlSummary, DiscussionStep
    from hublint.hub import CrawlClients

DISCUSSION_MODES = ("off", "dry-run", "post")
BUDGET_BUCKETS = ("api", "resolvers", "pages", "total")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    crawl = commands.add_parser(
        "crawl",
        help="lint the Hub's new and changed PEFT repos into a database",
        description="List the Hub's PEFT repos (newest changes first), lint the new and changed ones and record "
        "findings, revisions, costs and errors. Unchanged repos cost no request; a killed crawl resumes.",
    )
    crawl.add_argument(
        "--db",
        metavar="URL",
        help="sqlite:///PATH, postgresql+psycopg://... (several workers) or a SQLite file "
        "(default: HUBLINT_DB or ~/.local/state/hublint/crawl.db)",
    )
    _hub_arguments(crawl, timeout=CRAWL_TIMEOUT)
    crawl.add_argument("--limit", type=_positive, metavar="N", help="look at the N most recently changed repos only")
    crawl.add_argument("--since", metavar="ISO", help="look only at repos changed since this date or time")
    crawl.add_argument("--author", metavar="OWNER", help="only this user's or organisation's repos")
    crawl.add_argument(
        "--concurrency", type=_positive, default=16, metavar="N", help="repos linted at once (default 16)"
    )
    crawl.add_argument(
        "--discussions",
        choices=DISCUSSION_MODES,
        default="off",
        help="open one discussion per repo with error findings (post), only count what would be posted (dry-run), "
        "or neither (off, the default)",
    )
    crawl.add_argument(
        "--budget",
        type=_budget,
        metavar="REQUESTS",
        help="send no request beyond this many, discussions included: a number (all buckets) or per rate-limit "
        "bucket, e.g. api=900,resolvers=4500 (total= for all); a repo cut short is linted by the next run",
    )
    crawl.add_argument(
        "--log-every",
        type=_positive,
        default=1000,
        metavar="N",
        help="without a terminal, log one progress line per N repos (default 1000)",
    )
    crawl.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hublint.config import FileConfig, merge
    from hublint.crawler import Crawler, CrawlOptions, crawl_clients, parse_time
    from hublint.errors import HublintError
    from hublint.store import Store, database_url

    try:
        since = parse_time(args.since) if args.since else None
    except ValueError:
        raise UsageError(f"--since {args.since!r} is not an ISO 8601 date or time (e.g. 2025-06-01)") from None
    options = CrawlOptions(limit=args.limit, since=since, concurrency=args.concurrency, author=args.author)
    with ExitStack() as stack:
        clients = crawl_clients(args.endpoint, args.token, args.concurrency, args.timeout, args.budget)
        discuss = _discussion_step(args, stack, clients)
        store = stack.enter_context(Store(database_url(args.db)))
        progress = stack.enter_context(_progress(sys.stderr.isatty(), args.log_every))
        try:
            crawler = Crawler(store, clients, merge(FileConfig()), options, discuss=discuss, progress=progress)
        except ValueError as exc:
            raise UsageError(f"--endpoint: {exc}") from None
        refreshed = None
        if discuss is not None:  # what became of the bot's open discussions (the dashboard's fix rate), and
            # the owners' commands in them: their repos are linted again by this run, which answers them
            from hublint.discussion_status import refresh_open_discussions

            refreshed = refresh_open_discussions(
                store, discuss.bot.hub, worker="crawl", may_command=discuss.bot.may_command
            )
        try:
            summary = crawler.run()
        except HublintError as exc:
            print(crawler.summary.line())
            return _fail(str(exc))
        print(summary.line())
        if refreshed is not None:
            print(
                f"discussions: {refreshed.checked} open ones re-read, {refreshed.changed} changed status,"
                f" {refreshed.commands} with owner commands linted again"
            )
    return EXIT_OK  # repos that failed are recorded and retried by a later run: not the crawl's failure


def _discussion_step(args: argparse.Namespace, stack: ExitStack, clients: CrawlClients) -> DiscussionStep | None:
    """The discussion bot (bot/discussions.py) on a client of the crawl's: its requests, `whoami` included, count
    against the budget and pause with the crawl's."""
    if args.discussions == "off":
        return None
    from hublint.check import Checker, default_cache_dir
    from hublint.crawler import BotStep
    from hublint.discussions import BotOptions, DiscussionBot
    from hublint.lint import LintConfig

    try:
        client = stack.enter_context(clients())
    except ValueError as exc:
        raise UsageError(f"--endpoint: {exc}") from None
    options = BotOptions(post=args.discussions == "post", policy=bot_policy())
    bot = DiscussionBot(Checker(client, LintConfig(), cache_dir=default_cache_dir()), options)
    if args.discussions == "post" and not bot.hub.authenticated:
        raise UsageError("--discussions post needs the bot's token: pass --token or set HF_TOKEN")
    return BotStep(bot)


@contextmanager
def _progress(terminal: bool, every: int) -> Iterator[Callable[[CrawlSummary], None]]:
    """A live bar on a terminal; else (a scheduled job's log) one line every `every` repos linted or failed."""
    if not terminal:
        yield ProgressLog(every)
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    # stdout stays the summary's alone (rich would otherwise route prints made under the bar to its console)
    with Progress(*columns, console=Console(stderr=True), transient=True, redirect_stdout=False) as bar:
        task = bar.add_task("listing", total=None)

        def update(summary: CrawlSummary) -> None:
            bar.update(task, description=progress_text(summary), total=summary.due or None, completed=summary.done)

        yield update


class ProgressLog:
    """One line per `every` repos to stderr, with the rate so far and the time left at that rate."""

    def __init__(self, every: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.every, self.clock = every, clock
        self.started = clock()
        self.next = every

    def __call__(self, summary: CrawlSummary) -> None:
        if summary.done < self.next:
            return
        self.next = (summary.done // self.every + 1) * self.every
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = summary.done / elapsed
        left = max(0, summary.due - summary.done)
        eta = f"{_duration(left / rate)} left" if rate > 0 else "time left unknown"
        print(f"crawl: {progress_text(summary)}; {rate:.1f} repos/s, {eta}", file=sys.stderr, flush=True)


def progress_text(summary: CrawlSummary) -> str:
    """Listed, linted, failed, requests by bucket, rate-limit waits: what a person watching a crawl asks."""
    text = f"{summary.seen} listed, {summary.linted}/{summary.due} linted, {summary.failed} failed"
    if summary.gone:
        text += f", {summary.gone} gone"
    text += f"; {summary.requests} requests"
    return text


def _duration(seconds: float) -> str:
    minutes, second = divmod(round(seconds), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours} h {minute:02d} min" if hours else f"{minute} min {second:02d} s" if minute else f"{second} s"


def _budget(text: str) -> dict[str, int]:
    if "=" not in text:
        return {"total": _positive(text)}
    budget = {}
    for part in text.split(","):
        bucket, _, count = part.partition("=")
        if bucket.strip() not in BUDGET_BUCKETS:
            raise argparse.ArgumentTypeError(f"unknown bucket {bucket.strip()!r}: use {', '.join(BUDGET_BUCKETS)}")
        budget[bucket.strip()] = _positive(count.strip())
    return budget


def _positive(text: str) -> int:
    value = parse_int(text)
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value
