"""Findings -> text / json / sarif / github / markdown. Renderers return strings; only the CLI prints."""

from __future__ import annotations

from collections.abc import Callable

from bot.lint import LintResult

FORMATS = ("text", "json", "sarif", "github", "markdown")


def render(results: list[LintResult], fmt: str, *, version: str, color: bool = False) -> str:
    return _renderer(fmt)(results, version=version, color=color)


def _renderer(fmt: str) -> Callable[..., str]:
    # Imported on demand: `hublint check` pays only for the format it prints.
    if fmt == "text":
        from bot.render.text import render as text

        return text
    if fmt == "json":
        from bot.render.jsondoc import render as jsondoc

        return lambda results, version, color: jsondoc(results, version=version)
    if fmt == "sarif":
        from bot.render.sarif import render as sarif

        return lambda results, version, color: sarif(results, version=version)
    if fmt == "github":
        from bot.render.github import render as github

        return lambda results, version, color: github(results, version=version)
    if fmt == "markdown":
        from bot.render.markdown import render as markdown

        return lambda results, version, color: markdown(results, version=version)
    raise ValueError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
