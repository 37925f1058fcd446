"""`hublint crawl`: the scheduled crawl of the Hub's PEFT repos (bot/crawler.py), from the command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING

from hublint.cli import CRAWL_TIMEOUT, EXIT_OK, UsageError, _fail, _hub_arguments, bot_policy
from hublint.rules.numbers import parse_int

if TYPE_CHECKING:
    from hublint.crawler import CrawlSummary, DiscussionStep

DISCUSSION_MODES = ("off", "dry-run", "post")


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
        "--budget", type=_positive, metavar="REQUESTS", help="start no new work after this many HTTP requests"
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
    options = CrawlOptions(
        limit=args.limit, since=since, concurrency=args.concurrency, budget=args.budget, author=args.author
    )
    with ExitStack() as stack:
        discuss = _discussion_step(args, stack)
        store = stack.enter_context(Store(database_url(args.db)))
        progress = stack.enter_context(_progress_bar(sys.stderr.isatty()))
        try:
            clients = crawl_clients(args.endpoint, args.token, args.concurrency, args.timeout)
            crawler = Crawler(store, clients, merge(FileConfig()), options, discuss=discuss, progress=progress)
        except ValueError as exc:
            raise UsageError(f"--endpoint: {exc}") from None
        try:
            summary = crawler.run()
        except HublintError as exc:
            print(crawler.summary.line())
            return _fail(str(exc))
        print(summary.line())
        if discuss is not None:  # what became of the bot's open discussions: the dashboard's fix rate
            from hublint.discussion_status import refresh_open_discussions

            refreshed = refresh_open_discussions(store, discuss.bot.hub, worker="crawl")
            print(f"discussions: {refreshed.checked} open ones re-read, {refreshed.changed} changed status")
    return EXIT_OK  # repos that failed are recorded and retried by a later run: not the crawl's failure


def _discussion_step(args: argparse.Namespace, stack: ExitStack) -> DiscussionStep | None:
    """The discussion bot (bot/discussions.py) with its own client: the token that posts, if any."""
    if args.discussions == "off":
        return None
    from hublint.check import Checker, default_cache_dir
    from hublint.crawler import BotStep
    from hublint.discussions import BotOptions, DiscussionBot
    from hublint.hub import Deadline, HubClient
    from hublint.lint import LintConfig

    try:
        client = stack.enter_context(HubClient(args.endpoint, args.token, deadline=Deadline(args.timeout)))
    except ValueError as exc:
        raise UsageError(f"--endpoint: {exc}") from None
    options = BotOptions(post=args.discussions == "post", policy=bot_policy())
    bot = DiscussionBot(Checker(client, LintConfig(), cache_dir=default_cache_dir()), options)
    if args.discussions == "post" and not bot.hub.authenticated:
        raise UsageError("--discussions post needs the bot's token: pass --token or set HF_TOKEN")
    return BotStep(bot)


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[Callable[[CrawlSummary], None] | None]:
    """A bar on a terminal only: cron logs get the summary line alone."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("listing", total=None)

        def update(summary: CrawlSummary) -> None:
            done = summary.linted + summary.failed
            if summary.due:
                bar.update(task, description=f"linting, {summary.requests} requests", total=summary.due, completed=done)
            else:
                bar.update(task, description=f"listing, {summary.seen} repos seen")

        yield update


def _positive(text: str) -> int:
    value = parse_int(text)
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value
