"""The bot's words around a fix pull request: its title and description, the "How to load" card section, and the
one answer to an owner's command. bot/pull_requests.py and bot/discussions.py decide; this module only formats.

Repo strings (ids, paths, user names, reasons that quote them) reach the Markdown only as code spans or escaped
text; titles carry none.
"""

from __future__ import annotations

from collections.abc import Sequence

from hublint import __version__, prose
from hublint.render.loading import loading_code
from hublint.render.markdown import code_block, code_span, escape
from hublint.rules.model import LoadRecipe

PR_MARKER = "<!-- hublint:pull-request -->"  # in every description, so the bot knows its own pull requests
METADATA_TITLE = "[bot] Name the base model in the adapter's metadata"
CARD_TITLE = "[bot] Add a 'How to load' section to the model card"


def body(*, base: str, reason: str, edited: Sequence[str], rules: Sequence[str], section: str | None) -> str:
    """The description: what changes and why (`reason`: how the base id was verified), and how to opt out."""
    return _render(
        "pull_request.md.j2",
        base=code_span(base),
        reason=escape(reason),
        edited=[code_span(path) for path in edited],
        rules=list(rules),
        section=section,
        marker=PR_MARKER,
    )


def card_section(recipe: LoadRecipe) -> str:
    """The card section's Markdown: the verified loading program as a fenced block."""
    return _render("card_loading_section.md.j2", code=code_block(loading_code(recipe)))


def command_reply(
    *, verb: str, author: str, codes: Sequence[str], pull: int | None, planned: bool, reason: str, markers: str
) -> str:
    """The one answer to an owner's `pr` or `ignore` command."""
    return _render(
        "command_reply.md.j2",
        verb=verb,
        author=code_span(author),
        codes=list(codes),
        pull=pull,
        planned=planned,
        reason=escape(reason),
        markers=markers,
    )


def _render(template: str, **context: object) -> str:
    # The Hub strips a description; stripping here keeps what is planned identical to what is posted.
    return prose.render(template, version=__version__, **context).strip()
