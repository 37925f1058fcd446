"""`hublint report`: the crawl store (or one owner's repos, crawled on the spot) as a static site, Markdown or
JSON, and optionally the living dashboard issue on GitHub."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from hublint.cli import CRAWL_TIMEOUT, EXIT_OK, UsageError, _fail, _hub_arguments
from hublint.render.safe import dumps

if TYPE_CHECKING:
    from hublint.report.model import Report
    from hublint.store import Store

REPORT_FORMATS = ("html", "markdown", "json")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    report = commands.add_parser(
        "report",
        help="a static dashboard site (or Markdown, JSON) from the crawl store or one owner's repos",
        description="Write a static site (index.html, report.json, a page per owner, rule and base model, badges) "
        "from the crawl store; with --author and no --db, lint that owner's PEFT repos first (no crawl needed).",
    )
    report.add_argument(
        "--db",
        metavar="URL",
        help="the crawl store (sqlite:///PATH, postgresql+psycopg://..., a file; default: HUBLINT_DB)",
    )
    report.add_argument("--author", metavar="OWNER", help="one user's or organisation's repos only")
    report.add_argument("--out", type=Path, default=Path("hublint-report"), metavar="DIR", help="site directory")
    report.add_argument("--format", choices=REPORT_FORMATS, default="html", help="html writes --out; others print")
    report.add_argument("--github-issue", metavar="OWNER/REPO", help="keep the living dashboard issue there")
    report.add_argument("--site-url", metavar="URL", help="where the site is published: the issue links to it")
    report.add_argument(
        "--github-api-url", metavar="URL", help="GitHub's API (default: GITHUB_API_URL or https://api.github.com)"
    )
    _hub_arguments(report, timeout=CRAWL_TIMEOUT)
    report.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hublint.report import model
    from hublint.store import Store, database_url

    if args.db is None and args.author is None:
        args.db = os.environ.get("HUBLINT_DB")  # as `crawl` reads it: a URL with a password stays off the command line
    if args.db is None and args.author is None:
        raise UsageError("report needs --db URL (a crawl store) or --author OWNER (lint that owner's repos now)")
    github = _github_settings(args) if args.github_issue else None
    # Store and Hub failures are HublintErrors: the CLI prints them as one line and exits 2.
    with ExitStack() as stack:
        if args.db is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="hublint-report-"))
            store = stack.enter_context(Store(f"sqlite:///{folder}/crawl.db"))
            _crawl_owner(store, args)
        else:
            store = stack.enter_context(Store(database_url(args.db), create=False))
        report = model.load(store, author=args.author)
        if github is not None:
            report = _keep_issue(store, report, args, github)
    return _output(report, args)


def _crawl_owner(store: Store, args: argparse.Namespace) -> None:
    from hublint.config import FileConfig, merge
    from hublint.crawler import Crawler, CrawlOptions, crawl_clients

    options = CrawlOptions(author=args.author)
    try:
        clients = crawl_clients(args.endpoint, args.token, options.concurrency, args.timeout)
    except ValueError as exc:
        raise UsageError(f"--endpoint: {exc}") from None
    summary = Crawler(store, clients, merge(FileConfig()), options).run()
    print(summary.line(), file=sys.stderr)


def _github_settings(args: argparse.Namespace) -> tuple[str, str]:
    owner, _, name = args.github_issue.partition("/")
    if not owner or not name or "/" in name:
        raise UsageError(f"--github-issue {args.github_issue!r}: expected OWNER/REPO")
    token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    if not token:
        raise UsageError("--github-issue needs a token in GITHUB_TOKEN (or GH_TOKEN)")
    return token, args.github_api_url or os.environ.get("GITHUB_API_URL") or "https://api.github.com"


def _keep_issue(store: Store, report: Report, args: argparse.Namespace, github: tuple[str, str]) -> Report:
    """Read the boxes ticked in the dashboard issue into the store, then write the issue from the updated report;
    returns that report, so the site shows the same acknowledgements."""
    import time

    from hublint.github import GitHubError, upsert_issue
    from hublint.report import issue

    revisions = {entry.id: entry.revision for entry in report.repos}
    latest = report

    def render(ticked: frozenset[str], unticked: frozenset[str]) -> str:
        nonlocal latest
        store.acknowledge({repo: revisions[repo] for repo in ticked if repo in revisions}, time.time())
        store.unacknowledge(sorted(unticked))
        latest = report.with_acknowledged(store.acknowledged())  # the rest of the report did not change
        return issue.render(latest, author=args.author, site_url=args.site_url)

    token, api_url = github
    try:
        outcome = upsert_issue(
            args.github_issue,
            issue.title(args.author),
            render,
            marker=issue.MARKER,
            read_checklist=issue.read_checklist,
            token=token,
            api_url=api_url,
        )
    except GitHubError as exc:
        raise UsageError(f"--github-issue: {exc}") from None
    print(f"dashboard issue {args.github_issue}#{outcome.number}: {outcome.outcome.value}", file=sys.stderr)
    return latest


def _output(report: Report, args: argparse.Namespace) -> int:
    from hublint.report import issue
    from hublint.report.site import write_site

    if args.format == "json":
        sys.stdout.write(dumps(report.to_json(), indent=None) + "\n")
    elif args.format == "markdown":
        sys.stdout.write(issue.render(report, author=args.author, site_url=args.site_url))
    else:
        try:
            stats = write_site(report, args.out)
        except OSError as exc:
            return _fail(f"--out {args.out}: {exc.strerror or exc}")
        broken = report.status_counts()["error"]
        overview = f"overview {stats.overview_bytes / 1000:.0f} kB"
        print(f"report: {len(report.repos)} repos, {broken} broken, {stats.pages} pages ({overview}) -> {args.out}")
    return EXIT_OK
