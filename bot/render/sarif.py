"""SARIF 2.1.0 for GitHub code scanning (upload-sarif) and other SARIF viewers: one run, every rule.

What GitHub accepts and does (research/github.md, "SARIF 2.1.0"): artifact URIs must be repo-relative or
file: URIs, so a Hub repo's file is given by its path in that repo with the Hub id in the result's properties.
upload-sarif hashes the source around `region.startLine` to fingerprint a result; results in binary files
carry no region, and every result carries its own `hublint/v1` fingerprint, so no weights file is ever read.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote

from hublint import prose, rules
from hublint.lint import LintResult
from hublint.render.github import ANCHOR, local_path
from hublint.render.markdown import code_block, escape, fix_code
from hublint.render.safe import dumps
from hublint.rules.model import Finding, Rule, Severity

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
INFORMATION_URI = "https://github.com/hublint/hublint"
SRCROOT = "%SRCROOT%"
LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
TEXT_SUFFIXES = frozenset({".json", ".md", ".txt", ".yaml", ".yml", ".toml", ".jinja", ".py"})
MAX_DESCRIPTION = 1024  # GitHub rejects longer short/full descriptions


def render(results: list[LintResult], *, version: str) -> str:
    index = {rule.code: i for i, rule in enumerate(rules.ALL_RULES)}
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "hublint",
                "version": version,
                "informationUri": INFORMATION_URI,
                "rules": [_descriptor(rule) for rule in rules.ALL_RULES],
            }
        },
        "invocations": [_invocation(results, index)],
        "results": [_result(result, finding, index) for result in results for finding in result.findings],
        "columnKind": "unicodeCodePoints",
    }
    if any(result.source == "local" for result in results):
        # Local paths are relative to the CWD, which is the repository root in a workflow step.
        run["originalUriBaseIds"] = {SRCROOT: {"uri": Path.cwd().as_uri() + "/"}}
    log = {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
    return dumps(log) + "\n"


def _descriptor(rule: type[Rule]) -> dict[str, Any]:
    doc = prose.rule_doc(rule.code)
    summary = prose.rule_summary(rule.code)
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": _clip(summary)},
        "fullDescription": {"text": _clip(_section(doc, "What it checks") or summary)},
        "help": {"text": doc, "markdown": doc},
        "helpUri": prose.rule_url(rule.code),
        "defaultConfiguration": {"level": LEVEL[rule.severity]},
        "properties": {"category": rule.category.value, "tags": ["hublint", rule.category.value]},
    }


def _result(result: LintResult, finding: Finding, index: dict[str, int]) -> dict[str, Any]:
    file = finding.file or ANCHOR
    text = finding.message if result.source == "local" else f"{result.label}: {finding.message}"
    markdown = escape(text)
    properties: dict[str, Any] = {
        "category": finding.category.value,
        "target": result.target,
        "source": result.source,
        "revision": result.revision,
        "details": dict(finding.details),
    }
    if result.source == "hub":
        properties["hubId"] = _hub_id(result)
    if finding.fix is not None:
        text += f"\nFix: {finding.fix.summary}"
        markdown += f"\n\n**Fix:** {escape(finding.fix.summary)}"
        properties["fix"] = {"summary": finding.fix.summary}
        code = fix_code(finding)
        if code:
            properties["fix"]["code"] = code
            markdown += "\n\n" + code_block(code)
    return {
        "ruleId": finding.rule,
        "ruleIndex": index[finding.rule],
        "level": LEVEL[finding.severity],
        "message": {"text": text, "markdown": markdown},
        "locations": [{"physicalLocation": _physical_location(result, file)}],
        "partialFingerprints": {"hublint/v1": _fingerprint(result, finding, file)},
        "properties": properties,
    }


def _physical_location(result: LintResult, file: str) -> dict[str, Any]:
    if result.source == "hub":
        described = f"{file} in the Hugging Face Hub repo {_hub_id(result)}"
        return {"artifactLocation": {"uri": _uri(file), "description": {"text": described}}}
    path = local_path(result.target, file)
    outside = posixpath.isabs(path)
    artifact = {"uri": Path(path).as_uri()} if outside else {"uri": _uri(path), "uriBaseId": SRCROOT}
    location: dict[str, Any] = {"artifactLocation": artifact}
    if PurePosixPath(file).suffix.lower() in TEXT_SUFFIXES:
        location["region"] = {"startLine": 1}  # file-level finding in a text file: GitHub wants a line
    return location


def _uri(path: str) -> str:
    """A relative URI; a character UTF-8 cannot hold (a lone surrogate from a JSON escape) is written `\\udXXX`."""
    return quote(path, errors="backslashreplace")


def _fingerprint(result: LintResult, finding: Finding, file: str) -> str:
    """Stable across commits: the Hub id without revision (or the repo path), rule, file and details."""
    scope = _hub_id(result) if result.source == "hub" else local_path(result.target, ".")
    identity = [scope, finding.rule, file, finding.details]
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def _invocation(results: list[LintResult], index: dict[str, int]) -> dict[str, Any]:
    """Skipped rules become notifications, so a reader sees what was not checked and why."""
    notifications = [
        {
            "level": "note",
            "message": {"text": f"{result.target}: {skipped.rule} skipped: {skipped.reason}"},
            "associatedRule": {"id": skipped.rule, "index": index[skipped.rule]},
        }
        for result in results
        for skipped in result.skipped
    ]
    return {"executionSuccessful": True, "toolExecutionNotifications": notifications}


def _hub_id(result: LintResult) -> str:
    return result.target.split("@", 1)[0]


def _section(doc: str, title: str) -> str:
    """The text of one `## title` section of a rule doc, on one line."""
    match = re.search(rf"^##\s+{re.escape(title)}\s*$(.*?)(?=^##\s|\Z)", doc, re.M | re.S)
    return " ".join(match.group(1).split()) if match else ""


def _clip(text: str) -> str:
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"
