"""What `pip install hublint` gets: every package, the templates, no torch; and a README that lists the rules."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

from hublint import rules

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_every_python_package_is_listed_in_pyproject():
    mapping = PYPROJECT["tool"]["setuptools"]["package-dir"]
    on_disk = {
        ".".join((package, *p.parent.relative_to(ROOT / folder).parts))
        for package, folder in mapping.items()
        for p in (ROOT / folder).rglob("__init__.py")
    }
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    assert on_disk == listed


def test_core_dependencies_are_light():
    heavy = ("torch", "transformers", "peft", "accelerate")
    assert not [d for d in PYPROJECT["project"]["dependencies"] if d.lower().startswith(heavy)]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    [built] = out.glob("hublint-*.whl")
    return zipfile.ZipFile(built)


def test_wheel_ships_the_templates_and_no_torch_requirement(wheel):
    names = set(wheel.namelist())
    for code in (r.code for r in rules.ALL_RULES):
        assert f"hublint/templates/rules/{code}.md" in names
    assert "hublint/templates/loading/peft_model.py.j2" in names
    metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
    requires = [line for line in wheel.read(metadata).decode().splitlines() if line.startswith("Requires-Dist:")]
    unconditional = [r for r in requires if "extra ==" not in r]
    assert not [r for r in unconditional if re.search(r"\b(torch|transformers|peft)\b", r)]
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "hublint = hublint.cli:main" in wheel.read(entry_points).decode()


def test_wheel_installs_one_import_package(wheel):
    """Nothing generic (`bot`, `rules`, `templates`) lands in site-packages: one namespace, `hublint`."""
    top_level = {name.split("/")[0] for name in wheel.namelist()}
    assert {t for t in top_level if not t.endswith(".dist-info")} == {"hublint"}


def test_readme_rule_table_matches_the_registry():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- rules-table")[1].split("<!-- /rules-table -->")[0]
    rows = re.findall(r"^\| (HL\d+) \| ([\w-]+) \| (\w+) \| (\w+) \| (\w+) \|$", table, re.MULTILINE)
    expected = [(r.code, r.name, r.category.value, r.severity.value, r.bot_action.value) for r in rules.ALL_RULES]
    assert rows == expected
