"""The dashboard issue's Markdown (also `hublint report --format markdown` and a workflow job summary).

Summary first, then one checklist line per broken repo with its findings and a link to its fix. A ticked box
means "acknowledged": the next run reads it back (`read_checklist`), the store remembers it, and every report
shows it. The body stays under GitHub's 65,536 characters: the summary always stays, lines that do not fit are
cut from the end and the body says how many.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, unquote

from hublint import prose
from hublint.render.markdown import code_span, escape
from hublint.report.model import RepoEntry, Report
from hublint.report.site import repo_links

MARKER = "<!-- hublint-dashboard -->"
LIMIT = 65_536
BUDGET = LIMIT - 2_000  # room for the truncation note and GitHub's own CRLF rewriting of a long body
_BOX = re.compile(r"^\s*[-*] \[([ xX])\] <!-- hublint-repo=(\S+) -->", re.MULTILINE)


def title(author: str | None) -> str:
    return f"hublint dashboard: {author}" if author else "hublint dashboard"


def read_checklist(body: str) -> tuple[frozenset[str], frozenset[str]]:
    """The repo ids whose box is ticked, and those whose box is not, in an earlier body."""
    ticked, unticked = set(), set()
    for mark, repo in _BOX.findall(body):
        (unticked if mark == " " else ticked).add(unquote(repo))
    return frozenset(ticked), frozenset(unticked)


def render(report: Report, *, author: str | None = None, site_url: str | None = None) -> str:
    head = _summary(report, author, site_url)
    broken = [repo for repo in report.repos if repo.broken]
    links = repo_links(report) if site_url else {}
    lines, used = [], len(head)
    for repo in broken:
        line = _line(repo, site_url.rstrip("/") + "/" + links[repo.id] if site_url else None)
        if used + len(line) + 1 > BUDGET:
            break
        lines.append(line)
        used += len(line) + 1
    body = head + "\n".join(lines) + ("\n" if lines else "")
    cut = len(broken) - len(lines)
    if cut:
        where = f"the [full report]({site_url})" if site_url else "`report.json` (`hublint report --format json`)"
        body += (
            f"\n_{cut} more broken repos are not listed: an issue holds at most {LIMIT:,} characters. See {where}._\n"
        )
    return body


def _summary(report: Report, author: str | None, site_url: str | None) -> str:
    counts = report.status_counts()
    linted = report.linted_count()
    acknowledged = sum(1 for repo in report.repos if repo.broken and repo.acknowledged)
    scope = f" of {code_span(author)}" if author else ""
    lines = [
        MARKER,
        f"## hublint dashboard{scope}",
        "",
        f"**{linted} repos linted{scope}: {counts['error']} broken, {counts['warning']} with warnings"
        f", {counts['clean'] + counts['info']} passing.**" + (f" {acknowledged} acknowledged." if acknowledged else ""),
    ]
    if counts["failed"] or counts["pending"]:
        lines.append(f"{counts['failed']} could not be linted, {counts['pending']} wait for their first lint.")
    # The findings' age, not the clock's nor the last crawl's: a run over unchanged findings leaves the text alone,
    # so the issue is edited only when there is news.
    changed = f"Findings last changed on {report.last_change}" if report.last_change else ""
    link = f"[full report]({site_url})" if site_url else ""
    if changed or link:
        lines.append(" · ".join(part for part in (changed, link) if part) + ".")
    if counts["error"]:
        lines += [
            "",
            "### Broken repos",
            "",
            "Tick a box to acknowledge a repo: it stays ticked, and every report shows it as acknowledged.",
            "",
        ]
    return "\n".join(lines) + "\n"


def _line(repo: RepoEntry, fix_url: str | None) -> str:
    box = "x" if repo.acknowledged else " "
    first, *others = _errors_first(repo.findings)
    findings = f"{first['rule']} {escape(str(first.get('message', '')))}"
    if others:
        findings += " Also " + ", ".join(sorted({f["rule"] for f in others} - {first["rule"]})) + "."
    key = quote(repo.id, safe="/")  # a comment can never be closed from inside it
    return f"- [{box}] <!-- hublint-repo={key} --> {code_span(repo.id)}: {findings} ({_fix_link(repo, fix_url)})"


def _errors_first(findings: Iterable[dict]) -> list[dict]:
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(findings, key=lambda f: order.get(f.get("severity"), 3))


def _fix_link(repo: RepoEntry, fix_url: str | None) -> str:
    if fix_url:
        return f"[fix]({fix_url})"
    rule = next((f["rule"] for f in _errors_first(repo.findings)), None)
    return f"[how to fix]({prose.rule_url(rule)})" if rule else "no fix"
