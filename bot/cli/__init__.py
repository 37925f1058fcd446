"""The command line: the only module that prints or exits."""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from hublint import __version__, prose, rules
from hublint.config import FAIL_ON, FileConfig, load_config, merge, parse_config
from hublint.errors import ConfigError, HublintError
from hublint.lint import LintResult
from hublint.render import FORMATS, render
from hublint.render.safe import visible
from hublint.rules.model import Severity

if TYPE_CHECKING:
    from hublint.policy import BotPolicy

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
# Whole-command deadlines (--timeout): a check reads a few small files per target, a crawl runs for hours.
CHECK_TIMEOUT, DISCUSS_TIMEOUT, CRAWL_TIMEOUT = 300.0, 600.0, 6 * 3600.0


class UsageError(HublintError):
    """Bad flags or targets: a one-line message and exit 2."""


def main(argv: Sequence[str] | None = None) -> int:
    _printable_streams()
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return EXIT_ERROR
    try:
        return args.run(args)
    except HublintError as exc:  # the Hub, GitHub, the store, a config or a target: one line, exit 2
        return _fail(str(exc))
    except KeyboardInterrupt:
        return _fail("interrupted")
    except BrokenPipeError:
        return EXIT_ERROR
    except Exception as exc:  # a bug in hublint: still one line and exit 2, never a traceback (HUBLINT_DEBUG shows it)
        if os.environ.get("HUBLINT_DEBUG"):
            raise
        detail = " ".join(str(exc).split())[:200]
        return _fail(
            f"internal error ({type(exc).__name__}{': ' + detail if detail else ''}); this is a bug in hublint"
            f" {__version__}: please report it with the command you ran (HUBLINT_DEBUG=1 prints the traceback)"
        )


def _printable_streams() -> None:
    """Whatever a string holds (a lone surrogate from a JSON escape, text the console's encoding lacks), printing it
    must not raise: the renderers show such characters visibly, and this is the net under them."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")


def _fail(message: str) -> int:
    print(f"hublint: {visible(message.splitlines()[0]) if message else 'error'}", file=sys.stderr)
    return EXIT_ERROR


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hublint", description="Lint PEFT adapters on the Hugging Face Hub from their headers, not their weights."
    )
    parser.add_argument("--version", action="version", version=f"hublint {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    check = commands.add_parser("check", help="lint Hub repos (owner/name[@rev]) or adapter directories")
    check.add_argument("targets", nargs="+", metavar="TARGET")
    check.add_argument("--format", choices=FORMATS, default="text")
    check.add_argument("--fail-on", choices=FAIL_ON, default=None, help="lowest severity that fails (default: error)")
    check.add_argument("--select", action="append", default=None, metavar="CODES", help="only these rules/prefixes")
    check.add_argument("--ignore", action="append", default=[], metavar="CODES", help="skip these rules/prefixes")
    _hub_arguments(check, timeout=CHECK_TIMEOUT)
    check.add_argument("--base-model", metavar="ID", help="lint against this base instead of the config's")
    check.add_argument(
        "--hub-repo", metavar="OWNER/NAME[@REV]", help="read a directory's Git LFS pointer weights from this Hub repo"
    )
    check.add_argument("--revision", metavar="REV", help="revision of every Hub target without @rev")
    check.add_argument("--config", type=Path, metavar="PATH", help="a .hublint.toml or pyproject.toml to use")
    check.add_argument("--no-cache", action="store_true", help="do not read or write the base-facts cache")
    check.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    check.set_defaults(run=_check)

    listing = commands.add_parser("rules", help="list the rules")
    listing.set_defaults(run=_rules)

    rule = commands.add_parser("rule", help="show a rule's documentation")
    rule.add_argument("rule", metavar="CODE|NAME")
    rule.set_defaults(run=_rule)

    demo = commands.add_parser("demo", help="run hublint offline against the built-in Hub emulator")
    demo.add_argument("--keep", type=Path, metavar="DIR", help="write the sample repos here and keep them")
    demo.set_defaults(run=_demo)

    # Imported here: these modules build on this one (and each imports its heavy parts only when it runs).
    from hublint.cli import action, crawl, discuss, emulator, report

    for module in (discuss, crawl, report, action, emulator):
        module.add_parser(commands)
    return parser


def _hub_arguments(parser: argparse.ArgumentParser, *, timeout: float) -> None:
    parser.add_argument("--endpoint", metavar="URL", help="Hub URL (default: HF_ENDPOINT or https://huggingface.co)")
    parser.add_argument("--token", metavar="T", help="Hub token (default: HF_TOKEN, or your `hf auth login`)")
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=timeout,
        metavar="SECONDS",
        help=f"give up on the Hub after this long in all (default: {timeout:g})",
    )


def _seconds(text: str) -> float:
    from hublint.rules.numbers import parse_float

    seconds = parse_float(text)
    if seconds is None or seconds <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return seconds


@dataclass(frozen=True)
class CheckOptions:
    """What a lint of some targets needs, as `check` and `action` build it from their command lines."""

    targets: Sequence[str]
    fail_on: str | None = None  # None: the config file's, else "error"
    select: Sequence[str] | None = None  # None: the config file's selection
    ignore: Sequence[str] = ()
    endpoint: str | None = None  # None: HF_ENDPOINT or the public Hub
    token: str | None = None  # None: huggingface_hub's own resolution
    base_model: str | None = None  # lint against this base instead of the config's
    hub_repo: str | None = None  # read a directory's Git LFS pointer weights from this Hub repo
    revision: str | None = None  # of every Hub target without @rev
    config: Path | None = None  # None: the nearest .hublint.toml or pyproject.toml
    no_cache: bool = False
    timeout: float = CHECK_TIMEOUT  # seconds for all of the Hub reads


def _check(args: argparse.Namespace) -> int:
    # `check`'s flags carry the options' names, so each option is read from its flag.
    options = CheckOptions(**{option.name: getattr(args, option.name) for option in fields(CheckOptions)})
    results, fail_on = lint_targets(options)
    color = args.color == "always" or (args.color == "auto" and sys.stdout.isatty())
    sys.stdout.write(render(results, args.format, version=__version__, color=color))
    for result in results:
        if result.error:
            _fail(f"{result.target}: {result.error}")
    if any(r.error for r in results):
        return EXIT_ERROR
    return _exit_code(results, fail_on)


def lint_targets(options: CheckOptions) -> tuple[list[LintResult], str]:
    """Lint `options.targets`: the results and the fail-on level (the option, the config file's, or "error")."""
    from hublint.check import Checker, TargetError, default_cache_dir, parse_target
    from hublint.hub import Deadline, HubClient
    from hublint.mirror import HubMirror

    try:
        targets = [parse_target(t, options.revision) for t in options.targets]
        mirror = HubMirror.parse(options.hub_repo) if options.hub_repo else None
    except (TargetError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    file_config = _file_config(options.config, targets[0].path)
    config = merge(file_config, select=options.select, ignore=options.ignore)
    try:
        client = HubClient(options.endpoint, options.token, deadline=Deadline(options.timeout))
    except ValueError as exc:
        raise UsageError(f"--endpoint: {exc}") from None
    with client:
        try:
            cache_dir = None if options.no_cache else default_cache_dir()
            checker = Checker(client, config, cache_dir=cache_dir, mirror=mirror)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        results = [result for target in targets for result in checker.check_adapters(target, options.base_model)]
    return results, options.fail_on or file_config.fail_on or "error"


def _file_config(explicit: Path | None, first_directory: Path | None) -> FileConfig:
    if explicit is None:
        return load_config(first_directory)
    try:
        text = explicit.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{explicit}: {exc.strerror}") from None
    parsed = parse_config(text, explicit)
    if parsed is None:
        raise ConfigError(f"{explicit}: no [tool.hublint] table")
    return parsed


def _exit_code(results: list[LintResult], fail_on: str) -> int:
    if fail_on == "never":
        return EXIT_OK
    threshold = Severity(fail_on).rank
    failing = any(f.severity.rank >= threshold for r in results for f in r.findings)
    return EXIT_FINDINGS if failing else EXIT_OK


def _rules(args: argparse.Namespace) -> int:
    policy = bot_policy()
    rows = [("CODE", "NAME", "CATEGORY", "SEVERITY", "FIX", "BOT")]
    for rule in rules.ALL_RULES:
        fixable = "yes" if rule.fixable else ""
        row = (rule.code, rule.name, rule.category.value, rule.severity.value, fixable, policy.action(rule.code).value)
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return EXIT_OK


def bot_policy() -> BotPolicy:
    """The operator's `[tool.hublint.bot] actions` over the rules' own bot actions (config found from the CWD)."""
    from hublint.policy import BotPolicy

    try:
        return BotPolicy(load_config().bot_actions)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def _rule(args: argparse.Namespace) -> int:
    try:
        rule = rules.get(args.rule)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    doc = prose.rule_doc(rule.code) + prose.render("rules/bot_action.md.j2", action=rule.bot_action.value)
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.markdown import Markdown

        Console().print(Markdown(doc))
    else:
        sys.stdout.write(doc)
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from hublint.demo import run_demo

    return EXIT_OK if run_demo(args.keep, emit=_emit) else EXIT_ERROR


def _emit(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
