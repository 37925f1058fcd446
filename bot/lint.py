"""Select rules, run them on a snapshot, apply configuration. No I/O here beyond what callers hand in."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hublint import rules
from hublint.rules.model import Finding, Need, Rule, Severity
from hublint.rules.snapshot import RepoSnapshot


@dataclass
class Stats:
    """Every HTTP request made and every body byte transferred for one target."""

    http_requests: int = 0
    bytes_downloaded: int = 0

    def add(self, other: Stats) -> None:
        self.http_requests += other.http_requests
        self.bytes_downloaded += other.bytes_downloaded


@dataclass(frozen=True)
class Skipped:
    rule: str
    reason: str


@dataclass
class LintResult:
    target: str
    source: str  # "hub" | "local"
    revision: str | None
    findings: list[Finding] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)
    snapshot: RepoSnapshot | None = None
    error: str | None = None  # an operational failure for this target (the CLI exits 2)
    subfolder: str | None = None  # one of several adapters in the repo: the folder it is in

    @property
    def label(self) -> str:
        """How reports name it: the target, and the adapter's folder when the repo holds several."""
        return f"{self.target} ({self.subfolder}/)" if self.subfolder else self.target

    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), key=lambda s: s.rank, default=None)


@dataclass(frozen=True)
class LintConfig:
    """What to run and how loud: from --select/--ignore and [tool.hublint] (see bot/config.py)."""

    select: frozenset[str] = frozenset()  # empty: every rule
    ignore: frozenset[str] = frozenset()
    severity: Mapping[str, Severity] = field(default_factory=dict)  # code -> override
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # code -> rule options


def selected_rules(config: LintConfig) -> list[Rule]:
    """Instantiate the enabled rules with their options (ValueError on an unknown option)."""
    chosen = []
    for rule_class in rules.ALL_RULES:
        if config.select and not _matches(rule_class, config.select):
            continue
        if _matches(rule_class, config.ignore):
            continue
        chosen.append(rule_class(config.options.get(rule_class.code)))
    return chosen


def _matches(rule_class: type[Rule], codes: Iterable[str]) -> bool:
    """A code matches itself, its name, or a prefix such as HL1 / HL10 (as ruff's E / E5)."""
    return any(
        rule_class.code.startswith(c.upper()) or c.lower() == rule_class.name or c.upper() == "ALL" for c in codes
    )


def needs_of(enabled: Sequence[Rule]) -> frozenset[Need]:
    return frozenset().union(*(r.needs for r in enabled)) if enabled else frozenset()


def run_rules(snapshot: RepoSnapshot, enabled: Sequence[Rule], config: LintConfig) -> LintResult:
    result = LintResult(snapshot.target, snapshot.source, snapshot.revision, snapshot=snapshot)
    for rule in enabled:
        reason = rule.skip_reason(snapshot)
        if reason:
            result.skipped.append(Skipped(rule.code, reason))
            continue
        for finding in rule.check(snapshot):
            override = config.severity.get(rule.code)
            result.findings.append(dataclasses.replace(finding, severity=override) if override else finding)
    result.findings.sort(key=lambda f: (-f.severity.rank, f.rule, f.file or ""))
    return result
