"""The JSON document of the contract (DESIGN.md): one object on stdout, stable keys, additions only."""

from __future__ import annotations

from typing import Any

from hublint.lint import LintResult
from hublint.render.loading import loading_code
from hublint.render.safe import dumps
from hublint.rules.model import Finding


def render(results: list[LintResult], *, version: str) -> str:
    document = {"tool": {"name": "hublint", "version": version}, "results": [result_dict(r) for r in results]}
    return dumps(document) + "\n"


def result_dict(result: LintResult) -> dict[str, Any]:
    data: dict[str, Any] = {
        "target": result.target,
        "revision": result.revision,
        "source": result.source,
        "subfolder": result.subfolder,  # one of several adapters in the repo (additive: null for the root adapter)
        "findings": [finding_dict(f) for f in result.findings],
        "stats": {"http_requests": result.stats.http_requests, "bytes_downloaded": result.stats.bytes_downloaded},
        "skipped": [{"rule": s.rule, "reason": s.reason} for s in result.skipped],
        "base_model": result.snapshot.base_model_id if result.snapshot is not None else None,
    }
    if result.error:
        data["error"] = result.error
    return data


def finding_dict(finding: Finding) -> dict[str, Any]:
    fix = None
    if finding.fix is not None:
        fix = {"summary": finding.fix.summary}
        if finding.fix.recipe is not None:
            fix["code"] = loading_code(finding.fix.recipe)
    return {
        "rule": finding.rule,
        "name": finding.name,
        "category": finding.category.value,
        "severity": finding.severity.value,
        "message": finding.message,
        "file": finding.file,
        "details": dict(finding.details),
        "fix": fix,
    }
