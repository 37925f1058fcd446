"""The GitHub Action's Markdown: the job's step summary and the sticky pull request comment.

Both are the Markdown report (bot/render/markdown.py) plus the targets that could not be linted, through
templates/pr_comment.md.j2; each is cut to its heading and totals when GitHub would refuse the whole of it.
bot/cli/action.py decides where they go and whether a comment is posted.
"""

from __future__ import annotations

from hublint import prose
from hublint.lint import LintResult
from hublint.render import markdown
from hublint.render.markdown import code_span, escape

COMMENT_LIMIT = 65_536  # GitHub refuses longer comment bodies (422)
SUMMARY_LIMIT = 1_048_576  # bytes of one step's summary; a longer one is not shown at all
TOO_LONG = "The full report is too long for {where}: the job log and the SARIF file list every finding."


def step_summary(results: list[LintResult], *, version: str) -> str:
    return _fit(_report(results, "", version), SUMMARY_LIMIT, "a step summary")


def pr_comment(results: list[LintResult], *, marker: str, version: str) -> str:
    """The comment's body; `marker` (hidden) is how the action finds its own comment on the next run."""
    return _fit(_report(results, marker, version), COMMENT_LIMIT, "a comment")


def _report(results: list[LintResult], marker: str, version: str) -> str:
    linted = [r for r in results if not r.error]
    return prose.render(
        "pr_comment.md.j2",
        version=version,
        marker=marker,
        report=markdown.render(linted, version=version).rstrip() if linted else "",
        errors=[f"{code_span(r.target)}: {escape(r.error)}" for r in results if r.error],
    )


def _fit(text: str, limit: int, where: str) -> str:
    """`text`, or its heading and totals with a note when GitHub would refuse the whole of it."""
    if len(text.encode()) <= limit:
        return text
    head = text.split("\n### ", 1)[0].rstrip()
    return f"{head}\n\n{TOO_LONG.format(where=where)}\n"
