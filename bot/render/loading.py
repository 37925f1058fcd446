"""Turn a rule's LoadRecipe into a complete Python program (templates/loading/)."""

from __future__ import annotations

from hublint import prose
from hublint.rules.model import LoadRecipe


def loading_code(recipe: LoadRecipe) -> str:
    """Runnable Python that loads the adapter correctly with transformers + peft, from the Hub ids involved.

    Repo strings reach the program only as Python literals (repr), so no repo content can inject code.
    """
    return prose.render(
        "loading/peft_model.py.j2",
        recipe=recipe,
        revision_arg=_revision_arg,
    )


def _revision_arg(revision: str | None) -> str:
    return f", revision={revision!r}" if revision else ""
