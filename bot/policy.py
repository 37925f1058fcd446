"""What the Hub bot does with each finding: a discussion, a fix pull request, or the report only.

Each rule declares its action (`Rule.bot_action`); the operator may change it per rule in `[tool.hublint.bot]`
(`actions = {HL402 = "report"}`). A discussion is for what breaks loading or generation; metadata that a file edit
fixes goes as a pull request, and only when the right value has been verified (see `hublint.fixes`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from hublint import rules
from hublint.rules.model import BotAction, Finding


@dataclass(frozen=True)
class BotPolicy:
    overrides: Mapping[str, BotAction] = field(default_factory=dict)  # rule code -> action

    def action(self, code: str) -> BotAction:
        if code in self.overrides:
            return self.overrides[code]
        try:
            return rules.get(code).bot_action
        except KeyError:  # a finding of a rule this hublint does not know: never worth a post
            return BotAction.REPORT

    def select(self, findings: Iterable[Finding], action: BotAction) -> list[Finding]:
        return [f for f in findings if self.action(f.rule) is action]


DISCUSSION, PULL_REQUEST, REPORT_ONLY = "discussion", "pull request", "report only"
KINDS = {DISCUSSION: "discussions", PULL_REQUEST: "pull requests", REPORT_ONLY: "report only"}


@dataclass
class Volume:
    """What a run would do (or did), by action and by rule: the summary `discuss` and `crawl` end with."""

    by_action: Counter[str] = field(default_factory=Counter)  # "discussion", "pull request", "report only"
    by_rule: dict[str, Counter[str]] = field(default_factory=dict)  # kind -> rule code -> repos

    def add(self, kind: str, codes: Sequence[str]) -> None:
        self.by_action[kind] += 1
        per_rule = self.by_rule.setdefault(kind, Counter())
        per_rule.update(sorted(set(codes)))

    def add_repo(self, kinds: Mapping[str, Sequence[str]]) -> None:
        """One repo's `RepoOutcome.volume()`: each kind of action it got, with its rules."""
        for kind, codes in kinds.items():
            self.add(kind, codes)

    def as_dict(self) -> dict[str, dict[str, object]]:
        return {kind: {"repos": self.by_action[kind], "rules": dict(self.by_rule.get(kind, {}))} for kind in KINDS}

    def lines(self) -> list[str]:
        lines = []
        for kind, label in KINDS.items():
            per_rule = self.by_rule.get(kind, Counter())
            rules_text = ", ".join(f"{code} {n}" for code, n in sorted(per_rule.items()))
            lines.append(f"{label}: {self.by_action[kind]}" + (f" ({rules_text})" if rules_text else ""))
        return lines
