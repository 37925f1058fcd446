"""`hublint discuss`: the Hub bot for a list of repos. A dry run unless `--post`.

Each repo's plan (or outcome) goes to stdout as it is decided; operational errors go to stderr, one line each,
and the next repo goes on. Exit 0 when everything went as planned, skips included; 2 when any repo failed.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from hublint.cli import DISCUSS_TIMEOUT, EXIT_ERROR, EXIT_OK, UsageError, _hub_arguments, bot_policy
from hublint.render.safe import visible, visible_lines
from hublint.rules.model import Severity
from hublint.rules.numbers import parse_int

if TYPE_CHECKING:  # bot.discussions imports huggingface_hub: only `discuss` itself pays for it, not every command
    from hublint.discussions import RepoOutcome, Report


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "discuss", help="open one polite discussion per broken Hub repo (prints what it would post unless --post)"
    )
    parser.add_argument("targets", nargs="+", metavar="TARGET", help="Hub repos: owner/name")
    parser.add_argument("--post", action="store_true", help="post on the Hub (default: a dry run)")
    _hub_arguments(parser, timeout=DISCUSS_TIMEOUT)
    parser.add_argument(
        "--min-severity",
        choices=[s.value for s in sorted(Severity, key=lambda s: -s.rank)],
        default="error",
        help="lowest severity worth a discussion (default: error)",
    )
    parser.add_argument("--max-new", type=_count, default=10, metavar="N", help="new discussions per run (default: 10)")
    parser.add_argument(
        "--max-per-owner", type=_count, default=1, metavar="N", help="new discussions per owner per run (default: 1)"
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hublint.check import Checker, default_cache_dir
    from hublint.discussions import Action, BotOptions, DiscussionBot
    from hublint.hub import Deadline, HubClient
    from hublint.lint import LintConfig

    repo_ids = [_repo_id(text) for text in args.targets]
    policy = bot_policy()
    options = BotOptions(
        post=args.post,
        min_severity=Severity(args.min_severity),
        max_new=args.max_new,
        max_per_owner=args.max_per_owner,
        policy=policy,
    )
    try:
        client = HubClient(args.endpoint, args.token, deadline=Deadline(args.timeout))
    except ValueError as exc:
        raise UsageError(f"--endpoint: {exc}") from None
    with client:
        bot = DiscussionBot(Checker(client, LintConfig(), cache_dir=default_cache_dir()), options)
        if args.post and not bot.hub.authenticated:
            raise UsageError("--post needs a token: pass --token or set HF_TOKEN")
        outcomes = []
        for repo_id in repo_ids:
            outcomes.append(bot.handle_repo(repo_id))
            for report in outcomes[-1].reports:
                _show(report)
    reports = [report for outcome in outcomes for report in outcome.reports]
    print(volume_summary(outcomes, posted=args.post))
    print(_summary([outcome.discussion for outcome in outcomes], posted=args.post))
    return EXIT_ERROR if any(r.action is Action.ERROR for r in reports) else EXIT_OK


def volume_summary(outcomes: Sequence[RepoOutcome], *, posted: bool) -> str:
    """By action and rule: how many repos get a discussion, a pull request, or the report only."""
    from hublint.policy import Volume

    volume = Volume()
    for outcome in outcomes:
        volume.add_repo(outcome.volume())
    return ("posted: " if posted else "would post: ") + "; ".join(volume.lines())


def _repo_id(text: str) -> str:
    from hublint.check import TargetError, parse_target

    try:
        target = parse_target(text)
    except TargetError as exc:
        raise UsageError(str(exc)) from None
    if target.repo_id is None:
        raise UsageError(f"{text!r}: discuss works on Hub repos (owner/name), not directories")
    if target.revision:
        raise UsageError(f"{text!r}: discuss lints a repo's main branch; drop @{target.revision}")
    return target.repo_id


def _show(report: Report) -> None:
    from hublint.discussions import Action

    # Reasons quote the Hub and the repo, and bodies hold escaped repo strings: nothing reaches the terminal raw.
    if report.action is Action.ERROR:
        print(f"hublint: {report.repo_id}: {visible(_reason(report))}", file=sys.stderr)
        return
    print(f"== {report.repo_id}: {visible(_headline(report))}")
    if report.title:
        print(f"title: {visible(report.title)}")
    if report.body:
        print(f"\n{visible_lines(report.body)}")
    if report.diff and not report.posted:
        print(f"\n{visible_lines(report.diff)}")
    sys.stdout.flush()


def _headline(report: Report) -> str:
    from hublint.discussions import Action

    if report.action is Action.OPEN:
        return f"opened discussion #{report.discussion}: {report.url}" if report.posted else "would open a discussion"
    if report.action is Action.PULL_REQUEST:
        if report.posted:
            return f"opened pull request #{report.discussion}: {report.url}"
        return f"would open a pull request changing {', '.join(sorted(report.files or {}))}"
    if report.action is Action.COMMENT:
        if report.posted:
            return f"commented on discussion #{report.discussion}: {report.url}"
        return f"would comment on discussion #{report.discussion}"
    if report.action is Action.SKIP:
        return f"skipped: {_reason(report)}"
    return f"nothing to do: {_reason(report)}"


def _reason(report: Report) -> str:
    return report.reason.removeprefix(f"{report.repo_id}: ")  # Hub errors often name the repo already


def _summary(reports: Sequence[Report], *, posted: bool) -> str:
    from hublint.discussions import Action

    counts = Counter(r.action for r in reports)
    opened, commented = ("opened", "commented") if posted else ("to open", "to comment")
    text = (
        f"{counts[Action.OPEN]} {opened}, {counts[Action.COMMENT]} {commented}, {counts[Action.SKIP]} skipped,"
        f" {counts[Action.NOTHING]} with nothing to do, {counts[Action.ERROR]} failed"
    )
    return text if posted else f"dry run: {text}; pass --post to post"


def _count(text: str) -> int:
    value = parse_int(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}")
    return value
