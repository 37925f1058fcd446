"""Markdown for PR comments and step summaries (GitHub-flavoured), through templates/report.md.j2.

Messages carry strings taken from other people's repos (tensor names, token strings, paths). Everything is
escaped here, before the template sees it, so a repo cannot break the table or inject HTML, links, @mentions,
issue references, `$…$` math or bare-domain autolinks into a comment that hublint posts; control characters and
bidi overrides are shown as `\x1b` and `<U+202E>` (bot/render/safe.py), so a post reads as what it is.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from hublint import prose
from hublint.lint import LintResult
from hublint.render.safe import visible
from hublint.rules.model import Finding, Severity

_SEVERITY = {
    Severity.ERROR: ":x: error",
    Severity.WARNING: ":warning: warning",
    Severity.INFO: ":information_source: info",
}
# A CommonMark code span: a backtick run, content, the same run again, neither touching further backticks.
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")
# ASCII punctuation that can start markup in a table cell or paragraph (`$` opens math on GitHub and the Hub);
# backslash-escaped, so it shows as is.
_MARKUP = re.compile(r"([\\`*_\[\]<>|~&!$])")
# GitHub and linkifiers turn these into mentions, issue references and links after Markdown is rendered, so
# backslashes do not stop them; a zero-width space after the trigger does. A dot between a name and a letter is
# a bare domain's (`evil.com`, which fuzzy linkifiers link): the space after the dot leaves no known TLD.
_AUTOLINKS = re.compile(r"(@|#|:(?=//)|(?i:www)(?=\.)|(?<=[^\W_])\.(?=[^\W\d_]))")


def render(results: list[LintResult], *, version: str) -> str:
    return prose.render(
        "report.md.j2",
        version=version,
        summary=_summary(results),
        targets=[_target_view(result) for result in results],
    )


def escape(text: str, *, table: bool = False) -> str:
    """Repo-provided text as inert Markdown on one line; code spans the rule wrote stay code spans."""
    text = visible(" ".join(text.split()))
    parts, position = [], 0
    for match in _CODE_SPAN.finditer(text):
        parts.append(_plain(text[position : match.start()]))
        parts.append(code_span(match.group(2), table=table))
        position = match.end()
    parts.append(_plain(text[position:]))
    return "".join(parts)


def code_span(text: str, *, table: bool = False) -> str:
    """`text` as one code span: nothing inside a code span renders as HTML, a link or a mention."""
    text = visible(re.sub(r"[\r\n]+", " ", text))
    if not text:
        return ""
    if table:
        text = text.replace("|", "\\|")  # GFM splits cells before parsing code spans
    fence = "`" * (_longest_run(text, "`") + 1)
    padded = text.startswith("`") or text.endswith("`") or (text.startswith(" ") and text.endswith(" "))
    return f"{fence} {text} {fence}" if padded else f"{fence}{text}{fence}"


def code_block(code: str, language: str = "python") -> str:
    """A fenced block whose fence is longer than any backtick run inside, so the code cannot close it."""
    fence = "`" * max(3, _longest_run(code, "`") + 1)
    return f"{fence}{language}\n{code.rstrip()}\n{fence}"


def fix_code(finding: Finding) -> str | None:
    """The runnable loading program of a finding's fix, when its rule knows one."""
    if finding.fix is None or finding.fix.recipe is None:
        return None
    from hublint.render.loading import loading_code  # imported late: templates are only needed when a fix has code

    return loading_code(finding.fix.recipe)


@dataclass(frozen=True)
class _Row:
    severity: str
    rule: str
    message: str
    file: str


@dataclass(frozen=True)
class _FixView:
    title: str  # raw HTML inside <summary>: built from hublint's own code and name only
    summary: str
    code: str | None


@dataclass(frozen=True)
class _TargetView:
    heading: str
    rows: list[_Row]
    fixes: list[_FixView]
    skipped: list[str]


def _target_view(result: LintResult) -> _TargetView:
    heading = code_span(result.label)
    if result.revision:
        heading += f" at {code_span(result.revision[:12])}"
    return _TargetView(
        heading=heading,
        rows=[_row(finding) for finding in result.findings],
        fixes=[_fix_view(finding) for finding in result.findings if finding.fix is not None],
        skipped=[f"{code_span(s.rule)}: {escape(s.reason)}" for s in result.skipped],
    )


def _row(finding: Finding) -> _Row:
    return _Row(
        severity=_SEVERITY[finding.severity],
        rule=f"[{finding.rule}]({prose.rule_url(finding.rule)}) {finding.name}",
        message=escape(finding.message, table=True),
        file=code_span(finding.file, table=True) if finding.file else "",
    )


def _fix_view(finding: Finding) -> _FixView:
    assert finding.fix is not None
    code = fix_code(finding)
    return _FixView(
        title=html.escape(f"How to fix {finding.rule} {finding.name}"),
        summary=escape(finding.fix.summary),
        code=code_block(code) if code else None,
    )


def _summary(results: list[LintResult]) -> str:
    counts = {severity: 0 for severity in Severity}
    for result in results:
        for finding in result.findings:
            counts[finding.severity] += 1
    targets = _plural(len(results), "target")
    if not any(counts.values()):
        return f"No findings in {targets}."
    errors = _plural(counts[Severity.ERROR], "error")
    if counts[Severity.ERROR]:
        errors = f"**{errors}**"
    warnings = _plural(counts[Severity.WARNING], "warning")
    return f"{errors}, {warnings} and {counts[Severity.INFO]} info in {targets}."


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _plain(text: str) -> str:
    return _AUTOLINKS.sub("\\1\u200b", _MARKUP.sub(r"\\\1", text))


def _longest_run(text: str, char: str) -> int:
    return max((len(run) for run in re.findall(f"{re.escape(char)}+", text)), default=0)
