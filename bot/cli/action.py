"""`hublint action`: what action.yml runs. One lint, then everything a GitHub Actions job can show of it.

Annotations go to stdout as workflow commands, the Markdown report to `$GITHUB_STEP_SUMMARY`, counts and the
SARIF path to `$GITHUB_OUTPUT`, SARIF to `--sarif-file`, and on a pull request one sticky comment
(bot/github.py). Only the lint decides the exit code: a comment that cannot be posted (a fork's read-only
token, GitHub down) becomes a notice or a warning, never a failed job.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hublint import __version__
from hublint.config import FAIL_ON
from hublint.lint import LintResult
from hublint.render import render
from hublint.render.action import pr_comment, step_summary
from hublint.render.github import escape_data, escape_property
from hublint.rules.model import Severity

if TYPE_CHECKING:  # bot.github imports github3.py, which only a pull request comment needs
    from hublint.github import PullRequest

MARKER = "<!-- hublint:pr-comment {key} -->"
PULL_REQUEST_EVENTS = frozenset({"pull_request", "pull_request_target"})


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "action", help="run as the GitHub Action: annotations, step summary, outputs, SARIF, one PR comment"
    )
    parser.add_argument(
        "--path", dest="targets", type=_lines, default=["."], metavar="DIRS", help="directories, one per line"
    )
    parser.add_argument(
        "--fail-on", type=_choice(FAIL_ON), metavar="|".join(FAIL_ON), help="lowest severity that fails"
    )
    parser.add_argument("--sarif-file", type=_optional, metavar="PATH", help="write SARIF 2.1.0 here")
    parser.add_argument(
        "--comment", type=_choice(("true", "false")), default="true", metavar="true|false", help="one sticky PR comment"
    )
    parser.add_argument("--hub-repo", type=_optional, metavar="OWNER/NAME[@REV]", help="Hub copy of LFS pointers")
    parser.add_argument("--endpoint", type=_optional, metavar="URL", help="Hub URL (default: HF_ENDPOINT)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from hublint.cli import EXIT_ERROR, CheckOptions, UsageError, _exit_code, lint_targets

    if not args.targets:
        raise UsageError("--path names no directory")
    # The action keeps its inputs few and lets the repository's .hublint.toml say the rest.
    options = CheckOptions(targets=args.targets, fail_on=args.fail_on, hub_repo=args.hub_repo, endpoint=args.endpoint)
    results, fail_on = lint_targets(options)
    env = os.environ
    _emit_annotations(results)
    _emit_log(results)
    _append(env.get("GITHUB_STEP_SUMMARY"), step_summary(results, version=__version__))
    if args.sarif_file:
        _write_sarif(results, Path(args.sarif_file))
    comment = "off" if args.comment == "false" else _comment(results, args.targets, env)
    _append(env.get("GITHUB_OUTPUT"), _outputs(results, args.sarif_file or "", comment))
    return EXIT_ERROR if any(r.error for r in results) else _exit_code(results, fail_on)


def _write_sarif(results: list[LintResult], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(results, "sarif", version=__version__), encoding="utf-8")


def _outputs(results: list[LintResult], sarif_file: str, comment: str) -> str:
    """`name=value` lines for $GITHUB_OUTPUT: every value is one line, so no heredoc delimiter is needed."""
    counts = {s: sum(f.severity is s for r in results for f in r.findings) for s in Severity}
    outputs = {
        "errors": counts[Severity.ERROR],
        "warnings": counts[Severity.WARNING],
        "sarif-file": sarif_file,
        "comment": comment,
    }
    return "".join(f"{name}={value}\n" for name, value in outputs.items())


def _emit_annotations(results: list[LintResult]) -> None:
    sys.stdout.write(render(results, "github", version=__version__))
    for result in results:
        if result.error:
            where = "" if os.path.normpath(result.target) == "." else f"{result.target}: "
            _command("error", where + result.error, title="hublint could not lint")


def _emit_log(results: list[LintResult]) -> None:
    """The text report in a collapsed group; repo strings in it are kept from being read as workflow commands."""
    resume = secrets.token_hex(16)
    print("::group::hublint report")
    print(f"::stop-commands::{resume}")
    sys.stdout.write(render(results, "text", version=__version__))
    print(f"::{resume}::")
    print("::endgroup::", flush=True)


def _command(level: str, message: str, *, title: str = "hublint") -> None:
    print(f"::{level} title={escape_property(title)}::{escape_data(message)}", flush=True)


def _comment(results: list[LintResult], targets: Sequence[str], env: Mapping[str, str]) -> str:
    from hublint.github import PUBLIC_API, GitHubError, Outcome, upsert_comment

    pr = _pull_request(env)
    if pr is None:
        return "not-a-pull-request"
    token = env.get("GITHUB_TOKEN")
    if not token:
        _command("notice", "no GITHUB_TOKEN (the action's github-token input): no pull request comment")
        return "no-token"
    marker = MARKER.format(key=re.sub(r"[^\w./-]", "_", ",".join(targets)))
    body = pr_comment(results, marker=marker, version=__version__)
    try:
        outcome = upsert_comment(
            pr,
            body,
            marker=marker,
            token=token,
            api_url=env.get("GITHUB_API_URL") or PUBLIC_API,
            create=any(r.findings or r.error for r in results),  # a clean PR gets no comment unless one exists
        )
    except GitHubError as exc:
        _command("warning", f"could not update the pull request comment: {exc}")
        return "failed"
    if outcome is Outcome.READ_ONLY:
        _command(
            "notice",
            "the token cannot comment on this pull request (a pull request from a fork gets a read-only"
            " GITHUB_TOKEN): the findings are in the annotations and the job summary",
        )
    return outcome.value


def _pull_request(env: Mapping[str, str]) -> PullRequest | None:
    from hublint.github import PullRequest

    if env.get("GITHUB_EVENT_NAME") not in PULL_REQUEST_EVENTS or not env.get("GITHUB_REPOSITORY"):
        return None
    try:
        event = json.loads(Path(env.get("GITHUB_EVENT_PATH", "")).read_text(encoding="utf-8"))
        number = int(event["pull_request"]["number"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return PullRequest(env["GITHUB_REPOSITORY"], number)


def _append(path: str | None, text: str) -> None:
    """Append to a file the runner reads after the step; outside a runner there is none, and nothing to do."""
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _optional(text: str) -> str | None:
    """An action input that was left empty arrives as an empty string: treat it as not given."""
    return text.strip() or None


def _choice(choices: Sequence[str]) -> Callable[[str], str | None]:
    def parse(text: str) -> str | None:
        value = text.strip().lower()
        if value and value not in choices:
            raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(choices)}")
        return value or None

    return parse
