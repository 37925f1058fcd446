"""Every text a user reads: findings as text / json / sarif / github / markdown (`render`), the bot's discussion
posts (`discussion`), the GitHub Action's step summary and pull request comment (`action`) and the loading code
(`loading`). Renderers only format and return strings: policy modules decide what to say, only the CLI prints, and
`safe` keeps repo strings from driving a terminal, breaking JSON or injecting Markdown."""

from __future__ import annotations

import importlib

from hublint.lint import LintResult

# Format -> module under bot/render, imported on demand: `hublint check` pays only for the format it prints.
_MODULES = {"text": "text", "json": "jsondoc", "sarif": "sarif", "github": "github", "markdown": "markdown"}
FORMATS = tuple(_MODULES)


def render(results: list[LintResult], fmt: str, *, version: str, color: bool = False) -> str:
    if fmt not in _MODULES:
        raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    module = importlib.import_module(f"hublint.render.{_MODULES[fmt]}")
    if fmt == "text":
        return module.render(results, version=version, color=color)
    return module.render(results, version=version)
