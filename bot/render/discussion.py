"""The Hub bot's words: a discussion's title and body, and the one comment when the findings change.

bot/discussions.py decides whether and what to post; this module only formats. Every string from the repo reaches
the Markdown through bot/render/markdown.py's helpers; titles carry no repo strings at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hublint import prose, rules
from hublint.render.markdown import code_block, code_span, escape, fix_code
from hublint.rules.model import Finding

TITLE_PREFIX = "[bot]"
TITLE_LIMIT = 200  # the Hub refuses longer titles


@dataclass(frozen=True)
class _FindingView:
    rule: str
    name: str
    severity: str
    url: str
    message: str  # escaped Markdown
    file: str  # a code span, or ""
    fix: str  # escaped Markdown, or ""
    facts: Mapping[str, Any]  # the details as numbers, booleans, None and code spans


def title(finding: Finding) -> str:
    """`[bot] ...` naming the problem, from hublint's words and the finding's numbers only."""
    numbers = {k: v for k, v in finding.details.items() if isinstance(v, int) and not isinstance(v, bool)}
    text = prose.render("discussion_title.j2", rule=finding.rule, rule_name=finding.name, numbers=numbers)
    return " ".join(text.split())[:TITLE_LIMIT]


def body(top: Finding, others: Sequence[Finding], *, markers: str, version: str) -> str:
    """The opening post: what breaks (`top`), the loading code that works, how to fix it for good, the rest."""
    recipe = top.fix.recipe if top.fix else None
    return _render(
        "discussion.md.j2",
        version=version,
        top=_view(top),
        base=code_span(recipe.base_model) if recipe else None,
        symptom=_size_mismatch(top),
        code=_loading_code([top, *others]),
        others=[_view(f) for f in others],
        markers=markers,
    )


def update(
    fresh: Sequence[Finding], changed: Sequence[Finding], fixed: Sequence[str], *, markers: str, version: str
) -> str:
    """One comment on what changed since the bot's last post: the findings not posted before (`fresh`, most
    severe first), which of them changed a posted one, and the rule codes whose findings are gone."""
    return _render(
        "discussion_update.md.j2",
        version=version,
        changed=[_view(f) for f in changed],
        new=[_view(f) for f in fresh if f not in changed],
        fixed=[(code, _rule_name(code), prose.rule_url(code)) for code in fixed],
        code=_loading_code(fresh),
        markers=markers,
    )


def _render(template: str, **context: Any) -> str:
    # The Hub strips a description; stripping here keeps what is planned identical to what is posted.
    return prose.render(template, **context).strip()


def _view(finding: Finding) -> _FindingView:
    return _FindingView(
        rule=finding.rule,
        name=finding.name,
        severity=finding.severity.value,
        url=prose.rule_url(finding.rule),
        message=escape(finding.message),
        file=code_span(finding.file) if finding.file else "",
        fix=escape(finding.fix.summary) if finding.fix else "",
        facts=_facts(finding.details),
    )


def _facts(details: Mapping[str, Any]) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    for key, value in details.items():
        if value is None or isinstance(value, (bool, int, float)):
            facts[key] = value
        elif isinstance(value, str):
            facts[key] = code_span(value)
    return facts


def _loading_code(findings: Sequence[Finding]) -> str | None:
    """The working program of the first finding whose rule knows one, as a fenced block."""
    for finding in findings:
        code = fix_code(finding)
        if code:
            return code_block(code)
    return None


def _size_mismatch(finding: Finding) -> str | None:
    """The error a plain load prints for HL101, from the header's shapes, when the rule says it is a size mismatch."""
    details = finding.details
    if finding.rule != "HL101" or details.get("load_error") != "size mismatch":
        return None
    rows, base_rows, tensors = details.get("adapter_rows"), details.get("base_rows"), details.get("tensors")
    if not isinstance(tensors, Mapping) or not isinstance(base_rows, int):
        return None
    shape = next((list(s) for s in tensors.values() if isinstance(s, list) and rows in s), None)
    if shape is None:
        return None
    current = [base_rows if n == rows else n for n in shape]
    error = (
        "RuntimeError: Error(s) in loading state_dict for PeftModelForCausalLM:\n"
        f"\tsize mismatch for …: copying a param with shape torch.Size({shape}) from checkpoint,"
        f" the shape in current model is torch.Size({current})."
    )
    return code_block(error, "text")


def _rule_name(code: str) -> str:
    try:
        return rules.get(code).name
    except KeyError:  # a rule a newer hublint posted about
        return ""
