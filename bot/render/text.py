"""Findings for people: grouped by severity, each with its fix; colour only when the CLI says it's a TTY."""

from __future__ import annotations

import io

from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax
from rich.text import Text

from hublint.lint import LintResult
from hublint.render.loading import loading_code
from hublint.render.safe import visible
from hublint.rules.model import Finding, Severity
from hublint.rules.numbers import human_bytes

# Repo strings (tensor names, token strings, base ids, paths, reasons) reach every line: each goes through
# `visible` (bot/render/safe.py). The loading code holds them only as Python literals, which repr keeps inert.
STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


def render(results: list[LintResult], *, version: str, color: bool = False) -> str:
    buffer = io.StringIO()
    # soft_wrap: long messages stay one line in files and CI logs; a terminal wraps them itself.
    console = Console(file=buffer, force_terminal=color, no_color=not color, highlight=False, soft_wrap=True)
    for result in results:
        _result(console, result, color)
    if len(results) > 1:
        console.print(_totals(results))
    return buffer.getvalue()


def _result(console: Console, result: LintResult, color: bool) -> None:
    revision = f" @ {visible(result.revision[:12])}" if result.revision else ""
    console.print(Text.assemble((visible(result.label), "bold"), f"{revision} ({result.source})"))
    if result.error:
        console.print(Text(f"  could not lint: {visible(result.error)}", style="red"))
        return
    for severity in (Severity.ERROR, Severity.WARNING, Severity.INFO):
        for finding in (f for f in result.findings if f.severity is severity):
            _finding(console, finding, color)
    console.print(_summary(result))
    console.print()


def _finding(console: Console, finding: Finding, color: bool) -> None:
    where = f"  {visible(finding.file)}" if finding.file else ""
    console.print(
        Text.assemble(
            "  ",
            (f"{finding.severity.value:<7}", STYLE[finding.severity]),
            " ",
            (finding.rule, "bold"),
            f" {finding.name}",
            (where, "dim"),
        )
    )
    console.print(Text("    " + visible(finding.message)))
    if finding.fix is None:
        return
    console.print(Text.assemble("    ", ("fix: ", "green"), visible(finding.fix.summary)))
    if finding.fix.recipe is not None:
        code = loading_code(finding.fix.recipe)
        if color:
            console.print(Syntax(code, "python", theme="ansi_dark", padding=(0, 4), background_color="default"))
        else:
            console.print(escape("\n".join("      " + line if line else "" for line in code.splitlines())))


def _summary(result: LintResult) -> Text:
    counts = [_count(result.findings, s) for s in (Severity.ERROR, Severity.WARNING, Severity.INFO)]
    text = ", ".join(c for c in counts if c) or "no findings"
    stats = result.stats
    if result.source == "hub":
        text += f" · {stats.http_requests} requests, {human_bytes(stats.bytes_downloaded)} read"
    if result.skipped:
        codes = ", ".join(sorted({s.rule for s in result.skipped}))
        text += f" · skipped {codes}: {visible(result.skipped[0].reason)}"
    return Text("  " + text, style="dim")


def _totals(results: list[LintResult]) -> Text:
    findings = [f for r in results for f in r.findings]
    counts = [_count(findings, s) for s in (Severity.ERROR, Severity.WARNING, Severity.INFO)]
    failed = sum(1 for r in results if r.error)
    text = f"{len(results)} targets: " + (", ".join(c for c in counts if c) or "no findings")
    return Text(text + (f", {failed} could not be linted" if failed else ""), style="bold")


def _count(findings: list[Finding], severity: Severity) -> str:
    n = sum(1 for f in findings if f.severity is severity)
    label = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "info"}[severity]
    return "" if n == 0 else f"{n} {label}{'s' if n > 1 and severity is not Severity.INFO else ''}"
