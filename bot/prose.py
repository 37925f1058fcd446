"""Where the prose lives: templates/, installed as the package `hublint.templates` (a checkout maps it too)."""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

import jinja2


@functools.cache
def template_dir() -> Path:
    return Path(str(resources.files("hublint.templates")))


@functools.cache
def environment() -> jinja2.Environment:
    # Markdown and Python are rendered, not HTML: escaping is done explicitly where repo strings go in.
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir()),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["pyrepr"] = repr  # a Python literal: repo strings can never become code
    return env


def render(name: str, **context: object) -> str:
    return environment().get_template(name).render(**context)


def rule_doc(code: str) -> str:
    """The Markdown documentation of a rule (templates/rules/<CODE>.md)."""
    return (template_dir() / "rules" / f"{code}.md").read_text(encoding="utf-8")


def rule_summary(code: str) -> str:
    """The doc's first paragraph after the title: one or two sentences for SARIF and `hublint rules`."""
    lines = rule_doc(code).splitlines()
    body = [line for line in lines if line.strip() and not line.startswith("#")]
    paragraph = []
    for line in body:
        if paragraph and not line.strip():
            break
        paragraph.append(line.strip())
        if line.strip().endswith("."):
            break
    return " ".join(paragraph)


def rule_url(code: str) -> str:
    return f"https://github.com/hublint/hublint/blob/main/templates/rules/{code}.md"
