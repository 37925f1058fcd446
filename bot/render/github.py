"""GitHub Actions workflow commands: one annotation per finding, within GitHub's caps.

GitHub keeps at most 10 error, 10 warning and 10 notice annotations per step (50 per job) and silently drops
the rest (actions/toolkit docs/problem-matchers.md), so hublint shows the first ones of each level, in the order
the findings come (most severe first within a target), and says in one more notice how many it left out.
"""

from __future__ import annotations

import posixpath
from collections import Counter
from pathlib import Path

from hublint.lint import LintResult
from hublint.render.safe import visible
from hublint.rules.model import Finding, Severity

ANCHOR = "adapter_config.json"  # where findings about the repo as a whole point
LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}
PER_STEP = 10  # per level; 3 levels x 10 stays under the 50-per-job cap


def render(results: list[LintResult], *, version: str) -> str:
    findings = [(result, finding) for result in results for finding in result.findings]
    totals = Counter(LEVEL[finding.severity] for _, finding in findings)
    caps = dict.fromkeys(LEVEL.values(), PER_STEP)
    if any(count > PER_STEP for count in totals.values()):
        caps["notice"] -= 1  # keep a notice slot for the count line itself
    shown: Counter[str] = Counter()
    lines = []
    for result, finding in findings:
        level = LEVEL[finding.severity]
        if shown[level] < caps[level]:
            shown[level] += 1
            lines.append(_command(level, result, finding))
    hidden = totals - shown
    if hidden:
        lines.append(_count_line(hidden, version))
    return "".join(f"{line}\n" for line in lines)


def escape_data(text: str) -> str:
    """A command's message: GitHub decodes these three, and a raw newline would end the command. Other controls
    (ESC colours the log), bidi overrides and lone surrogates (which cannot be printed) are shown visibly."""
    return visible(text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A"))


def escape_property(text: str) -> str:
    """A command property value: additionally `:` and `,`, which separate the command's parts."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def local_path(target: str, file: str) -> str:
    """A local finding's file as GitHub wants it: relative to the repository root, the CWD of a workflow step.

    A path outside the CWD stays absolute; GitHub cannot place it, but it still names the file.
    """
    path = Path(target, file)
    if path.is_absolute():
        try:
            path = path.relative_to(Path.cwd())
        except ValueError:
            return path.as_posix()
    return posixpath.normpath(path.as_posix())


def _command(level: str, result: LintResult, finding: Finding) -> str:
    properties = {"title": f"{finding.rule} {finding.name}"}
    message = finding.message
    if result.source == "local":
        properties = {"file": local_path(result.target, finding.file or ANCHOR), **properties}
    else:
        # A Hub repo's files are not in the checkout: name the repo and file in the message instead.
        message = f"{result.target} ({finding.file or ANCHOR}): {message}"
    if finding.fix is not None:
        message += f"\nFix: {finding.fix.summary}"
    rendered = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    return f"::{level} {rendered}::{escape_data(message)}"


def _count_line(hidden: Counter[str], version: str) -> str:
    parts = ", ".join(f"{hidden[level]} {level}" for level in LEVEL.values() if hidden[level])
    message = (
        f"hublint {version}: {hidden.total()} more findings not shown as annotations ({parts}); GitHub shows at "
        f"most {PER_STEP} of each level per step. The step summary, SARIF or text output lists them all."
    )
    return f"::notice title=hublint::{escape_data(message)}"
