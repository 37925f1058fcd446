"""Rule cases as data: one YAML file per rule code in tests/rules/cases/, the way sqlfluff keeps
`test/fixtures/rules/std_rule_cases/<CODE>.yml`.

A file holds `rule: HLxxx` and `cases:`, a mapping of case names to a snapshot description (the keys of
`tests.builders.snapshot_from_spec`) plus what the rule must say about it:

    passes: true                 the rule finds nothing (and does not skip: a skip is not a pass)
    findings:                    exactly these findings, in the order the runner sorts them
      - severity: warning        each key optional: severity, category, file
        message: [text, ...]     substrings of the message
        fix: [text, ...]         substrings of fix.summary
        recipe: {...}            attributes of fix.recipe
        details: {...}           the whole details mapping
        details_include: {...}   some of its keys
        details_contain: {key: [...]}  items the list details[key] holds (a mapping: an item with those values)
    skipped: text                the rule does not run, and its reason contains the text
    options: {...}               the rule's options for this case
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CASES_DIR = Path(__file__).parent / "cases"
OUTCOME_KEYS = ("passes", "findings", "skipped")
CASE_KEYS = frozenset({*OUTCOME_KEYS, "options", "note"})


@dataclass(frozen=True)
class RuleCase:
    code: str
    name: str
    spec: Mapping[str, Any]  # the snapshot description
    outcome: str  # passes | findings | skipped
    expected: Any
    options: Mapping[str, Any]

    @property
    def id(self) -> str:
        return f"{self.code}-{self.name}"


def load_file(path: Path) -> list[RuleCase]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    code = document["rule"]
    if path.stem != code:
        raise ValueError(f"{path.name} holds cases for {code}")
    return [_case(code, name, body) for name, body in document["cases"].items()]


def _case(code: str, name: str, body: Mapping[str, Any]) -> RuleCase:
    outcomes = [key for key in OUTCOME_KEYS if key in body]
    if len(outcomes) != 1:
        raise ValueError(f"{code} case {name!r} needs exactly one of {', '.join(OUTCOME_KEYS)}")
    spec = {key: value for key, value in body.items() if key not in CASE_KEYS}
    return RuleCase(code, name, spec, outcomes[0], body[outcomes[0]], body.get("options") or {})


def all_cases() -> Iterator[RuleCase]:
    for path in sorted(CASES_DIR.glob("HL*.yml")):
        yield from load_file(path)


def cases_by_code() -> dict[str, list[RuleCase]]:
    grouped: dict[str, list[RuleCase]] = {}
    for case in all_cases():
        grouped.setdefault(case.code, []).append(case)
    return grouped
