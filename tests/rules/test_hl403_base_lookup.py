"""HL403 beyond its cases (tests/rules/cases/HL403.yml): what it asks the fetcher for, and what it says about the
rules a missing base stops."""

from __future__ import annotations

from hublint import rules
from hublint.lint import LintConfig, run_rules, selected_rules
from hublint.rules.model import Need
from tests.builders import base_facts, snapshot


def test_a_missing_base_is_an_error_and_base_rules_are_skipped():
    config = LintConfig(select=frozenset({"HL201", "HL403"}))
    result = run_rules(snapshot(base=base_facts(status="missing")), selected_rules(config), config)
    [finding] = result.findings
    assert finding.rule == "HL403"
    assert "skipped" in finding.details["base_dependent_rules"]
    assert [s.rule for s in result.skipped] == ["HL201"]


def test_selecting_hl403_alone_still_has_the_base_looked_up():
    assert Need.BASE in rules.get("HL403").needs
