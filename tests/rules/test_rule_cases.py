"""Every case in tests/rules/cases/HLxxx.yml, run as `hublint check` runs the rule."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from hublint.lint import LintConfig, LintResult, run_rules, selected_rules
from hublint.rules.model import Finding
from tests.builders import snapshot_from_spec
from tests.rules.rule_cases import RuleCase, all_cases


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "rule_case" in metafunc.fixturenames:
        cases = list(all_cases())
        metafunc.parametrize("rule_case", cases, ids=[case.id for case in cases])


def run_case(case: RuleCase) -> LintResult:
    config = LintConfig(select=frozenset({case.code}), options={case.code: case.options})
    return run_rules(snapshot_from_spec(case.spec), selected_rules(config), config)


def test_rule_case(rule_case: RuleCase) -> None:
    result = run_case(rule_case)
    if rule_case.outcome == "skipped":
        assert result.findings == []
        [skipped] = result.skipped
        assert rule_case.expected in skipped.reason
        return
    assert result.skipped == [], "a rule that skips has not passed"
    expected = [] if rule_case.outcome == "passes" else rule_case.expected
    assert [f.rule for f in result.findings] == [rule_case.code] * len(expected), [f.message for f in result.findings]
    for finding, want in zip(result.findings, expected, strict=True):
        check_finding(finding, want)


def check_finding(finding: Finding, want: Mapping[str, Any]) -> None:
    for key in ("severity", "category"):
        if key in want:
            assert getattr(finding, key).value == want[key]
    if "file" in want:
        assert finding.file == want["file"]
    for text in _texts(want.get("message")):
        assert text in finding.message
    for text in _texts(want.get("fix")):
        assert finding.fix is not None and text in finding.fix.summary, finding.fix
    for key, value in (want.get("recipe") or {}).items():
        assert finding.fix is not None and getattr(finding.fix.recipe, key) == value
    if "details" in want:
        assert _plain(finding.details) == want["details"]
    for key, value in (want.get("details_include") or {}).items():
        assert _plain(finding.details[key]) == value, key
    for key, items in (want.get("details_contain") or {}).items():
        for item in items:
            assert any(_matches(found, item) for found in _plain(finding.details[key])), (key, item)


def _matches(found: Any, wanted: Any) -> bool:
    """A wanted mapping matches an item that has all its keys with equal values; anything else matches equal."""
    if isinstance(wanted, Mapping):
        return isinstance(found, Mapping) and all(found.get(key) == value for key, value in wanted.items())
    return found == wanted


def _texts(value: str | list[str] | None) -> list[str]:
    return [] if value is None else [value] if isinstance(value, str) else value


def _plain(value: Any) -> Any:
    """Details as YAML spells them: tuples become lists."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value
