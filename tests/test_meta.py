"""The catalogue keeps its promises: unique codes, docs for every rule, case files with failing and passing cases,
and a rules/ package that stays pure."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from hublint import prose, rules
from tests.rules.rule_cases import CASES_DIR, cases_by_code

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN_IN_RULES = {
    "huggingface_hub",
    "jinja2",
    "requests",
    "httpx",
    "httpx2",
    "urllib",
    "http",
    "socket",
    "sqlalchemy",
    "github3",
    "rich",
}
ALLOWED_HUBLINT_IN_RULES = "hublint.rules"
DOC_SECTIONS = ("## What it checks", "## Why it matters", "## Example", "## How to fix", "## References")
ALL_CODES = [r.code for r in rules.ALL_RULES]


def test_codes_and_names_are_unique_and_well_formed():
    names = [r.name for r in rules.ALL_RULES]
    assert len(set(ALL_CODES)) == len(ALL_CODES)
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"HL[1-9]\d\d", c) for c in ALL_CODES)
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", n) for n in names)
    assert sorted(ALL_CODES) == ALL_CODES, "the registry lists rules in code order"


@pytest.mark.parametrize("rule", rules.ALL_RULES, ids=lambda r: r.code)
def test_rule_file_is_named_by_its_code(rule):
    module = Path(rules.__file__).parent.joinpath(*rule.__module__.split(".")[1:]).with_suffix(".py")
    assert module.name.startswith(rule.code.lower() + "_"), module


@pytest.mark.parametrize("code", ALL_CODES)
def test_every_rule_has_documentation_with_every_section(code):
    doc = prose.rule_doc(code)
    rule = rules.get(code)
    assert doc.startswith(f"# {code} {rule.name}\n")
    for section in DOC_SECTIONS:
        assert section in doc, f"{code} docs lack {section}"
    assert len(prose.rule_summary(code)) > 30


MIN_FAILING, MIN_PASSING = 3, 2


@pytest.mark.parametrize("code", ALL_CODES)
def test_every_rule_has_its_case_file_with_failing_and_passing_cases(code):
    cases = cases_by_code().get(code, [])
    assert cases, f"add {CASES_DIR.name}/{code}.yml"
    failing = [c for c in cases if c.outcome == "findings"]
    passing = [c for c in cases if c.outcome == "passes"]
    assert len(failing) >= MIN_FAILING, f"{code}.yml has {len(failing)} failing cases"
    assert len(passing) >= MIN_PASSING, f"{code}.yml has {len(passing)} passing cases"


def test_every_case_file_belongs_to_a_registered_rule():
    assert set(cases_by_code()) <= set(ALL_CODES)


def test_get_accepts_codes_and_names():
    assert rules.get("hl101") is rules.get("embedding-vocab-mismatch")
    with pytest.raises(KeyError):
        rules.get("HL999")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {_root(alias.name) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(_root(node.module))
    return found


def _root(module: str) -> str:
    """The top-level package, except that hublint's own modules are told apart from its pure rules."""
    if module == "hublint" or module.startswith("hublint."):
        return ALLOWED_HUBLINT_IN_RULES if module.startswith(ALLOWED_HUBLINT_IN_RULES) else "hublint"
    return module.split(".")[0]


def test_rules_package_is_pure():
    offenders = {}
    for path in Path(rules.__file__).parent.rglob("*.py"):
        bad = _imports(path) & (FORBIDDEN_IN_RULES | {"hublint"})
        source = path.read_text(encoding="utf-8")
        if bad or re.search(r"^\s*print\(|\bopen\(", source, re.MULTILINE):
            offenders[str(path.relative_to(ROOT))] = sorted(bad) or ["print/open"]
    assert offenders == {}


def test_only_the_hub_package_imports_huggingface_hub():
    importers = sorted(
        str(p.relative_to(ROOT))
        for folder in ("bot", "rules")
        for p in (ROOT / folder).rglob("*.py")
        if "huggingface_hub" in _imports(p) and "emulator" not in p.relative_to(ROOT).parts
    )
    assert importers and all(path.startswith("bot/hub/") for path in importers), importers


def test_tests_build_fixtures_from_one_home_never_from_the_benchmarks():
    """tests/builders.py holds the builders the benchmarks use too; a test importing a benchmark would break when
    a benchmark changes what it measures."""
    offenders = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").rglob("*.py") if "benchmarks" in _imports(p))
    assert offenders == []


def test_everything_imports_through_the_one_hublint_namespace():
    """`bot`, `rules` and `templates` are folders of the checkout, not import packages: a stray `import rules` would
    load a second copy from the checkout (and fail in an installed hublint)."""
    offenders = sorted(
        str(p.relative_to(ROOT))
        for folder in ("bot", "rules", "templates", "tests", "benchmarks")
        for p in (ROOT / folder).rglob("*.py")
        if _imports(p) & {"bot", "rules", "templates"}
    )
    assert offenders == []
